//! `template.yaml` against the code it deploys: the numbers and filters the functions'
//! behaviour depends on, read from the YAML text (resources are top-level keys indented by two
//! spaces), and the deploy-time rules, evaluated on the parsed template (`aws/template.rs`,
//! shared with the policy test).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::unreachable)]

#[path = "aws/template.rs"]
#[allow(dead_code)]
mod cfn;

use pixgw_domain::webhooks::delivery::{ATTEMPT_LEASE, ATTEMPT_TIMEOUT};
use pixgw_store_dynamodb::keys::{SK_EVENT, SK_OUTBOX};

fn template() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml at the repository root")
}

/// The lines of resource `name` (up to the next resource).
fn resource(template: &str, name: &str) -> Vec<String> {
    let header = format!("  {name}:");
    let mut lines = template.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "resource {name} in template.yaml");
    lines
        .take_while(|l| !(l.starts_with("  ") && !l.starts_with("   ") && !l.starts_with("  #")))
        .map(str::to_owned)
        .collect()
}

/// The first `key: <number>` in `lines`.
fn number(lines: &[String], key: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} in {lines:?}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn the_relay_lets_through_every_item_type_that_is_a_message() {
    let relay = resource(&template(), "OutboxRelayFunction");
    let pattern = relay
        .iter()
        .find_map(|l| l.trim().strip_prefix("- Pattern: "))
        .expect("the relay's filter pattern");
    let pattern: serde_json::Value =
        serde_json::from_str(pattern.trim_matches('\'')).expect("a JSON filter pattern");
    assert_eq!(pattern["eventName"], serde_json::json!(["INSERT"]));
    let mut entities: Vec<&str> = pattern["dynamodb"]["NewImage"]["entity"]["S"]
        .as_array()
        .expect("entity values")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    entities.sort_unstable();
    // What `outbox_message_from_image` turns into a message: outbox items and account events
    // (each event is its webhook-deliveries message).
    let mut expected = vec![SK_EVENT, SK_OUTBOX];
    expected.sort_unstable();
    assert_eq!(entities, expected);
}

#[test]
fn the_webhook_dispatcher_has_time_for_its_batch_and_the_queue_outlasts_it() {
    let template = template();
    let function = resource(&template, "WebhookDispatcherFunction");
    let queue = resource(&template, "WebhookDeliveriesQueue");
    assert!(
        function
            .iter()
            .any(|l| l.trim() == "Binary: webhook-dispatcher")
    );
    assert!(
        function
            .iter()
            .any(|l| l.trim() == "- ReportBatchItemFailures")
    );
    assert!(
        function
            .iter()
            .any(|l| l.trim() == "Queue: !GetAtt WebhookDeliveriesQueue.Arn")
    );
    let timeout = number(&function, "Timeout");
    let window = number(&function, "MaximumBatchingWindowInSeconds");
    let visibility = number(&queue, "VisibilityTimeout");
    let receives = number(&queue, "maxReceiveCount");
    // A batch's messages are delivered concurrently: the slowest attempt (a 5 s DNS lookup
    // and the POST's own timeout) must fit the function's timeout with room to spare.
    assert!(
        timeout >= 3 * (5 + ATTEMPT_TIMEOUT.as_secs()),
        "Timeout {timeout} s"
    );
    // AWS: at least 6 x the function timeout (+ the batching window).
    assert!(
        visibility >= 6 * timeout + window,
        "VisibilityTimeout {visibility} s"
    );
    // A message redelivered after a dispatcher died finds the claim it left expired.
    assert!(
        i64::try_from(visibility).expect("small") > ATTEMPT_LEASE.num_seconds(),
        "VisibilityTimeout {visibility} s"
    );
    assert!(receives >= 3, "maxReceiveCount {receives}");
}

/// The template deployed with `overrides` (a stack that is never created: only names).
fn deployment(overrides: &[(&str, &str)]) -> cfn::Deployment {
    let stack = cfn::Stack {
        name: "pixgw-sandbox".into(),
        region: "sa-east-1".into(),
        account: "123456789012".into(),
        table: "pixgw-sandbox-Table-1".into(),
        stream_label: "2026-01-01T00:00:00.000".into(),
    };
    cfn::Deployment::new(cfn::Template::load(), stack, overrides)
}

/// The parameter overrides of each `samconfig.toml` deploy environment (`sam deploy` and
/// `sam deploy --config-env <name>`), as `(name, value)` pairs.
fn samconfig_overrides() -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../samconfig.toml"))
        .expect("samconfig.toml at the repository root");
    let mut environment = String::new();
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(table) = line.strip_prefix('[') {
            environment = table.split('.').next().unwrap_or_default().to_owned();
        } else if let Some(value) = line.strip_prefix("parameter_overrides = ") {
            let pairs = value
                .trim_matches('"')
                .split_whitespace()
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("Name=Value");
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            found.push((environment.clone(), pairs));
        }
    }
    found
}

#[test]
fn a_default_sandbox_deploy_needs_no_public_host_and_real_providers_need_one() {
    // `sam deploy` with the defaults: a sandbox on the sandbox provider, no custom domain.
    let defaults = deployment(&[]);
    assert_eq!(
        defaults.parameters["PublicHost"], "",
        "no placeholder host by default"
    );
    assert_eq!(defaults.failing_rules(), Vec::<String>::new());

    // A real provider is never told a webhook URL on a host nobody chose.
    for providers in ["connectpsp", "sandbox,pagfast", "pagfast,connectpsp"] {
        let without_host = deployment(&[("PixProviders", providers)]);
        let failing = without_host.failing_rules();
        assert!(
            failing.len() == 1 && failing[0].starts_with("RealProvidersNeedPublicHost"),
            "{providers}: {failing:?}"
        );
        let with_host = deployment(&[
            ("PixProviders", providers),
            ("PublicHost", "pix.loja.com.br"),
        ]);
        assert_eq!(
            with_host.failing_rules(),
            Vec::<String>::new(),
            "{providers}"
        );
    }

    // Production refuses the sandbox provider before deploying, not at every cold start.
    for providers in ["sandbox", "connectpsp,sandbox"] {
        let production = deployment(&[
            ("Stage", "production"),
            ("PixProviders", providers),
            ("PublicHost", "pix.loja.com.br"),
        ]);
        let failing = production.failing_rules();
        assert!(
            failing
                .iter()
                .any(|f| f.starts_with("ProductionNeedsRealProviders")),
            "{providers}: {failing:?}"
        );
    }
    let production = deployment(&[
        ("Stage", "production"),
        ("PixProviders", "connectpsp,pagfast"),
        ("PublicHost", "pix.loja.com.br"),
    ]);
    assert_eq!(production.failing_rules(), Vec::<String>::new());
}

#[test]
fn samconfig_deploys_the_sandbox_as_is_and_production_only_with_its_settings() {
    let environments = samconfig_overrides();
    let names: Vec<&str> = environments.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["default", "production"]);
    for (environment, overrides) in &environments {
        assert!(
            !overrides.iter().any(|(k, _)| k == "PublicHost"),
            "{environment}: PublicHost is the operator's own domain, never a placeholder"
        );
        let overrides: Vec<(&str, &str)> = overrides
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let failing = deployment(&overrides).failing_rules();
        match environment.as_str() {
            "default" => assert_eq!(failing, Vec::<String>::new()),
            _ => assert!(
                !failing.is_empty(),
                "{environment} deploys without its settings"
            ),
        }
    }
}
