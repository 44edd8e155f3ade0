//! Cautelar holds against DynamoDB Local: a held confirmation stores the hold and puts the
//! charge in the hold index (`gsi3`, `HOLD#…` partitions), where `held_charges_due` finds it
//! once `until` has come and not before; a release or a return (the domain's own
//! `hold_ending`) takes it out in the same write; many held charges across the shards come
//! back soonest first and limited; a payment confirmed without a hold is never there.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use common::settlement::{GROSS, book_write, confirm_write, eventually, split_charge};
use common::{T0_MS, at_ms, charge, fresh_store};
use pixgw_domain::charge::ports::{ChargeStore, ChargeTransitions, ConfirmCharge};
use pixgw_domain::charge::{Charge, ChargeHold, ChargeStatus, HoldState};
use pixgw_domain::dispute::DevolutionNature;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::hold::{HoldEnd, hold_ending};
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb};
use pixgw_domain::split::ports::SplitStore;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::keys::{self, Item};

/// The confirmation of `c` at `at_millis` under a hold until `until`: its money goes to `held`
/// and nothing is sent on (what the domain's confirmation writes for a held payment).
fn held_confirm_write(c: &Charge, at_millis: i64, until: DateTime<Utc>) -> ConfirmCharge {
    let mut write = confirm_write(c, at_millis);
    write.movement = Movement::transfer(
        MovementKind::ChargeConfirmed,
        &c.account_id,
        c.transaction_id.as_str(),
        LedgerAccount::PixNetwork,
        LedgerAccount::Merchant(c.account_id.clone(), Bucket::Held),
        c.amount,
        at_ms(at_millis),
    )
    .expect("movement");
    write.outbox = Vec::new();
    write.hold = Some(ChargeHold {
        until,
        state: HoldState::Held,
        settled_at: None,
        return_nature: None,
        return_end_to_end_id: None,
    });
    write
}

async fn confirm(store: &DynamoStore, write: &ConfirmCharge) {
    assert_eq!(
        store.confirm_charge(write).await.expect("confirm"),
        WriteOutcome::Applied
    );
}

/// Inserts `c` and confirms it under a hold until `until`; the charge as stored.
async fn held(store: &DynamoStore, c: &Charge, until: DateTime<Utc>) -> Charge {
    store.insert_charge(c, None).await.expect("insert");
    confirm(store, &held_confirm_write(c, T0_MS + 1_000, until)).await;
    stored(store, &c.transaction_id).await
}

async fn stored(store: &DynamoStore, id: &TransactionId) -> Charge {
    store
        .get_charge(id)
        .await
        .expect("get")
        .expect("charge exists")
}

/// The charge item as stored, keys included.
async fn raw(store: &DynamoStore, id: &TransactionId) -> Item {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::primary_key(
            keys::charge_pk(id),
            keys::SK_CHARGE,
        )))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
        .expect("charge item")
}

fn gsi3(item: &Item) -> (Option<String>, Option<String>) {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    (text(keys::GSI3PK), text(keys::GSI3SK))
}

fn ids(charges: &[Charge]) -> Vec<TransactionId> {
    charges.iter().map(|c| c.transaction_id.clone()).collect()
}

async fn due(store: &DynamoStore, now: DateTime<Utc>, limit: usize) -> Vec<TransactionId> {
    ids(&store.held_charges_due(now, limit).await.expect("due"))
}

/// Waits until `held_charges_due(now, limit)` is exactly `expected` (the index is eventually
/// consistent) and asserts it.
async fn assert_due(
    store: &DynamoStore,
    now: DateTime<Utc>,
    limit: usize,
    expected: &[TransactionId],
) {
    let got = eventually(|| due(store, now, limit), |got| got == expected).await;
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_held_confirmation_stores_the_hold_and_is_due_at_its_until_not_before() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = split_charge(&account, T0_MS);
    let until = at_ms(T0_MS) + Duration::hours(24);
    let charge = held(&store, &c, until).await;

    assert_eq!(charge.status, ChargeStatus::Confirmed);
    assert!(charge.is_held());
    let hold = charge.hold.clone().expect("hold stored");
    assert_eq!(hold.until, until);
    assert_eq!(hold.state, HoldState::Held);
    assert!(charge.payment.is_some());
    assert_eq!(charge.refund_revision, 0);

    // In the hold index, out of the expiry index.
    let id = &c.transaction_id;
    assert_eq!(
        gsi3(&raw(&store, id).await),
        (
            Some(keys::hold_pk(id)),
            Some(keys::hold_sort_key(until.timestamp_millis(), id))
        )
    );
    assert_due(&store, until, 10, std::slice::from_ref(id)).await;
    assert_due(
        &store,
        until + Duration::days(3),
        10,
        std::slice::from_ref(id),
    )
    .await;
    // A millisecond before `until` it is not due; nothing is due for a limit of 0.
    assert!(
        due(&store, until - Duration::milliseconds(1), 10)
            .await
            .is_empty()
    );
    assert!(due(&store, until, 0).await.is_empty());
    assert!(
        store
            .expired_pending_charges(until + Duration::days(3), 10)
            .await
            .expect("expired")
            .is_empty()
    );

    // Its money is held, and its splits cannot be booked while it is (CONFIRMED as it is).
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.held.cents(), GROSS);
    assert_eq!(balance.incoming.cents(), 0);
    assert_eq!(
        store
            .book_splits(&book_write(&c, T0_MS + 2_000))
            .await
            .expect("book"),
        WriteOutcome::Conflict
    );
}

#[tokio::test]
async fn a_release_leaves_the_hold_index_and_lets_the_splits_be_booked() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = split_charge(&account, T0_MS);
    let until = at_ms(T0_MS) + Duration::hours(1);
    let charge = held(&store, &c, until).await;
    let id = &c.transaction_id;
    assert_due(&store, until, 10, std::slice::from_ref(id)).await;

    let now = until + Duration::seconds(5);
    let release = hold_ending(&charge, HoldEnd::Released, now)
        .expect("release")
        .expect("held, so there is a write");
    assert_eq!(
        store.transition_charge(&release).await.expect("release"),
        WriteOutcome::Applied
    );
    let released = stored(&store, id).await;
    assert_eq!(released.status, ChargeStatus::Confirmed);
    assert_eq!(released.refund_revision, 1);
    let hold = released.hold.clone().expect("hold kept");
    assert_eq!(hold.state, HoldState::Released);
    assert_eq!(hold.settled_at, Some(now));
    assert_eq!(hold.until, until);
    assert_eq!(released.payment, charge.payment);
    assert_eq!(gsi3(&raw(&store, id).await), (None, None));
    assert_due(&store, now + Duration::days(3), 10, &[]).await;

    // The same release again (a redelivery planned from the held read) changes nothing.
    assert_eq!(
        store.transition_charge(&release).await.expect("again"),
        WriteOutcome::Conflict
    );
    // And there is nothing left to end.
    assert_eq!(hold_ending(&released, HoldEnd::Released, now), Ok(None));

    // The money moved held → incoming, and the booking that was refused now applies.
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.held.cents(), 0);
    assert_eq!(balance.incoming.cents(), GROSS);
    assert_eq!(
        store
            .book_splits(&book_write(&c, now.timestamp_millis() + 1_000))
            .await
            .expect("book"),
        WriteOutcome::Applied
    );
}

#[tokio::test]
async fn a_return_refunds_the_charge_and_leaves_the_hold_index() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let c = charge(&account, "returned", T0_MS);
    let until = at_ms(T0_MS) + Duration::hours(72);
    let charge = held(&store, &c, until).await;
    let id = &c.transaction_id;
    assert_due(&store, until, 10, std::slice::from_ref(id)).await;

    // Returned before `until`: the provider's notice, not the sweeper.
    let now = at_ms(T0_MS) + Duration::hours(2);
    let ispb = Ispb::parse("00416968").expect("ispb");
    let e2e = EndToEndId::generate(EndToEndKind::Devolution, &ispb, now);
    let end = HoldEnd::Returned {
        nature: DevolutionNature::MedFraud,
        end_to_end_id: Some(e2e.clone()),
    };
    let write = hold_ending(&charge, end, now)
        .expect("return")
        .expect("held, so there is a write");
    assert_eq!(
        store.transition_charge(&write).await.expect("return"),
        WriteOutcome::Applied
    );
    let returned = stored(&store, id).await;
    assert_eq!(returned.status, ChargeStatus::Refunded);
    assert_eq!(returned.refund_revision, 1);
    let hold = returned.hold.clone().expect("hold kept");
    assert_eq!(hold.state, HoldState::Returned);
    assert_eq!(hold.return_nature, Some(DevolutionNature::MedFraud));
    assert_eq!(hold.return_end_to_end_id, Some(e2e));
    assert_eq!(hold.settled_at, Some(now));
    assert_eq!(gsi3(&raw(&store, id).await), (None, None));
    assert_due(&store, until + Duration::days(3), 10, &[]).await;

    // The release that raced it finds the hold gone.
    let release = hold_ending(&charge, HoldEnd::Released, until)
        .expect("release")
        .expect("planned from the held read");
    assert_eq!(
        store.transition_charge(&release).await.expect("release"),
        WriteOutcome::Conflict
    );
    let balance = store.get_balance(&account).await.expect("balance");
    assert_eq!(balance.held.cents(), 0);
    assert_eq!(balance.incoming.cents(), 0);
}

#[tokio::test]
async fn many_held_charges_come_back_soonest_first_across_shards_and_limited() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let base = at_ms(T0_MS) + Duration::hours(1);
    // 40 charges, ends one second apart in a shuffled order, two sharing an instant (ordered
    // by transaction id), and 5 more that end much later.
    let mut charges = Vec::new();
    for i in 0..45_i64 {
        let c = charge(&account, &format!("held-{i}"), T0_MS + i);
        let until = match i {
            0..40 => base + Duration::seconds((i * 17) % 40),
            40 => base + Duration::seconds(7),
            _ => base + Duration::hours(10 + i),
        };
        charges.push((c, until));
    }
    let shards: HashSet<String> = charges
        .iter()
        .map(|(c, _)| keys::hold_pk(&c.transaction_id))
        .collect();
    assert!(shards.len() > 4, "spread over {} shards only", shards.len());
    for (c, until) in &charges {
        held(&store, c, *until).await;
    }
    // And one charge confirmed without a hold, one left PENDING.
    let plain = charge(&account, "plain", T0_MS);
    store.insert_charge(&plain, None).await.expect("insert");
    confirm(&store, &confirm_write(&plain, T0_MS + 1_000)).await;
    let pending = charge(&account, "pending", T0_MS);
    store.insert_charge(&pending, None).await.expect("insert");

    let now = base + Duration::seconds(39);
    let mut expected: Vec<(DateTime<Utc>, TransactionId)> = charges
        .iter()
        .filter(|(_, until)| *until <= now)
        .map(|(c, until)| (*until, c.transaction_id.clone()))
        .collect();
    expected.sort();
    let expected: Vec<TransactionId> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(expected.len(), 41);

    assert_due(&store, now, 100, &expected).await;
    // Limited: the soonest ones, whichever shards they are in.
    assert_eq!(due(&store, now, 5).await, expected[..5].to_vec());
    assert_eq!(due(&store, now, 1).await, expected[..1].to_vec());
    assert_eq!(due(&store, now, 41).await, expected);
    // Exactly at an `until` (the two that share base + 7 s included).
    let at_seven = base + Duration::seconds(7);
    let through_seven: Vec<TransactionId> = charges
        .iter()
        .filter(|(_, until)| *until <= at_seven)
        .map(|(c, _)| c.transaction_id.clone())
        .collect();
    assert_eq!(through_seven.len(), 9);
    assert_eq!(
        due(&store, at_seven, 100).await,
        expected[..9].to_vec(),
        "due at base + 7 s"
    );
    // Every charge returned is HELD and due.
    for c in store.held_charges_due(now, 100).await.expect("due") {
        assert!(c.is_held());
        assert!(c.hold.as_ref().is_some_and(|h| h.until <= now));
    }
    // Much later, the five late ones too, still soonest first and never the others.
    let all = due(&store, base + Duration::days(3), 100).await;
    assert_eq!(all.len(), 45);
    assert_eq!(all[..41], expected[..]);
    assert!(!all.contains(&plain.transaction_id) && !all.contains(&pending.transaction_id));

    // Releasing the first three takes exactly them out.
    for id in &expected[..3] {
        let charge = stored(&store, id).await;
        let release = hold_ending(&charge, HoldEnd::Released, now)
            .expect("release")
            .expect("held");
        assert_eq!(
            store.transition_charge(&release).await.expect("release"),
            WriteOutcome::Applied
        );
    }
    assert_due(&store, now, 5, &expected[3..8]).await;
}

#[tokio::test]
async fn a_payment_confirmed_without_a_hold_is_never_due() {
    let store = fresh_store().await;
    let account = AccountId::generate();
    let plain = charge(&account, "plain", T0_MS);
    store.insert_charge(&plain, None).await.expect("insert");
    confirm(&store, &confirm_write(&plain, T0_MS + 1_000)).await;
    // Paid after the sweeper expired it: still no hold, still not in the index.
    let late = charge(&account, "late", T0_MS);
    store.insert_charge(&late, None).await.expect("insert");
    let expired = pixgw_domain::charge::ports::ChargeTransition {
        charge: Charge {
            status: ChargeStatus::Expired,
            ..late.clone()
        },
        from: ChargeStatus::Pending,
        from_revision: 0,
        movement: None,
        events: vec![],
        outbox: vec![],
    };
    assert_eq!(
        store.transition_charge(&expired).await.expect("expire"),
        WriteOutcome::Applied
    );
    confirm(&store, &confirm_write(&late, T0_MS + 7_200_000)).await;
    // A held one as the witness that the index has caught up.
    let witness = charge(&account, "witness", T0_MS);
    let until = at_ms(T0_MS) + Duration::hours(1);
    held(&store, &witness, until).await;

    let far = at_ms(T0_MS) + Duration::days(365);
    assert_due(
        &store,
        far,
        100,
        std::slice::from_ref(&witness.transaction_id),
    )
    .await;
    for c in [&plain, &late] {
        let charge = stored(&store, &c.transaction_id).await;
        assert_eq!(charge.status, ChargeStatus::Confirmed);
        assert_eq!(charge.hold, None);
        let item = raw(&store, &c.transaction_id).await;
        assert_eq!(gsi3(&item), (None, None));
        assert!(!item.contains_key("hold"));
        assert_eq!(
            hold_ending(&charge, HoldEnd::Released, far),
            Ok(None),
            "nothing to end"
        );
    }
}
