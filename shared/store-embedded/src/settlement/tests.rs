//! Embedded specifics of the settlement tables: durability across reopen, the status index on
//! confirmation, the SCHEDULED-splits index and the outbox feed. The behaviour shared with
//! DynamoDB is held by the settlement contract suite (`tests/tests/settlement_contract.rs`).

use chrono::Duration;
use pixgw_domain::charge::ports::{ChargeQuery, ChargeStore};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::payout::PayoutId;
use pixgw_domain::pix::ids::AccountId;
use redb::ReadableTableMetadata;
use tempfile::TempDir;

use super::*;
use crate::outbox::OUTBOX_BY_TIME;
use crate::test_support::*;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::ledger::ports::LedgerStore;

fn status_query(status: ChargeStatus) -> ChargeQuery {
    ChargeQuery {
        status: Some(status),
        from: None,
        to: None,
        limit: 100,
        after: None,
    }
}

#[tokio::test]
async fn confirmation_and_outbox_survive_close_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let account = AccountId::generate();
    let charge = charge(&account);
    let write = confirm_write(&charge, t0() + Duration::seconds(5));
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        stored_charge(&store, &charge).await;
        assert_eq!(
            store.confirm_charge(&write).await,
            Ok(WriteOutcome::Applied)
        );
    }

    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let stored = store
        .get_charge(&charge.transaction_id)
        .await
        .expect("get")
        .expect("charge");
    assert_eq!(stored.status, ChargeStatus::Confirmed);
    assert_eq!(stored.payment, Some(write.payment.clone()));
    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&write.payment.end_to_end_id)
            .await,
        Ok(Some(charge.transaction_id.clone()))
    );
    assert_eq!(
        store.list_movements(&account).await,
        Ok(vec![write.movement.clone()])
    );
    assert_eq!(
        store.get_balance(&account).await.expect("balance").incoming,
        charge.amount
    );
    // The guards survive too: a second confirmation is still refused.
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.poll_outbox(10).await, Ok(write.outbox.clone()));
    let ids: Vec<String> = write.outbox.iter().map(|m| m.id.clone()).collect();
    store.ack_outbox(&ids).await.expect("ack");
    drop(store);

    let store = EmbeddedStore::open(dir.path()).expect("reopen again");
    assert_eq!(
        store.poll_outbox(10).await,
        Ok(Vec::new()),
        "acks are durable"
    );
}

#[tokio::test]
async fn confirmation_moves_the_charge_in_the_status_index() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    let listed = |status| {
        let store = store.clone();
        let account = account.clone();
        async move {
            let page = store
                .list_charges(&account, &status_query(status))
                .await
                .expect("list");
            page.items
                .into_iter()
                .map(|c| c.transaction_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(ChargeStatus::Pending).await.len(), 1);

    let write = confirm_write(&charge, t0() + Duration::seconds(5));
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    assert!(listed(ChargeStatus::Pending).await.is_empty());
    assert_eq!(
        listed(ChargeStatus::Confirmed).await,
        vec![charge.transaction_id.clone()]
    );
    // Exactly one status entry: the old one was removed, not left behind.
    assert_eq!(keys_of(&store, crate::CHARGES_BY_STATUS).len(), 1);
}

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

#[tokio::test]
async fn the_outbox_returns_unacked_messages_oldest_first_until_acked() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    let mut written = Vec::new();
    // Confirmed in reverse creation order, so the poll order is the messages' time order.
    for i in (0..3).rev() {
        let charge = charge(&account);
        stored_charge(&store, &charge).await;
        let write = confirm_write(&charge, t0() + Duration::seconds(i));
        assert_eq!(
            store.confirm_charge(&write).await,
            Ok(WriteOutcome::Applied)
        );
        written.insert(0, write.outbox[0].clone());
    }

    assert_eq!(store.poll_outbox(2).await, Ok(written[..2].to_vec()));
    assert_eq!(
        store.poll_outbox(10).await,
        Ok(written.clone()),
        "polled but unacked messages come back"
    );
    store
        .ack_outbox(&[written[0].id.clone(), "unknown".to_owned()])
        .await
        .expect("ack");
    assert_eq!(store.poll_outbox(10).await, Ok(written[1..].to_vec()));
    store
        .ack_outbox(&[written[0].id.clone()])
        .await
        .expect("acking twice is harmless");
    assert_eq!(store.poll_outbox(0).await, Ok(Vec::new()));
    assert_eq!(keys_of(&store, OUTBOX_BY_TIME).len(), 2);
}

#[tokio::test]
async fn a_corrupt_balance_row_is_an_error_and_the_command_writes_nothing() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    {
        let txn = store.db.begin_write().expect("write");
        let mut balances = txn.open_table(BALANCES).expect("table");
        balances
            .insert(account.as_str(), b"not json".as_slice())
            .expect("insert");
        drop(balances);
        txn.commit().expect("commit");
    }
    let write = confirm_write(&charge, t0());
    assert!(matches!(
        store.confirm_charge(&write).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.get_balance(&account).await,
        Err(StoreError::Corrupt(_))
    ));
    let stored = store.get_charge(&charge.transaction_id).await.expect("get");
    assert_eq!(stored.map(|c| c.status), Some(ChargeStatus::Pending));
    assert_eq!(store.list_movements(&account).await, Ok(Vec::new()));
    assert_eq!(store.poll_outbox(10).await, Ok(Vec::new()));
    let txn = store.db.begin_read().expect("read");
    assert_eq!(
        txn.open_table(END_TO_END_IDS)
            .expect("table")
            .len()
            .expect("len"),
        0
    );
}
