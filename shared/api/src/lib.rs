//! HTTP glue shared by every host: the Lambda functions, the local gateway and the tests all
//! turn their request into an [`ApiRequest`], call [`dispatch`] (or one route's handler) and
//! send back the [`ApiResponse`]. Nothing here knows which host it runs in.
//!
//! - [`routes`]: the route table (the single source for the router, the OpenAPI check and
//!   the SAM template check).
//! - [`auth`]: bearer tokens (JWT) and client credentials, in one place.
//! - [`idempotency`]: `X-Idempotency-Key` replay / conflict handling for every POST.
//! - [`error`]: every error → the seed-004 envelope, in one place.
//! - [`handlers`]: parse → call the domain → render.
//! - [`payouts`]: the payout reads (listing, one payout with a page of its manifest).
//! - [`sandbox_clock`]: the adjustable clock of the local gateway's sandbox.
//! - [`webhooks`]: the merchant-webhook request body and delivery-log cursor.

pub mod accounts;
pub mod auth;
pub mod error;
pub mod handlers;
pub mod http_types;
pub mod idempotency;
pub mod openapi;
pub mod payouts;
pub mod routes;
pub mod sandbox_clock;
pub mod state;
pub mod store;
pub mod views;
pub mod webhooks;

pub use http_types::{ApiRequest, ApiResponse};
pub use routes::{Route, dispatch, dispatch_route};
pub use state::AppState;
