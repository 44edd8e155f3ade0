//! Shared harness of the black-box tests: one API, several storage backends.

pub mod bodies;
pub mod contract;
pub mod harness;
pub mod mock_psps;
pub mod money_lifecycle;
pub mod pipeline;
pub mod webhook_delivery;
