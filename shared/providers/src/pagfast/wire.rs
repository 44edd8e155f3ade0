//! PagFast's JSON, as seed 003 documents it (camelCase, amounts as strings).
//!
//! Requests are built from our types; responses are read leniently (every field optional) and
//! checked by the caller, so a missing field becomes our error, never a panic or a serde
//! message that could echo personal data.

use serde::{Deserialize, Serialize};

/// `POST /accounts/pix/cashin`: the seed's three objects.
#[derive(Debug, Clone, Serialize)]
pub struct CashInRequest {
    pub payment: PaymentRequest,
    pub transaction: TransactionRequest,
    pub webhook: WebhookRequest,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentRequest {
    /// Absent for the anonymous-payer variant (seed scenario 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<PayerRequest>,
    pub value: ValueRequest,
}

#[derive(Clone, Serialize)]
pub struct PayerRequest {
    /// Optional in the seed: omitted rather than sent empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub cpf: String,
}

/// Never prints the CPF.
impl std::fmt::Debug for PayerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayerRequest")
            .field("cpf", &crate::mask::mask_documents(&self.cpf))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ValueRequest {
    /// The amount as a decimal string with two places (`"50.00"`).
    pub original: String,
    /// Always `false`: our charges are paid in full or not at all.
    pub editable: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionRequest {
    pub order_id: String,
    pub order_description: String,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRequest {
    pub url: String,
    pub custom_header_name: String,
    pub custom_header_value: String,
}

/// Never prints the header value (it authenticates PagFast's webhooks to us).
impl std::fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("url", &self.url)
            .field("custom_header_name", &self.custom_header_name)
            .finish_non_exhaustive()
    }
}

/// The `Done` envelope: the create response and (our assumption) the webhook body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoneEnvelope {
    pub status_code: Option<String>,
    pub data: Option<DoneData>,
}

#[derive(Debug, Deserialize)]
pub struct DoneData {
    pub transaction: Option<TransactionData>,
    pub payment: Option<PaymentData>,
    /// Webhook only (our assumption, see the module doc of [`super`]): the MED infraction of an
    /// `InfractionOpened` / `InfractionDecided` event, read leniently by field.
    pub infraction: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionData {
    pub id: Option<String>,
    pub order_id: Option<String>,
    pub state: Option<String>,
    /// Up to 6 decimals (`"15.000000"`).
    pub amount: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentData {
    pub qr_code: Option<String>,
    /// Webhook only (our assumption): the settlement.
    pub end_to_end_id: Option<String>,
    pub paid_at: Option<String>,
    pub value: Option<String>,
    pub payer: Option<PaidPayer>,
}

/// Who paid, as the webhook reports it (our assumption; see the module doc).
#[derive(Deserialize)]
pub struct PaidPayer {
    pub name: Option<String>,
    pub cpf: Option<String>,
    pub ispb: Option<String>,
    pub branch: Option<String>,
    pub account: Option<String>,
}

/// Never prints the payer's document or account.
impl std::fmt::Debug for PaidPayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaidPayer")
            .field("ispb", &self.ispb)
            .finish_non_exhaustive()
    }
}

/// The `Error` envelope (400, 401, 409 in the seed).
#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub name: Option<String>,
    pub message: Option<String>,
    /// A list of field problems (400) or an object with `reason`/`message` (401, 409).
    pub details: Option<serde_json::Value>,
}
