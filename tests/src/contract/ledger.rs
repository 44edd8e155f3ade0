//! `LedgerStore`: the balance is always the sum of the account's movements; the statement's
//! pages walk the movements oldest first, from a cursor (inclusive or not), within `[from, to)`,
//! telling exactly whether more follow; a movement's existence can be asked by id.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use pixgw_domain::charge::Charge;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::ports::{MovementCursor, MovementPage, MovementQuery};
use pixgw_domain::ledger::{Balance, Movement, MovementKind};
use pixgw_domain::pix::ids::AccountId;

use super::{
    PayoutEnd, Subject, assert_ledger, balance, balance_of, base_time, book_write, booked_charge,
    charge_with_splits, confirm_write, insert, movements, payment, settle_write,
};

pub async fn balance_always_equals_the_sum_of_movements(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let charges: Vec<Charge> = (0..3)
        .map(|i| charge_with_splits(&account, base_time() + Duration::milliseconds(i)))
        .collect();
    let mut writes = Vec::new();
    for charge in &charges {
        store.insert_charge(charge, None).await.expect("insert");
        let at = charge.created_at + Duration::seconds(1);
        let confirm = confirm_write(charge, payment(at), at);
        assert_eq!(
            store.confirm_charge(&confirm).await,
            Ok(WriteOutcome::Applied)
        );
        let book = book_write(charge, at + Duration::seconds(1));
        assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
        writes.push((confirm, book));
    }
    let (payout0, split0) = (
        writes[0].1.payouts[0].clone(),
        writes[0].1.splits[0].clone(),
    );
    let (payout1, split1) = (
        writes[1].1.payouts[0].clone(),
        writes[1].1.splits[0].clone(),
    );
    let later = base_time() + Duration::seconds(5);
    let paid = settle_write(&payout0, &[split0], PayoutEnd::Paid, later);
    let failed = settle_write(
        &payout1,
        &[split1],
        PayoutEnd::Failed,
        later + Duration::milliseconds(1),
    );
    assert_eq!(store.settle_payout(&paid).await, Ok(WriteOutcome::Applied));
    assert_eq!(
        store.settle_payout(&failed).await,
        Ok(WriteOutcome::Applied)
    );

    let mut booked: Vec<&Movement> = Vec::new();
    for (confirm, book) in &writes {
        booked.push(&confirm.movement);
        booked.push(&book.movement);
    }
    booked.extend(paid.movement.as_ref());
    booked.extend(failed.movement.as_ref());
    booked.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    // Spread over several ledger shards, so an adapter that shards its ledger (DynamoDB) merges.
    let shards: BTreeSet<u32> = booked.iter().map(|m| m.balance_shard()).collect();
    assert!(shards.len() > 1, "movements on one shard only: {shards:?}");
    assert_ledger(store, &account, &booked).await;
    // 3 × 200.00 in; 140.00 paid out; the failed 140.00 back to available.
    assert_eq!(
        balance(store, &account).await,
        balance_of(0, 3 * 5_000 + 14_000, 3 * 15_000 - 2 * 14_000)
    );
    // Another account's ledger is untouched.
    assert_eq!(
        balance(store, &AccountId::generate()).await,
        Balance::default()
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

pub async fn movements_page_in_order_from_the_cursor(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let t = base_time();
    // Twelve confirmations (one movement each), in pairs sharing a millisecond, confirmed out
    // of order; and another account's, which must never show.
    let at = |i: i64| t + Duration::seconds(i / 2);
    for i in [5, 0, 11, 3, 1, 8, 2, 10, 4, 9, 7, 6] {
        confirm_at(store, &charge_with_splits(&account, t), at(i)).await;
    }
    confirm_at(store, &charge_with_splits(&AccountId::generate(), t), at(3)).await;
    let all = movements(store, &account, 12).await;
    assert_eq!(all.len(), 12);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_eq!(all, sorted, "oldest first, then by id");
    let shards: BTreeSet<u32> = all.iter().map(Movement::balance_shard).collect();
    assert!(shards.len() > 1, "movements on one shard only: {shards:?}");
    let account = &account;
    let page = |query: MovementQuery| async move {
        store
            .movements_page(account, &query)
            .await
            .expect("movements page")
    };

    // Exclusive cursors walk every movement once; `more` is set exactly when another movement
    // follows the page (12 = 5 + 5 + 2).
    let mut walked: Vec<Movement> = Vec::new();
    let mut mores = Vec::new();
    loop {
        let next = page(MovementQuery {
            start: walked.last().map(cursor),
            ..statement(5)
        })
        .await;
        assert!(next.movements.len() <= 5);
        walked.extend(next.movements);
        mores.push(next.more);
        if !next.more {
            break;
        }
    }
    assert_eq!(walked, all);
    assert_eq!(mores, [true, true, false]);
    assert_eq!(
        page(statement(12)).await,
        MovementPage {
            movements: all.clone(),
            more: false
        },
        "a full last page says nothing follows"
    );

    // Inclusive starts at the cursor itself (also inside a shared millisecond); exclusive
    // right after it.
    for from in [0, 3, 6, 11] {
        let inclusive = page(MovementQuery {
            start: Some(cursor(&all[from])),
            inclusive: true,
            ..statement(3)
        })
        .await;
        assert_eq!(inclusive.movements, all[from..(from + 3).min(12)].to_vec());
        assert_eq!(inclusive.more, from + 3 < 12, "inclusive from {from}");
        let exclusive = page(MovementQuery {
            start: Some(cursor(&all[from])),
            ..statement(3)
        })
        .await;
        assert_eq!(
            exclusive.movements,
            all[(from + 1).min(12)..(from + 4).min(12)].to_vec()
        );
        assert_eq!(exclusive.more, from + 4 < 12, "exclusive from {from}");
    }

    // `from` inclusive, `to` exclusive, on createdAt; a start inside narrows, one before `from`
    // does not widen.
    let window = MovementQuery {
        from: Some(at(2)),
        to: Some(at(8)),
        ..statement(100)
    };
    assert_eq!(
        page(window.clone()).await,
        MovementPage {
            movements: all[2..8].to_vec(),
            more: false
        }
    );
    let before_from = MovementQuery {
        start: Some(cursor(&all[0])),
        inclusive: true,
        ..window.clone()
    };
    assert_eq!(page(before_from).await.movements, all[2..8].to_vec());
    let inside = MovementQuery {
        start: Some(cursor(&all[4])),
        limit: 2,
        ..window.clone()
    };
    assert_eq!(
        page(inside).await,
        MovementPage {
            movements: all[5..7].to_vec(),
            more: true
        }
    );

    // Nothing: an empty or inverted range, a start after the last movement.
    for nothing in [
        MovementQuery {
            from: Some(at(8)),
            to: Some(at(8)),
            ..statement(10)
        },
        MovementQuery {
            from: Some(at(8)),
            to: Some(at(2)),
            ..statement(10)
        },
        MovementQuery {
            start: Some(cursor(&all[11])),
            ..statement(10)
        },
    ] {
        assert_eq!(
            page(nothing.clone()).await,
            MovementPage::default(),
            "{nothing:?}"
        );
    }
    // The limit is clamped into 1..=100.
    let clamped = page(statement(0)).await;
    assert_eq!((clamped.movements, clamped.more), (all[..1].to_vec(), true));
}

/// Inserts `charge` and confirms it at `at`: one movement, of the whole amount.
async fn confirm_at(store: &pixgw_api::store::DynStore, charge: &Charge, at: DateTime<Utc>) {
    insert(store, charge).await;
    assert_eq!(
        store
            .confirm_charge(&confirm_write(charge, payment(at), at))
            .await,
        Ok(WriteOutcome::Applied)
    );
}

pub async fn movement_exists_tells_booked_movements_apart(subject: Subject) {
    let store = &subject.store;
    let booked = booked_charge(store).await;
    let id = booked.confirmed.charge.transaction_id.as_str();
    for booked_movement in [&booked.confirmed.confirm.movement, &booked.book.movement] {
        assert_eq!(store.movement_exists(&booked_movement.id).await, Ok(true));
    }
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
    assert_eq!(store.movement_exists("never-booked").await, Ok(false));
}
