//! `POST /api/pix/cash-in/{transactionId}/refund` (bearer token and `DigitalSignature` checked
//! by the route table). Model: seed 001, plus partial devoluções: a paid charge, in full (the
//! default) or in part, several times up to its amount; the answer is `202` with the refund's
//! id and its devolução's `D…` end-to-end id. Who bears it is the body's `liability`, or else
//! the account's refund policy (`GET/PUT /api/account/refund-policy`, [`super::refund_policy`]).
//!
//! Idempotency: the refund's effect (the charge's REFUND_PROCESSING state and its ledger
//! movement) is committed by the refund service before the provider is asked, so the claim is
//! completed afterwards with [`idempotency::remember`]. A retry after a crash in between is
//! recognised by the service (the refund carries the claim's key) and answered with the same
//! refund, never a second one.

use http::StatusCode;
use pixgw_domain::charge::Charge;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::refund::ChargeRefund;
use serde::Serialize;

use crate::error::ApiError;
use crate::handlers::json_body;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::timestamp;
use pixgw_domain::refund::validation::validate_refund;

/// The `202` body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundAcceptedView {
    pub refund_id: String,
    pub transaction_id: String,
    pub external_id: String,
    /// The devolution's end-to-end id (`D…`), when the provider already assigned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    /// Always `REFUND_PROCESSING`: the refund was accepted; `GET` shows `REFUNDED` once it
    /// settled (`CASHIN_REFUNDED`).
    pub status: &'static str,
    pub amount: pixgw_domain::pix::money::Money,
    /// `MERCHANT` or `PROPORTIONAL`.
    pub liability: &'static str,
    pub requested_at: String,
    pub message: String,
}

impl RefundAcceptedView {
    pub fn new(charge: &Charge, refund: &ChargeRefund) -> RefundAcceptedView {
        RefundAcceptedView {
            refund_id: refund.id.to_string(),
            transaction_id: charge.transaction_id.to_string(),
            external_id: charge.external_id.clone(),
            end_to_end_id: refund.end_to_end_id.as_ref().map(ToString::to_string),
            status: "REFUND_PROCESSING",
            amount: refund.amount,
            liability: refund.liability.as_str(),
            requested_at: timestamp(refund.requested_at),
            message: format!(
                "The refund for cash-in {} has been successfully initiated.",
                charge.transaction_id
            ),
        }
    }
}

pub async fn request(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let id = params.parse_or_404(
        "transactionId",
        TransactionId::parse,
        ApiError::NotFound("charge"),
    )?;
    let body = json_body(request)?;
    let input = validate_refund(&body).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let (charge, refund_id) = state
            .refunds
            .request(account_id, &id, input, claim.as_ref())
            .await?;
        let refund = charge
            .refund(&refund_id)
            .ok_or_else(|| ApiError::Internal("the refund made is not on its charge".into()))?;
        let response = ApiResponse::json(
            StatusCode::ACCEPTED,
            &RefundAcceptedView::new(&charge, refund),
        );
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}
