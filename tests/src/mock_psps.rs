//! Compact wiremock stand-ins for the two real PSPs, for the system tests that run the whole
//! gateway on the real adapters (`tests/tests/real_providers.rs`).
//!
//! - [`ConnectPspMock`] keeps the charges it created, so `GET /cash-in/{internalCode}` (the
//!   adapter's read-back of every cash-in webhook) answers what the test made happen: paid,
//!   refunded. It checks that the documented headers are present; their exact values (JWT,
//!   `DigitalSignature`, the derived `X-Idempotency-Key`) are checked by the tests on the
//!   recorded requests, with code independent of the adapter.
//! - [`PagFastMock`] answers `POST /accounts/pix/cashin` with seed 003's own payloads.
//!
//! Both can be made to fail (a status, or a delay beyond the adapter's timeout) to drive
//! failover, and build the webhooks each PSP would send.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pixgw_providers::http::RetryPolicy;
use serde_json::Value;
use wiremock::{Request, ResponseTemplate};

pub const CP_CLIENT_ID: &str = "gw-client";
pub const CP_CLIENT_SECRET: &str = "gw-client-secret";
pub const CP_APP_TOKEN: &str = "5f0c6a57-3a0e-4c1e-9d55-0c7d0b7f1a11";
pub const CP_CRYPTO_TOKEN: &str = "cp-crypto-token";
pub const CP_WEBHOOK_TOKEN: &str = "cp-hook-token-0123";
pub const CP_JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndyJ9.mock-signature";

pub const PF_TOKEN: &str = "pf-api-token";
pub const PF_HOOK_HEADER: &str = "X-PagFast-Token";
pub const PF_HOOK_VALUE: &str = "pf-hook-secret";

pub(crate) const PF_CREATED: &str =
    include_str!("../../shared/providers/tests/fixtures/pagfast/full_response_201.json");
/// Seed 003's refusal of a payer whose CPF is restricted.
pub const PF_TAX_NUMBER_INVALID: &str = include_str!(
    "../../shared/providers/tests/fixtures/pagfast/counterparty_tax_number_invalid_409.json"
);
/// Seed 003's answer to a malformed body.
pub const PF_INVALID_FORMAT: &str =
    include_str!("../../shared/providers/tests/fixtures/pagfast/invalid_request_format_400.json");

/// Fast settings for tests: `attempts` per call, short backoff, a 300 ms timeout.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
    }
}

pub const TIMEOUT: Duration = Duration::from_millis(300);

/// How a mocked endpoint misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    None,
    /// Answers this status with this JSON body.
    Status(u16, Value),
    /// Answers normally, but only after this long.
    Delay(Duration),
}

pub(crate) fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

pub(crate) fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A PIX end-to-end id (`E`/`D`, ISPB, yyyyMMddHHmm, 11 alphanumerics) numbered `n`.
pub fn end_to_end(kind: char, n: u32) -> String {
    format!("{kind}00416968202603101827{n:0>11}")
}

pub(crate) fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub(crate) fn with_fault(fault: Option<Fault>, ok: ResponseTemplate) -> ResponseTemplate {
    match fault {
        None | Some(Fault::None) => ok,
        Some(Fault::Status(status, body)) => reply(status, body),
        Some(Fault::Delay(by)) => ok.set_delay(by),
    }
}

mod connectpsp;
mod pagfast;

pub use connectpsp::*;
pub use pagfast::*;
