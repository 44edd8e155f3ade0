//! Records as items: a domain record's attributes (its `serde` form) plus the table and index
//! keys, decoded back; the record attribute names the conditions of several modules name.
//! Each aggregate module builds its own items with these; nothing here talks to DynamoDB.

use aws_sdk_dynamodb::types::AttributeValue;
use pixgw_domain::error::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::errors;
use crate::keys::Item;

/// Record attributes the conditions look at (names as `serde` writes them, camelCase; the
/// unit test below fails if the domain renames one).
pub(crate) const STATUS: &str = "status";
pub(crate) const STATE: &str = "state";
pub(crate) const ACCOUNT_ID: &str = "accountId";
pub(crate) const PAYOUT_ID: &str = "payoutId";
/// What refunds took of a split's share (`SplitEntryRecord::refunded_cents`), absent while 0:
/// a refund and the payout scheduler both require the value they read.
pub(crate) const REFUNDED: &str = "refundedCents";
pub(crate) const UPDATED_AT: &str = "updatedAtMs";
/// The payout's count of splits still to settle (see `Payout::unsettled_splits`).
pub(crate) const UNSETTLED_SPLITS: &str = "unsettledSplits";
/// A payout's decided deductions (`PayoutRecord::deductions`): absent until decided, then a
/// list, maybe empty.
pub(crate) const DEDUCTIONS: &str = "deductions";

/// A record as attributes, plus the table keys (`extra`). Record fields never share a name
/// with a key attribute (unit-tested below), so nothing is overwritten.
pub(crate) fn record_item<T: Serialize>(
    what: &str,
    record: &T,
    extra: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Result<Item, StoreError> {
    let mut item: Item = to_item(record).map_err(|e| errors::corrupt(what, &e))?;
    item.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Ok(item)
}

pub(crate) fn decode<T: DeserializeOwned>(what: &str, item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| errors::corrupt(what, &e))
}

pub(crate) fn out_of_range(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "createdAt of {what} {id} is outside the sortable range"
    ))
}

pub(crate) fn num(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string attribute of an index item (projection ALL).
pub(crate) fn string_attr<'a>(
    item: &'a Item,
    name: &str,
    what: &str,
) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(StoreError::Corrupt(format!("{what} without {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use pixgw_domain::ledger::record::LegRecord;
    use pixgw_domain::payout::record::SplitRefRecord;
    use pixgw_domain::split::record::SplitRecord;

    use pixgw_domain::ledger::record::MovementRecord;
    use pixgw_domain::messaging::events::AccountEventRecord;
    use pixgw_domain::messaging::outbox::OutboxRecord;
    use pixgw_domain::payout::record::PayoutRecord;
    use pixgw_domain::split::record::SplitEntryRecord;

    use crate::keys::{ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, PK, SK, TTL};

    use super::*;

    fn field_names<T: Serialize>(value: &T) -> Vec<String> {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default()
    }

    #[test]
    fn record_fields_never_collide_with_key_attributes() {
        let split = SplitRecord {
            pix_key: Default::default(),
            pix_key_type: String::new(),
            name: Default::default(),
            document: String::new(),
            kind: String::new(),
            value: 0,
            immediate: false,
            amount_cents: 0,
        };
        let records = [
            field_names(&SplitEntryRecord {
                transaction_id: String::new(),
                account_id: String::new(),
                index: 0,
                split,
                state: String::new(),
                payout_id: Some(String::new()),
                end_to_end_id: Some(String::new()),
                failure_reason: Some(String::new()),
                attempts: 0,
                refunded_cents: 1,
                created_at_ms: 0,
                updated_at_ms: 0,
            }),
            field_names(&PayoutRecord {
                payout_id: String::new(),
                account_id: String::new(),
                trigger: String::new(),
                recipient_pix_key: Default::default(),
                recipient_pix_key_type: String::new(),
                recipient_name: Default::default(),
                recipient_document: String::new(),
                amount_cents: 0,
                splits: vec![SplitRefRecord {
                    transaction_id: String::new(),
                    index: 0,
                }],
                split_count: Some(0),
                unsettled_splits: 0,
                state: String::new(),
                deductions: Some(vec![]),
                end_to_end_id: Some(String::new()),
                provider_transfer_id: Some(String::new()),
                failure_reason: Some(String::new()),
                created_at_ms: 0,
                updated_at_ms: 0,
            }),
            field_names(&MovementRecord {
                movement_id: String::new(),
                account_id: String::new(),
                kind: String::new(),
                reference: String::new(),
                legs: vec![LegRecord {
                    account: String::new(),
                    amount_cents: 0,
                }],
                created_at_ms: 0,
            }),
            field_names(&OutboxRecord {
                message_id: String::new(),
                queue: String::new(),
                body: String::new(),
                created_at_ms: 0,
            }),
            field_names(&AccountEventRecord {
                event_id: String::new(),
                account_id: String::new(),
                event_type: String::new(),
                occurred_at_ms: 0,
                data: String::new(),
            }),
        ];
        let keys = [PK, SK, ENTITY, GSI1PK, GSI1SK, GSI2PK, GSI2SK, TTL];
        for fields in &records {
            assert!(!fields.is_empty());
            for key in keys {
                assert!(!fields.iter().any(|f| f == key), "{key} collides");
            }
        }
        // The conditions name record fields; a rename in the domain must fail here.
        assert!(records[0].iter().any(|f| f == STATE));
        assert!(records[0].iter().any(|f| f == PAYOUT_ID));
        assert!(records[0].iter().any(|f| f == ACCOUNT_ID));
        assert!(records[0].iter().any(|f| f == REFUNDED));
        assert!(records[1].iter().any(|f| f == STATE));
        assert!(records[1].iter().any(|f| f == ACCOUNT_ID));
        assert!(records[1].iter().any(|f| f == UNSETTLED_SPLITS));
        assert!(records[1].iter().any(|f| f == DEDUCTIONS));
    }
}
