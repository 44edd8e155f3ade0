//! The environment `template.yaml` gives each function against what its cold start reads
//! ([`super::world::start`], on exactly that environment): a function is given only what its
//! flow reads, above all no secret it never reads, and it is given everything it needs (a
//! missing one fails its cold start, naming it).
//!
//! `Globals` may hold only names every function may know (the table, the log level), never a
//! secret; a function may leave one of them unread (the outbox relay never touches the table
//! by name). `RUST_LOG` is read by the tracing subscriber from the process environment, not
//! through the cold start's lookup, which is why `Globals` variables are not required to be
//! read.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use pixgw_functions::aws::AwsClients;

use super::template::{Deployment, Function};
use super::world::{MerchantEndpoints, start};

/// What Secrets Manager holds for the secrets the operator creates (the providers'
/// credentials), as JSON with the keys the template's dynamic references name.
pub const PROVIDER_SECRETS: &[(&str, &str)] = &[
    (
        "pixgw/connectpsp",
        r#"{"clientId": "client-1", "clientSecret": "connectpsp-client-secret",
            "applicationToken": "application-token", "cryptoToken": "crypto-token",
            "webhookToken": "webhook-token-0123456789"}"#,
    ),
    (
        "pixgw/pagfast",
        r#"{"apiToken": "pagfast-api-token", "webhookHeaderValue": "pagfast-header-value-0123"}"#,
    ),
];

/// The template's own generated keys (`JwtSecret`, `DataKey`), as hex of their lengths.
fn with_secrets(mut deployment: Deployment) -> Deployment {
    for (logical_id, length) in [("JwtSecret", 96), ("DataKey", 64)] {
        let arn = deployment.secret_arn(logical_id);
        deployment = deployment.with_secret(&arn, &"ab".repeat(length / 2));
    }
    for (name, value) in PROVIDER_SECRETS {
        deployment = deployment.with_secret(name, value);
    }
    deployment
}

/// Every disagreement between what `deployment` gives its functions and what their cold
/// starts read, one line each. Starting a function makes no AWS call, so no emulator is needed.
pub fn problems(deployment: Deployment) -> Vec<String> {
    let deployment = with_secrets(deployment);
    // A fixed region and no credentials chain: the clients are only built, never called.
    let aws = AwsClients::new(
        SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(BehaviorVersion::latest())
            .build(),
    );
    let endpoints = Arc::new(MerchantEndpoints::default());
    let mut problems = Vec::new();
    for function in deployment.functions() {
        let started = start(&function, &function.environment, &aws, &endpoints);
        if let Err(e) = &started.handler {
            problems.push(format!(
                "{}: cold start failed on the template's environment: {e}",
                function.binary
            ));
            continue;
        }
        problems.extend(given_but_not_read(&function, &started.read));
        problems.extend(secrets_in_globals(&function));
    }
    problems.sort();
    problems.dedup();
    problems
}

fn given_but_not_read(
    function: &Function,
    read: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    function
        .own_variables
        .iter()
        .filter(|name| function.environment.contains_key(*name) && !read.contains(*name))
        .map(|name| {
            let what = if function.secret_variables.contains(name) {
                "secret"
            } else {
                "variable"
            };
            format!(
                "{}: the template gives it {what} {name}, which it never reads",
                function.binary
            )
        })
        .collect()
}

fn secrets_in_globals(function: &Function) -> Vec<String> {
    function
        .secret_variables
        .iter()
        .filter(|name| !function.own_variables.contains(*name))
        .map(|name| format!("Globals give every function secret {name}"))
        .collect()
}

/// `(description, parameter overrides)` of the deployments the check covers: the default
/// sandbox, a sandbox on every provider, production on both real ones, and production on one
/// real provider with the other's secret configured but not listed.
pub fn configurations() -> Vec<(&'static str, BTreeMap<&'static str, &'static str>)> {
    let real = [
        ("PublicHost", "pix.example.com"),
        ("ConnectPspSecretName", "pixgw/connectpsp"),
        ("PagFastSecretName", "pixgw/pagfast"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        real.iter()
            .chain(extra)
            .copied()
            .collect::<BTreeMap<_, _>>()
    };
    vec![
        ("the default sandbox", BTreeMap::new()),
        (
            "a sandbox on every provider",
            with(&[("PixProviders", "sandbox,connectpsp,pagfast")]),
        ),
        (
            "production on ConnectPSP and PagFast",
            with(&[
                ("Stage", "production"),
                ("PixProviders", "pagfast,connectpsp"),
            ]),
        ),
        (
            "production on ConnectPSP alone, PagFast's secret unused",
            with(&[("Stage", "production"), ("PixProviders", "connectpsp")]),
        ),
    ]
}
