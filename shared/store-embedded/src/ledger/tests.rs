//! Embedded specifics of the ledger: the one balance row (reported as shard 0, a corrupt one
//! refusing the write that would change it), the statement pages and `movement_exists`.

use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::charge::ports::{ChargeStore, ChargeTransitions};
use pixgw_domain::ledger::MovementKind;
use pixgw_domain::ledger::ports::MovementCursor;
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

fn statement(limit: u32) -> MovementQuery {
    MovementQuery {
        from: None,
        to: None,
        start: None,
        inclusive: false,
        limit,
    }
}

fn cursor(m: &Movement) -> MovementCursor {
    MovementCursor {
        created_at: m.created_at,
        movement_id: m.id.clone(),
    }
}

#[tokio::test]
async fn movements_page_in_order_from_the_cursor() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    // Two movements (confirm + splits) at each of these instants.
    for s in [3, 1, 2] {
        funded_at(&store, &account, at(s)).await;
    }
    funded(&store, &AccountId::generate()).await;
    let all = store.list_movements(&account).await.expect("all");
    assert_eq!(all.len(), 6);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_eq!(all, sorted);

    // Paging with exclusive cursors walks every movement once; `more` is set exactly when
    // another movement follows the page (6 = 4 + 2: the second page is the last).
    let mut walked = Vec::new();
    let mut query = statement(4);
    let mut mores = Vec::new();
    loop {
        let page = store.movements_page(&account, &query).await.expect("page");
        mores.push(page.more);
        walked.extend(page.movements);
        if !page.more {
            break;
        }
        query.start = walked.last().map(cursor);
    }
    assert_eq!(walked, all);
    assert_eq!(mores, [true, false]);
    let whole = store.movements_page(&account, &statement(6)).await;
    assert_eq!(
        whole,
        Ok(MovementPage {
            movements: all.clone(),
            more: false
        })
    );

    // Inclusive starts at the cursor itself; exclusive right after it.
    let at_third = MovementQuery {
        start: Some(cursor(&all[2])),
        inclusive: true,
        ..statement(2)
    };
    let page = store.movements_page(&account, &at_third).await;
    assert_eq!(
        page,
        Ok(MovementPage {
            movements: all[2..4].to_vec(),
            more: true
        })
    );
    let after_third = MovementQuery {
        inclusive: false,
        ..at_third
    };
    let page = store.movements_page(&account, &after_third).await;
    assert_eq!(page.map(|p| p.movements), Ok(all[3..5].to_vec()));

    // `from` inclusive, `to` exclusive; a cursor before `from` does not widen the range.
    let window = MovementQuery {
        from: Some(at(2)),
        to: Some(at(3)),
        start: Some(cursor(&all[0])),
        inclusive: true,
        limit: 100,
    };
    let page = store.movements_page(&account, &window).await;
    assert_eq!(
        page,
        Ok(MovementPage {
            movements: all[2..4].to_vec(),
            more: false
        })
    );
    let beyond = MovementQuery {
        start: Some(cursor(&all[5])),
        inclusive: false,
        ..statement(10)
    };
    assert_eq!(
        store.movements_page(&account, &beyond).await,
        Ok(MovementPage::default())
    );
    let inverted = MovementQuery {
        from: Some(at(3)),
        to: Some(at(1)),
        ..statement(10)
    };
    assert_eq!(
        store.movements_page(&account, &inverted).await,
        Ok(MovementPage::default())
    );
    // The limit is clamped to 1..=100.
    let page = store.movements_page(&account, &statement(0)).await;
    assert_eq!(page.map(|p| (p.movements.len(), p.more)), Ok((1, true)));
}

#[tokio::test]
async fn movement_exists_reads_the_movements_table() {
    let (_dir, store) = open();
    let account = AccountId::generate();
    let charge = funded(&store, &account).await;
    let id = charge.transaction_id.as_str();
    assert_eq!(
        store
            .movement_exists(&MovementKind::ChargeConfirmed.movement_id(id))
            .await,
        Ok(true)
    );
    assert_eq!(
        store
            .movement_exists(&MovementKind::RefundRequested.movement_id(id))
            .await,
        Ok(false)
    );
}
