//! `SplitStore`: booking a confirmed charge's splits writes its split entries, the immediate
//! payouts, the booking movement and the payout requests in one write, once; nothing is booked
//! for a charge that is not CONFIRMED, nor under an account that does not own the charge.

use std::collections::BTreeSet;

use chrono::Duration;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::{Balance, Bucket, MovementKind};
use pixgw_domain::pix::money::Money;
use pixgw_domain::split::entry::SplitState;
use pixgw_domain::split::ports::BookSplits;

use pixgw_domain::pix::ids::AccountId;

use super::{
    Booked, Subject, assert_ledger, assert_unchanged, balance, balance_of, book_write,
    booked_charge, confirm_outbox, confirmed_charge, ids_of, merchant, pending_charge, snapshot,
    transfer,
};

pub async fn book_splits_creates_entries_payouts_and_movement(subject: Subject) {
    let store = &subject.store;
    let Booked { confirmed, book } = booked_charge(store).await;
    let charge = &confirmed.charge;

    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(book.splits.clone())
    );
    assert_eq!(
        book.splits.iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![SplitState::Processing, SplitState::Scheduled]
    );
    for payout in &book.payouts {
        assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    }
    assert_eq!(
        balance(store, &charge.account_id).await,
        balance_of(0, 5_000, 15_000)
    );
    assert_ledger(
        store,
        &charge.account_id,
        &[&confirmed.confirm.movement, &book.movement],
    )
    .await;
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&confirmed.confirm)
                .iter()
                .chain(&book.outbox),
        ))
        .await;
}

pub async fn repeated_book_splits_conflicts_and_duplicates_nothing(subject: Subject) {
    let store = &subject.store;
    let Booked { confirmed, book } = booked_charge(store).await;
    let charge = &confirmed.charge;
    let payouts_before = store.get_payout(&book.payouts[0].id).await.expect("payout");
    let before = snapshot(&subject, charge, 2).await;
    let at = book.movement.created_at + Duration::seconds(1);
    let other_movement = |reference: &str| {
        transfer(
            MovementKind::SplitsBooked,
            &charge.account_id,
            reference,
            merchant(&charge.account_id, Bucket::Incoming),
            merchant(&charge.account_id, Bucket::Available),
            Money::from_cents(1),
            at,
        )
    };

    // The exact redelivery.
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));
    // The same split entries under a fresh movement id, without payouts.
    let same_splits = BookSplits {
        payouts: Vec::new(),
        movement: other_movement("again-1"),
        ..book.clone()
    };
    assert_eq!(
        store.book_splits(&same_splits).await,
        Ok(WriteOutcome::Conflict)
    );
    // The same payout with a split entry of another index and a fresh movement id.
    let mut extra = book.splits[1].clone();
    extra.index = 7;
    let same_payout = BookSplits {
        splits: vec![extra],
        movement: other_movement("again-2"),
        ..book.clone()
    };
    assert_eq!(
        store.book_splits(&same_payout).await,
        Ok(WriteOutcome::Conflict)
    );
    // Fresh split entries and no payouts, under the movement already booked.
    let mut fresh = book.splits[1].clone();
    fresh.index = 8;
    let same_movement = BookSplits {
        splits: vec![fresh],
        payouts: Vec::new(),
        ..book.clone()
    };
    assert_eq!(
        store.book_splits(&same_movement).await,
        Ok(WriteOutcome::Conflict)
    );

    assert_unchanged(
        &before,
        &snapshot(&subject, charge, 2).await,
        "repeated booking",
    );
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&confirmed.confirm)
                .iter()
                .chain(&book.outbox),
        ))
        .await;
    assert_eq!(
        store.get_payout(&book.payouts[0].id).await,
        Ok(payouts_before)
    );
}

pub async fn book_splits_before_confirm_conflicts(subject: Subject) {
    let store = &subject.store;
    let charge = pending_charge(store).await;
    let book = book_write(&charge, charge.created_at + Duration::seconds(1));
    let before = snapshot(&subject, &charge, 0).await;

    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));

    assert_unchanged(
        &before,
        &snapshot(&subject, &charge, 0).await,
        "booking a PENDING charge",
    );
    subject.assert_outbox(BTreeSet::new()).await;
    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(Vec::new())
    );
    assert_eq!(store.get_payout(&book.payouts[0].id).await, Ok(None));
    assert_eq!(balance(store, &charge.account_id).await, Balance::default());
}

/// A booking that names another account than the charge's is refused: the money of one
/// merchant's charge can never be booked into another's ledger.
pub async fn book_splits_under_another_account_conflicts(subject: Subject) {
    let store = &subject.store;
    let confirmed = confirmed_charge(store).await;
    let charge = &confirmed.charge;
    let mut foreign = book_write(charge, charge.created_at + Duration::seconds(2));
    let other = AccountId::generate();
    foreign.account_id = other.clone();
    let before = snapshot(&subject, charge, 1).await;

    assert_eq!(
        store.book_splits(&foreign).await,
        Ok(WriteOutcome::Conflict)
    );

    assert_unchanged(
        &before,
        &snapshot(&subject, charge, 1).await,
        "booking under another account",
    );
    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(Vec::new())
    );
    assert_eq!(store.get_payout(&foreign.payouts[0].id).await, Ok(None));
    assert_eq!(balance(store, &other).await, Balance::default());
}
