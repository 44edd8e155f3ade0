//! `bootstrap()` from the Lambda environment, without a network: configuration mistakes are
//! refused before the store is touched, and a full configuration builds the provider directory
//! in `PIXGW_PROVIDERS` order (the DynamoDB client is only constructed, never called).
//!
//! Only one test here touches the process environment (the other passes its own lookup), so
//! setting variables races with nothing.

use pixgw_api::state::SandboxDelivery;
use pixgw_functions::{BootstrapError, bootstrap, configured_providers};
use pixgw_providers::env::ProviderConfigError;

const VARS: &[&str] = &[
    "PIXGW_SANDBOX",
    "PIXGW_PROVIDERS",
    "CONNECTPSP_CLIENT_ID",
    "CONNECTPSP_CLIENT_SECRET",
    "CONNECTPSP_APPLICATION_TOKEN",
    "CONNECTPSP_CRYPTO_TOKEN",
    "CONNECTPSP_WEBHOOK_TOKEN",
    "PAGFAST_API_TOKEN",
    "PAGFAST_WEBHOOK_HEADER_VALUE",
    "PIXGW_FAILOVER_THRESHOLD",
];

fn set(name: &str, value: &str) {
    // SAFETY: no other test of this binary reads or writes the process environment.
    unsafe { std::env::set_var(name, value) }
}

fn reset() {
    for name in VARS {
        // SAFETY: as in `set`.
        unsafe { std::env::remove_var(name) }
    }
    set("PIXGW_JWT_SECRET", &"ab".repeat(48));
    set("PIXGW_DATA_KEY", &"cd".repeat(32));
    set("PIXGW_PUBLIC_HOST", "pix.example.com");
    set("PIXGW_TABLE", "pixgw-test");
    // Never reach AWS or the instance metadata service: a local endpoint that is never called,
    // and static region and credentials.
    set("DYNAMODB_ENDPOINT", "http://127.0.0.1:9");
    set("AWS_REGION", "us-east-1");
    set("AWS_ACCESS_KEY_ID", "test");
    set("AWS_SECRET_ACCESS_KEY", "test");
    set("AWS_EC2_METADATA_DISABLED", "true");
}

fn set_real_provider_credentials() {
    set("CONNECTPSP_CLIENT_ID", "client-1");
    set("CONNECTPSP_CLIENT_SECRET", "connectpsp-client-secret");
    set("CONNECTPSP_APPLICATION_TOKEN", "application-token");
    set("CONNECTPSP_CRYPTO_TOKEN", "crypto-token");
    set("CONNECTPSP_WEBHOOK_TOKEN", "webhook-token-0123456789");
    set("PAGFAST_API_TOKEN", "pagfast-api-token");
    set("PAGFAST_WEBHOOK_HEADER_VALUE", "pagfast-header-value-0123");
}

#[tokio::test]
async fn bootstrap_builds_the_configured_providers_and_refuses_mistakes() {
    // A sandbox stage with no list runs on the sandbox, with the sandbox routes.
    reset();
    set("PIXGW_SANDBOX", "true");
    let state = bootstrap().await.unwrap();
    assert_eq!(state.providers.names(), vec!["sandbox"]);
    assert!(state.sandbox.is_some());

    // ... also without a custom domain (a default deploy: PublicHost is empty), paying through
    // the provider-webhook handler in-process rather than over HTTPS to a host it has not got.
    set("PIXGW_PUBLIC_HOST", "");
    let state = bootstrap().await.unwrap();
    let sandbox = state.sandbox.expect("sandbox routes");
    assert!(
        matches!(sandbox.delivery, SandboxDelivery::InProcess),
        "{:?}",
        sandbox.delivery
    );
    // A real provider, though, needs the host its webhooks are sent to.
    set("PIXGW_PROVIDERS", "sandbox,connectpsp");
    set_real_provider_credentials();
    let err = bootstrap().await.err().unwrap();
    assert!(
        matches!(err, BootstrapError::Missing("PIXGW_PUBLIC_HOST")),
        "{err:?}"
    );

    // Production must say which providers it uses...
    reset();
    set("PIXGW_SANDBOX", "false");
    let err = bootstrap().await.err().unwrap();
    assert!(
        matches!(
            err,
            BootstrapError::Provider(ProviderConfigError::Missing("PIXGW_PROVIDERS"))
        ),
        "{err:?}"
    );
    // ...and may not list the sandbox, which confirms charges nobody paid.
    set("PIXGW_PROVIDERS", "connectpsp,sandbox");
    set_real_provider_credentials();
    let err = bootstrap().await.err().unwrap();
    assert!(matches!(err, BootstrapError::SandboxDisabled), "{err:?}");

    // A listed provider's missing credential is named.
    set("PIXGW_PROVIDERS", "pagfast,connectpsp");
    // SAFETY: as in `set`.
    unsafe { std::env::remove_var("CONNECTPSP_CLIENT_ID") };
    let err = bootstrap().await.err().unwrap();
    assert!(err.to_string().contains("CONNECTPSP_CLIENT_ID"), "{err}");

    // A bad failover setting is refused.
    set_real_provider_credentials();
    set("PIXGW_FAILOVER_THRESHOLD", "zero");
    let err = bootstrap().await.err().unwrap();
    assert!(
        err.to_string().contains("PIXGW_FAILOVER_THRESHOLD"),
        "{err}"
    );

    // A production deployment on real providers, in the listed order, without the sandbox.
    set("PIXGW_FAILOVER_THRESHOLD", "2");
    let state = bootstrap().await.unwrap();
    assert_eq!(state.providers.names(), vec!["pagfast", "connectpsp"]);
    assert_eq!(state.provider.name(), "pagfast");
    assert!(state.sandbox.is_none());

    // Both real providers next to the sandbox in a sandbox stage.
    set("PIXGW_SANDBOX", "true");
    set("PIXGW_PROVIDERS", "connectpsp,sandbox");
    let state = bootstrap().await.unwrap();
    assert_eq!(state.providers.names(), vec!["connectpsp", "sandbox"]);
    assert!(state.sandbox.is_some());
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
