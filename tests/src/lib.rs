//! Shared harness of the black-box tests: one API, several storage backends.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::unreachable)]

pub mod bodies;
pub mod contract;
pub mod harness;
pub mod mock_psps;
pub mod money_lifecycle;
pub mod pipeline;
pub mod webhook_delivery;
