//! Shared harness of the black-box tests: one API, several storage backends.

pub mod bodies;
pub mod contract;
pub mod harness;
pub mod mock_psps;
pub mod money_lifecycle;
pub mod paging_contract;
pub mod payout_execution_contract;
pub mod pipeline;
pub mod queue_contract;
pub mod schedule_contract;
pub mod scheduler_contract;
pub mod settlement_contract;
pub mod webhook_delivery;
