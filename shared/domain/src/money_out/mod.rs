//! The rest of the money lifecycle: refunds, cash-outs, charge expiry and the statement, and
//! the executor of every money-out request on the `payout-requests` queue.

pub mod cash_out;
pub mod executor;
pub mod expiry;
pub mod refund;
pub mod statement;

pub use cash_out::{CashOutInput, CashOutService};
pub use executor::MoneyOutExecutor;
pub use expiry::{ExpirySweeper, SweepReport};
pub use refund::{RefundInput, RefundService};
pub use statement::{
    StatementCursor, StatementEntry, StatementPage, StatementQuery, statement_page,
};
