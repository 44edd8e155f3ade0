//! `GET /pix/loc/{transactionId}` (sandbox): the payload a payer's bank fetches from the URL in
//! BR Code field 26-25. Shaped like Banco Central's `cob` payload (`txid`, `calendario`,
//! `valor.original`, `status`), served as plain JSON where a real PSP would serve a signed JWS.
//! Public on purpose (the payer's bank has no token); it shows no payer data.

use chrono::Utc;
use http::StatusCode;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::pix::ids::TransactionId;
use serde_json::json;

use crate::error::ApiError;
use crate::http_types::ApiResponse;
use crate::routes::PathParams;
use crate::state::AppState;
use crate::views::timestamp;

pub async fn get(state: &AppState, params: &PathParams) -> Result<ApiResponse, ApiError> {
    let id = params.parse_or_404(
        "transactionId",
        TransactionId::parse,
        ApiError::NotFound("charge"),
    )?;
    let charge = state
        .store
        .get_charge(&id)
        .await?
        .ok_or(ApiError::NotFound("charge"))?;
    let status = match charge.status {
        ChargeStatus::Pending => "ATIVA",
        ChargeStatus::Confirmed
        | ChargeStatus::RefundProcessing
        | ChargeStatus::PartiallyRefunded
        | ChargeStatus::Refunded => "CONCLUIDA",
        ChargeStatus::Expired => "REMOVIDA_PELO_PSP",
    };
    let now: chrono::DateTime<Utc> = state.clock.now();
    Ok(ApiResponse::json(
        StatusCode::OK,
        &json!({
            "txid": charge.transaction_id.as_str(),
            "revisao": 0,
            "calendario": {
                "criacao": timestamp(charge.created_at),
                "apresentacao": timestamp(now),
                "expiracao": charge.expiration_seconds,
            },
            "status": status,
            "valor": { "original": charge.amount.to_string() },
            "solicitacaoPagador": charge.description,
        }),
    ))
}
