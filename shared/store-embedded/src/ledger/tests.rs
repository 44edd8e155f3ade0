//! Embedded specifics of the ledger: the one balance row (reported as shard 0, a corrupt one
//! refusing the write that would change it), the statement pages and `movement_exists`.

use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::charge::ports::{ChargeStore, ChargeTransitions};
use pixgw_domain::messaging::outbox::OutboxFeed;
use redb::ReadableTableMetadata;
use tempfile::TempDir;

use super::*;
use crate::charge::END_TO_END_IDS;
use crate::test_support::*;

#[tokio::test]
async fn balance_shards_report_the_one_row_as_shard_zero() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    assert_eq!(store.balance_shards(&account).await, Ok(Vec::new()));
    funded(&store, &account).await;
    assert_eq!(
        store.balance_shards(&account).await,
        Ok(vec![(0, balance(&store, &account).await)])
    );
    assert_eq!(
        balance(&store, &account).await.available,
        Money::from_cents(CHARGE_CENTS)
    );
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
