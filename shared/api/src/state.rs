//! Everything a request handler needs, built once per process by the host.

use std::sync::Arc;

use crate::store::{self, DynStore};
use pixgw_domain::flows::book_splits::SplitCalculator;
use pixgw_domain::flows::cash_out::CashOutService;
use pixgw_domain::flows::confirm::ConfirmationService;
use pixgw_domain::flows::create_charge::ChargeService;
use pixgw_domain::flows::dispute::DisputeService;
use pixgw_domain::flows::execute_payout::PayoutExecutor;
use pixgw_domain::flows::expire::ExpirySweeper;
use pixgw_domain::flows::money_out::MoneyOutExecutor;
use pixgw_domain::flows::payout_schedule::ScheduleService;
use pixgw_domain::flows::refund::RefundService;
use pixgw_domain::flows::run_payout_windows::PayoutScheduler;
use pixgw_domain::messaging::queue::MessageQueue;
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::provider::PixProvider;
use pixgw_domain::provider::directory::ProviderDirectory;
use pixgw_domain::webhooks::dispatcher::{DispatcherParts, WebhookDispatcher};
use pixgw_domain::webhooks::service::WebhookService;
use pixgw_domain::webhooks::url_policy::{HostResolver, UrlPolicy};
use pixgw_domain::webhooks::{SecretSealer, WebhookSender, WebhookStore};
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_webhook_http::SystemResolver;

use crate::auth::AuthKeys;
use crate::sandbox_clock::SandboxClock;

/// How the sandbox PIX network delivers its webhooks to our inbound endpoint.
#[derive(Debug, Clone)]
pub enum SandboxDelivery {
    /// Over HTTP, like a real PSP: `POST {base_url}/webhooks/provider/sandbox`.
    Http { base_url: String },
    /// Straight into this process's provider-webhook handler, the one behind
    /// `POST /webhooks/provider/{provider}`, signature check included, without a socket: the
    /// Lambda build (whose own public URL a default deployment cannot put in BR Codes, see
    /// `functions/src/lib.rs`) and tests.
    InProcess,
}

/// Sandbox-only features: the payer's bank (`/api/sandbox/...`) and the public PIX location.
/// `None` in production builds: those routes answer 404.
#[derive(Clone)]
pub struct SandboxConfig {
    pub provider: SandboxProvider,
    pub delivery: SandboxDelivery,
}

#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub charges: ChargeService,
    pub confirmations: ConfirmationService,
    pub split_calculator: SplitCalculator,
    pub payout_executor: PayoutExecutor,
    /// The consumer of `payout-requests`: payouts, cash-outs and refunds.
    pub money_out: MoneyOutExecutor,
    pub refunds: RefundService,
    pub disputes: DisputeService,
    pub cash_outs: CashOutService,
    pub expiry: ExpirySweeper,
    pub schedules: ScheduleService,
    pub payout_scheduler: PayoutScheduler,
    pub clock: Arc<dyn Clock>,
    /// The same clock as `clock`, when it can be moved (`POST /api/sandbox/clock/advance`):
    /// only the local gateway builds one. `None` on Lambda, where that route does not exist.
    pub sandbox_clock: Option<Arc<SandboxClock>>,
    pub keys: AuthKeys,
    /// The first provider of the deployment's default order (the sandbox in most tests).
    pub provider: Arc<dyn PixProvider>,
    /// Every configured provider: where new charges go (with failover), where each charge's
    /// refund goes, whose webhooks we accept.
    pub providers: Arc<ProviderDirectory>,
    pub sandbox: Option<SandboxConfig>,
    /// The merchant's webhook endpoint and delivery log (`/api/account/webhook...`,
    /// `/api/webhooks/deliveries...`), on the store, keys, clock, resolver and URL policy
    /// below: rebuilt by [`AppState::with_webhook_policy`] / [`AppState::with_webhook_resolver`].
    pub webhooks: WebhookService,
    /// How merchant webhook hosts are resolved for the URL policy: the system resolver,
    /// unless a host or a test injects another.
    pub webhook_resolver: Arc<dyn HostResolver>,
}

impl AppState {
    /// A state with one provider.
    pub fn new(
        store: DynStore,
        provider: Arc<dyn PixProvider>,
        clock: Arc<dyn Clock>,
        keys: AuthKeys,
        sandbox: Option<SandboxConfig>,
    ) -> AppState {
        let providers = Arc::new(ProviderDirectory::single(provider, clock.clone()));
        AppState::with_providers(store, providers, clock, keys, sandbox)
    }

    /// A state over the deployment's configured providers.
    pub fn with_providers(
        store: DynStore,
        providers: Arc<ProviderDirectory>,
        clock: Arc<dyn Clock>,
        keys: AuthKeys,
        sandbox: Option<SandboxConfig>,
    ) -> AppState {
        let provider = providers.default_provider().clone();
        let payout_executor = PayoutExecutor::new(
            store::payout_executor_ports(&store),
            providers.clone(),
            clock.clone(),
        );
        let refunds = RefundService::new(
            store::refund_ports(&store),
            providers.clone(),
            clock.clone(),
        );
        let cash_outs = CashOutService::new(
            store::cash_out_ports(&store),
            providers.clone(),
            clock.clone(),
        );
        let money_out = MoneyOutExecutor {
            payouts: payout_executor.clone(),
            cash_outs: cash_outs.clone(),
            refunds: refunds.clone(),
        };
        let disputes = DisputeService::new(store::dispute_ports(&store), clock.clone());
        let runs: Arc<dyn PayoutRunStore> = store.clone();
        let webhook_resolver: Arc<dyn HostResolver> = Arc::new(SystemResolver::new());
        // Production rules unless the host says otherwise: only the local gateway may send
        // webhooks to http://localhost (`with_webhook_policy(UrlPolicy::LOCAL)`).
        let webhooks = webhook_service(
            &store,
            &keys,
            &webhook_resolver,
            &clock,
            UrlPolicy::PRODUCTION,
        );
        AppState {
            charges: ChargeService::new(
                store::charge_ports(&store),
                providers.clone(),
                clock.clone(),
            ),
            confirmations: ConfirmationService::new(
                store::confirmation_ports(&store),
                clock.clone(),
                money_out.clone(),
                disputes.clone(),
            ),
            split_calculator: SplitCalculator::new(
                store::split_calculator_ports(&store),
                clock.clone(),
            ),
            payout_executor,
            money_out,
            refunds,
            disputes,
            cash_outs,
            expiry: ExpirySweeper::new(store::expiry_ports(&store), clock.clone()),
            schedules: ScheduleService::new(store.clone(), clock.clone()),
            payout_scheduler: PayoutScheduler::new(runs, clock.clone()),
            store,
            clock,
            sandbox_clock: None,
            keys,
            provider,
            providers,
            sandbox,
            webhooks,
            webhook_resolver,
        }
    }

    /// [`AppState::new`] on an adjustable sandbox clock, which every service of the state runs
    /// on and `POST /api/sandbox/clock/advance` moves (the local gateway). Give the same clock
    /// to whatever else the host runs beside the API (queues, the provider), so time moves for
    /// all of it at once.
    pub fn with_sandbox_clock(
        store: DynStore,
        provider: Arc<dyn PixProvider>,
        clock: Arc<SandboxClock>,
        keys: AuthKeys,
        sandbox: Option<SandboxConfig>,
    ) -> AppState {
        let shared: Arc<dyn Clock> = clock.clone();
        let providers = Arc::new(ProviderDirectory::single(provider, shared));
        AppState::with_providers_on_sandbox_clock(store, providers, clock, keys, sandbox)
    }

    /// [`AppState::with_providers`] on an adjustable sandbox clock (the local gateway; build
    /// the directory on the same clock).
    pub fn with_providers_on_sandbox_clock(
        store: DynStore,
        providers: Arc<ProviderDirectory>,
        clock: Arc<SandboxClock>,
        keys: AuthKeys,
        sandbox: Option<SandboxConfig>,
    ) -> AppState {
        let shared: Arc<dyn Clock> = clock.clone();
        AppState {
            sandbox_clock: Some(clock),
            ..AppState::with_providers(store, providers, shared, keys, sandbox)
        }
    }

    /// The same state with merchant webhook URLs judged by `policy` (the local gateway:
    /// [`UrlPolicy::LOCAL`]).
    pub fn with_webhook_policy(mut self, policy: UrlPolicy) -> AppState {
        self.webhooks = webhook_service(
            &self.store,
            &self.keys,
            &self.webhook_resolver,
            &self.clock,
            policy,
        );
        self
    }

    /// The same state with merchant webhook hosts resolved by `resolver` (tests: a table).
    pub fn with_webhook_resolver(mut self, resolver: Arc<dyn HostResolver>) -> AppState {
        self.webhook_resolver = resolver;
        self.webhooks = webhook_service(
            &self.store,
            &self.keys,
            &self.webhook_resolver,
            &self.clock,
            self.webhooks.policy(),
        );
        self
    }

    /// The `webhook-deliveries` consumer on this state's store, keys, resolver, clock and URL
    /// policy, so deliveries are checked and signed exactly as registration checked and
    /// sealed them. The host brings the queue and the HTTP sender.
    pub fn webhook_dispatcher(
        &self,
        queue: Arc<dyn MessageQueue>,
        sender: Arc<dyn WebhookSender>,
    ) -> WebhookDispatcher {
        WebhookDispatcher::new(DispatcherParts {
            store: self.store.clone(),
            queue,
            sender,
            resolver: self.webhook_resolver.clone(),
            sealer: Arc::new(self.keys.clone()),
            clock: self.clock.clone(),
            policy: self.webhooks.policy(),
        })
    }

    /// The provider whose webhooks arrive at `/webhooks/provider/{name}`.
    pub fn provider_named(&self, name: &str) -> Option<&Arc<dyn PixProvider>> {
        self.providers.named(name)
    }
}

fn webhook_service(
    store: &DynStore,
    keys: &AuthKeys,
    resolver: &Arc<dyn HostResolver>,
    clock: &Arc<dyn Clock>,
    policy: UrlPolicy,
) -> WebhookService {
    let webhook_store: Arc<dyn WebhookStore> = store.clone();
    let sealer: Arc<dyn SecretSealer> = Arc::new(keys.clone());
    WebhookService::new(
        webhook_store,
        sealer,
        resolver.clone(),
        clock.clone(),
        policy,
    )
}
