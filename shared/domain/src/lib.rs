//! The payment domain of the PIX gateway.
//!
//! Everything here is pure: no AWS, no HTTP, no clock reads, no I/O. Adapters (DynamoDB, the
//! embedded store, PIX providers) implement the traits in [`ports`]; hosts (Lambda, the local
//! gateway, tests) call the use cases in [`service`].

pub mod account;
pub mod brcode;
pub mod cashout;
pub mod charge;
pub mod cursor_text;
pub mod document;
pub mod error;
pub mod events;
pub mod ids;
pub mod ledger;
pub mod lifecycle;
pub mod money;
pub mod money_out;
pub mod outbox;
pub mod payment;
pub mod payout;
pub mod pipeline;
pub mod pix_key;
pub mod ports;
pub mod provider;
pub mod provider_directory;
pub mod queue;
pub mod record;
pub mod resources;
pub mod schedule;
pub mod schedule_record;
pub mod schedule_service;
pub mod scheduler_ports;
pub mod scheduling;
pub mod service;
pub mod settlement;
pub mod settlement_record;
pub mod split;
pub mod validation;
pub mod webhooks;
