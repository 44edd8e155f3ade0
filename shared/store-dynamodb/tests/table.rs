//! The table definition as DynamoDB Local sees it.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveStatus,
};
use common::{endpoint, unique_table};
use pixgw_store_dynamodb::{SetupError, create_table, sdk_client};

fn names(schema: &[KeySchemaElement]) -> Vec<(String, KeyType)> {
    schema
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect()
}

#[tokio::test]
async fn create_table_builds_the_documented_definition_and_is_idempotent() {
    let client = sdk_client(Some(endpoint())).await;
    let table = unique_table();
    create_table(&client, &table).await.expect("create");
    // A second call (every cold start of the local stack does it) is a no-op.
    create_table(&client, &table).await.expect("create again");

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe");
    let t = described.table.expect("table description");
    assert_eq!(
        names(t.key_schema()),
        vec![("pk".into(), KeyType::Hash), ("sk".into(), KeyType::Range)]
    );
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let mut gsis: Vec<_> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            (
                g.index_name().unwrap_or_default().to_owned(),
                names(g.key_schema()),
                g.projection().and_then(|p| p.projection_type()).cloned(),
            )
        })
        .collect();
    gsis.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        gsis,
        vec![
            (
                "gsi1".into(),
                vec![
                    ("gsi1pk".into(), KeyType::Hash),
                    ("gsi1sk".into(), KeyType::Range)
                ],
                Some(ProjectionType::All)
            ),
            (
                "gsi2".into(),
                vec![
                    ("gsi2pk".into(), KeyType::Hash),
                    ("gsi2sk".into(), KeyType::Range)
                ],
                Some(ProjectionType::All)
            ),
            (
                "gsi3".into(),
                vec![
                    ("gsi3pk".into(), KeyType::Hash),
                    ("gsi3sk".into(), KeyType::Range)
                ],
                Some(ProjectionType::All)
            ),
        ]
    );
    let mut defs: Vec<_> = t
        .attribute_definitions()
        .iter()
        .map(|d: &AttributeDefinition| (d.attribute_name().to_owned(), d.attribute_type().clone()))
        .collect();
    defs.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<_> = [
        "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk", "pk", "sk",
    ]
    .into_iter()
    .map(|n| (n.to_owned(), ScalarAttributeType::S))
    .collect();
    assert_eq!(defs, expected);

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("describe ttl");
    let ttl = ttl.time_to_live_description().expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert!(matches!(
        ttl.time_to_live_status(),
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ));
}

#[tokio::test]
async fn create_table_refuses_an_existing_table_with_another_definition() {
    let client = sdk_client(Some(endpoint())).await;
    let table = unique_table();
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create foreign table");
    match create_table(&client, &table).await {
        Err(SetupError::Mismatch { problem, .. }) => {
            assert!(problem.contains("(pk, sk)"), "{problem}")
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

/// The stream (enabled, view type) as DynamoDB describes it.
async fn stream_of(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> (bool, Option<StreamViewType>) {
    let t = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table description");
    let spec = t.stream_specification();
    let enabled = spec.is_some_and(|s| s.stream_enabled()) && t.latest_stream_arn().is_some();
    (enabled, spec.and_then(|s| s.stream_view_type()).cloned())
}

async fn set_stream(client: &aws_sdk_dynamodb::Client, table: &str, view: Option<StreamViewType>) {
    let spec = StreamSpecification::builder()
        .stream_enabled(view.is_some())
        .set_stream_view_type(view)
        .build()
        .expect("stream specification");
    client
        .update_table()
        .table_name(table)
        .stream_specification(spec)
        .send()
        .await
        .expect("update stream");
}

#[tokio::test]
async fn create_table_gives_new_and_existing_tables_the_outbox_stream() {
    let client = sdk_client(Some(endpoint())).await;
    let table = unique_table();
    create_table(&client, &table).await.expect("create");
    assert_eq!(
        stream_of(&client, &table).await,
        (true, Some(StreamViewType::NewAndOldImages))
    );

    // A table from before the outbox (no stream) gets one.
    set_stream(&client, &table, None).await;
    assert!(!stream_of(&client, &table).await.0);
    create_table(&client, &table).await.expect("create again");
    assert_eq!(
        stream_of(&client, &table).await,
        (true, Some(StreamViewType::NewAndOldImages))
    );

    // A stream without new images could not feed the relay: refused, not silently kept.
    set_stream(&client, &table, None).await;
    set_stream(&client, &table, Some(StreamViewType::KeysOnly)).await;
    match create_table(&client, &table).await {
        Err(SetupError::Mismatch { problem, .. }) => {
            assert!(problem.contains("stream"), "{problem}")
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}
