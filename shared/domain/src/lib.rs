//! The payment domain of the PIX gateway.
//!
//! Everything here is pure: no AWS, no HTTP, no clock reads, no I/O. The layout is the
//! architecture, bottom to top:
//! - [`pix`]: the value types of PIX and money (BR Code, tax documents, PIX keys, payment data,
//!   money, ids, the clock) and the JSON field readers every input validator shares;
//! - one folder per aggregate, each with its model, its ports (what storage must do for it),
//!   its stored record, its JSON view and its input validation: [`account`], [`charge`],
//!   [`refund`], [`split`], [`ledger`], [`payout`], [`schedule`], [`cash_out`], [`provider`],
//!   [`messaging`] (outbox, queues, events), [`webhooks`]; plus [`idempotency`];
//! - [`flows`]: one file per use case that writes across aggregates (create a charge, confirm
//!   it, book its splits, run the payout windows, execute and settle payouts, refund, cash out,
//!   expire, the statement). Each flow takes only the ports it uses.
//!
//! Adapters (DynamoDB, the embedded store, PIX providers, queues) implement the ports; hosts
//! (Lambda, the local gateway, tests) wire them into the flows.

pub mod account;
pub mod cash_out;
pub mod charge;
pub mod dispute;
pub mod error;
pub mod flows;
pub mod idempotency;
pub mod ledger;
pub mod messaging;
pub mod payout;
pub mod pix;
pub mod provider;
pub mod recipient;
pub mod refund;
pub mod schedule;
pub mod split;
pub mod webhooks;
