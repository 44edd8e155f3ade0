//! `POST /api/sandbox/cash-in/{transactionId}/pay` (sandbox only): plays the payer's bank.
//!
//! The sandbox PIX network settles the payment and notifies the gateway with a signed provider
//! webhook, delivered to `/webhooks/provider/sandbox` as a real PSP would: over HTTP by the local
//! gateway; on AWS Lambda and in tests, in-process to the same handler, which verifies the
//! signature exactly as the HTTP route does. This handler then returns the charge as the
//! webhook left it.
//!
//! Body (optional): `{name?, document?, ispb?, branch?, account?, hold?}` — the paying account
//! (the defaults are the charge's payer at a sandbox bank account), and `hold: true` for a
//! payment the receiving institution holds under a cautelar hold (72 h): the charge is
//! CONFIRMED with a `hold`, its money in `held`, no split booked until
//! `POST /api/sandbox/cash-in/{transactionId}/hold/release` (or `/hold/return`).

use http::{Method, StatusCode};
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::payment;
use pixgw_domain::pix::payment::{Ispb, PaidBy, PayerBankData};
use pixgw_domain::pix::pii::Pii;
use pixgw_providers::sandbox::{SandboxPayment, SignedWebhook};
use serde_json::Value;

use crate::error::ApiError;
use crate::handlers::{cash_in::charge_view, json_body, provider_webhook};
use crate::http_types::{ApiRequest, ApiResponse};
use crate::idempotency;
use crate::routes::PathParams;
use crate::state::{AppState, SandboxConfig, SandboxDelivery};

/// The payer's bank when the body names none (ISPB 00000000 is Banco do Brasil's).
const DEFAULT_ISPB: &str = "00000000";
const DEFAULT_BRANCH: &str = "0001";
const DEFAULT_ACCOUNT: &str = "1234567";
const FIELDS: [&str; 6] = ["name", "document", "ispb", "branch", "account", "hold"];

pub async fn pay(
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
    let payer = parse_payer(request)?;
    idempotency::run(state, request, account_id, |claim| async move {
        let response = pay_now(state, sandbox, account_id, &id, payer).await?;
        // The payment happened; failing to remember the response only means a retry with this
        // key gets 409 CHARGE_NOT_PENDING instead of a replay.
        idempotency::remember(state, claim, &response).await;
        Ok(response)
    })
    .await
}

async fn pay_now(
    state: &AppState,
    sandbox: &SandboxConfig,
    account_id: &AccountId,
    id: &TransactionId,
    payer: Payer,
) -> Result<ApiResponse, ApiError> {
    let charge = state.charges.get_charge(account_id, id).await?;
    // Past its expirationDate the payer's bank refuses the QR code, whether the expiry
    // sweeper has already stored the charge EXPIRED or not yet.
    if charge.status == ChargeStatus::Expired
        || (charge.status == ChargeStatus::Pending && state.clock.now() >= charge.expires_at)
    {
        return Err(ApiError::ChargeExpired);
    }
    if charge.status != ChargeStatus::Pending {
        return Err(ApiError::ChargeNotPending(charge.status.as_str()));
    }
    let paid_by = PaidBy {
        name: payer
            .name
            .map_or_else(|| charge.payer.full_name.clone(), Pii::from),
        document: Pii::from(
            payer
                .document
                .unwrap_or_else(|| charge.payer.document.as_str().to_owned()),
        ),
        bank: payer.bank,
    };
    let webhook = sandbox.provider.pay_charge(&SandboxPayment {
        transaction_id: id.clone(),
        amount: charge.amount,
        paid_by,
        hold: payer.hold,
    });
    deliver(state, &sandbox.delivery, webhook).await?;

    let details = state.charges.get_charge_details(account_id, id).await?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        &charge_view(&details.charge, &details.splits),
    ))
}

/// Hands the signed webhook to the gateway's inbound endpoint and maps its answer.
pub(crate) async fn deliver(
    state: &AppState,
    delivery: &SandboxDelivery,
    webhook: SignedWebhook,
) -> Result<(), ApiError> {
    let (status, body) = match delivery {
        SandboxDelivery::InProcess => {
            let mut request = ApiRequest::new(Method::POST, "/webhooks/provider/sandbox");
            for (name, value) in &webhook.headers {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_str(value),
                ) {
                    request.headers.insert(n, v);
                }
            }
            request.body = webhook.body.into();
            match provider_webhook::accept(state, "sandbox", &request).await {
                Ok(response) => return ok_or_unavailable(response.status),
                // The webhook's own verdict (a concurrent payment won, …) is ours too.
                Err(e) => return Err(e),
            }
        }
        SandboxDelivery::Http { base_url } => post(base_url, webhook).await?,
    };
    if status == StatusCode::CONFLICT {
        // Another payment settled it first; report the charge's state as the webhook saw it.
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
        if code.as_deref() == Some("CHARGE_NOT_PENDING") {
            return Err(ApiError::ChargeNotPending(ChargeStatus::Confirmed.as_str()));
        }
    }
    ok_or_unavailable(status)
}

fn ok_or_unavailable(status: StatusCode) -> Result<(), ApiError> {
    if status.is_success() {
        Ok(())
    } else {
        tracing::warn!(status = status.as_u16(), "sandbox webhook delivery refused");
        Err(ApiError::ProviderUnavailable)
    }
}

async fn post(base_url: &str, webhook: SignedWebhook) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let url = format!(
        "{}/webhooks/provider/sandbox",
        base_url.trim_end_matches('/')
    );
    let mut call = client
        .post(url)
        .header("content-type", "application/json")
        .body(webhook.body);
    for (name, value) in &webhook.headers {
        call = call.header(name.as_str(), value.as_str());
    }
    let response = call.send().await.map_err(|e| {
        tracing::warn!(error = %e, "sandbox webhook delivery failed");
        ApiError::ProviderUnavailable
    })?;
    let status = StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    Ok((status, body))
}

/// The optional body, every problem reported at once.
struct Payer {
    name: Option<String>,
    document: Option<String>,
    bank: PayerBankData,
    hold: bool,
}

fn parse_payer(request: &ApiRequest) -> Result<Payer, ApiError> {
    let body = if request.body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        json_body(request)?
    };
    let Value::Object(fields) = body else {
        return Err(ApiError::Validation(vec![
            "body must be a JSON object".into(),
        ]));
    };
    let mut errors = Vec::new();
    for key in fields.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(format!("property {key} should not exist"));
        }
    }
    let hold = match fields.get("hold") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(hold)) => *hold,
        Some(_) => {
            errors.push("hold must be a boolean".into());
            false
        }
    };
    let mut text = |name: &str| -> Option<String> {
        match fields.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                errors.push(format!("{name} must be a string"));
                None
            }
        }
    };
    let name = text("name");
    let document = text("document");
    let ispb = text("ispb");
    let branch = text("branch");
    let account = text("account");

    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 140)
    {
        errors.push("name must be between 1 and 140 characters".into());
    }
    if let Some(doc) = &document
        && TaxDocument::parse(doc).is_err()
    {
        errors.push("document must be a valid CPF or CNPJ".into());
    }
    let ispb = match Ispb::parse(ispb.as_deref().unwrap_or(DEFAULT_ISPB)) {
        Some(ispb) => Some(ispb),
        None => {
            errors.push("ispb must be 8 digits".into());
            None
        }
    };
    let branch = branch.unwrap_or_else(|| DEFAULT_BRANCH.into());
    let account = account.unwrap_or_else(|| DEFAULT_ACCOUNT.into());
    if !payment::is_branch(&branch) {
        errors.push("branch must be 1 to 4 digits".into());
    }
    if !payment::is_account(&account) {
        errors.push("account must be 1 to 20 digits".into());
    }
    let bank = ispb.and_then(|ispb| PayerBankData::new(ispb, &branch, &account));
    match bank {
        Some(bank) if errors.is_empty() => Ok(Payer {
            name,
            document,
            bank,
            hold,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}
