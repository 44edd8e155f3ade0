//! What each API function's flow uses, and so the only secrets and providers its cold start
//! reads and builds ([`crate::bootstrap::api_state`]). `template.yaml` gives each function
//! exactly what this says it reads, and the policy test (`functions/tests/policies.rs`) proves
//! the two agree: a variable the template gives a function that never reads it, or one it needs
//! and is not given, fails it.
//!
//! The queue consumers and the scheduled functions build one service each, and their builders
//! (`pipeline.rs`, `scheduler.rs`, `expiry.rs`) say what they read.

use pixgw_api::Route;
use pixgw_api::routes::Access;

/// What one API function uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Issues or verifies bearer tokens: `PIXGW_JWT_SECRET`.
    pub jwt_key: bool,
    /// Opens or seals a stored secret (an account's `cryptoToken`, to check a
    /// `DigitalSignature`; a webhook signing secret): `PIXGW_DATA_KEY`. The sandbox provider's
    /// signing key is derived from it as well, so a function that builds the sandbox provider
    /// reads it too, whatever this says ([`crate::providers::ProviderPlan::builds_sandbox`]).
    pub data_key: bool,
    pub psp: PspUse,
}

/// What a function does with the deployment's PIX providers (`PIXGW_PROVIDERS`), which decides
/// whose credentials it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PspUse {
    /// Never consults them: no list, no credentials.
    None,
    /// Chooses among the listed providers by name and capabilities, but calls none of them
    /// (a cash-out records the provider its transfer will go to; the payout executor sends it).
    Chooses,
    /// Creates charges, at any listed provider (failover).
    Charges,
    /// Refunds and transfers, at the providers able to make them; the others are only known.
    MovesMoneyOut,
    /// Authenticates the providers' webhooks (and confirms them with the provider where its
    /// adapter must read the charge back).
    Webhooks,
    /// The sandbox PIX network itself (the sandbox routes); the real providers are only known.
    Sandbox,
}

impl Needs {
    /// The needs of the function serving `route`.
    pub fn of(route: Route) -> Needs {
        let access = route.spec().access;
        Needs {
            // Every token-protected route verifies one; the token route issues them.
            jwt_key: route == Route::AuthToken
                || matches!(
                    access,
                    Access::Bearer | Access::BearerSigned | Access::SandboxBearer
                ),
            // A `DigitalSignature` is checked against the account's encrypted cryptoToken.
            data_key: access == Access::BearerSigned || seals_secrets(route),
            psp: psp_use(route),
        }
    }
}

/// Routes that seal a webhook signing secret (and remember their response, which shows it,
/// sealed for idempotent replays).
fn seals_secrets(route: Route) -> bool {
    matches!(
        route,
        Route::WebhookEndpointPut | Route::WebhookSecretRotate
    )
}

/// No wildcard: a new route decides what it does with the providers.
fn psp_use(route: Route) -> PspUse {
    match route {
        Route::CashInCreate => PspUse::Charges,
        Route::CashInRefund => PspUse::MovesMoneyOut,
        Route::CashOutCreate => PspUse::Chooses,
        Route::ProviderWebhook => PspUse::Webhooks,
        Route::SandboxPixLocation
        | Route::SandboxCashInPay
        | Route::SandboxPayoutsRun
        | Route::SandboxInfraction
        | Route::SandboxDisputeDecide
        | Route::SandboxHoldRelease
        | Route::SandboxHoldReturn => PspUse::Sandbox,
        // Only the local gateway serves it; it moves a clock, not money.
        Route::SandboxClockAdvance => PspUse::None,
        Route::AuthToken
        | Route::CashInGet
        | Route::CashInList
        | Route::CashOutGet
        | Route::CashOutList
        | Route::AccountStatement
        | Route::OpenApi
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
        | Route::WebhookEndpointPut
        | Route::WebhookEndpointGet
        | Route::WebhookSecretRotate
        | Route::WebhookDeliveriesList
        | Route::WebhookRedeliver => PspUse::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_needs_only_the_token_key() {
        assert_eq!(
            Needs::of(Route::OpenApi),
            Needs {
                jwt_key: true,
                data_key: false,
                psp: PspUse::None
            }
        );
    }

    #[test]
    fn signed_routes_need_the_data_key_and_the_provider_webhook_no_token_key() {
        for spec in pixgw_api::routes::ROUTES {
            let needs = Needs::of(spec.route);
            if spec.access == Access::BearerSigned {
                assert!(needs.jwt_key && needs.data_key, "{:?}", spec.route);
            }
        }
        let webhook = Needs::of(Route::ProviderWebhook);
        assert!(!webhook.jwt_key && !webhook.data_key);
        assert_eq!(webhook.psp, PspUse::Webhooks);
    }
}
