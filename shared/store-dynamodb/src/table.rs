//! The table definition — the one place it is written down in code. The SAM template's
//! `AWS::DynamoDB::Table` mirrors exactly this (see the crate docs for the YAML).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use tracing::{Instrument, debug, debug_span};

use crate::errors::SetupError;
use crate::keys::{GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK, PK, SK, TTL};

/// An account's charges, newest first (`gsi1pk`, `gsi1sk`).
pub const GSI1: &str = "gsi1";
/// An account's charges in one status, newest first (`gsi2pk`, `gsi2sk`).
pub const GSI2: &str = "gsi2";
/// A sparse index (`gsi3pk`, `gsi3sk`) of three kinds of partitions: PENDING charges by expiry,
/// soonest first (`EXPIRY#…`, the keys exist only while a charge is PENDING), charges under a
/// cautelar hold by the hold's end, soonest first (`HOLD#…`, only while the hold is HELD), and
/// an account's disputes that still owe, oldest first (`ACCOUNT#…#DISPUTES#OWING`, only while
/// they owe).
pub const GSI3: &str = "gsi3";

/// The table's primary key and its global secondary indexes: (index name, hash, range).
/// `None` is the table itself. Every index projects ALL attributes.
pub const KEYS: [(Option<&str>, &str, &str); 4] = [
    (None, PK, SK),
    (Some(GSI1), GSI1PK, GSI1SK),
    (Some(GSI2), GSI2PK, GSI2SK),
    (Some(GSI3), GSI3PK, GSI3SK),
];

/// What the table's stream carries. The outbox relay only needs new images of inserts;
/// NEW_AND_OLD_IMAGES also serves audits of state changes, and the SAM template declares the
/// same (a stream's view type cannot be changed without dropping the stream).
pub const STREAM_VIEW_TYPE: StreamViewType = StreamViewType::NewAndOldImages;

/// How long [`create_table`] waits for the table and its indexes to become ACTIVE.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

fn key_schema(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>, SetupError> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(hash)
            .key_type(KeyType::Hash)
            .build()?,
        KeySchemaElement::builder()
            .attribute_name(range)
            .key_type(KeyType::Range)
            .build()?,
    ])
}

fn attribute_definitions() -> Result<Vec<AttributeDefinition>, SetupError> {
    KEYS.iter()
        .flat_map(|(_, hash, range)| [*hash, *range])
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(SetupError::from)
        })
        .collect()
}

fn stream_specification() -> Result<StreamSpecification, SetupError> {
    Ok(StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(STREAM_VIEW_TYPE)
        .build()?)
}

fn global_secondary_indexes() -> Result<Vec<GlobalSecondaryIndex>, SetupError> {
    KEYS.iter()
        .filter_map(|(index, hash, range)| index.map(|name| (name, *hash, *range)))
        .map(|(name, hash, range)| {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(key_schema(hash, range)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()?)
        })
        .collect()
}

/// Creates the table (PAY_PER_REQUEST, every GSI projecting ALL, a NEW_AND_OLD_IMAGES stream
/// for the outbox relay), waits until it and its indexes are ACTIVE, and enables TTL on `ttl`.
/// Idempotent: an existing table is checked against the definition instead of being created;
/// TTL and the stream are only enabled if they are not yet (tables created before the outbox
/// existed get their stream here).
pub async fn create_table(client: &Client, table: &str) -> Result<(), SetupError> {
    async {
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attribute_definitions()?))
            .set_key_schema(Some(key_schema(PK, SK)?))
            .set_global_secondary_indexes(Some(global_secondary_indexes()?))
            .stream_specification(stream_specification()?)
            .send()
            .await;
        match created {
            Ok(_) => debug!("table created"),
            Err(err) if err.code() == Some("ResourceInUseException") => {
                debug!("table already exists")
            }
            Err(err) => return Err(SetupError::sdk("CreateTable", table, &err)),
        }
        let description = wait_until_active(client, table).await?;
        check_definition(table, &description)?;
        enable_stream(client, table, &description).await?;
        enable_ttl(client, table).await
    }
    .instrument(debug_span!("dynamodb.create_table", table))
    .await
}

async fn wait_until_active(client: &Client, table: &str) -> Result<TableDescription, SetupError> {
    let started = Instant::now();
    loop {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|err| SetupError::sdk("DescribeTable", table, &err))?;
        if let Some(description) = out.table {
            let table_active = description.table_status() == Some(&TableStatus::Active);
            let indexes_active = description
                .global_secondary_indexes()
                .iter()
                .all(|gsi| gsi.index_status() == Some(&IndexStatus::Active));
            if table_active && indexes_active {
                return Ok(description);
            }
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            return Err(SetupError::NotActive {
                table: table.to_owned(),
                seconds: ACTIVE_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The (hash, range) attribute names of a key schema.
fn key_names(schema: &[KeySchemaElement]) -> (Option<&str>, Option<&str>) {
    let find = |kind: KeyType| {
        schema
            .iter()
            .find(|k| k.key_type() == &kind)
            .map(|k| k.attribute_name())
    };
    (find(KeyType::Hash), find(KeyType::Range))
}

/// An existing table must have exactly our keys and indexes, or every query would misbehave.
fn check_definition(table: &str, description: &TableDescription) -> Result<(), SetupError> {
    let mismatch = |problem: String| SetupError::Mismatch {
        table: table.to_owned(),
        problem,
    };
    for (index, hash, range) in KEYS {
        let (schema, projection) = match index {
            None => (description.key_schema(), Some(ProjectionType::All)),
            Some(name) => {
                let gsi = description
                    .global_secondary_indexes()
                    .iter()
                    .find(|g| g.index_name() == Some(name))
                    .ok_or_else(|| mismatch(format!("index {name} is missing")))?;
                let projection = gsi.projection().and_then(|p| p.projection_type()).cloned();
                (gsi.key_schema(), projection)
            }
        };
        let label = index.unwrap_or("table");
        if key_names(schema) != (Some(hash), Some(range)) {
            return Err(mismatch(format!(
                "{label} is not keyed by ({hash}, {range})"
            )));
        }
        if projection != Some(ProjectionType::All) {
            return Err(mismatch(format!("{label} does not project ALL attributes")));
        }
    }
    Ok(())
}

/// Turns the stream on for a table that has none; a stream with another view type is a
/// mismatch (changing it means dropping the stream, and with it unrelayed outbox messages).
async fn enable_stream(
    client: &Client,
    table: &str,
    description: &TableDescription,
) -> Result<(), SetupError> {
    let current = description.stream_specification();
    if current.is_some_and(|s| s.stream_enabled()) {
        let view = current.and_then(|s| s.stream_view_type());
        if view == Some(&STREAM_VIEW_TYPE) {
            return Ok(());
        }
        return Err(SetupError::Mismatch {
            table: table.to_owned(),
            problem: format!(
                "stream view type is {view:?}, expected {}",
                STREAM_VIEW_TYPE.as_str()
            ),
        });
    }
    client
        .update_table()
        .table_name(table)
        .stream_specification(stream_specification()?)
        .send()
        .await
        .map_err(|err| SetupError::sdk("UpdateTable", table, &err))?;
    wait_until_active(client, table).await?;
    debug!("stream enabled");
    Ok(())
}

async fn enable_ttl(client: &Client, table: &str) -> Result<(), SetupError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|err| SetupError::sdk("DescribeTimeToLive", table, &err))?;
    if let Some(ttl) = current.time_to_live_description() {
        let on = matches!(
            ttl.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        match ttl.attribute_name() {
            Some(TTL) if on => return Ok(()),
            Some(other) if on => {
                return Err(SetupError::Mismatch {
                    table: table.to_owned(),
                    problem: format!("TTL is enabled on {other}, expected {TTL}"),
                });
            }
            _ => {}
        }
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL)
                .build()?,
        )
        .send()
        .await
        .map_err(|err| SetupError::sdk("UpdateTimeToLive", table, &err))?;
    debug!("TTL enabled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_builds_and_declares_every_key_attribute_once() {
        let defs = attribute_definitions().unwrap();
        let mut names: Vec<_> = defs.iter().map(|d| d.attribute_name().to_owned()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 8);
        let gsis = global_secondary_indexes().unwrap();
        assert_eq!(gsis.len(), 3);
        assert_eq!(
            key_names(gsis[0].key_schema()),
            (Some(GSI1PK), Some(GSI1SK))
        );
        assert_eq!(
            key_names(gsis[2].key_schema()),
            (Some(GSI3PK), Some(GSI3SK))
        );
    }
}
