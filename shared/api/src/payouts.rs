//! Payout reads: the account's payouts (`GET /api/payouts`) and one payout with a page of its
//! manifest — the splits it pays — (`GET /api/payouts/{payoutId}`).
//!
//! An immediate payout carries its one split inline; a scheduled one may pay 100,000 splits,
//! so its manifest is read a page at a time from the store's manifest index and never loaded
//! whole. The amount and state of each split come from the split entries themselves, read
//! once per charge of the page.

use std::collections::BTreeMap;

use crate::store::DynStore;
use chrono::DateTime;
use pixgw_domain::error::StoreError;
use pixgw_domain::payout::ports::{PayoutCursor, PayoutPage, PayoutQuery};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger, SplitRef};
use pixgw_domain::pix::cursor_text;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::split::entry::SplitEntry;

use crate::error::ApiError;

/// The most manifest entries one response shows.
pub const MANIFEST_PAGE_SIZE: usize = 100;

/// Charges whose split entries are read at once for one manifest page.
const SPLIT_READ_CONCURRENCY: usize = 8;

/// The account's payouts, newest first (never ASSEMBLING ones).
pub async fn list(
    store: &DynStore,
    account: &AccountId,
    query: &PayoutQuery,
) -> Result<PayoutPage, ApiError> {
    Ok(store.list_payouts(account, query).await?)
}

/// One payout and a page of the splits it pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutDetails {
    pub payout: Payout,
    /// The page's splits in manifest order, each with its entry as stored now.
    pub splits: Vec<(SplitRef, SplitEntry)>,
    /// Where the next page starts; `None` on the last one.
    pub next: Option<SplitRef>,
}

/// The account's payout `id`, with the manifest page after `after`. Another account's payout,
/// and one still being assembled by the scheduler (not a payout yet, and never listed), are
/// [`ApiError::PayoutNotFound`] like a missing one.
pub async fn get(
    store: &DynStore,
    account: &AccountId,
    id: &PayoutId,
    after: Option<&SplitRef>,
) -> Result<PayoutDetails, ApiError> {
    let payout = match store.get_payout(id).await? {
        Some(p) if &p.account_id == account && p.state != PayoutState::Assembling => p,
        _ => return Err(ApiError::PayoutNotFound),
    };
    let (refs, next) = manifest_page(store, &payout, after).await?;
    let splits = split_entries(store, &payout, refs).await?;
    Ok(PayoutDetails {
        payout,
        splits,
        next,
    })
}

/// Up to [`MANIFEST_PAGE_SIZE`] of the payout's split keys after `after`, in key order.
async fn manifest_page(
    store: &DynStore,
    payout: &Payout,
    after: Option<&SplitRef>,
) -> Result<(Vec<SplitRef>, Option<SplitRef>), ApiError> {
    match payout.trigger {
        PayoutTrigger::Immediate => {
            let mut inline: Vec<SplitRef> = payout
                .splits
                .iter()
                .filter(|r| after.is_none_or(|a| *r > a))
                .cloned()
                .collect();
            inline.sort();
            let more = inline.len() > MANIFEST_PAGE_SIZE;
            inline.truncate(MANIFEST_PAGE_SIZE);
            let next = more.then(|| inline.last().cloned()).flatten();
            Ok((inline, next))
        }
        PayoutTrigger::Scheduled => Ok(store
            .payout_splits_page(&payout.id, after, MANIFEST_PAGE_SIZE)
            .await?),
    }
}

/// The stored entry of every key, reading each charge's splits once.
async fn split_entries(
    store: &DynStore,
    payout: &Payout,
    refs: Vec<SplitRef>,
) -> Result<Vec<(SplitRef, SplitEntry)>, ApiError> {
    let mut charges: Vec<&TransactionId> = refs.iter().map(|r| &r.transaction_id).collect();
    charges.sort();
    charges.dedup();
    let mut by_charge: BTreeMap<TransactionId, Vec<SplitEntry>> = BTreeMap::new();
    for batch in charges.chunks(SPLIT_READ_CONCURRENCY) {
        let read =
            futures::future::try_join_all(batch.iter().map(|id| store.get_splits(id))).await?;
        by_charge.extend(batch.iter().map(|id| (*id).clone()).zip(read));
    }
    refs.into_iter()
        .map(|key| {
            let entry = by_charge
                .get(&key.transaction_id)
                .and_then(|entries| entries.iter().find(|e| e.index == key.index))
                .filter(|e| e.account_id == payout.account_id)
                .cloned()
                .ok_or_else(|| {
                    ApiError::from(StoreError::Corrupt(format!(
                        "payout {} pays a missing split {}/{}",
                        payout.id, key.transaction_id, key.index
                    )))
                })?;
            Ok((key, entry))
        })
        .collect()
}

/// The grammar of the payout listing's cursor, `{createdAtMs}.{payoutId}`: what
/// [`decode_list_cursor`] accepts, exactly (see [`pixgw_domain::pix::cursor_text`]).
pub const LIST_CURSOR_PATTERN: &str = r"^-?[0-9]{1,15}\.po_[0-9a-f]{32}$";

pub fn encode_list_cursor(cursor: &PayoutCursor) -> String {
    format!(
        "{}.{}",
        cursor_text::write_ms(cursor.created_at.timestamp_millis()),
        cursor.payout_id
    )
}

pub fn decode_list_cursor(text: &str) -> Option<PayoutCursor> {
    let (ms, id) = text.split_once('.')?;
    Some(PayoutCursor {
        created_at: DateTime::from_timestamp_millis(cursor_text::read_ms(ms)?)?,
        payout_id: PayoutId::parse(id)?,
    })
}

/// The grammar of the manifest cursor, `{transactionId}.{split index}`: what
/// [`decode_splits_cursor`] accepts, exactly.
pub const SPLITS_CURSOR_PATTERN: &str = r"^[0-9a-f]{32}\.[0-9]{1,3}$";

pub fn encode_splits_cursor(key: &SplitRef) -> String {
    format!("{}.{}", key.transaction_id, key.index)
}

pub fn decode_splits_cursor(text: &str) -> Option<SplitRef> {
    let (id, index) = text.split_once('.')?;
    if index.is_empty() || index.len() > 3 || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A charge has at most 10 splits (indexes 0..=9): "after index 300" and "after index
    // 255" are the same position, after all of that charge's splits.
    let index = index.parse::<u16>().ok()?.min(u16::from(u8::MAX));
    Some(SplitRef {
        transaction_id: TransactionId::parse(id)?,
        index: u8::try_from(index).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let list = PayoutCursor {
            created_at: DateTime::from_timestamp_millis(1_705_314_600_123).unwrap(),
            payout_id: PayoutId::generate(),
        };
        assert_eq!(decode_list_cursor(&encode_list_cursor(&list)), Some(list));
        assert_eq!(decode_list_cursor("not-a-cursor"), None);
        assert_eq!(decode_list_cursor("1.po_x"), None);
        assert_eq!(
            decode_list_cursor("1.co_0123456789abcdef0123456789abcdef"),
            None
        );

        let split = SplitRef {
            transaction_id: TransactionId::generate(),
            index: 7,
        };
        assert_eq!(
            decode_splits_cursor(&encode_splits_cursor(&split)),
            Some(split)
        );
        assert_eq!(decode_splits_cursor("%%%"), None);
        assert_eq!(decode_splits_cursor("x.1"), None);
        assert_eq!(
            decode_splits_cursor("0123456789abcdef0123456789abcdef.1000"),
            None
        );
        let last = decode_splits_cursor("0123456789abcdef0123456789abcdef.300").unwrap();
        assert_eq!(last.index, u8::MAX);
    }
}
