use std::collections::HashMap;
use std::time::Duration;

use pixgw_domain::provider::directory::FailoverPolicy;

use super::*;

const BASE: &str = "https://pix.example.com";
const CLIENT_SECRET: &str = "cs-very-secret-value-1";
const WEBHOOK_TOKEN: &str = "wh-token-0123456789abcdef";
const PAGFAST_TOKEN: &str = "pf-api-token-secret-xyz";
const PAGFAST_HEADER_VALUE: &str = "pf-header-value-0123456789";

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    map_env(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

fn connectpsp_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("CONNECTPSP_CLIENT_ID", "client-42"),
        ("CONNECTPSP_CLIENT_SECRET", CLIENT_SECRET),
        ("CONNECTPSP_APPLICATION_TOKEN", "app-token-guid"),
        ("CONNECTPSP_CRYPTO_TOKEN", "crypto-token-value"),
        ("CONNECTPSP_WEBHOOK_TOKEN", WEBHOOK_TOKEN),
    ]
}

fn pagfast_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PAGFAST_API_TOKEN", PAGFAST_TOKEN),
        ("PAGFAST_WEBHOOK_HEADER_VALUE", PAGFAST_HEADER_VALUE),
    ]
}

fn with(
    mut vars: Vec<(&'static str, &'static str)>,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    vars.extend_from_slice(extra);
    vars
}

#[test]
fn connectpsp_defaults_to_staging_with_our_webhook_url() {
    let env = env_of(&connectpsp_vars());
    let config = connectpsp_config_from_env("https://pix.example.com/", &env).unwrap();
    assert_eq!(config.base_url, "https://api.homologacao.connectpsp.com");
    assert_eq!(config.client_id, "client-42");
    assert_eq!(config.client_secret.expose(), CLIENT_SECRET);
    assert_eq!(config.application_token.expose(), "app-token-guid");
    assert_eq!(config.crypto_token.expose(), "crypto-token-value");
    assert!(config.webhook_token.matches(WEBHOOK_TOKEN));
    assert_eq!(
        config.webhook_url,
        "https://pix.example.com/webhooks/provider/connectpsp"
    );
    assert_eq!(config.timeout, Duration::from_millis(10_000));
    assert_eq!(config.retry, RetryPolicy::default());
}

#[test]
fn connectpsp_production_and_a_mock_base_url_override() {
    let env = env_of(&with(
        connectpsp_vars(),
        &[("CONNECTPSP_ENVIRONMENT", "production")],
    ));
    let config = connectpsp_config_from_env(BASE, &env).unwrap();
    assert_eq!(config.base_url, "https://api.connectpsp.com");

    let env = env_of(&with(
        connectpsp_vars(),
        &[
            ("CONNECTPSP_ENVIRONMENT", "production"),
            ("CONNECTPSP_BASE_URL", "http://127.0.0.1:4010/"),
            ("PIXGW_PROVIDER_TIMEOUT_MS", "2500"),
        ],
    ));
    let config = connectpsp_config_from_env(BASE, &env).unwrap();
    assert_eq!(config.base_url, "http://127.0.0.1:4010");
    assert_eq!(config.timeout, Duration::from_millis(2500));
}

#[test]
fn plain_http_is_refused_except_to_this_machine() {
    for url in [
        "http://api.connectpsp.com",
        "ftp://x",
        "https://",
        "http://127.0.0.1.evil.com",
    ] {
        let env = env_of(&with(connectpsp_vars(), &[("CONNECTPSP_BASE_URL", url)]));
        let err = connectpsp_config_from_env(BASE, &env).unwrap_err();
        assert!(
            matches!(
                err,
                ProviderConfigError::Invalid {
                    variable: "CONNECTPSP_BASE_URL",
                    ..
                }
            ),
            "{url}: {err:?}"
        );
    }
    for url in [
        "http://localhost:8080",
        "http://[::1]:9000/v1",
        "https://mock.test",
    ] {
        let env = env_of(&with(connectpsp_vars(), &[("CONNECTPSP_BASE_URL", url)]));
        assert!(connectpsp_config_from_env(BASE, &env).is_ok(), "{url}");
    }
}

#[test]
fn each_missing_connectpsp_variable_is_named() {
    for (name, _) in connectpsp_vars() {
        let vars: Vec<_> = connectpsp_vars()
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect();
        let err = connectpsp_config_from_env(BASE, &env_of(&vars)).unwrap_err();
        assert_eq!(err, ProviderConfigError::Missing(name));
        assert!(err.to_string().contains(name));
    }
    // Blank is unset: CloudFormation writes '' for an empty parameter.
    let env = env_of(&with(
        connectpsp_vars(),
        &[("CONNECTPSP_CLIENT_SECRET", "  ")],
    ));
    assert_eq!(
        connectpsp_config_from_env(BASE, &env).unwrap_err(),
        ProviderConfigError::Missing("CONNECTPSP_CLIENT_SECRET")
    );
}

#[test]
fn a_bad_webhook_secret_is_refused_without_printing_it() {
    let cases = [
        ("CONNECTPSP_WEBHOOK_TOKEN", "short-secret"),
        ("CONNECTPSP_WEBHOOK_TOKEN", "has&query=chars-0123456789"),
    ];
    for (name, value) in cases {
        let env = env_of(&with(connectpsp_vars(), &[(name, value)]));
        let err = connectpsp_config_from_env(BASE, &env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(name), "{text}");
        assert!(!text.contains(value), "{text} leaks the secret");
        assert!(!format!("{err:?}").contains(value));
    }
    let value = "a header value with spaces";
    let env = env_of(&with(
        pagfast_vars(),
        &[("PAGFAST_WEBHOOK_HEADER_VALUE", value)],
    ));
    let err = pagfast_config_from_env(BASE, &env).unwrap_err();
    assert!(err.to_string().contains("PAGFAST_WEBHOOK_HEADER_VALUE"));
    assert!(!err.to_string().contains(value));
}

#[test]
fn no_error_of_a_bad_config_contains_a_secret() {
    // Every secret set, one other variable wrong: whatever the error says, no secret in it.
    let bad = [
        ("CONNECTPSP_ENVIRONMENT", "moon"),
        ("PIXGW_PROVIDER_TIMEOUT_MS", "soon"),
        ("CONNECTPSP_BASE_URL", "http://example.com"),
    ];
    for extra in bad {
        let env = env_of(&with(connectpsp_vars(), &[extra]));
        let err = match provider_from_env("connectpsp", BASE, &env) {
            Err(err) => err,
            Ok(_) => panic!("{extra:?} accepted"),
        };
        let text = format!("{err} {err:?}");
        assert!(text.contains(extra.0), "{text}");
        for secret in [
            CLIENT_SECRET,
            WEBHOOK_TOKEN,
            "app-token-guid",
            "crypto-token-value",
        ] {
            assert!(!text.contains(secret), "{text} leaks a secret");
        }
    }
}

#[test]
fn pagfast_defaults_to_sandbox_and_the_default_header() {
    let env = env_of(&pagfast_vars());
    let config = pagfast_config_from_env("http://127.0.0.1:3000", &env).unwrap();
    assert_eq!(config.base_url, "https://api.sandbox.pagfast.com/v1");
    assert_eq!(config.api_token.expose(), PAGFAST_TOKEN);
    assert_eq!(config.webhook_header_name, "X-Pixgw-Webhook-Token");
    assert!(config.webhook_header_value.matches(PAGFAST_HEADER_VALUE));
    assert_eq!(
        config.webhook_url,
        "http://127.0.0.1:3000/webhooks/provider/pagfast"
    );

    let env = env_of(&with(
        pagfast_vars(),
        &[
            ("PAGFAST_ENVIRONMENT", "production"),
            ("PAGFAST_WEBHOOK_HEADER_NAME", "X-Our-Token"),
        ],
    ));
    let config = pagfast_config_from_env(BASE, &env).unwrap();
    assert_eq!(config.base_url, "https://api.pagfast.com/v1");
    assert_eq!(config.webhook_header_name, "X-Our-Token");
}

#[test]
fn pagfast_invalid_settings_are_named() {
    let env = env_of(&with(
        pagfast_vars(),
        &[("PAGFAST_ENVIRONMENT", "staging-2")],
    ));
    assert!(matches!(
        pagfast_config_from_env(BASE, &env).unwrap_err(),
        ProviderConfigError::Invalid {
            variable: "PAGFAST_ENVIRONMENT",
            ..
        }
    ));
    let env = env_of(&with(
        pagfast_vars(),
        &[("PAGFAST_WEBHOOK_HEADER_NAME", "bad header")],
    ));
    assert!(matches!(
        pagfast_config_from_env(BASE, &env).unwrap_err(),
        ProviderConfigError::Invalid {
            variable: "PAGFAST_WEBHOOK_HEADER_NAME",
            ..
        }
    ));
    let env = env_of(&[("PAGFAST_WEBHOOK_HEADER_VALUE", PAGFAST_HEADER_VALUE)]);
    assert_eq!(
        pagfast_config_from_env(BASE, &env).unwrap_err(),
        ProviderConfigError::Missing("PAGFAST_API_TOKEN")
    );
}

#[test]
fn providers_are_built_by_name() {
    let mut vars = connectpsp_vars();
    vars.extend(pagfast_vars());
    let env = env_of(&vars);
    assert!(provider_from_env("sandbox", BASE, &env).unwrap().is_none());
    let connectpsp = provider_from_env("connectpsp", BASE, &env)
        .unwrap()
        .unwrap();
    assert_eq!(connectpsp.name(), "connectpsp");
    let pagfast = provider_from_env("pagfast", BASE, &env).unwrap().unwrap();
    assert_eq!(pagfast.name(), "pagfast");
    assert_eq!(
        provider_from_env("stripe", BASE, &env).err(),
        Some(ProviderConfigError::Unknown("stripe".into()))
    );
}

#[test]
fn capabilities_are_known_without_credentials_and_match_the_built_providers() {
    let mut vars = connectpsp_vars();
    vars.extend(pagfast_vars());
    let env = env_of(&vars);
    for name in ["connectpsp", "pagfast"] {
        let built = provider_from_env(name, BASE, &env).unwrap().unwrap();
        assert_eq!(capabilities_of(name), Ok(built.capabilities()), "{name}");
    }
    assert_eq!(
        capabilities_of("pagfast"),
        Ok(ProviderCapabilities::CHARGES_ONLY)
    );
    assert_eq!(capabilities_of("sandbox"), Ok(ProviderCapabilities::ALL));
    assert_eq!(
        capabilities_of("stripe"),
        Err(ProviderConfigError::Unknown("stripe".into()))
    );
}

#[tokio::test]
async fn pagfast_webhooks_alone_need_only_the_header_value() {
    let env = env_of(&[("PAGFAST_WEBHOOK_HEADER_VALUE", PAGFAST_HEADER_VALUE)]);
    let webhooks = pagfast_webhooks_from_env(&env).unwrap();
    assert_eq!(webhooks.name(), "pagfast");
    assert_eq!(webhooks.capabilities(), ProviderCapabilities::CHARGES_ONLY);
    let verify = |value: &str| {
        let headers = vec![(
            DEFAULT_PAGFAST_WEBHOOK_HEADER.to_ascii_lowercase(),
            value.to_owned(),
        )];
        let webhooks = &webhooks;
        async move {
            let webhook = pixgw_domain::provider::InboundWebhook {
                headers: &headers,
                query: &[],
                body: b"{}",
                now: chrono::Utc::now(),
            };
            webhooks.verify_webhook(&webhook).await
        }
    };
    // The right header gets the body read (this one is not an event); a wrong one does not.
    assert!(matches!(
        verify(PAGFAST_HEADER_VALUE).await,
        Err(pixgw_domain::provider::ProviderWebhookError::Malformed(_))
    ));
    assert!(matches!(
        verify("wrong-value-0123456789").await,
        Err(pixgw_domain::provider::ProviderWebhookError::Unauthenticated(_))
    ));
    assert_eq!(
        pagfast_webhooks_from_env(&env_of(&[])).err(),
        Some(ProviderConfigError::Missing("PAGFAST_WEBHOOK_HEADER_VALUE"))
    );
}

#[test]
fn the_provider_list_is_validated() {
    assert_eq!(
        parse_provider_names(" connectpsp , PagFast,sandbox").unwrap(),
        vec!["connectpsp", "pagfast", "sandbox"]
    );
    assert_eq!(
        parse_provider_names("connectpsp,pagfast,connectpsp"),
        Err(ProviderConfigError::Duplicate("connectpsp"))
    );
    assert_eq!(
        parse_provider_names("connectpsp,acme"),
        Err(ProviderConfigError::Unknown("acme".into()))
    );
    assert_eq!(parse_provider_names(" , "), Err(ProviderConfigError::Empty));
}

#[test]
fn the_provider_list_comes_from_pixgw_providers_or_the_hosts_default() {
    let env = env_of(&[("PIXGW_PROVIDERS", "pagfast,connectpsp")]);
    assert_eq!(
        provider_names_from_env(&env, Some("sandbox")).unwrap(),
        vec!["pagfast", "connectpsp"]
    );
    let unset = env_of(&[]);
    assert_eq!(
        provider_names_from_env(&unset, Some("sandbox")).unwrap(),
        vec!["sandbox"]
    );
    assert_eq!(
        provider_names_from_env(&unset, None),
        Err(ProviderConfigError::Missing("PIXGW_PROVIDERS"))
    );
    let blank = env_of(&[("PIXGW_PROVIDERS", "")]);
    assert_eq!(
        provider_names_from_env(&blank, None),
        Err(ProviderConfigError::Missing("PIXGW_PROVIDERS"))
    );
}

#[test]
fn the_failover_policy_defaults_and_overrides() {
    assert_eq!(
        failover_policy_from_env(&env_of(&[])).unwrap(),
        FailoverPolicy::default()
    );
    let env = env_of(&[
        ("PIXGW_FAILOVER_THRESHOLD", "5"),
        ("PIXGW_FAILOVER_WINDOW_SECONDS", "120"),
        ("PIXGW_FAILOVER_COOL_DOWN_SECONDS", "45"),
    ]);
    let policy = failover_policy_from_env(&env).unwrap();
    assert_eq!(policy.failure_threshold, 5);
    assert_eq!(policy.window, chrono::Duration::seconds(120));
    assert_eq!(policy.cool_down, chrono::Duration::seconds(45));

    for (name, value) in [
        ("PIXGW_FAILOVER_THRESHOLD", "0"),
        ("PIXGW_FAILOVER_WINDOW_SECONDS", "-1"),
        ("PIXGW_FAILOVER_COOL_DOWN_SECONDS", "1m"),
    ] {
        let err = failover_policy_from_env(&env_of(&[(name, value)])).unwrap_err();
        assert!(
            matches!(err, ProviderConfigError::Invalid { variable, .. } if variable == name),
            "{name}={value}: {err:?}"
        );
    }
}
