//! The route table: the one list the router, the OpenAPI check and the SAM template check all
//! read. Authentication (bearer token, and `DigitalSignature` on money-moving calls) is applied
//! here, once, for every route that needs it.
//!
//! [`ROUTES`] is the API every host serves, one Lambda function per route. [`LOCAL_ROUTES`]
//! are served by the local gateway only (no Lambda function, nothing in `template.yaml`): the
//! sandbox clock, which only exists there.

use std::time::Instant;

use http::{HeaderValue, Method, header};
use pixgw_domain::pix::ids::AccountId;

use crate::auth::{authenticate, bearer_token, verify_digital_signature, verify_token};
use crate::error::ApiError;
use crate::handlers;
use crate::handlers::sandbox_holds::Ending;
use crate::http_types::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    AuthToken,
    CashInCreate,
    CashInGet,
    CashInList,
    CashInRefund,
    CashOutCreate,
    CashOutGet,
    CashOutList,
    AccountStatement,
    OpenApi,
    SandboxPixLocation,
    SandboxCashInPay,
    ProviderWebhook,
    AccountBalance,
    PayoutScheduleGet,
    PayoutSchedulePut,
    RefundPolicyGet,
    RefundPolicyPut,
    PayoutsList,
    PayoutGet,
    RecipientsList,
    RecipientGet,
    DisputesList,
    DisputeGet,
    DisputeDefence,
    SandboxInfraction,
    SandboxDisputeDecide,
    SandboxHoldRelease,
    SandboxHoldReturn,
    SandboxPayoutsRun,
    SandboxClockAdvance,
    WebhookEndpointPut,
    WebhookEndpointGet,
    WebhookSecretRotate,
    WebhookDeliveriesList,
    WebhookRedeliver,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (token issuance).
    Public,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A bearer token AND `DigitalSignature: hex(HMAC-SHA256(cryptoToken, token))`: every
    /// money-moving call (refunds, cash-out, payout settings, the refund policy), so a leaked
    /// token alone cannot move money.
    BearerSigned,
    /// Anyone, but only when the sandbox is enabled (the payer's bank reads PIX locations).
    SandboxPublic,
    /// A bearer token, and only when the sandbox is enabled (simulated payments).
    SandboxBearer,
    /// No token: the handler authenticates the caller by signature (PIX provider webhooks).
    Signed,
}

impl Access {
    /// Routes that do not exist at all outside the sandbox.
    pub fn sandbox_only(self) -> bool {
        matches!(self, Access::SandboxPublic | Access::SandboxBearer)
    }
}

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub route: Route,
    pub method: Method,
    /// Path template with `{param}` segments, exactly as in OpenAPI and `template.yaml`.
    pub path: &'static str,
    /// The Lambda function (binary under `functions/`) serving it; for [`LOCAL_ROUTES`],
    /// [`LOCAL_GATEWAY`].
    pub function: &'static str,
    pub access: Access,
}

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        route: Route::AuthToken,
        method: Method::POST,
        path: "/api/auth/token",
        function: "auth-token",
        access: Access::Public,
    },
    RouteSpec {
        route: Route::CashInCreate,
        method: Method::POST,
        path: "/api/pix/cash-in",
        function: "cash-in-create",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::CashInList,
        method: Method::GET,
        path: "/api/pix/cash-in",
        function: "cash-in-list",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::CashInGet,
        method: Method::GET,
        path: "/api/pix/cash-in/{transactionId}",
        function: "cash-in-get",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::CashInRefund,
        method: Method::POST,
        path: "/api/pix/cash-in/{transactionId}/refund",
        function: "cash-in-refund",
        access: Access::BearerSigned,
    },
    RouteSpec {
        route: Route::CashOutCreate,
        method: Method::POST,
        path: "/api/pix/cash-out",
        function: "cash-out-create",
        access: Access::BearerSigned,
    },
    RouteSpec {
        route: Route::CashOutList,
        method: Method::GET,
        path: "/api/pix/cash-out",
        function: "cash-out-list",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::CashOutGet,
        method: Method::GET,
        path: "/api/pix/cash-out/{cashOutId}",
        function: "cash-out-get",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::OpenApi,
        method: Method::GET,
        path: "/api/openapi.json",
        function: "openapi",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::SandboxPixLocation,
        method: Method::GET,
        path: "/pix/loc/{transactionId}",
        function: "sandbox-pix-location",
        access: Access::SandboxPublic,
    },
    RouteSpec {
        route: Route::SandboxCashInPay,
        method: Method::POST,
        path: "/api/sandbox/cash-in/{transactionId}/pay",
        function: "sandbox-cash-in-pay",
        access: Access::SandboxBearer,
    },
    RouteSpec {
        route: Route::ProviderWebhook,
        method: Method::POST,
        path: "/webhooks/provider/{provider}",
        function: "provider-webhook",
        access: Access::Signed,
    },
    RouteSpec {
        route: Route::AccountBalance,
        method: Method::GET,
        path: "/api/account/balance",
        function: "account-balance",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::AccountStatement,
        method: Method::GET,
        path: "/api/account/statement",
        function: "account-statement",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::PayoutScheduleGet,
        method: Method::GET,
        path: "/api/account/payout-schedule",
        function: "payout-schedule-get",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::PayoutSchedulePut,
        method: Method::PUT,
        path: "/api/account/payout-schedule",
        function: "payout-schedule-put",
        access: Access::BearerSigned,
    },
    RouteSpec {
        route: Route::RefundPolicyGet,
        method: Method::GET,
        path: "/api/account/refund-policy",
        function: "refund-policy-get",
        access: Access::Bearer,
    },
    // Signed like the payout schedule: it decides who pays for refunds, i.e. whose money
    // moves when a refund does not say.
    RouteSpec {
        route: Route::RefundPolicyPut,
        method: Method::PUT,
        path: "/api/account/refund-policy",
        function: "refund-policy-put",
        access: Access::BearerSigned,
    },
    RouteSpec {
        route: Route::PayoutsList,
        method: Method::GET,
        path: "/api/payouts",
        function: "payouts-list",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::PayoutGet,
        method: Method::GET,
        path: "/api/payouts/{payoutId}",
        function: "payout-get",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::RecipientsList,
        method: Method::GET,
        path: "/api/recipients",
        function: "recipients-list",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::RecipientGet,
        method: Method::GET,
        path: "/api/recipients/{recipientId}",
        function: "recipient-get",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::DisputesList,
        method: Method::GET,
        path: "/api/disputes",
        function: "disputes-list",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::DisputeGet,
        method: Method::GET,
        path: "/api/disputes/{disputeId}",
        function: "dispute-get",
        access: Access::Bearer,
    },
    // Signed: the defence decides whether the held money goes back to the payer.
    RouteSpec {
        route: Route::DisputeDefence,
        method: Method::POST,
        path: "/api/disputes/{disputeId}/defence",
        function: "dispute-defence",
        access: Access::BearerSigned,
    },
    RouteSpec {
        route: Route::SandboxInfraction,
        method: Method::POST,
        path: "/api/sandbox/cash-in/{transactionId}/infraction",
        function: "sandbox-infraction",
        access: Access::SandboxBearer,
    },
    RouteSpec {
        route: Route::SandboxDisputeDecide,
        method: Method::POST,
        path: "/api/sandbox/disputes/{disputeId}/decide",
        function: "sandbox-dispute-decide",
        access: Access::SandboxBearer,
    },
    RouteSpec {
        route: Route::SandboxHoldRelease,
        method: Method::POST,
        path: "/api/sandbox/cash-in/{transactionId}/hold/release",
        function: "sandbox-hold-release",
        access: Access::SandboxBearer,
    },
    RouteSpec {
        route: Route::SandboxHoldReturn,
        method: Method::POST,
        path: "/api/sandbox/cash-in/{transactionId}/hold/return",
        function: "sandbox-hold-return",
        access: Access::SandboxBearer,
    },
    RouteSpec {
        route: Route::SandboxPayoutsRun,
        method: Method::POST,
        path: "/api/sandbox/payouts/run",
        function: "sandbox-payouts-run",
        access: Access::SandboxBearer,
    },
    // Merchant webhooks: bearer only. Where events go is not a money movement (PRODUCT.md
    // requires DigitalSignature for refunds, cash-out and payout settings), and the URL policy
    // keeps a stolen token from aiming them at anything private.
    RouteSpec {
        route: Route::WebhookEndpointPut,
        method: Method::PUT,
        path: "/api/account/webhook",
        function: "webhook-endpoint-put",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::WebhookEndpointGet,
        method: Method::GET,
        path: "/api/account/webhook",
        function: "webhook-endpoint-get",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::WebhookSecretRotate,
        method: Method::POST,
        path: "/api/account/webhook/rotate-secret",
        function: "webhook-secret-rotate",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::WebhookDeliveriesList,
        method: Method::GET,
        path: "/api/webhooks/deliveries",
        function: "webhook-deliveries-list",
        access: Access::Bearer,
    },
    RouteSpec {
        route: Route::WebhookRedeliver,
        method: Method::POST,
        path: "/api/webhooks/deliveries/{deliveryId}/redeliver",
        function: "webhook-redeliver",
        access: Access::Bearer,
    },
];

/// The `function` of [`LOCAL_ROUTES`]: the local gateway binary (`infra/pixgw`) itself.
pub const LOCAL_GATEWAY: &str = "pixgw";

/// Routes only the local gateway serves, because only it has what they need. Present in its
/// router exactly when [`AppState::sandbox_clock`] is set; absent from the Lambda build (no
/// function, no `template.yaml` route) and from any state without an adjustable clock.
pub const LOCAL_ROUTES: &[RouteSpec] = &[RouteSpec {
    route: Route::SandboxClockAdvance,
    method: Method::POST,
    path: "/api/sandbox/clock/advance",
    function: LOCAL_GATEWAY,
    access: Access::SandboxBearer,
}];

/// Every route a host may serve: [`ROUTES`] then [`LOCAL_ROUTES`].
pub fn all_routes() -> impl Iterator<Item = &'static RouteSpec> {
    ROUTES.iter().chain(LOCAL_ROUTES)
}

impl RouteSpec {
    /// Whether `state` serves this route at all: sandbox routes need the sandbox, local routes
    /// the adjustable clock. A route that is not served answers 404 `PUB_ROUTE_NOT_FOUND`,
    /// as if it did not exist.
    fn served_by(&self, state: &AppState) -> bool {
        let sandbox = !self.access.sandbox_only() || state.sandbox.is_some();
        let local =
            !LOCAL_ROUTES.iter().any(|l| l.route == self.route) || state.sandbox_clock.is_some();
        sandbox && local
    }
}

impl Route {
    /// Whether the route's responses may show a secret or credential: a bearer token, or a
    /// webhook signing secret (on the PUT that creates the endpoint, and on rotation). Their
    /// responses are never cached ([`forbid_caching`]). No wildcard: a new route decides here.
    fn returns_secrets(self) -> bool {
        match self {
            Route::AuthToken | Route::WebhookEndpointPut | Route::WebhookSecretRotate => true,
            Route::CashInCreate
            | Route::CashInGet
            | Route::CashInList
            | Route::CashInRefund
            | Route::CashOutCreate
            | Route::CashOutGet
            | Route::CashOutList
            | Route::AccountStatement
            | Route::OpenApi
            | Route::SandboxPixLocation
            | Route::SandboxCashInPay
            | Route::ProviderWebhook
            | Route::AccountBalance
            | Route::PayoutScheduleGet
            | Route::PayoutSchedulePut
            | Route::RefundPolicyGet
            | Route::RefundPolicyPut
            | Route::PayoutsList
            | Route::PayoutGet
            | Route::RecipientsList
            | Route::RecipientGet
            | Route::DisputesList
            | Route::DisputeGet
            | Route::DisputeDefence
            | Route::SandboxInfraction
            | Route::SandboxDisputeDecide
            | Route::SandboxHoldRelease
            | Route::SandboxHoldReturn
            | Route::SandboxPayoutsRun
            | Route::SandboxClockAdvance
            | Route::WebhookEndpointGet
            | Route::WebhookDeliveriesList
            | Route::WebhookRedeliver => false,
        }
    }

    pub fn spec(self) -> &'static RouteSpec {
        // Every variant has exactly one entry (checked by a test).
        all_routes()
            .find(|spec| spec.route == self)
            .unwrap_or(&ROUTES[0])
    }
}

/// Path parameters captured by a template.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PathParams(Vec<(&'static str, String)>);

impl PathParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter `name` as `parse` reads it, or `not_found` (a 404). An id of the wrong
    /// shape cannot name anything, so it gets the same answer as an unknown one, before the
    /// body is even read.
    pub fn parse_or_404<'a, T>(
        &'a self,
        name: &str,
        parse: impl FnOnce(&'a str) -> Option<T>,
        not_found: ApiError,
    ) -> Result<T, ApiError> {
        self.get(name).and_then(parse).ok_or(not_found)
    }
}

/// Matches `path` against a template like `/api/pix/cash-in/{transactionId}`.
fn match_path(template: &'static str, path: &str) -> Option<PathParams> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut params = Vec::new();
    let mut template_parts = template.split('/');
    let mut path_parts = path.split('/');
    loop {
        match (template_parts.next(), path_parts.next()) {
            (None, None) => return Some(PathParams(params)),
            (Some(t), Some(p)) => {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if p.is_empty() {
                        return None;
                    }
                    params.push((name, p.to_owned()));
                } else if t != p {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The whole API: finds the route, then runs it. Used by the local gateway and the tests.
pub async fn dispatch(state: &AppState, request: ApiRequest) -> ApiResponse {
    let matching: Vec<(&RouteSpec, PathParams)> = all_routes()
        .filter_map(|spec| match_path(spec.path, &request.path).map(|p| (spec, p)))
        .filter(|(spec, _)| spec.served_by(state))
        .collect();
    let found = matching
        .iter()
        .find(|(spec, _)| spec.method == request.method)
        .map(|(spec, params)| (spec.route, params.clone()));
    match found {
        Some((route, params)) => run(state, route, params, request).await,
        None if matching.is_empty() => error_response(state, &request, ApiError::RouteNotFound),
        None => {
            let allow = matching
                .iter()
                .map(|(spec, _)| spec.method.clone())
                .collect();
            error_response(state, &request, ApiError::MethodNotAllowed { allow })
        }
    }
}

/// The methods `state` serves on `path`, in route-table order: what a 405's `Allow` lists.
fn allowed_methods(state: &AppState, path: &str) -> Vec<Method> {
    all_routes()
        .filter(|spec| spec.served_by(state) && match_path(spec.path, path).is_some())
        .map(|spec| spec.method.clone())
        .collect()
}

/// One route only: what a single-endpoint Lambda function calls. Requests that do not match
/// the route (API Gateway should never send them) get the same 404 as the full router.
pub async fn dispatch_route(state: &AppState, route: Route, request: ApiRequest) -> ApiResponse {
    let spec = route.spec();
    match match_path(spec.path, &request.path) {
        Some(params) if spec.method == request.method => run(state, route, params, request).await,
        Some(_) => {
            // The path's other methods are other functions behind the same API: list them
            // all, as the full router does.
            let allow = allowed_methods(state, &request.path);
            error_response(state, &request, ApiError::MethodNotAllowed { allow })
        }
        None => error_response(state, &request, ApiError::RouteNotFound),
    }
}

async fn run(
    state: &AppState,
    route: Route,
    params: PathParams,
    request: ApiRequest,
) -> ApiResponse {
    let started = Instant::now();
    let result = authorise_and_handle(state, route, &params, &request).await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => error_response(state, &request, error),
    };
    if route.returns_secrets() {
        forbid_caching(&mut response);
    }
    tracing::info!(
        method = %request.method,
        route = route.spec().path,
        status = response.status.as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn authorise_and_handle(
    state: &AppState,
    route: Route,
    params: &PathParams,
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge);
    }
    let spec = route.spec();
    if !spec.served_by(state) {
        return Err(ApiError::RouteNotFound);
    }
    let account: Option<AccountId> = match spec.access {
        Access::Bearer => Some(authenticate(&state.keys, request, state.clock.now())?),
        Access::BearerSigned => {
            let token = bearer_token(request)?;
            let account = verify_token(&state.keys, token, state.clock.now())?;
            verify_digital_signature(&state.store, &state.keys, request, &account, token).await?;
            Some(account)
        }
        Access::Public | Access::Signed => None,
        Access::SandboxPublic => None,
        Access::SandboxBearer => Some(authenticate(&state.keys, request, state.clock.now())?),
    };
    let account = account.as_ref();
    match route {
        Route::AuthToken => handlers::token::issue(state, request).await,
        Route::CashInCreate => handlers::cash_in::create(state, request, required(account)?).await,
        Route::CashInGet => handlers::cash_in::get(state, params, required(account)?).await,
        Route::CashInList => handlers::cash_in::list(state, request, required(account)?).await,
        Route::CashInRefund => {
            handlers::refund::request(state, params, request, required(account)?).await
        }
        Route::CashOutCreate => {
            handlers::cash_out::create(state, request, required(account)?).await
        }
        Route::CashOutGet => handlers::cash_out::get(state, params, required(account)?).await,
        Route::CashOutList => handlers::cash_out::list(state, request, required(account)?).await,
        Route::AccountStatement => {
            handlers::statement::get(state, request, required(account)?).await
        }
        Route::OpenApi => Ok(handlers::openapi::serve()),
        Route::SandboxPixLocation => handlers::pix_location::get(state, params).await,
        Route::SandboxCashInPay => {
            handlers::sandbox_pay::pay(state, params, request, required(account)?).await
        }
        Route::ProviderWebhook => handlers::provider_webhook::receive(state, params, request).await,
        Route::AccountBalance => handlers::account::balance(state, required(account)?).await,
        Route::PayoutScheduleGet => handlers::payout_schedule::get(state, required(account)?).await,
        Route::PayoutSchedulePut => {
            handlers::payout_schedule::put(state, request, required(account)?).await
        }
        Route::RefundPolicyGet => handlers::refund_policy::get(state, required(account)?).await,
        Route::RefundPolicyPut => {
            handlers::refund_policy::put(state, request, required(account)?).await
        }
        Route::PayoutsList => handlers::payouts::list(state, request, required(account)?).await,
        Route::PayoutGet => {
            handlers::payouts::get(state, params, request, required(account)?).await
        }
        Route::RecipientsList => {
            handlers::recipients::list(state, request, required(account)?).await
        }
        Route::RecipientGet => handlers::recipients::get(state, params, required(account)?).await,
        Route::DisputesList => handlers::disputes::list(state, request, required(account)?).await,
        Route::DisputeGet => handlers::disputes::get(state, params, required(account)?).await,
        Route::DisputeDefence => {
            handlers::disputes::defend(state, params, request, required(account)?).await
        }
        Route::SandboxInfraction => {
            handlers::sandbox_disputes::open(state, params, request, required(account)?).await
        }
        Route::SandboxDisputeDecide => {
            handlers::sandbox_disputes::decide(state, params, request, required(account)?).await
        }
        Route::SandboxHoldRelease => {
            let account = required(account)?;
            handlers::sandbox_holds::end(state, params, request, account, Ending::Release).await
        }
        Route::SandboxHoldReturn => {
            let account = required(account)?;
            handlers::sandbox_holds::end(state, params, request, account, Ending::Return).await
        }
        Route::SandboxPayoutsRun => {
            handlers::sandbox_payouts::run(state, request, required(account)?).await
        }
        Route::SandboxClockAdvance => {
            handlers::sandbox_clock::advance(state, request, required(account)?).await
        }
        Route::WebhookEndpointPut => {
            handlers::webhooks::put_endpoint(state, request, required(account)?).await
        }
        Route::WebhookEndpointGet => {
            handlers::webhooks::get_endpoint(state, required(account)?).await
        }
        Route::WebhookSecretRotate => {
            handlers::webhooks::rotate_secret(state, request, required(account)?).await
        }
        Route::WebhookDeliveriesList => {
            handlers::webhooks::list_deliveries(state, request, required(account)?).await
        }
        Route::WebhookRedeliver => {
            handlers::webhooks::redeliver(state, params, request, required(account)?).await
        }
    }
}

/// RFC 6749 §5.1: a response holding a token or other credential must not be stored by any
/// cache (`Pragma` for HTTP/1.0 caches). Set on every answer of such a route, errors and
/// idempotent replays included, so no path through a handler can forget it.
fn forbid_caching(response: &mut ApiResponse) {
    response
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn required(account: Option<&AccountId>) -> Result<&AccountId, ApiError> {
    account.ok_or(ApiError::MissingToken)
}

fn error_response(state: &AppState, request: &ApiRequest, error: ApiError) -> ApiResponse {
    error.to_response(request, state.clock.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_exactly_one_spec() {
        for route in [
            Route::AuthToken,
            Route::CashInCreate,
            Route::CashInGet,
            Route::CashInList,
            Route::CashInRefund,
            Route::CashOutCreate,
            Route::CashOutGet,
            Route::CashOutList,
            Route::AccountStatement,
            Route::OpenApi,
            Route::SandboxPixLocation,
            Route::SandboxCashInPay,
            Route::ProviderWebhook,
            Route::AccountBalance,
            Route::PayoutScheduleGet,
            Route::PayoutSchedulePut,
            Route::RefundPolicyGet,
            Route::RefundPolicyPut,
            Route::PayoutsList,
            Route::PayoutGet,
            Route::RecipientsList,
            Route::RecipientGet,
            Route::SandboxPayoutsRun,
            Route::SandboxClockAdvance,
            Route::WebhookEndpointPut,
            Route::WebhookEndpointGet,
            Route::WebhookSecretRotate,
            Route::WebhookDeliveriesList,
            Route::WebhookRedeliver,
        ] {
            assert_eq!(
                all_routes().filter(|s| s.route == route).count(),
                1,
                "{route:?}"
            );
        }
    }

    #[test]
    fn local_routes_are_sandbox_routes_of_the_local_gateway() {
        for spec in LOCAL_ROUTES {
            assert!(spec.access.sandbox_only(), "{}", spec.path);
            assert_eq!(spec.function, LOCAL_GATEWAY);
            assert!(!ROUTES.iter().any(|r| r.path == spec.path));
        }
    }

    #[test]
    fn templates_capture_params() {
        let p = match_path("/api/pix/cash-in/{transactionId}", "/api/pix/cash-in/abc").unwrap();
        assert_eq!(p.get("transactionId"), Some("abc"));
        assert!(match_path("/api/pix/cash-in/{transactionId}", "/api/pix/cash-in/").is_none());
        assert!(match_path("/api/pix/cash-in/{transactionId}", "/api/pix/cash-in/a/b").is_none());
        assert!(match_path("/api/pix/cash-in", "/api/pix/cash-in/").is_some());
        assert!(match_path("/api/pix/cash-in", "/api/pix/cash").is_none());
    }

    #[test]
    fn a_param_that_does_not_parse_is_the_routes_404() {
        let p = match_path("/api/payouts/{payoutId}", "/api/payouts/po_x").unwrap();
        let parse = |s: &str| (s == "po_ok").then_some(7);
        assert_eq!(
            p.parse_or_404("payoutId", parse, ApiError::PayoutNotFound),
            Err(ApiError::PayoutNotFound)
        );
        assert_eq!(
            p.parse_or_404("missing", |_| Some(1), ApiError::NotFound("x")),
            Err(ApiError::NotFound("x"))
        );
        let p = match_path("/api/payouts/{payoutId}", "/api/payouts/po_ok").unwrap();
        assert_eq!(
            p.parse_or_404("payoutId", parse, ApiError::PayoutNotFound),
            Ok(7)
        );
    }
}
