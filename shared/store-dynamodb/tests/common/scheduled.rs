//! Scheduled-payout fixtures: SCHEDULED splits booked through the real pipeline writes,
//! attached into a window's payout, released, and the payout settled — built with the domain's
//! own settlement rules (`payout_settlement`), so the writes are the executor's.

use chrono::{DateTime, Utc};
use pixgw_domain::charge::Charge;
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::settle::{FinalOutcome, settle_payout};
use pixgw_domain::payout::ports::SettlePayout;
use pixgw_domain::payout::runs::{AttachSplits, PayoutHeader, PayoutRunStore};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb};
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_store_dynamodb::DynamoStore;

use super::at_ms;
use super::settlement::{book_write, confirm_write, eventually, split_charge};
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::split::ports::SplitStore;

/// A charge of `account` created at `at_millis`, confirmed 1 s and booked 2 s later: its
/// immediate split (index 0) is PROCESSING in its own payout, its scheduled one (index 1)
/// SCHEDULED.
pub async fn booked_at(store: &DynamoStore, account: &AccountId, at_millis: i64) -> BookSplits {
    let c: Charge = split_charge(account, at_millis);
    store.insert_charge(&c, None).await.expect("insert");
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&c, at_millis + 1_000))
            .await,
        Ok(WriteOutcome::Applied)
    );
    let book = book_write(&c, at_millis + 2_000);
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
    book
}

/// `n` SCHEDULED splits of `account` (one per charge, all to the same recipient), as stored.
pub async fn scheduled_splits(
    store: &DynamoStore,
    account: &AccountId,
    n: usize,
    at_millis: i64,
) -> Vec<SplitEntry> {
    let mut splits = Vec::with_capacity(n);
    for i in 0..n {
        let offset = i64::try_from(i).expect("small") * 10;
        let book = booked_at(store, account, at_millis + offset).await;
        let entry = book.splits[1].clone();
        assert_eq!(entry.state, SplitState::Scheduled);
        splits.push(entry);
    }
    splits
}

/// The header of `splits`' payout in `window`.
pub fn header(account: &AccountId, window: DateTime<Utc>, split: &SplitEntry) -> PayoutHeader {
    let recipient = split.recipient();
    PayoutHeader {
        id: PayoutId::for_scheduled_window(account, window, &recipient),
        account_id: account.clone(),
        window,
        recipient,
    }
}

/// Attaches `splits` (one recipient) to their payout of `window_ms` at `now_ms`, still
/// ASSEMBLING.
pub async fn assembling(
    store: &DynamoStore,
    account: &AccountId,
    splits: &[SplitEntry],
    window_ms: i64,
    now_ms: i64,
) -> PayoutId {
    let payout = header(account, at_ms(window_ms), &splits[0]);
    let id = payout.id.clone();
    let write = AttachSplits {
        payout,
        splits: splits.to_vec(),
        now: at_ms(now_ms),
    };
    assert_eq!(store.attach_splits(&write).await, Ok(WriteOutcome::Applied));
    id
}

/// [`assembling`], then released to PROCESSING at `now_ms`; the payout as stored.
pub async fn released(
    store: &DynamoStore,
    account: &AccountId,
    splits: &[SplitEntry],
    window_ms: i64,
    now_ms: i64,
) -> Payout {
    let id = assembling(store, account, splits, window_ms, now_ms).await;
    assert_eq!(
        store.release_payout(&id, &[], at_ms(now_ms)).await,
        Ok(WriteOutcome::Applied)
    );
    let payout = store.get_payout(&id).await.expect("get").expect("payout");
    assert_eq!(payout.state, PayoutState::Processing);
    payout
}

/// The final outcome of a transfer: PAID with a fresh end-to-end id, or FAILED.
pub fn outcome(state: PayoutState, at: DateTime<Utc>) -> FinalOutcome {
    match state {
        PayoutState::Paid => FinalOutcome {
            state,
            end_to_end_id: Some(EndToEndId::generate(
                EndToEndKind::Payment,
                &Ispb::parse("00416968").expect("ispb"),
                at,
            )),
            provider_transfer_id: Some("tr-scheduled".to_owned()),
            failure_reason: None,
        },
        _ => FinalOutcome {
            state,
            end_to_end_id: None,
            provider_transfer_id: Some("tr-scheduled".to_owned()),
            failure_reason: Some("recipient key not found".to_owned()),
        },
    }
}

/// The executor's settlement of a released scheduled payout (no inline splits).
pub fn settlement(payout: &Payout, state: PayoutState, now_ms: i64) -> SettlePayout {
    let now = at_ms(now_ms);
    settle_payout(payout.clone(), Vec::new(), &outcome(state, now), now).expect("settlement")
}

/// Settles a released scheduled payout; the payout as stored afterwards.
pub async fn settled(
    store: &DynamoStore,
    payout: &Payout,
    state: PayoutState,
    now_ms: i64,
) -> Payout {
    let write = settlement(payout, state, now_ms);
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    let stored = store
        .get_payout(&payout.id)
        .await
        .expect("get")
        .expect("payout");
    assert_eq!(stored.state, state);
    stored
}

/// The account's splits as stored, in the order of `splits`.
pub async fn stored_splits(store: &DynamoStore, splits: &[SplitEntry]) -> Vec<SplitEntry> {
    let mut out = Vec::with_capacity(splits.len());
    for split in splits {
        let all = store
            .get_splits(&split.transaction_id)
            .await
            .expect("get splits");
        out.push(
            all.into_iter()
                .find(|s| s.index == split.index)
                .expect("split stored"),
        );
    }
    out
}

/// The SCHEDULED splits of `account` visible in the index (eventually: `n` of them).
pub async fn visible_scheduled(
    store: &DynamoStore,
    account: &AccountId,
    n: usize,
) -> Vec<SplitEntry> {
    eventually(
        || async {
            store
                .scheduled_splits_page(account, at_ms(i64::MAX / 4_000), None, 100)
                .await
                .expect("scheduled page")
                .0
        },
        |page: &Vec<SplitEntry>| page.len() == n,
    )
    .await
}
