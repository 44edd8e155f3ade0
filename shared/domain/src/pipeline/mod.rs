//! The settlement pipeline: a paid charge becomes CONFIRMED (provider webhook), its splits are
//! booked (split calculator, queue `charge-confirmed`), immediate splits are paid (payout
//! executor, queue `payout-requests`).
//!
//! Every stage is a pure use case over the ports; the hosts (Lambda handlers, the local
//! gateway's workers, tests) only move messages. Each stage is idempotent on its own: its
//! effect is one conditional atomic write keyed by deterministic ids, and when that write finds
//! the work already done, the stage reports success without doing anything. So a queue may
//! deliver any message twice, late or out of order, and a process may die between any two
//! steps: redelivery finishes the work and nothing happens twice.

pub mod confirmation;
pub mod consumer;
pub mod payout_executor;
pub mod payout_scheduler;
pub mod payout_settlement;
pub mod relay;
pub mod split_calculator;

pub use confirmation::{ConfirmationResult, ConfirmationService};
pub use consumer::{HandlerError, MessageHandler};
pub use payout_executor::PayoutExecutor;
pub use payout_scheduler::{PayoutScheduler, RunReport, SchedulerConfig};
pub use relay::relay_outbox;
pub use split_calculator::SplitCalculator;
