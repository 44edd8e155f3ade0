//! Embedded specifics of charges: the status and expiry indexes follow every write (a file
//! written before the expiry index gets it filled), a confirmation and its outbox survive a
//! reopen, transitions are conditioned on the stored status, and listing bounds.

use chrono::Duration;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::OutboxFeed;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

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
    assert_eq!(keys_of(&store, CHARGES_BY_STATUS).len(), 1);
}

#[tokio::test]
async fn rewriting_a_charge_moves_its_status_index_entry() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account_id = AccountId::generate();
    let pending = charge_at(&account_id, "ext-1", t0());
    store.insert_charge(&pending, None).await.expect("insert");

    let mut confirmed = pending.clone();
    confirmed.status = ChargeStatus::Confirmed;
    {
        let txn = store.db.begin_write().expect("write");
        put_charge(
            &txn,
            &ChargeRecord::from(&confirmed),
            Some(&ChargeRecord::from(&pending)),
        )
        .expect("put");
        txn.commit().expect("commit");
    }

    let by_status = |status| ChargeQuery {
        status: Some(status),
        ..query(10)
    };
    let listed = |status| {
        let store = store.clone();
        let account_id = account_id.clone();
        async move {
            store
                .list_charges(&account_id, &by_status(status))
                .await
                .expect("list")
                .items
        }
    };
    assert_eq!(listed(ChargeStatus::Pending).await, Vec::new());
    assert_eq!(
        listed(ChargeStatus::Confirmed).await,
        vec![confirmed.clone()]
    );
    assert_eq!(
        store
            .list_charges(&account_id, &query(10))
            .await
            .expect("list")
            .items,
        vec![confirmed]
    );
    assert_eq!(count(&store, CHARGES_BY_STATUS), 1);
    assert_eq!(count(&store, CHARGES_BY_ACCOUNT), 1);
}

fn expire(charge: &Charge, now: DateTime<Utc>) -> ChargeTransition {
    let event = AccountEvent::new(
        &charge.account_id,
        EventType::CashinExpired,
        charge.transaction_id.as_str(),
        now,
        serde_json::json!({"transactionId": charge.transaction_id.as_str()}),
    );
    ChargeTransition {
        charge: Charge {
            status: ChargeStatus::Expired,
            ..charge.clone()
        },
        from: ChargeStatus::Pending,
        from_revision: 0,
        movement: None,
        events: vec![event],
        outbox: Vec::new(),
    }
}

fn expiring(account: &AccountId, expires_in: i64) -> Charge {
    let charge = charge_with(account, Vec::new());
    Charge {
        expires_at: t0() + Duration::seconds(expires_in),
        ..charge
    }
}

#[tokio::test]
async fn the_expiry_index_holds_only_pending_charges_soonest_first() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let late = expiring(&account, 300);
    let soon = expiring(&account, 100);
    let middle = expiring(&account, 200);
    let confirmed_one = expiring(&account, 150);
    for charge in [&late, &soon, &middle, &confirmed_one] {
        stored_charge(&store, charge).await;
    }
    let ids = |charges: Vec<Charge>| -> Vec<TransactionId> {
        charges.into_iter().map(|c| c.transaction_id).collect()
    };
    // Due at or before `now`, inclusive.
    let due = store
        .expired_pending_charges(at(200), 10)
        .await
        .expect("due");
    assert_eq!(
        ids(due),
        vec![
            soon.transaction_id.clone(),
            confirmed_one.transaction_id.clone(),
            middle.transaction_id.clone()
        ]
    );
    let due = store
        .expired_pending_charges(at(400), 2)
        .await
        .expect("due");
    assert_eq!(
        ids(due),
        vec![
            soon.transaction_id.clone(),
            confirmed_one.transaction_id.clone()
        ]
    );
    assert_eq!(
        store.expired_pending_charges(at(99), 10).await,
        Ok(Vec::new())
    );

    // Confirmed and expired charges leave the index.
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&confirmed_one, at(10)))
            .await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.transition_charge(&expire(&soon, at(100))).await,
        Ok(WriteOutcome::Applied)
    );
    let due = store
        .expired_pending_charges(at(400), 10)
        .await
        .expect("due");
    assert_eq!(
        ids(due),
        vec![middle.transaction_id.clone(), late.transaction_id.clone()]
    );
    assert_eq!(keys_of(&store, CHARGES_BY_EXPIRY).len(), 2);
}

#[tokio::test]
async fn confirming_an_expired_charge_applies() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = charge(&account);
    stored_charge(&store, &charge).await;
    assert_eq!(
        store.transition_charge(&expire(&charge, at(3_600))).await,
        Ok(WriteOutcome::Applied)
    );
    let write = confirm_write(&charge, at(3_700));
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let confirmed = stored(&store, &charge).await;
    assert_eq!(confirmed.status, ChargeStatus::Confirmed);
    assert!(confirmed.paid_after_expiration());
    assert_eq!(balance(&store, &account).await.incoming, charge.amount);
    assert!(keys_of(&store, CHARGES_BY_EXPIRY).is_empty());
    // Once CONFIRMED, a second report of a payment is refused as before.
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&charge, at(3_800)))
            .await,
        Ok(WriteOutcome::Conflict)
    );
}

#[tokio::test]
async fn opening_a_file_without_the_expiry_index_fills_it() {
    let dir = TempDir::new().expect("temp dir");
    let account = AccountId::generate();
    let pending = expiring(&account, 10);
    let confirmed_one = expiring(&account, 20);
    {
        let store = EmbeddedStore::open(dir.path()).expect("open");
        stored_charge(&store, &pending).await;
        confirmed(&store, &confirmed_one).await;
        // As a file written before the index existed.
        let txn = store.db.begin_write().expect("write");
        txn.delete_table(CHARGES_BY_EXPIRY).expect("delete");
        txn.commit().expect("commit");
    }
    let store = EmbeddedStore::open(dir.path()).expect("reopen");
    let due = store.expired_pending_charges(at(100), 10).await;
    assert_eq!(due, Ok(vec![pending]));
}
