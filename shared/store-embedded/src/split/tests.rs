//! Embedded specifics of split entries: the SCHEDULED-splits index follows every split write.

use chrono::Duration;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::payout::PayoutId;
use pixgw_domain::pix::ids::AccountId;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

#[tokio::test]
async fn the_scheduled_splits_index_holds_exactly_the_scheduled_splits() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    let confirm = confirm_write(&charge, t0() + Duration::seconds(5));
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Applied)
    );
    let book = book_write(&charge);
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));

    let expected = format!(
        "{account}#{:015}#{}#01",
        t0().timestamp_millis(),
        charge.transaction_id
    );
    assert_eq!(keys_of(&store, SPLITS_SCHEDULED), vec![expected.clone()]);

    // A split leaving SCHEDULED leaves the index (the scheduler's PROCESSING write).
    let scheduled = SplitEntryRecord::from(&book.splits[1]);
    let processing = SplitEntryRecord {
        state: SplitState::Processing.as_str().to_owned(),
        payout_id: Some(PayoutId::generate().to_string()),
        ..scheduled.clone()
    };
    let txn = store.db.begin_write().expect("write");
    put_split(&txn, &processing, Some(&scheduled)).expect("put");
    txn.commit().expect("commit");
    assert!(keys_of(&store, SPLITS_SCHEDULED).is_empty());

    // …and one entering it joins.
    let txn = store.db.begin_write().expect("write");
    put_split(&txn, &scheduled, Some(&processing)).expect("put");
    txn.commit().expect("commit");
    assert_eq!(keys_of(&store, SPLITS_SCHEDULED), vec![expected]);
}
