//! The sandbox PIX provider: the default for local runs and sandbox deployments.
//!
//! It plays the PSP: it issues real dynamic BR Codes whose location (field 26-25) points at
//! this gateway's own `GET /pix/loc/{transactionId}`, which serves the charge's payload the way
//! a PSP's location URL would.

use async_trait::async_trait;
use pixgw_domain::brcode::{DynamicBrCode, build_dynamic};
use pixgw_domain::error::ProviderError;
use pixgw_domain::ports::{PixProvider, ProviderCharge, ProviderChargeRequest};

/// BR Code field 26-25 allows 77 characters; a location is `{host}/pix/loc/{32-char id}`.
pub const MAX_LOCATION_HOST_LEN: usize = 77 - "/pix/loc/".len() - 32;

#[derive(Debug, Clone)]
pub struct SandboxProvider {
    /// Host (and optional path prefix) serving `/pix/loc/…`, without scheme, e.g.
    /// `127.0.0.1:3000` or `abc123.execute-api.sa-east-1.amazonaws.com`.
    location_host: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "sandbox location host must be 1..={MAX_LOCATION_HOST_LEN} ASCII characters without a scheme, got {0:?}"
)]
pub struct BadLocationHost(String);

impl SandboxProvider {
    pub fn new(location_host: &str) -> Result<SandboxProvider, BadLocationHost> {
        let host = location_host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let ok = !host.is_empty()
            && host.len() <= MAX_LOCATION_HOST_LEN
            && host.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(BadLocationHost(location_host.to_owned()));
        }
        Ok(SandboxProvider {
            location_host: host.to_owned(),
        })
    }
}

#[async_trait]
impl PixProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_charge(
        &self,
        request: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        let location = format!("{}/pix/loc/{}", self.location_host, request.transaction_id);
        let pix_code = build_dynamic(&DynamicBrCode {
            location: &location,
            merchant_name: &request.merchant_name,
            merchant_city: &request.merchant_city,
        })
        .map_err(|e| ProviderError::Rejected(format!("BR Code: {e}")))?;
        Ok(ProviderCharge {
            provider_charge_id: format!("sbx_{}", request.transaction_id),
            pix_code,
        })
    }
}
