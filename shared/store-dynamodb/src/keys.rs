//! Key construction for every item type of the single table (see the crate docs for the
//! layout). Every key is built here and nowhere else, always from validated ids taken from the
//! caller's arguments: client input only ever contributes a time or a transaction id *inside*
//! a key whose partition is fixed by the account id argument.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use pixgw_domain::cash_out::ports::CashOutCursor;
use pixgw_domain::cash_out::{CashOutId, CashOutState};
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::charge::ports::ChargeCursor;
use pixgw_domain::dispute::DisputeState;
use pixgw_domain::dispute::ports::DisputeCursor;
use pixgw_domain::ledger::balance_shard;
use pixgw_domain::payout::ports::PayoutCursor;
use pixgw_domain::payout::{PayoutId, PayoutState};
use pixgw_domain::pix::ids::{AccountId, DisputeId, RecipientId, TransactionId};
use pixgw_domain::pix::payment::EndToEndId;

/// Generic key attribute names (the table knows nothing about item types).
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
/// The sparse `gsi3`: PENDING charges (the expiry index, [`expiry_pk`]), charges whose
/// cautelar hold is HELD (the hold index, [`hold_pk`]) and disputes that still owe
/// ([`owing_disputes_pk`]) carry these; nothing else does.
pub const GSI3PK: &str = "gsi3pk";
pub const GSI3SK: &str = "gsi3sk";
/// The TTL attribute: epoch **seconds** after which DynamoDB may delete the item.
pub const TTL: &str = "ttl";
/// Every item says what it is, so exports, streams and the console are readable.
pub const ENTITY: &str = "entity";

/// The largest creation time (epoch ms) the 15-digit sort key can hold (year 33658).
pub const MAX_SORTABLE_MS: i64 = 999_999_999_999_999;

/// DynamoDB limits a partition key to 2048 bytes; ids that would not fit cannot exist.
const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// And a sort key to 1024 bytes.
const MAX_SORT_KEY_BYTES: usize = 1024;

/// Sort-key values of the fixed-sort-key item types.
pub const SK_ACCOUNT: &str = "ACCOUNT";
pub const SK_CLIENT: &str = "CLIENT";
pub const SK_CHARGE: &str = "CHARGE";
pub const SK_EXTID: &str = "EXTID";
pub const SK_IDEM: &str = "IDEM";
pub const SK_E2E: &str = "E2E";
pub const SK_MOVEMENT: &str = "MOVEMENT";
pub const SK_BALANCE: &str = "BALANCE";
pub const SK_PAYOUT: &str = "PAYOUT";
pub const SK_OUTBOX: &str = "OUTBOX";
pub const SK_SCHEDULE: &str = "SCHEDULE";
pub const SK_EVENT: &str = "EVENT";
/// Under the account's own partition (`ACCOUNT#{accountId}`), next to `ACCOUNT` and `SCHEDULE`.
pub const SK_WEBHOOK_ENDPOINT: &str = "WEBHOOK_ENDPOINT";
pub const SK_DELIVERY: &str = "DELIVERY";
pub const SK_CASHOUT: &str = "CASHOUT";
pub const SK_CASHOUT_EXTID: &str = "CASHOUT_EXTID";
/// A MED dispute's sort key, and its `entity`.
pub const SK_DISPUTE: &str = "DISPUTE";

/// `entity` of a recipient (whose sort key varies: [`recipient_sk`]).
pub const ENTITY_RECIPIENT: &str = "RECIPIENT";
/// Every recipient's sort key starts with this, and no other item under an account's
/// recipients partition ([`recipients_pk`]) exists.
pub const RECIPIENT_SK_PREFIX: &str = "RECIPIENT#";

/// `entity` of a split entry (whose sort key varies: [`split_sk`]).
pub const ENTITY_SPLIT: &str = "SPLIT";
/// Every split entry's sort key starts with this, and no other item under a charge's
/// partition does (the charge itself is `CHARGE`).
pub const SPLIT_SK_PREFIX: &str = "SPLIT#";

/// How long an outbox item outlives its creation before TTL may delete it: far beyond the
/// stream's 24 h retention, so a message is never deleted before the relay could read it.
pub const OUTBOX_TTL_SECONDS: i64 = 7 * 24 * 60 * 60;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A primary key (`pk`, `sk`) as a GetItem/Update/Delete key map.
pub fn primary_key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// Whether a partition key built from outside input would be accepted by DynamoDB.
pub fn fits_partition_key(pk: &str) -> bool {
    !pk.is_empty() && pk.len() <= MAX_PARTITION_KEY_BYTES
}

pub fn account_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}")
}

pub fn client_pk(client_id: &str) -> String {
    format!("CLIENT#{client_id}")
}

pub fn charge_pk(id: &TransactionId) -> String {
    format!("CHARGE#{id}")
}

pub fn external_id_pk(account: &AccountId, external_id: &str) -> String {
    format!("ACCOUNT#{account}#EXTID#{external_id}")
}

pub fn idempotency_pk(account: &AccountId, key: &str) -> String {
    format!("ACCOUNT#{account}#IDEM#{key}")
}

/// The end-to-end id guard: which charge a PIX payment settled.
pub fn end_to_end_pk(id: &EndToEndId) -> String {
    format!("E2E#{id}")
}

/// A ledger movement. Movement ids are deterministic (`confirm:{transactionId}`, …), so this
/// key is what makes booking twice impossible.
pub fn movement_pk(movement_id: &str) -> String {
    format!("MOVEMENT#{movement_id}")
}

/// `gsi1pk` of a movement: one of the account's [`pixgw_domain::ledger::BALANCE_SHARDS`]
/// ledger partitions, the same shard as the balance item the movement adds to (so a hot
/// account's ledger writes spread exactly like its balance writes).
pub fn ledger_pk(account: &AccountId, shard: u32) -> String {
    format!("ACCOUNT#{account}#LEDGER#{shard:02}")
}

/// One shard of an account's running balance.
pub fn balance_pk(account: &AccountId, shard: u32) -> String {
    format!("ACCOUNT#{account}#BALANCE#{shard:02}")
}

/// The partition of an account's recipients: one per account, so they are one strongly
/// consistent Query in recipient id order (a recipient item is written only by a refund that
/// gives it a debt and by a payout that recovers it: far below a partition's write rate).
pub fn recipients_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#RECIPIENTS")
}

/// The sort key of a recipient under [`recipients_pk`].
pub fn recipient_sk(id: &RecipientId) -> String {
    format!("{RECIPIENT_SK_PREFIX}{id}")
}

/// The sort key of a split entry under its charge's partition. Indexes are below
/// `MAX_SPLITS` (10), so two digits keep string order = index order.
pub fn split_sk(index: u8) -> String {
    format!("{SPLIT_SK_PREFIX}{index:02}")
}

/// `gsi2pk` of a SCHEDULED split entry (absent in every other state: a sparse index the
/// payout scheduler reads). Sharded by the charge's id like balances, so a hot account's
/// scheduled splits do not all land on one index partition.
pub fn scheduled_splits_pk(account: &AccountId, transaction_id: &TransactionId) -> String {
    let shard = balance_shard(transaction_id.as_str());
    format!("ACCOUNT#{account}#SPLITS#SCHEDULED#{shard:02}")
}

/// `gsi2sk` of a SCHEDULED split entry: (creation time, charge, index) order, unique.
pub fn scheduled_split_sort_key(
    created_at_ms: i64,
    transaction_id: &TransactionId,
    index: u8,
) -> Option<String> {
    sortable(created_at_ms).then(|| format!("{created_at_ms:015}#{transaction_id}#{index:02}"))
}

pub fn payout_pk(id: &PayoutId) -> String {
    format!("PAYOUT#{id}")
}

/// `gsi1pk` of a listable payout (every state but ASSEMBLING): all of an account's payouts.
pub fn payouts_by_account_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#PAYOUTS")
}

/// `gsi2pk` of a listable payout: an account's payouts in one state (`PROCESSING`, `PAID`,
/// `FAILED`). Any state change of a listed payout must rewrite this attribute in the same
/// write that changes `state`. An ASSEMBLING payout uses `gsi2` for
/// [`assembling_payouts_pk`] instead (`…#PAYOUTS#ASSEMBLING#{window}`, never equal to this).
pub fn payouts_by_state_pk(account: &AccountId, state: PayoutState) -> String {
    format!("ACCOUNT#{account}#PAYOUTS#{}", state.as_str())
}

/// `gsi1sk` of a movement or a payout: (creation time, id) order, unique.
pub fn created_id_sort_key(created_at_ms: i64, id: &str) -> Option<String> {
    sortable(created_at_ms).then(|| format!("{created_at_ms:015}#{id}"))
}

/// Whether `key` has the shape of a [`created_id_sort_key`] (15 digits, `#`, a non-empty id)
/// and fits a sort key: what a position taken from outside (a listing cursor) must be before
/// it goes into a key condition.
pub fn is_created_id_sort_key(key: &str) -> bool {
    let Some((ms, id)) = key.split_once('#') else {
        return false;
    };
    ms.len() == 15
        && ms.bytes().all(|b| b.is_ascii_digit())
        && !id.is_empty()
        && key.len() <= MAX_SORT_KEY_BYTES
}

/// `gsi1pk` of a split entry attached to a scheduled payout: the payout's manifest (a sparse
/// index: only splits of scheduled payouts carry it, from attachment on, settled or not), so
/// the executor can page through 100,000 splits without the payout item listing them.
pub fn payout_manifest_pk(payout: &PayoutId) -> String {
    format!("PAYOUT#{payout}#SPLITS")
}

/// `gsi1sk` of a manifest entry: (transaction id, index) order, unique within the payout.
pub fn payout_manifest_sort_key(transaction_id: &TransactionId, index: u8) -> String {
    format!("{transaction_id}#{index:02}")
}

/// `gsi2pk` of an ASSEMBLING payout: the payouts of one account's window still to release
/// (sparse: removed in the release transaction). The window is the schedule's run time,
/// clamped into the sortable range like [`due_schedule_sort_key`].
pub fn assembling_payouts_pk(account: &AccountId, window_ms: i64) -> String {
    let ms = window_ms.clamp(0, MAX_SORTABLE_MS);
    format!("ACCOUNT#{account}#PAYOUTS#ASSEMBLING#{ms:015}")
}

/// The exclusive upper bound of the due index for "due at or before `now_ms`": every
/// `{nextRunAtMs:015}#…` of a next run ≤ `now_ms` sorts below `{now_ms + 1:015}`.
pub fn due_schedules_upper_bound(now_ms: i64) -> String {
    let ms = now_ms.saturating_add(1).clamp(0, MAX_SORTABLE_MS);
    format!("{ms:015}")
}

/// The inclusive upper bound of the SCHEDULED-splits index for "booked at or before
/// `cutoff_ms`": `~` sorts after `#`, so every `{cutoff_ms:015}#…` is below it. `None` when
/// nothing can match (a cut-off before 1970).
pub fn scheduled_splits_upper_bound(cutoff_ms: i64) -> Option<String> {
    (cutoff_ms >= 0).then(|| format!("{:015}~", cutoff_ms.min(MAX_SORTABLE_MS)))
}

/// The `gsi2pk` of every one of an account's SCHEDULED-split index partitions.
pub fn scheduled_splits_pks(account: &AccountId) -> Vec<String> {
    (0..pixgw_domain::ledger::BALANCE_SHARDS)
        .map(|shard| format!("ACCOUNT#{account}#SPLITS#SCHEDULED#{shard:02}"))
        .collect()
}

pub fn outbox_pk(message_id: &str) -> String {
    format!("OUTBOX#{message_id}")
}

/// An account event, keyed by its id alone: event ids are derived from the fact they report,
/// so `attribute_not_exists` on this key is what records a fact at most once.
pub fn event_pk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

/// `gsi1pk` of an account event: one of the account's [`pixgw_domain::ledger::BALANCE_SHARDS`]
/// event partitions, by a stable hash of the event id (a scheduled payout of 100,000 splits
/// records 100,000 events in a burst; one index partition would throttle).
pub fn events_pk(account: &AccountId, event_id: &str) -> String {
    let shard = balance_shard(event_id);
    format!("ACCOUNT#{account}#EVENTS#{shard:02}")
}

/// The `gsi1pk` of every one of an account's event partitions.
pub fn events_pks(account: &AccountId) -> Vec<String> {
    (0..pixgw_domain::ledger::BALANCE_SHARDS)
        .map(|shard| format!("ACCOUNT#{account}#EVENTS#{shard:02}"))
        .collect()
}

/// A merchant-webhook delivery, under its own id (`dlv_…`, derived from the event id, so the
/// key is what makes a second delivery of one event impossible).
pub fn delivery_pk(delivery_id: &str) -> String {
    format!("DELIVERY#{delivery_id}")
}

/// `gsi1pk` of a delivery: the account's delivery log, one partition (see the crate docs'
/// hot-partition notes), sorted by [`created_id_sort_key`] of (createdAt, deliveryId).
pub fn deliveries_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#DELIVERIES")
}

/// How many `gsi1` partitions the payout schedules are spread over. Most accounts keep the
/// default 09:00 window, so at 09:00 thousands of schedules are rewritten at once (claimed,
/// advanced) and read by the scheduler; one index partition sustains ~1,000 writes/s, 16 of
/// them ~16,000/s, and the scheduler queries all 16 in parallel.
pub const SCHEDULE_SHARDS: u32 = 16;

/// The due-index partition of an account's schedule: a stable hash of the account id
/// ([`balance_shard`], uniform over 32, so uniform over 16 too).
pub fn schedule_shard(account: &AccountId) -> u32 {
    balance_shard(account.as_str()) % SCHEDULE_SHARDS
}

/// `gsi1pk` of a payout schedule: one of the [`SCHEDULE_SHARDS`] due-index partitions.
pub fn due_schedules_pk(shard: u32) -> String {
    format!("PAYOUT_SCHEDULES#{shard:02}")
}

/// `gsi1sk` of a payout schedule: `{nextRunAtMs:015}#{accountId}`, so "due at or before t" is
/// `gsi1sk < {t+1:015}` and ties between accounts are ordered and unique. A next run outside
/// the sortable range (only from a clock before 1970 or a run beyond the year 33658) is
/// clamped into it, which keeps its meaning: before 1970 is due, the far future never is.
pub fn due_schedule_sort_key(next_run_at_ms: i64, account: &AccountId) -> String {
    let ms = next_run_at_ms.clamp(0, MAX_SORTABLE_MS);
    format!("{ms:015}#{account}")
}

/// How many expiry-index partitions PENDING charges are spread over (by a stable hash of the
/// transaction id), so charge creation bursts do not all write one index partition.
pub const EXPIRY_SHARDS: u32 = 16;

/// `gsi3pk` of a PENDING charge: one of the [`EXPIRY_SHARDS`] expiry partitions.
pub fn expiry_pk(transaction_id: &TransactionId) -> String {
    expiry_shard_pk(balance_shard(transaction_id.as_str()) % EXPIRY_SHARDS)
}

/// `gsi3pk` of expiry partition `shard`.
pub fn expiry_shard_pk(shard: u32) -> String {
    format!("EXPIRY#{shard:02}")
}

/// `gsi3sk` of a PENDING charge: `{expiresAtMs:015}#{transactionId}` (clamped into the
/// sortable range, which keeps its meaning: before 1970 is due, the far future never is), so
/// "expired at or before t" is `gsi3sk < {t+1:015}`, soonest first.
pub fn expiry_sort_key(expires_at_ms: i64, transaction_id: &TransactionId) -> String {
    let ms = expires_at_ms.clamp(0, MAX_SORTABLE_MS);
    format!("{ms:015}#{transaction_id}")
}

/// How many hold-index partitions the charges under a cautelar hold are spread over: the
/// same count and the same hash of the transaction id as the expiry index, so a confirmation
/// burst of held payments spreads exactly like the charges' creation did.
pub const HOLD_SHARDS: u32 = EXPIRY_SHARDS;

/// `gsi3pk` of a charge whose hold is HELD: one of the [`HOLD_SHARDS`] hold partitions.
/// Never an expiry partition ([`expiry_shard_pk`], `EXPIRY#…`) nor an owing-disputes one
/// ([`owing_disputes_pk`], `ACCOUNT#…`), which share `gsi3`.
pub fn hold_pk(transaction_id: &TransactionId) -> String {
    hold_shard_pk(balance_shard(transaction_id.as_str()) % HOLD_SHARDS)
}

/// `gsi3pk` of hold partition `shard`.
pub fn hold_shard_pk(shard: u32) -> String {
    format!("HOLD#{shard:02}")
}

/// `gsi3sk` of a held charge: `{untilMs:015}#{transactionId}` (clamped into the sortable range
/// like [`expiry_sort_key`]), so "due at or before t" is `gsi3sk < {t+1:015}`
/// ([`due_schedules_upper_bound`]), soonest first.
pub fn hold_sort_key(until_ms: i64, transaction_id: &TransactionId) -> String {
    let ms = until_ms.clamp(0, MAX_SORTABLE_MS);
    format!("{ms:015}#{transaction_id}")
}

/// A cash-out, under its own id.
pub fn cash_out_pk(id: &CashOutId) -> String {
    format!("CASHOUT#{id}")
}

/// The per-account `externalId` guard of a cash-out (its sort key, `CASHOUT_EXTID`, keeps it
/// apart from a charge's guard whatever the externalId holds).
pub fn cash_out_external_id_pk(account: &AccountId, external_id: &str) -> String {
    format!("ACCOUNT#{account}#CASHOUT_EXTID#{external_id}")
}

/// `gsi1pk` of a cash-out: all of an account's cash-outs.
pub fn cash_outs_by_account_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#CASHOUTS")
}

/// `gsi2pk` of a cash-out: an account's cash-outs in one state. Any state change must
/// rewrite it in the same write that changes `state`.
pub fn cash_outs_by_state_pk(account: &AccountId, state: CashOutState) -> String {
    format!("ACCOUNT#{account}#CASHOUTS#{}", state.as_str())
}

/// A MED dispute, under its own id (derived from the provider's infraction, so this key is
/// what makes opening one twice impossible).
pub fn dispute_pk(id: &DisputeId) -> String {
    format!("DISPUTE#{id}")
}

/// `gsi1pk` of a dispute: all of an account's disputes.
pub fn disputes_by_account_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#DISPUTES")
}

/// `gsi2pk` of a dispute: an account's disputes in one state. Every write that changes a
/// dispute's `state` must rewrite it (each one puts the whole item).
pub fn disputes_by_state_pk(account: &AccountId, state: DisputeState) -> String {
    format!("ACCOUNT#{account}#DISPUTES#{}", state.as_str())
}

/// `gsi3pk` of a dispute that still owes part of its hold (sparse: absent once it owes
/// nothing): the account's owing disputes, which a credit's booking pays oldest first. Never
/// an expiry partition ([`expiry_shard_pk`]), which share `gsi3`; and `OWING` is no dispute
/// state, so it is never a `gsi2` state partition either.
pub fn owing_disputes_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#DISPUTES#OWING")
}

/// `gsi1sk`/`gsi2sk`/`gsi3sk` of a dispute: (opening time, id) order, unique. `None` outside
/// the sortable range.
pub fn dispute_sort_key(opened_at_ms: i64, id: &DisputeId) -> Option<String> {
    created_id_sort_key(opened_at_ms, id.as_str())
}

/// The bounds of a dispute listing: strictly older than the cursor (a cursor before 1970
/// matches nothing), no time bounds.
pub fn dispute_sort_range(after: Option<&DisputeCursor>) -> SortRange {
    created_range(
        None,
        None,
        after.map(|c| (c.opened_at_ms, c.dispute_id.as_str())),
    )
}

/// The bounds of a cash-out listing: `[from, to)` and strictly older than the cursor, like
/// charges. A `from` inside a millisecond starts at the next one; a `to` inside one ends
/// with it (keys hold whole milliseconds).
pub fn cash_out_sort_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<&CashOutCursor>,
) -> SortRange {
    created_range(
        from.map(ceil_ms),
        to.map(ceil_ms),
        after.map(|c| (c.created_at_ms, c.id.as_str())),
    )
}

/// The first whole millisecond at or after `t`.
pub fn ceil_ms(t: DateTime<Utc>) -> i64 {
    let ms = t.timestamp_millis();
    if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms.saturating_add(1)
    }
}

fn sortable(ms: i64) -> bool {
    (0..=MAX_SORTABLE_MS).contains(&ms)
}

/// `gsi1pk` of a charge: all of an account's charges.
pub fn charges_by_account_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#CHARGES")
}

/// `gsi2pk` of a charge: an account's charges in one status. Any status change must rewrite
/// this attribute in the same conditional update that changes `status`.
pub fn charges_by_status_pk(account: &AccountId, status: ChargeStatus) -> String {
    format!("ACCOUNT#{account}#CHARGES#{}", status.as_str())
}

/// `gsi1sk`/`gsi2sk` of a charge: creation time (ms, 15 digits) then id, so the index order is
/// (created_at, transaction_id) and every position is unique. `None` outside the sortable
/// range (negative or beyond [`MAX_SORTABLE_MS`]).
pub fn created_sort_key(created_at_ms: i64, id: &TransactionId) -> Option<String> {
    sortable(created_at_ms).then(|| format!("{created_at_ms:015}#{id}"))
}

/// The part of `gsi1sk`/`gsi2sk` that precedes every key created at `ms` or later.
pub fn time_prefix(ms: i64) -> String {
    format!("{ms:015}")
}

/// The slice of an index partition a listing reads, as bounds on the sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortRange {
    /// Nothing can match (e.g. `from >= to`, or a cursor before the epoch).
    Empty,
    Bounds {
        /// Inclusive lower bound.
        lower: Option<String>,
        /// Exclusive upper bound.
        upper: Option<String>,
    },
}

/// Turns `[from, to)` and "strictly older than the cursor" into sort-key bounds.
///
/// Times outside the sortable range are clamped to what they mean (a `from` before 1970 is no
/// bound at all, a `to` before 1970 matches nothing, …), so any client input yields a valid
/// query.
pub fn sort_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<&ChargeCursor>,
) -> SortRange {
    created_range(
        from.map(|t| t.timestamp_millis()),
        to.map(|t| t.timestamp_millis()),
        after.map(|c| (c.created_at_ms, c.transaction_id.as_str())),
    )
}

/// The bounds of a payout listing: `from ≤ createdAt ≤ to` (both inclusive, unlike charges)
/// and strictly older than the cursor. Keys hold whole milliseconds, so a `from` inside a
/// millisecond starts at the next one and a `to` inside one ends with it.
pub fn payout_sort_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<&PayoutCursor>,
) -> SortRange {
    let from_ms = from.map(|t| {
        let ms = t.timestamp_millis();
        if t.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
            ms
        } else {
            ms.saturating_add(1)
        }
    });
    let to_exclusive_ms = to.map(|t| t.timestamp_millis().saturating_add(1));
    created_range(
        from_ms,
        to_exclusive_ms,
        after.map(|c| (c.created_at.timestamp_millis(), c.payout_id.as_str())),
    )
}

/// `[from_ms, to_ms)` and "strictly before `(cursor ms, cursor id)`" as bounds on
/// `{createdAtMs:015}#{id}` sort keys.
fn created_range(
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    after: Option<(i64, &str)>,
) -> SortRange {
    let lower = match from_ms {
        None => None,
        Some(ms) if ms <= 0 => None,
        Some(ms) if ms > MAX_SORTABLE_MS => return SortRange::Empty,
        Some(ms) => Some(time_prefix(ms)),
    };
    let to_upper = match to_ms {
        None => None,
        Some(ms) if ms <= 0 => return SortRange::Empty,
        Some(ms) if ms > MAX_SORTABLE_MS => None,
        Some(ms) => Some(time_prefix(ms)),
    };
    let cursor_upper = match after {
        None => None,
        Some((ms, _)) if ms < 0 => return SortRange::Empty,
        Some((ms, id)) => created_id_sort_key(ms, id),
    };
    let upper = match (to_upper, cursor_upper) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let (Some(lo), Some(hi)) = (&lower, &upper)
        && lo >= hi
    {
        return SortRange::Empty;
    }
    SortRange::Bounds { lower, upper }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    }

    fn id(c: char) -> TransactionId {
        TransactionId::parse(&c.to_string().repeat(32)).unwrap()
    }

    #[test]
    fn sort_keys_order_by_time_then_id() {
        let a = created_sort_key(999, &id('f')).unwrap();
        let b = created_sort_key(1_000, &id('0')).unwrap();
        let c = created_sort_key(1_000, &id('1')).unwrap();
        assert!(a < b && b < c);
        assert_eq!(b, format!("000000000001000#{}", "0".repeat(32)));
        assert_eq!(created_sort_key(-1, &id('a')), None);
        assert_eq!(created_sort_key(MAX_SORTABLE_MS + 1, &id('a')), None);
    }

    #[test]
    fn settlement_keys_have_the_documented_shapes() {
        let account = AccountId::generate();
        let tx = id('a');
        assert_eq!(
            ledger_pk(&account, 7),
            format!("ACCOUNT#{account}#LEDGER#07")
        );
        assert_eq!(
            balance_pk(&account, 31),
            format!("ACCOUNT#{account}#BALANCE#31")
        );
        assert_eq!(split_sk(3), "SPLIT#03");
        assert!(split_sk(9) < split_sk(10));
        let shard = balance_shard(tx.as_str());
        assert_eq!(
            scheduled_splits_pk(&account, &tx),
            format!("ACCOUNT#{account}#SPLITS#SCHEDULED#{shard:02}")
        );
        assert_eq!(
            scheduled_split_sort_key(1_000, &tx, 2),
            Some(format!("000000000001000#{tx}#02"))
        );
        assert_eq!(scheduled_split_sort_key(-1, &tx, 2), None);
        assert_eq!(
            created_id_sort_key(5, "confirm:x"),
            Some("000000000000005#confirm:x".to_owned())
        );
        assert_eq!(movement_pk("confirm:x"), "MOVEMENT#confirm:x");
        let shard = schedule_shard(&account);
        assert!(shard < SCHEDULE_SHARDS);
        assert_eq!(shard, balance_shard(account.as_str()) % 16);
        assert_eq!(
            due_schedules_pk(shard),
            format!("PAYOUT_SCHEDULES#{shard:02}")
        );
        assert_eq!(
            due_schedule_sort_key(1_000, &account),
            format!("000000000001000#{account}")
        );
        assert!(due_schedule_sort_key(999, &account) < due_schedule_sort_key(1_000, &account));
        assert_eq!(
            due_schedule_sort_key(-5, &account),
            due_schedule_sort_key(0, &account)
        );
        assert_eq!(
            due_schedule_sort_key(i64::MAX, &account),
            due_schedule_sort_key(MAX_SORTABLE_MS, &account)
        );
        assert_eq!(outbox_pk("m"), "OUTBOX#m");
        let pks = scheduled_splits_pks(&account);
        assert_eq!(pks.len(), 32);
        assert!(pks.contains(&scheduled_splits_pk(&account, &tx)));
        // The cut-off bound admits every split of the cut-off millisecond and none after it.
        let upper = scheduled_splits_upper_bound(1_000).unwrap();
        assert!(scheduled_split_sort_key(1_000, &tx, 9).unwrap() <= upper);
        assert!(scheduled_split_sort_key(1_001, &id('0'), 0).unwrap() > upper);
        assert_eq!(scheduled_splits_upper_bound(-1), None);
        assert_eq!(due_schedules_upper_bound(1_000), "000000000001001");
        assert!(due_schedule_sort_key(1_000, &account) < due_schedules_upper_bound(1_000));
        assert_eq!(
            assembling_payouts_pk(&account, 7),
            format!("ACCOUNT#{account}#PAYOUTS#ASSEMBLING#000000000000007")
        );
        assert_eq!(payout_manifest_sort_key(&tx, 3), format!("{tx}#03"));
    }

    #[test]
    fn payout_listing_and_event_keys_have_the_documented_shapes() {
        let account = AccountId::generate();
        assert_eq!(
            payouts_by_state_pk(&account, PayoutState::Paid),
            format!("ACCOUNT#{account}#PAYOUTS#PAID")
        );
        // A state partition never collides with an ASSEMBLING window's partition.
        assert_ne!(
            payouts_by_state_pk(&account, PayoutState::Assembling),
            assembling_payouts_pk(&account, 0)
        );
        assert_eq!(event_pk("evt_1"), "EVENT#evt_1");
        let shard = balance_shard("evt_1");
        assert_eq!(
            events_pk(&account, "evt_1"),
            format!("ACCOUNT#{account}#EVENTS#{shard:02}")
        );
        let pks = events_pks(&account);
        assert_eq!(pks.len(), 32);
        assert!(pks.contains(&events_pk(&account, "evt_1")));
    }

    #[test]
    fn webhook_keys_have_the_documented_shapes() {
        let account = AccountId::generate();
        assert_eq!(delivery_pk("dlv_1"), "DELIVERY#dlv_1");
        assert_eq!(
            deliveries_pk(&account),
            format!("ACCOUNT#{account}#DELIVERIES")
        );
        // Never one of the account's other index partitions.
        assert_ne!(deliveries_pk(&account), charges_by_account_pk(&account));
        assert_ne!(deliveries_pk(&account), payouts_by_account_pk(&account));
        assert!(!events_pks(&account).contains(&deliveries_pk(&account)));
        // The endpoint shares the account's partition under a sort key of its own.
        assert!(
            [SK_ACCOUNT, SK_SCHEDULE]
                .iter()
                .all(|sk| *sk != SK_WEBHOOK_ENDPOINT)
        );

        let key = created_id_sort_key(1_000, "dlv_1").unwrap();
        assert!(is_created_id_sort_key(&key));
        for bad in [
            "",
            "dlv_1",
            "000000000001000#",
            "00000000001000#dlv_1",
            "00000000000100x#dlv_1",
            "000000000001000dlv_1",
        ] {
            assert!(!is_created_id_sort_key(bad), "{bad:?}");
        }
        let long = format!("000000000001000#{}", "x".repeat(MAX_SORT_KEY_BYTES));
        assert!(!is_created_id_sort_key(&long));
    }

    #[test]
    fn dispute_keys_have_the_documented_shapes_and_collide_with_nothing() {
        let account = AccountId::generate();
        let id = DisputeId::derive("sandbox", "inf-1");
        assert_eq!(dispute_pk(&id), format!("DISPUTE#{id}"));
        assert_eq!(
            disputes_by_account_pk(&account),
            format!("ACCOUNT#{account}#DISPUTES")
        );
        assert_eq!(
            disputes_by_state_pk(&account, DisputeState::Defended),
            format!("ACCOUNT#{account}#DISPUTES#DEFENDED")
        );
        let owing = owing_disputes_pk(&account);
        assert_eq!(owing, format!("ACCOUNT#{account}#DISPUTES#OWING"));
        // `gsi3` is shared with the charges' expiry partitions, and no state is called OWING.
        assert!((0..EXPIRY_SHARDS).all(|shard| expiry_shard_pk(shard) != owing));
        assert!(
            DisputeState::ALL
                .iter()
                .all(|state| disputes_by_state_pk(&account, *state) != owing)
        );
        for other in [
            charges_by_account_pk(&account),
            payouts_by_account_pk(&account),
            cash_outs_by_account_pk(&account),
            deliveries_pk(&account),
        ] {
            assert_ne!(disputes_by_account_pk(&account), other);
        }
        assert_eq!(
            dispute_sort_key(1_000, &id),
            Some(format!("000000000001000#{id}"))
        );
        assert_eq!(dispute_sort_key(-1, &id), None);
        // The cursor's own key is the exclusive upper bound; one before 1970 matches nothing.
        let cursor = DisputeCursor {
            opened_at_ms: 1_000,
            dispute_id: id.clone(),
        };
        assert_eq!(
            dispute_sort_range(Some(&cursor)),
            SortRange::Bounds {
                lower: None,
                upper: dispute_sort_key(1_000, &id),
            }
        );
        assert_eq!(
            dispute_sort_range(None),
            SortRange::Bounds {
                lower: None,
                upper: None
            }
        );
        let before_epoch = DisputeCursor {
            opened_at_ms: -1,
            dispute_id: id,
        };
        assert_eq!(dispute_sort_range(Some(&before_epoch)), SortRange::Empty);
    }

    #[test]
    fn hold_keys_have_the_documented_shapes_and_collide_with_nothing() {
        let tx = id('a');
        let shard = balance_shard(tx.as_str()) % HOLD_SHARDS;
        assert_eq!(hold_pk(&tx), format!("HOLD#{shard:02}"));
        // Sharded exactly like the expiry index: same count, same hash.
        assert_eq!(HOLD_SHARDS, EXPIRY_SHARDS);
        assert_eq!(
            &hold_pk(&tx)["HOLD#".len()..],
            &expiry_pk(&tx)["EXPIRY#".len()..]
        );
        assert_eq!(hold_sort_key(1_000, &tx), format!("000000000001000#{tx}"));
        assert_eq!(hold_sort_key(-5, &tx), hold_sort_key(0, &tx));
        assert_eq!(
            hold_sort_key(i64::MAX, &tx),
            hold_sort_key(MAX_SORTABLE_MS, &tx)
        );
        // Soonest first; due exactly at `until`, not a millisecond before.
        assert!(hold_sort_key(999, &id('f')) < hold_sort_key(1_000, &id('0')));
        assert!(hold_sort_key(1_000, &id('f')) < due_schedules_upper_bound(1_000));
        assert!(hold_sort_key(1_000, &id('0')) >= due_schedules_upper_bound(999));

        // `gsi3` is shared: no hold partition is an expiry or an owing-disputes partition, and
        // no partition name of one is a prefix of the other's.
        let holds: Vec<String> = (0..HOLD_SHARDS).map(hold_shard_pk).collect();
        let expiries: Vec<String> = (0..EXPIRY_SHARDS).map(expiry_shard_pk).collect();
        let owing = owing_disputes_pk(&AccountId::generate());
        let mut distinct = holds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), HOLD_SHARDS as usize);
        for hold in &holds {
            assert!(!expiries.contains(hold), "{hold}");
            assert_ne!(hold, &owing);
            assert!(expiries.iter().all(|e| !e.starts_with(hold.as_str())));
            assert!(!owing.starts_with(hold.as_str()));
        }
        assert!(holds.contains(&hold_pk(&tx)));
        for _ in 0..64 {
            let tx = TransactionId::generate();
            assert!(holds.contains(&hold_pk(&tx)));
            assert_ne!(hold_pk(&tx), expiry_pk(&tx));
        }
    }

    #[test]
    fn payout_bounds_are_inclusive_on_both_ends() {
        let payout = PayoutId::generate();
        let at = |ms| created_id_sort_key(ms, payout.as_str()).unwrap();
        let SortRange::Bounds { lower, upper } =
            payout_sort_range(Some(t(1_000)), Some(t(2_000)), None)
        else {
            panic!("expected bounds");
        };
        let (lo, hi) = (lower.unwrap(), upper.unwrap());
        assert!(at(1_000) >= lo && at(999) < lo);
        assert!(at(2_000) < hi && at(2_001) >= hi);
        // One millisecond is a valid range.
        assert!(matches!(
            payout_sort_range(Some(t(5)), Some(t(5)), None),
            SortRange::Bounds { .. }
        ));
        assert_eq!(
            payout_sort_range(Some(t(6)), Some(t(5)), None),
            SortRange::Empty
        );
        // A `from` inside a millisecond starts with the next one (keys hold whole ms).
        let inside = t(1_000) + chrono::Duration::microseconds(500);
        let SortRange::Bounds { lower, .. } = payout_sort_range(Some(inside), None, None) else {
            panic!("expected bounds");
        };
        assert_eq!(lower, Some(time_prefix(1_001)));
        // The cursor's own key is the (exclusive) upper bound.
        let cursor = PayoutCursor {
            created_at: t(1_500),
            payout_id: payout.clone(),
        };
        assert_eq!(
            payout_sort_range(None, Some(t(2_000)), Some(&cursor)),
            SortRange::Bounds {
                lower: None,
                upper: Some(at(1_500)),
            }
        );
        assert_eq!(payout_sort_range(None, Some(t(-1)), None), SortRange::Empty);
    }

    #[test]
    fn time_bounds_are_half_open() {
        let SortRange::Bounds { lower, upper } = sort_range(Some(t(1_000)), Some(t(2_000)), None)
        else {
            panic!("expected bounds");
        };
        let (lo, hi) = (lower.unwrap(), upper.unwrap());
        let at = |ms| created_sort_key(ms, &id('5')).unwrap();
        assert!(at(1_000) >= lo && at(999) < lo);
        assert!(at(1_999) < hi && at(2_000) >= hi);
    }

    #[test]
    fn cursor_tightens_the_upper_bound() {
        let cursor = ChargeCursor {
            created_at_ms: 1_500,
            transaction_id: id('7'),
        };
        let range = sort_range(Some(t(1_000)), Some(t(2_000)), Some(&cursor));
        assert_eq!(
            range,
            SortRange::Bounds {
                lower: Some(time_prefix(1_000)),
                upper: created_sort_key(1_500, &id('7')),
            }
        );
        // A cursor past `to` leaves `to` in charge.
        let late = ChargeCursor {
            created_at_ms: 5_000,
            transaction_id: id('7'),
        };
        let range = sort_range(None, Some(t(2_000)), Some(&late));
        assert_eq!(
            range,
            SortRange::Bounds {
                lower: None,
                upper: Some(time_prefix(2_000)),
            }
        );
    }

    #[test]
    fn degenerate_inputs_never_produce_invalid_queries() {
        assert_eq!(
            sort_range(Some(t(2_000)), Some(t(2_000)), None),
            SortRange::Empty
        );
        assert_eq!(
            sort_range(Some(t(3_000)), Some(t(2_000)), None),
            SortRange::Empty
        );
        assert_eq!(sort_range(None, Some(t(-5)), None), SortRange::Empty);
        let before_epoch = ChargeCursor {
            created_at_ms: -1,
            transaction_id: id('1'),
        };
        assert_eq!(
            sort_range(None, None, Some(&before_epoch)),
            SortRange::Empty
        );
        let far = ChargeCursor {
            created_at_ms: i64::MAX,
            transaction_id: id('1'),
        };
        assert_eq!(
            sort_range(Some(t(-10)), None, Some(&far)),
            SortRange::Bounds {
                lower: None,
                upper: None
            }
        );
        // A cursor inside the lower bound's millisecond but before any key there.
        let first = ChargeCursor {
            created_at_ms: 1_000,
            transaction_id: id('0'),
        };
        assert!(matches!(
            sort_range(Some(t(1_000)), None, Some(&first)),
            SortRange::Bounds { .. }
        ));
    }
}
