//! An API function's cold start ([`api_state`]) from its environment, without a network:
//! configuration mistakes are refused before the store is touched, a full configuration builds
//! the provider directory in `PIXGW_PROVIDERS` order (the DynamoDB client is only constructed,
//! never called), and a function reads only the variables its flow needs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use pixgw_api::state::SandboxDelivery;
use pixgw_api::{AppState, Route};
use pixgw_functions::aws::AwsClients;
use pixgw_functions::bootstrap::api_state;
use pixgw_functions::{BootstrapError, configured_providers};
use pixgw_providers::env::ProviderConfigError;

/// A function's environment, recording what its cold start looks up.
#[derive(Default)]
struct Vars {
    set: BTreeMap<&'static str, String>,
    read: RefCell<BTreeSet<String>>,
}

impl Vars {
    /// The table and both keys; a sandbox stage on the sandbox provider, with a custom domain.
    fn base() -> Vars {
        let mut vars = Vars::default();
        vars.set("PIXGW_JWT_SECRET", &"ab".repeat(48));
        vars.set("PIXGW_DATA_KEY", &"cd".repeat(32));
        vars.set("PIXGW_PUBLIC_HOST", "pix.example.com");
        vars.set("PIXGW_TABLE", "pixgw-test");
        vars
    }

    fn set(&mut self, name: &'static str, value: &str) {
        self.set.insert(name, value.to_owned());
    }

    fn remove(&mut self, name: &str) {
        self.set.remove(name);
    }

    fn with_real_provider_credentials(&mut self) {
        self.set("CONNECTPSP_CLIENT_ID", "client-1");
        self.set("CONNECTPSP_CLIENT_SECRET", "connectpsp-client-secret");
        self.set("CONNECTPSP_APPLICATION_TOKEN", "application-token");
        self.set("CONNECTPSP_CRYPTO_TOKEN", "crypto-token");
        self.set("CONNECTPSP_WEBHOOK_TOKEN", "webhook-token-0123456789");
        self.set("PAGFAST_API_TOKEN", "pagfast-api-token");
        self.set("PAGFAST_WEBHOOK_HEADER_VALUE", "pagfast-header-value-0123");
    }

    /// The cold start of the function serving `route`.
    fn start(&self, route: Route) -> Result<AppState, BootstrapError> {
        self.read.borrow_mut().clear();
        let env = |name: &str| {
            self.read.borrow_mut().insert(name.to_owned());
            self.set.get(name).cloned()
        };
        // A fixed region and no credentials chain: the client is built, never called.
        let aws = AwsClients::new(
            SdkConfig::builder()
                .region(Region::new("us-east-1"))
                .behavior_version(BehaviorVersion::latest())
                .build(),
        );
        api_state(route, &env, &aws)
    }

    /// The variables the last cold start looked up.
    fn read(&self) -> Vec<String> {
        self.read.borrow().iter().cloned().collect()
    }
}

#[test]
fn a_charge_creating_function_builds_the_configured_providers_and_refuses_mistakes() {
    // A sandbox stage with no list runs on the sandbox, with the sandbox routes.
    let mut vars = Vars::base();
    vars.set("PIXGW_SANDBOX", "true");
    let state = vars.start(Route::CashInCreate).unwrap();
    assert_eq!(state.providers.names(), vec!["sandbox"]);
    assert!(state.sandbox.is_some());

    // ... also without a custom domain (a default deploy: PublicHost is empty), paying through
    // the provider-webhook handler in-process rather than over HTTPS to a host it has not got.
    vars.set("PIXGW_PUBLIC_HOST", "");
    let state = vars.start(Route::CashInCreate).unwrap();
    let sandbox = state.sandbox.expect("sandbox routes");
    assert!(
        matches!(sandbox.delivery, SandboxDelivery::InProcess),
        "{:?}",
        sandbox.delivery
    );
    // A real provider, though, needs the host its webhooks are sent to.
    vars.set("PIXGW_PROVIDERS", "sandbox,connectpsp");
    vars.with_real_provider_credentials();
    let err = vars.start(Route::CashInCreate).err().unwrap();
    assert!(
        matches!(err, BootstrapError::Missing("PIXGW_PUBLIC_HOST")),
        "{err:?}"
    );

    // Production must say which providers it uses...
    let mut vars = Vars::base();
    vars.set("PIXGW_SANDBOX", "false");
    let err = vars.start(Route::CashInCreate).err().unwrap();
    assert!(
        matches!(
            err,
            BootstrapError::Provider(ProviderConfigError::Missing("PIXGW_PROVIDERS"))
        ),
        "{err:?}"
    );
    // ...and may not list the sandbox, which confirms charges nobody paid.
    vars.set("PIXGW_PROVIDERS", "connectpsp,sandbox");
    vars.with_real_provider_credentials();
    let err = vars.start(Route::CashInCreate).err().unwrap();
    assert!(matches!(err, BootstrapError::SandboxDisabled), "{err:?}");

    // A listed provider's missing credential is named.
    vars.set("PIXGW_PROVIDERS", "pagfast,connectpsp");
    vars.remove("CONNECTPSP_CLIENT_ID");
    let err = vars.start(Route::CashInCreate).err().unwrap();
    assert!(err.to_string().contains("CONNECTPSP_CLIENT_ID"), "{err}");

    // A bad failover setting is refused.
    vars.with_real_provider_credentials();
    vars.set("PIXGW_FAILOVER_THRESHOLD", "zero");
    let err = vars.start(Route::CashInCreate).err().unwrap();
    assert!(
        err.to_string().contains("PIXGW_FAILOVER_THRESHOLD"),
        "{err}"
    );

    // A production deployment on real providers, in the listed order, without the sandbox.
    vars.set("PIXGW_FAILOVER_THRESHOLD", "2");
    let state = vars.start(Route::CashInCreate).unwrap();
    assert_eq!(state.providers.names(), vec!["pagfast", "connectpsp"]);
    assert_eq!(state.provider.name(), "pagfast");
    assert!(state.sandbox.is_none());

    // Both real providers next to the sandbox in a sandbox stage.
    vars.set("PIXGW_SANDBOX", "true");
    vars.set("PIXGW_PROVIDERS", "connectpsp,sandbox");
    let state = vars.start(Route::CashInCreate).unwrap();
    assert_eq!(state.providers.names(), vec!["connectpsp", "sandbox"]);
    assert!(state.sandbox.is_some());
}

/// A function reads only what its flow needs: a missing unrelated secret cannot break it, and
/// a missing needed one fails its cold start by name.
#[test]
fn each_function_reads_only_the_secrets_its_flow_needs() {
    // The OpenAPI document: the token key (the route needs a token) and the table, nothing
    // else, not even the provider list.
    let mut vars = Vars::default();
    vars.set("PIXGW_JWT_SECRET", &"ab".repeat(48));
    vars.set("PIXGW_TABLE", "pixgw-test");
    vars.start(Route::OpenApi).unwrap();
    assert_eq!(
        vars.read(),
        ["DYNAMODB_ENDPOINT", "PIXGW_JWT_SECRET", "PIXGW_TABLE"]
    );
    vars.remove("PIXGW_JWT_SECRET");
    let err = vars.start(Route::OpenApi).err().unwrap();
    assert!(
        matches!(err, BootstrapError::Missing("PIXGW_JWT_SECRET")),
        "{err:?}"
    );

    // A signed route opens the account's cryptoToken: the data key, required.
    let mut vars = Vars::base();
    vars.set("PIXGW_SANDBOX", "false");
    vars.set("PIXGW_PROVIDERS", "connectpsp,pagfast");
    vars.with_real_provider_credentials();
    vars.remove("PIXGW_DATA_KEY");
    let err = vars.start(Route::CashInRefund).err().unwrap();
    assert!(
        matches!(err, BootstrapError::Missing("PIXGW_DATA_KEY")),
        "{err:?}"
    );
    // Refunds go to providers that can make them: ConnectPSP's credentials, never PagFast's
    // token (PagFast is known by name, so its charges are still refused as not refundable).
    vars.set("PIXGW_DATA_KEY", &"cd".repeat(32));
    vars.remove("PAGFAST_API_TOKEN");
    vars.remove("PAGFAST_WEBHOOK_HEADER_VALUE");
    let state = vars.start(Route::CashInRefund).unwrap();
    assert_eq!(state.providers.names(), vec!["connectpsp", "pagfast"]);
    assert!(!vars.read().iter().any(|name| name.starts_with("PAGFAST_")));
    assert!(vars.read().contains(&"CONNECTPSP_CLIENT_SECRET".to_owned()));

    // The provider webhook verifies PagFast's webhooks by the header value alone, holds no
    // token key, and no data key outside the sandbox.
    vars.set("PAGFAST_WEBHOOK_HEADER_VALUE", "pagfast-header-value-0123");
    vars.remove("PIXGW_DATA_KEY");
    vars.remove("PIXGW_JWT_SECRET");
    let state = vars.start(Route::ProviderWebhook).unwrap();
    assert_eq!(state.providers.names(), vec!["connectpsp", "pagfast"]);
    let read = vars.read();
    assert!(read.contains(&"PAGFAST_WEBHOOK_HEADER_VALUE".to_owned()));
    for unread in ["PAGFAST_API_TOKEN", "PIXGW_JWT_SECRET", "PIXGW_DATA_KEY"] {
        assert!(!read.contains(&unread.to_owned()), "{unread}: {read:?}");
    }

    // A cash-out only chooses its transfer provider: no provider credential at all.
    vars.set("PIXGW_JWT_SECRET", &"ab".repeat(48));
    vars.set("PIXGW_DATA_KEY", &"cd".repeat(32));
    let state = vars.start(Route::CashOutCreate).unwrap();
    assert_eq!(state.providers.names(), vec!["connectpsp", "pagfast"]);
    assert!(
        !vars
            .read()
            .iter()
            .any(|name| name.starts_with("CONNECTPSP_") || name.starts_with("PAGFAST_")),
        "{:?}",
        vars.read()
    );
}

#[test]
fn the_provider_list_depends_on_the_stage() {
    let none = |_: &str| None;
    assert_eq!(configured_providers(&none, true).unwrap(), vec!["sandbox"]);
    assert!(matches!(
        configured_providers(&none, false),
        Err(BootstrapError::Provider(ProviderConfigError::Missing(
            "PIXGW_PROVIDERS"
        )))
    ));
    let listed = |name: &str| (name == "PIXGW_PROVIDERS").then(|| "pagfast, sandbox".to_owned());
    assert_eq!(
        configured_providers(&listed, true).unwrap(),
        vec!["pagfast", "sandbox"]
    );
    assert!(matches!(
        configured_providers(&listed, false),
        Err(BootstrapError::SandboxDisabled)
    ));
    let twice = |name: &str| (name == "PIXGW_PROVIDERS").then(|| "pagfast,pagfast".to_owned());
    assert!(matches!(
        configured_providers(&twice, true),
        Err(BootstrapError::Provider(ProviderConfigError::Duplicate(
            "pagfast"
        )))
    ));
}
