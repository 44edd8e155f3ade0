//! The sandbox's payer bank opening and deciding MED infractions (sandbox only):
//!
//! - `POST /api/sandbox/cash-in/{transactionId}/infraction` `{reason, value?}`: the payer's
//!   bank reports the payment (`FRAUD` or `OPERATIONAL_FLAW`), for `value` or everything still
//!   disputable; answers the dispute it opened.
//! - `POST /api/sandbox/disputes/{disputeId}/decide` `{outcome: "WON" | "LOST"}`: the MED
//!   decides; answers the dispute as decided.
//!
//! Each is delivered as a signed provider webhook to `/webhooks/provider/sandbox`, exactly like
//! a payment ([`super::sandbox_pay`]). What the webhook would refuse (a charge not paid, more
//! than is still disputable, a dispute decided already) is checked here first so the caller
//! gets the same 4xx whichever way the webhook travels.

use http::StatusCode;
use pixgw_domain::dispute::validation::{InfractionInput, validate_decision, validate_infraction};
use pixgw_domain::dispute::view::DisputeView;
use pixgw_domain::dispute::{DisputeOutcome, MAX_DISPUTES_PER_CHARGE};
use pixgw_domain::pix::ids::{AccountId, DisputeId, TransactionId};
use pixgw_providers::sandbox::{SANDBOX_PROVIDER, SandboxInfraction};

use crate::error::ApiError;
use crate::handlers::disputes::dispute_id;
use crate::handlers::json_body;
use crate::handlers::sandbox_pay::deliver;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::{AppState, SandboxConfig};

pub async fn open(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let sandbox = state.sandbox.as_ref().ok_or(ApiError::RouteNotFound)?;
    let id = params.parse_or_404(
        "transactionId",
        TransactionId::parse,
        ApiError::NotFound("charge"),
    )?;
    let input = validate_infraction(&json_body(request)?).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let response = open_now(state, sandbox, account_id, &id, input).await?;
        // The infraction happened; failing to remember the response only means a retry with
        // this key opens another one (as a second report of the payer's bank would).
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}

async fn open_now(
    state: &AppState,
    sandbox: &SandboxConfig,
    account_id: &AccountId,
    id: &TransactionId,
    input: InfractionInput,
) -> Result<ApiResponse, ApiError> {
    let charge = state.charges.get_charge(account_id, id).await?;
    if charge.payment.is_none() {
        return Err(ApiError::ChargeNotRefundable(charge.status.as_str()));
    }
    if charge.is_held() {
        return Err(ApiError::ChargeNotRefundable("HELD"));
    }
    let remaining = charge.refundable();
    if remaining.cents() < 1 || input.amount.is_some_and(|a| a.cents() > remaining.cents()) {
        return Err(ApiError::DisputeExceedsRemaining { remaining });
    }
    if charge.disputes.len() >= MAX_DISPUTES_PER_CHARGE {
        return Err(ApiError::DisputeLimitReached {
            limit: MAX_DISPUTES_PER_CHARGE,
        });
    }
    let notice = sandbox.provider.open_infraction(&SandboxInfraction {
        transaction_id: id.clone(),
        reason: input.reason,
        amount: input.amount,
        respond_by: None,
    });
    let dispute_id = DisputeId::derive(SANDBOX_PROVIDER, &notice.infraction_id);
    deliver(state, &sandbox.delivery, notice.webhook).await?;
    let dispute = state.disputes.get(account_id, &dispute_id).await?;
    Ok(ApiResponse::json(
        StatusCode::CREATED,
        &DisputeView::new(&dispute),
    ))
}

pub async fn decide(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
) -> Result<ApiResponse, ApiError> {
    let sandbox = state.sandbox.as_ref().ok_or(ApiError::RouteNotFound)?;
    let id = dispute_id(params)?;
    let outcome = validate_decision(&json_body(request)?).map_err(ApiError::Validation)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let response = decide_now(state, sandbox, account_id, &id, outcome).await?;
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}

async fn decide_now(
    state: &AppState,
    sandbox: &SandboxConfig,
    account_id: &AccountId,
    id: &DisputeId,
    outcome: DisputeOutcome,
) -> Result<ApiResponse, ApiError> {
    let dispute = state.disputes.get(account_id, id).await?;
    if dispute.provider != SANDBOX_PROVIDER {
        return Err(ApiError::NotFound("dispute"));
    }
    if !dispute.state.is_open() {
        return Err(ApiError::DisputeDecided);
    }
    let webhook = sandbox.provider.decide_infraction(
        &dispute.infraction_id,
        &dispute.transaction_id,
        outcome,
    );
    deliver(state, &sandbox.delivery, webhook).await?;
    let dispute = state.disputes.get(account_id, id).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &DisputeView::new(&dispute),
    ))
}
