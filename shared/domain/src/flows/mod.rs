//! The use cases that write across aggregates, one file each. Hosts parse and authenticate;
//! flows decide. Every flow takes only the ports it uses, and each is idempotent on its own:
//! its effect is one conditional atomic write keyed by deterministic ids, and when that write
//! finds the work already done, the flow reports success without doing anything. So a queue may
//! deliver any message twice, late or out of order, and a process may die between any two steps:
//! redelivery finishes the work and nothing happens twice.

pub mod book_splits;
pub mod cash_out;
pub mod confirm;
pub mod create_charge;
pub mod dispute;
pub mod execute_payout;
pub mod expire;
pub mod hold;
pub mod money_out;
pub mod payout_schedule;
pub mod refund;
pub mod run_payout_windows;
pub mod settle;
pub mod statement;
pub mod write_off_debts;
