//! The sandbox's receiving institution ending a cautelar hold (sandbox only):
//! `POST /api/sandbox/cash-in/{transactionId}/hold/release` (the money is the merchant's: the
//! charge is booked as any payment) and `POST /api/sandbox/cash-in/{transactionId}/hold/return`
//! (the money goes back to the payer: a `MED_FRAUDE` devolução of the whole amount, the charge
//! REFUNDED, its splits CANCELLED). No body. Each is delivered as a signed provider webhook to
//! `/webhooks/provider/sandbox`, exactly like a payment ([`super::sandbox_pay`]); answers the
//! charge as the webhook left it. A charge not held answers 409 `CHARGE_NOT_HELD`.

use http::StatusCode;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_providers::sandbox::SANDBOX_PROVIDER;

use crate::error::ApiError;
use crate::handlers::cash_in::charge_view;
use crate::handlers::no_body;
use crate::handlers::sandbox_pay::deliver;
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::AppState;

/// How the sandbox ends a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Release,
    Return,
}

pub async fn end(
    state: &AppState,
    params: &PathParams,
    request: &ApiRequest,
    account_id: &AccountId,
    ending: Ending,
) -> Result<ApiResponse, ApiError> {
    let sandbox = state.sandbox.as_ref().ok_or(ApiError::RouteNotFound)?;
    let id = params.parse_or_404(
        "transactionId",
        TransactionId::parse,
        ApiError::NotFound("charge"),
    )?;
    no_body(request)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let charge = state.charges.get_charge(account_id, &id).await?;
        if !charge.is_held() || charge.provider != SANDBOX_PROVIDER {
            return Err(ApiError::ChargeNotHeld(charge.status.as_str()));
        }
        let webhook = match ending {
            Ending::Release => sandbox.provider.release_hold(&id),
            Ending::Return => sandbox.provider.return_hold(&id),
        };
        deliver(state, &sandbox.delivery, webhook).await?;
        let details = state.charges.get_charge_details(account_id, &id).await?;
        let response = ApiResponse::json(
            StatusCode::OK,
            &charge_view(&details.charge, &details.splits),
        );
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}
