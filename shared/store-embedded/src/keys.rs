//! How keys of the redb tables are spelled.
//!
//! Every key is a `&str` compared byte by byte. Composite keys join their parts with `\0`,
//! which none of the parts that can be followed by another part contains: account ids are
//! `acc_` + hex, statuses are UPPERCASE words, transaction ids are hex and the sortable
//! timestamps are digits. The last part of a key (an `externalId`, an idempotency key) may be
//! anything, because everything before it has a fixed shape.
//!
//! Timestamps inside keys are epoch milliseconds mapped order-preservingly from `i64` onto
//! `u64` (sign bit flipped) and written as 20 zero-padded digits, so that byte order is time
//! order for every representable instant, negative ones included (a crafted cursor may carry
//! any `i64`).

/// Separates the parts of a composite key.
pub(crate) const SEP: char = '\u{0}';

/// `ms` as 20 digits whose byte order is the numeric order of `ms`.
pub(crate) fn sortable_ms(ms: i64) -> String {
    // Flipping the sign bit maps i64::MIN..=i64::MAX onto 0..=u64::MAX, keeping the order.
    let shifted = (ms as u64) ^ (1 << 63);
    format!("{shifted:020}")
}

/// The inverse of [`sortable_ms`]; `None` unless `digits` is exactly 20 ASCII digits of a value
/// it can produce.
pub(crate) fn ms_from_sortable(digits: &str) -> Option<i64> {
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let shifted: u64 = digits.parse().ok()?;
    Some((shifted ^ (1 << 63)) as i64)
}

/// Prefix of an account's entries in `charges_by_account`.
pub(crate) fn account_prefix(account_id: &str) -> String {
    format!("{account_id}{SEP}")
}

/// Prefix of an account's entries with one status in `charges_by_status`.
pub(crate) fn status_prefix(account_id: &str, status: &str) -> String {
    format!("{account_id}{SEP}{status}{SEP}")
}

/// An index entry under `prefix`: `prefix` + sortable `created_at_ms` + `\0` + transaction id.
pub(crate) fn index_entry(prefix: &str, created_at_ms: i64, transaction_id: &str) -> String {
    format!(
        "{prefix}{}{SEP}{transaction_id}",
        sortable_ms(created_at_ms)
    )
}

/// The smallest key under `prefix` at `created_at_ms`: every entry of that millisecond sorts
/// after it, every earlier one before it.
pub(crate) fn index_at(prefix: &str, created_at_ms: i64) -> String {
    format!("{prefix}{}", sortable_ms(created_at_ms))
}

/// The first key after every key that starts with `prefix` (which ends with [`SEP`]).
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.strip_suffix(SEP).unwrap_or(prefix).to_owned();
    end.push('\u{1}');
    end
}

/// `external_ids` key: an account's `externalId` guard.
pub(crate) fn external_id(account_id: &str, external_id: &str) -> String {
    format!("{account_id}{SEP}{external_id}")
}

/// `idempotency` key: an account's idempotency key.
pub(crate) fn idempotency(account_id: &str, key: &str) -> String {
    format!("{account_id}{SEP}{key}")
}

/// `idempotency_by_expiry` key: when an idempotency record expires, then the record's key.
pub(crate) fn idempotency_expiry(expires_at_ms: i64, idempotency_key: &str) -> String {
    format!("{}{SEP}{idempotency_key}", sortable_ms(expires_at_ms))
}

/// Everything in `idempotency_by_expiry` that sorts before this expired strictly before `ms`.
pub(crate) fn idempotency_expiry_bound(ms: i64) -> String {
    sortable_ms(ms)
}

// ---------------------------------------------------------------------------------------------
// Settlement

/// Prefix of a charge's entries in `splits`.
pub(crate) fn splits_prefix(transaction_id: &str) -> String {
    format!("{transaction_id}{SEP}")
}

/// `splits` key: a charge's transaction id, then the split's index as 3 digits (so a range
/// over [`splits_prefix`] returns the entries by index).
pub(crate) fn split(transaction_id: &str, index: u8) -> String {
    format!("{}{index:03}", splits_prefix(transaction_id))
}

/// `splits_scheduled` key: `{accountId}#{createdAtMs:015}#{transactionId}#{index:02}`, the
/// account's SCHEDULED splits oldest first (the payout scheduler's range).
pub(crate) fn scheduled_split(
    account_id: &str,
    created_at_ms: i64,
    transaction_id: &str,
    index: u8,
) -> String {
    format!("{account_id}#{created_at_ms:015}#{transaction_id}#{index:02}")
}

/// `movements_by_account` key: the account, then sortable `created_at_ms`, then the movement
/// id, so an account's movements are one range ordered by `(created_at, id)`.
pub(crate) fn movement_entry(account_id: &str, created_at_ms: i64, movement_id: &str) -> String {
    index_entry(&account_prefix(account_id), created_at_ms, movement_id)
}

/// `outbox_by_time` key: `{createdAtMs:015}#{messageId}`, oldest first.
pub(crate) fn outbox_entry(created_at_ms: i64, message_id: &str) -> String {
    format!("{created_at_ms:015}#{message_id}")
}

/// `payouts_by_account` key: the account, then sortable `created_at_ms`, then the payout id,
/// so an account's listable payouts are one range ordered by `(created_at, id)`.
pub(crate) fn payout_entry(account_id: &str, created_at_ms: i64, payout_id: &str) -> String {
    index_entry(&account_prefix(account_id), created_at_ms, payout_id)
}

/// `payouts_by_state` key: like [`payout_entry`] under the account's [`status_prefix`].
pub(crate) fn payout_state_entry(
    account_id: &str,
    state: &str,
    created_at_ms: i64,
    payout_id: &str,
) -> String {
    index_entry(&status_prefix(account_id, state), created_at_ms, payout_id)
}

/// `events_by_account` key: the account, then sortable `occurred_at_ms`, then the event id,
/// so an account's events are one range ordered by `(occurred_at, id)`.
pub(crate) fn event_entry(account_id: &str, occurred_at_ms: i64, event_id: &str) -> String {
    index_entry(&account_prefix(account_id), occurred_at_ms, event_id)
}

/// `webhook_deliveries_by_account` key: the account, then sortable `created_at_ms`, then the
/// delivery id, so an account's deliveries are one range ordered by `(created_at, id)`.
pub(crate) fn delivery_entry(account_id: &str, created_at_ms: i64, delivery_id: &str) -> String {
    index_entry(&account_prefix(account_id), created_at_ms, delivery_id)
}

/// The `(created_at_ms, id)` of an [`index_entry`] under `prefix`; `None` for a key of another
/// shape.
pub(crate) fn split_index_entry<'k>(prefix: &str, key: &'k str) -> Option<(i64, &'k str)> {
    let (digits, id) = key.strip_prefix(prefix)?.split_once(SEP)?;
    Some((ms_from_sortable(digits)?, id))
}

// ---------------------------------------------------------------------------------------------
// Money lifecycle

/// `charges_by_expiry` key: sortable `expires_at_ms`, then the transaction id, so the PENDING
/// charges expired at or before `t` are exactly the keys below [`index_at`]`("", t + 1)`,
/// soonest first.
pub(crate) fn expiring_charge(expires_at_ms: i64, transaction_id: &str) -> String {
    index_entry("", expires_at_ms, transaction_id)
}

/// `cash_out_external_ids` key: an account's cash-out `externalId` guard.
pub(crate) fn cash_out_external_id(account_id: &str, external_id: &str) -> String {
    format!("{account_id}{SEP}{external_id}")
}

/// `cash_outs_by_account` key: the account, then sortable `created_at_ms`, then the cash-out
/// id, so an account's cash-outs are one range ordered by `(created_at, id)`.
pub(crate) fn cash_out_entry(account_id: &str, created_at_ms: i64, cash_out_id: &str) -> String {
    index_entry(&account_prefix(account_id), created_at_ms, cash_out_id)
}

/// `cash_outs_by_state` key: like [`cash_out_entry`] under the account's [`status_prefix`].
pub(crate) fn cash_out_state_entry(
    account_id: &str,
    state: &str,
    created_at_ms: i64,
    cash_out_id: &str,
) -> String {
    index_entry(
        &status_prefix(account_id, state),
        created_at_ms,
        cash_out_id,
    )
}

// ---------------------------------------------------------------------------------------------
// Payout schedules

/// `schedules_due` key: sortable `next_run_at_ms`, then the account id, so the schedules due at
/// or before `t` are exactly the keys below [`index_at`]`("", t + 1)`, oldest window first.
pub(crate) fn due_schedule(next_run_at_ms: i64, account_id: &str) -> String {
    index_entry("", next_run_at_ms, account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_ms_keeps_numeric_order_across_the_whole_range() {
        let values = [
            i64::MIN,
            -1_000_000,
            -1,
            0,
            1,
            999,
            1_000,
            1_705_314_600_000,
            i64::MAX,
        ];
        for pair in values.windows(2) {
            let (a, b) = (sortable_ms(pair[0]), sortable_ms(pair[1]));
            assert_eq!(a.len(), 20);
            assert!(a < b, "{} should sort before {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn index_entries_split_back_into_time_and_id() {
        let prefix = account_prefix("acc_0123");
        for ms in [i64::MIN, -1, 0, 1_705_314_600_123, i64::MAX] {
            assert_eq!(ms_from_sortable(&sortable_ms(ms)), Some(ms));
            let key = delivery_entry("acc_0123", ms, "dlv_ab");
            assert_eq!(split_index_entry(&prefix, &key), Some((ms, "dlv_ab")));
        }
        assert_eq!(ms_from_sortable("123"), None);
        assert_eq!(ms_from_sortable("0000000000000000000x"), None);
        // More than u64::MAX: 20 digits, but no sortable_ms spells it.
        assert_eq!(ms_from_sortable("99999999999999999999"), None);
        let other = delivery_entry("acc_9999", 5, "dlv_ab");
        assert_eq!(split_index_entry(&prefix, &other), None);
        assert_eq!(split_index_entry(&prefix, &format!("{prefix}12")), None);
    }

    #[test]
    fn index_bounds_are_half_open_at_the_millisecond() {
        let prefix = account_prefix("acc_0123");
        let at = index_entry(&prefix, 1_000, "ffff");
        let before = index_entry(&prefix, 999, "ffff");
        let after = index_entry(&prefix, 1_001, "0000");
        // `index_at(t)` is an inclusive lower bound for t and an exclusive upper bound below t.
        assert!(index_at(&prefix, 1_000) <= at);
        assert!(before < index_at(&prefix, 1_000));
        assert!(at < index_at(&prefix, 1_001));
        assert!(after >= index_at(&prefix, 1_001));
        // Every entry of the account sorts inside [prefix, prefix_end).
        let end = prefix_end(&prefix);
        for key in [&at, &before, &after] {
            assert!(key.as_str() >= prefix.as_str() && key.as_str() < end.as_str());
        }
        // …and no entry of an account whose id extends this one does.
        let other = index_entry(&account_prefix("acc_01234"), 1_000, "ffff");
        assert!(other.as_str() >= end.as_str());
    }

    #[test]
    fn due_schedules_order_by_next_run_then_account() {
        let early = due_schedule(1_000, "acc_ff");
        let tie = due_schedule(1_000, "acc_00");
        let late = due_schedule(1_001, "acc_00");
        assert!(tie < early && early < late);
        // Due at or before 1_000: everything below `index_at("", 1_001)`.
        assert!(early < index_at("", 1_001) && late >= index_at("", 1_001));
    }

    #[test]
    fn status_prefixes_do_not_overlap() {
        let pending = status_prefix("acc_1", "PENDING");
        let expired = status_prefix("acc_1", "EXPIRED");
        let key = index_entry(&expired, 5, "ab");
        assert!(!key.starts_with(&pending));
        assert!(key < prefix_end(&expired));
    }
}
