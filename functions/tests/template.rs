//! `template.yaml` against the code it deploys: the numbers and filters the functions'
//! behaviour depends on, read from the YAML text (CloudFormation tags make generic YAML
//! parsers awkward; resources are top-level keys indented by two spaces).

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
