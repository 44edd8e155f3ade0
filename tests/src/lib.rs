//! Shared harness of the black-box tests: one API, several storage backends.

pub mod contract;
pub mod harness;
pub mod queue_contract;
