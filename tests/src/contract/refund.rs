//! `RefundStore`: a refund request is one write that records the refund on the charge (at the
//! status and refund revision it was read with), reduces the SCHEDULED splits it reduces (each
//! with the `refunded` it was read with), grows the recipients' debts, takes the money out of
//! the merchant's buckets (the reduced splits' reserve plus a draw of `available`), queues the
//! provider call and completes the idempotency claim; refused, writing nothing, when the plan
//! is stale. Also the two writes a refund races: a refund's settlement (a charge transition at
//! a stale revision) and the payout scheduler attaching a split a refund reduced.

use chrono::{DateTime, Duration, Utc};
use pixgw_api::store::DynStore;
use pixgw_domain::charge::ports::ChargeTransition;
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::refund::{refund_failure, refund_request};
use pixgw_domain::idempotency::{ClaimOutcome, IdempotencyClaim};
use pixgw_domain::ledger::ports::MoneyOutOutcome;
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::payout::PayoutId;
use pixgw_domain::payout::runs::{AttachSplits, PayoutHeader};
use pixgw_domain::pix::ids::{AccountId, RefundId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::ForgivenClaim;
use pixgw_domain::recipient::ports::WriteOffDebts;
use pixgw_domain::refund::ports::{ReducedSplit, RequestRefund};
use pixgw_domain::refund::{ChargeRefund, RefundLiability, RefundState};
use pixgw_domain::split::SplitValue;
use pixgw_domain::split::entry::{SplitEntry, SplitState};

use super::{
    Booked, Subject, balance, balance_of, base_time, book_confirmed, charge_with_splits, claim,
    claimed, completion, confirm, eventually, insert, movements, response, stored_charge,
};

// =============================================================================================
// Builders

/// The request of a refund of `cents` of `charge` (as read) under `liability` at `at`,
/// built by the domain's own [`refund_request`] over `entries` (the charge's splits as read)
/// and the account's shards as they are now.
async fn refund_write(
    store: &DynStore,
    charge: &Charge,
    entries: &[SplitEntry],
    cents: i64,
    liability: RefundLiability,
    at: DateTime<Utc>,
) -> RequestRefund {
    let shards = store
        .balance_shards(&charge.account_id)
        .await
        .expect("shards");
    refund_on(charge, entries, cents, liability, at, &shards)
}

/// [`refund_write`] drawing on `shards` as given (a read that may be stale).
fn refund_on(
    charge: &Charge,
    entries: &[SplitEntry],
    cents: i64,
    liability: RefundLiability,
    at: DateTime<Utc>,
    shards: &[(u32, Balance)],
) -> RequestRefund {
    let refund = ChargeRefund {
        id: RefundId::generate(),
        amount: Money::from_cents(cents),
        liability,
        split_parts: Vec::new(),
        state: RefundState::Processing,
        reason: "CUSTOMER_REQUEST".to_owned(),
        description: "devolução".to_owned(),
        end_to_end_id: None,
        provider_refund_id: None,
        failure_reason: None,
        requested_at: at,
        settled_at: None,
        idempotency_key: None,
    };
    refund_request(charge, entries, refund, shards, at).expect("a refund the account can pay")
}

/// A charge of R$ 100.00 with an immediate R$ 10.00 split and a scheduled R$ 5.00 one: once
/// booked, `available` holds R$ 85.00.
fn small_charge(account: &AccountId, at: DateTime<Utc>) -> Charge {
    let mut charge = charge_with_splits(account, at);
    for (split, cents) in charge.splits.iter_mut().zip([1_000, 500]) {
        split.rule.value = SplitValue::Fixed(Money::from_cents(cents));
        split.amount = Money::from_cents(cents);
    }
    charge.amount = Money::from_cents(10_000);
    charge.remainder = Money::from_cents(8_500);
    charge
}

/// [`small_charge`] confirmed and booked: the charge and its splits as stored, and when.
async fn booked_small(
    store: &DynStore,
    account: &AccountId,
) -> (Charge, Vec<SplitEntry>, DateTime<Utc>) {
    let charge = small_charge(account, base_time());
    insert(store, &charge).await;
    let Booked { confirmed, book } = book_confirmed(store, confirm(store, charge).await).await;
    let charge = stored(store, &confirmed.charge).await;
    let at = book.movement.created_at + Duration::seconds(1);
    let entries = splits(store, &charge).await;
    (charge, entries, at)
}

/// Another charge of the account, booked: R$ 50.00 more in `available`.
async fn funded(store: &DynStore, account: &AccountId) {
    super::booked_charge_of(store, account, base_time()).await;
}

/// [`booked_small`] plus a funding charge, then 50.00 refunded PROPORTIONAL (the immediate
/// split owes 5.00, the scheduled one gives up 2.50): the balance before the refund, the
/// refund's write as applied, and when.
async fn proportionally_refunded(
    store: &DynStore,
    account: &AccountId,
) -> (Balance, RequestRefund, DateTime<Utc>) {
    let (charge, entries, at) = booked_small(store, account).await;
    funded(store, account).await;
    let before = balance(store, account).await;
    let write = refund_write(
        store,
        &charge,
        &entries,
        5_000,
        RefundLiability::Proportional,
        at,
    )
    .await;
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    (before, write, at)
}

async fn stored(store: &DynStore, charge: &Charge) -> Charge {
    stored_charge(store, &charge.transaction_id)
        .await
        .expect("charge stored")
}

async fn splits(store: &DynStore, charge: &Charge) -> Vec<SplitEntry> {
    let mut splits = store
        .get_splits(&charge.transaction_id)
        .await
        .expect("splits");
    splits.sort_by_key(|s| s.index);
    splits
}

/// The account's SCHEDULED splits of `charge`, as the payout scheduler reads them (an index).
async fn scheduled_of(store: &DynStore, charge: &Charge, n: usize) -> Vec<SplitEntry> {
    let cutoff = base_time() + Duration::days(365);
    eventually(
        || async move {
            let (page, _) = store
                .scheduled_splits_page(&charge.account_id, cutoff, None, 100)
                .await
                .expect("scheduled splits");
            page.into_iter()
                .filter(|s| s.transaction_id == charge.transaction_id)
                .collect::<Vec<_>>()
        },
        |splits| splits.len() == n,
    )
    .await
}

// =============================================================================================
// Cases

/// A charge not paid cannot be refunded: the write requires the status it was read with.
pub async fn a_refund_of_an_unpaid_charge_conflicts(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    funded(store, &account).await;
    let pending = small_charge(&account, base_time());
    insert(store, &pending).await;
    let as_if_confirmed = Charge {
        status: ChargeStatus::Confirmed,
        ..pending.clone()
    };
    let write = refund_write(
        store,
        &as_if_confirmed,
        &[],
        1_000,
        RefundLiability::Merchant,
        base_time(),
    )
    .await;
    assert!(!write.draw.parts.is_empty(), "a draw the account can pay");
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(stored(store, &pending).await, pending);
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));
}

/// The last refund cancels the SCHEDULED split (its reserve pays its part) and draws the rest;
/// a stale draw is BalanceChanged and a reduction of a split in a payout is a Conflict, each
/// writing nothing.
pub async fn a_full_refund_cancels_scheduled_splits_and_draws_the_rest(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (charge, entries, at) = booked_small(store, &account).await;
    assert_eq!(
        (entries[0].state, entries[1].state),
        (SplitState::Processing, SplitState::Scheduled)
    );
    assert_eq!(balance(store, &account).await, balance_of(0, 8_500, 1_500));

    // R$ 85.00 available cannot cover the R$ 95.00 the refund needs beyond the split's
    // reserve; a draw planned on a read pretending otherwise (a stale read) is refused.
    let shards = store.balance_shards(&account).await.expect("shards");
    let richest = shards
        .iter()
        .max_by_key(|(_, b)| b.available.cents())
        .map(|(shard, _)| *shard)
        .expect("a shard holds the booking");
    let pretended = [(
        richest,
        Balance {
            available: Money::from_cents(9_500),
            ..Balance::default()
        },
    )];
    let stale = refund_on(
        &charge,
        &entries,
        10_000,
        RefundLiability::Merchant,
        at,
        &pretended,
    );
    assert_eq!(stale.draw.total(), Money::from_cents(9_500));
    assert_eq!(
        store.request_refund(&stale).await,
        Ok(MoneyOutOutcome::BalanceChanged)
    );
    assert_eq!(stored(store, &charge).await, charge);
    assert_eq!(
        scheduled_of(store, &charge, 1).await,
        vec![entries[1].clone()]
    );

    // Funded by another charge; but a write reducing the immediate split (in its payout,
    // PROCESSING) is refused: only a SCHEDULED split can be reduced.
    funded(store, &account).await;
    let before = balance(store, &account).await;
    let write = refund_write(
        store,
        &charge,
        &entries,
        10_000,
        RefundLiability::Merchant,
        at,
    )
    .await;
    let mut with_processing = write.clone();
    with_processing.reduced.push(ReducedSplit {
        entry: SplitEntry {
            state: SplitState::Cancelled,
            ..entries[0].clone()
        },
        refunded_before: Money::ZERO,
    });
    assert_eq!(
        store.request_refund(&with_processing).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(balance(store, &account).await, before);

    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(stored(store, &charge).await, write.charge);
    let now = splits(store, &charge).await;
    assert_eq!(now[0], entries[0], "the split in its payout is untouched");
    assert_eq!(now[1], write.reduced[0].entry);
    assert_eq!(
        (now[1].state, now[1].payable()),
        (SplitState::Cancelled, Money::ZERO)
    );
    assert_eq!(
        scheduled_of(store, &charge, 0).await,
        Vec::new(),
        "the cancelled split left the scheduler's index"
    );
    assert_eq!(
        balance(store, &account).await,
        balance_of(
            0,
            before.available.cents() - 9_500,
            before.reserved_for_splits.cents() - 500
        )
    );
    let listed = movements(store, &account, 5).await;
    assert!(listed.contains(&write.movement));
    super::assert_balanced(store, &account, &listed).await;
}

/// Two refunds planned on the same read: the second's revision is stale once the first is
/// written, and it writes nothing (Σ refunds ≤ amount under concurrency rests on this).
pub async fn a_refund_at_a_stale_revision_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (charge, entries, at) = booked_small(store, &account).await;
    let first = refund_write(
        store,
        &charge,
        &entries,
        1_000,
        RefundLiability::Merchant,
        at,
    )
    .await;
    let second = refund_write(
        store,
        &charge,
        &entries,
        1_000,
        RefundLiability::Merchant,
        at,
    )
    .await;
    assert_eq!(
        store.request_refund(&first).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let before = balance(store, &account).await;
    assert_eq!(
        store.request_refund(&second).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(stored(store, &charge).await, first.charge);
    assert_eq!(balance(store, &account).await, before);
    assert_eq!(store.movement_exists(&second.movement.id).await, Ok(false));

    // Planned again on what is stored: accepted, the revision now 2.
    let again = refund_write(
        store,
        &first.charge,
        &entries,
        1_000,
        RefundLiability::Merchant,
        at,
    )
    .await;
    assert_eq!(
        store.request_refund(&again).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let now = stored(store, &charge).await;
    assert_eq!((now.refund_revision, now.refunds.len()), (2, 2));
    assert_eq!(now.status, ChargeStatus::RefundProcessing);
}

/// PROPORTIONAL: the SCHEDULED split is reduced by its part, the split in its payout becomes
/// its recipient's debt (created by the first refund, grown by the next), `recipientDebts`
/// holds the sum; a reduction planned on a stale `refunded` writes nothing.
pub async fn a_proportional_refund_reduces_splits_and_records_debts(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (charge, entries, at) = booked_small(store, &account).await;
    funded(store, &account).await;
    let before = balance(store, &account).await;

    // 50.00 of 100.00: the immediate 10.00 split owes 5.00, the scheduled 5.00 one gives up
    // 2.50; `available` pays 47.50 (42.50 the account's part, 5.00 fronted).
    let write = refund_write(
        store,
        &charge,
        &entries,
        5_000,
        RefundLiability::Proportional,
        at,
    )
    .await;
    assert_eq!(write.debts.len(), 1);
    let recipient_id = write.debts[0].recipient_id.clone();
    let booked = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("created by the booking");
    assert_eq!((booked.debt, booked.version), (Money::ZERO, 0));
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let now = splits(store, &charge).await;
    assert_eq!(now[1].state, SplitState::Scheduled);
    assert_eq!(now[1].refunded, Money::from_cents(250));
    assert_eq!(now[1].payable(), Money::from_cents(250));
    assert_eq!(scheduled_of(store, &charge, 1).await, vec![now[1].clone()]);
    let recipient = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("recipient");
    assert_eq!(recipient.debt, Money::from_cents(500));
    assert_eq!(recipient.recipient, entries[0].recipient());
    assert_eq!(recipient.account_id, account);
    let after = balance(store, &account).await;
    assert_eq!(after.available.cents(), before.available.cents() - 4_750);
    assert_eq!(
        after.reserved_for_splits.cents(),
        before.reserved_for_splits.cents() - 250
    );
    assert_eq!(after.recipient_debts.cents(), 500);

    // The next refund, planned on a stale `refunded` of the reduced split: nothing written.
    let charge = stored(store, &charge).await;
    let next = refund_write(
        store,
        &charge,
        &now,
        2_000,
        RefundLiability::Proportional,
        at,
    )
    .await;
    let mut stale = next.clone();
    stale.reduced[0].refunded_before = Money::ZERO;
    assert_eq!(
        store.request_refund(&stale).await,
        Ok(MoneyOutOutcome::Conflict)
    );
    assert_eq!(balance(store, &account).await, after);
    assert_eq!(
        store.request_refund(&next).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let recipient = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("recipient");
    assert_eq!(recipient.debt, Money::from_cents(700));
    assert_eq!(balance(store, &account).await.recipient_debts.cents(), 700);
    let listed = movements(store, &account, 6).await;
    super::assert_balanced(store, &account, &listed).await;
    // The recipient's legs are minus its debt.
    let legs: i64 = listed
        .iter()
        .flat_map(|m| &m.legs)
        .filter(|l| l.account == LedgerAccount::Recipient(account.clone(), recipient_id.clone()))
        .map(|l| l.amount.cents())
        .sum();
    assert_eq!(legs, -700);
}

/// A refused refund gives back what it took, at what it read: the split it reduced is
/// restored only with the `refunded` it was read with, the recipient forgiven only at the
/// version it was read at; applied, the balance is as before the refund, the split pays its
/// share again and the debt is gone; applied twice, the second conflicts.
pub async fn a_refused_refund_restores_and_forgives_at_what_it_read(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (before, write, at) = proportionally_refunded(store, &account).await;
    let recipient_id = write.debts[0].recipient_id.clone();
    let refund = write.charge.refunds[0].clone();

    let charge = stored(store, &write.charge).await;
    let reduced = splits(store, &charge).await;
    let recipient = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("indebted");
    let failed = ChargeRefund {
        state: RefundState::Failed,
        failure_reason: Some("refused".to_owned()),
        settled_at: Some(at),
        ..refund
    };
    let failure = refund_failure(
        &charge,
        failed,
        &reduced,
        std::slice::from_ref(&recipient),
        at,
    )
    .expect("the failure");
    assert_eq!(failure.restored.len(), 1, "{failure:?}");
    assert_eq!(failure.forgiven.len(), 1, "{failure:?}");
    let reduced_balance = balance(store, &account).await;

    let mut stale_split = failure.clone();
    stale_split.restored[0].refunded_before = Money::ZERO;
    assert_eq!(
        store.fail_refund(&stale_split).await,
        Ok(WriteOutcome::Conflict)
    );
    let mut stale_recipient = failure.clone();
    stale_recipient.forgiven[0].version_read += 1;
    assert_eq!(
        store.fail_refund(&stale_recipient).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(balance(store, &account).await, reduced_balance);
    assert_eq!(splits(store, &charge).await, reduced);

    assert_eq!(store.fail_refund(&failure).await, Ok(WriteOutcome::Applied));
    assert_eq!(balance(store, &account).await, before);
    let restored = splits(store, &charge).await;
    assert_eq!(restored[1].state, SplitState::Scheduled);
    assert_eq!(restored[1].refunded, Money::ZERO);
    assert_eq!(
        scheduled_of(store, &charge, 1).await,
        vec![restored[1].clone()]
    );
    let forgiven = store
        .get_recipient(&account, &recipient_id)
        .await
        .expect("get")
        .expect("recipient");
    assert_eq!(
        (forgiven.debt, forgiven.open_debts.len(), forgiven.version),
        (Money::ZERO, 0, recipient.version + 1)
    );
    assert_eq!(forgiven.scheduled, recipient.scheduled);
    assert_eq!(
        stored(store, &charge).await.refunds[0].state,
        RefundState::Failed
    );
    assert_eq!(
        store.fail_refund(&failure).await,
        Ok(WriteOutcome::Conflict)
    );
    let listed = movements(store, &account, 6).await;
    super::assert_balanced(store, &account, &listed).await;
}

/// A recipient's debts written off (a split it never received): only at the version read,
/// only once (the movement's id); applied, the debt and `recipientDebts` drop by it.
pub async fn a_debt_write_off_applies_once_at_what_it_read(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (_, write, at) = proportionally_refunded(store, &account).await;
    let debt = write.debts[0].clone();
    let recipient = store
        .get_recipient(&account, &debt.recipient_id)
        .await
        .expect("get")
        .expect("indebted");
    let forgiveness = recipient
        .forgive(&[ForgivenClaim {
            refund_id: debt.refund_id.clone(),
            transaction_id: debt.transaction_id.clone(),
            up_to: debt.amount,
        }])
        .expect("queued");
    let movement = Movement::new(
        MovementKind::DebtsWrittenOff,
        &account,
        PayoutId::generate().as_str(),
        vec![
            Leg {
                account: LedgerAccount::Merchant(account.clone(), Bucket::RecipientDebts),
                amount: Money::from_cents(-debt.amount.cents()),
            },
            Leg {
                account: LedgerAccount::Recipient(account.clone(), debt.recipient_id.clone()),
                amount: debt.amount,
            },
        ],
        at,
    )
    .expect("balanced");
    let write_off = WriteOffDebts {
        forgiveness,
        movement,
    };
    let before = balance(store, &account).await;
    let mut stale = write_off.clone();
    stale.forgiveness.version_read += 1;
    assert_eq!(
        store.write_off_debts(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(balance(store, &account).await, before);
    assert_eq!(
        store.write_off_debts(&write_off).await,
        Ok(WriteOutcome::Applied)
    );
    let after = balance(store, &account).await;
    assert_eq!(
        after.recipient_debts.cents(),
        before.recipient_debts.cents() - debt.amount.cents()
    );
    let forgiven = store
        .get_recipient(&account, &debt.recipient_id)
        .await
        .expect("get")
        .expect("recipient");
    assert_eq!((forgiven.debt, forgiven.open_debts.len()), (Money::ZERO, 0));
    // Again, even planned on what is stored now: the movement exists.
    let mut again = write_off.clone();
    again.forgiveness.version_read = forgiven.version;
    assert_eq!(
        store.write_off_debts(&again).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(balance(store, &account).await, after);
}

/// The payout scheduler read a SCHEDULED split, then a refund reduced it: attaching what it
/// read is refused; attaching what is stored now pays the reduced amount.
pub async fn attaching_a_split_reduced_since_it_was_read_conflicts(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (charge, entries, at) = booked_small(store, &account).await;
    funded(store, &account).await;
    let read = scheduled_of(store, &charge, 1).await;
    let write = refund_write(
        store,
        &charge,
        &entries,
        5_000,
        RefundLiability::Proportional,
        at,
    )
    .await;
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let window = at + Duration::hours(1);
    let recipient = read[0].recipient();
    let header = PayoutHeader {
        id: PayoutId::for_scheduled_window(&account, window, &recipient),
        account_id: account.clone(),
        window,
        recipient,
    };
    let stale = AttachSplits {
        payout: header.clone(),
        splits: read,
        now: window,
    };
    assert_eq!(
        store.attach_splits(&stale).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(store.get_payout(&header.id).await, Ok(None));

    let fresh = AttachSplits {
        splits: scheduled_of(store, &charge, 1).await,
        ..stale
    };
    assert_eq!(store.attach_splits(&fresh).await, Ok(WriteOutcome::Applied));
    let payout = store
        .get_payout(&header.id)
        .await
        .expect("get")
        .expect("payout");
    assert_eq!(payout.amount, Money::from_cents(250), "the reduced amount");
}

/// A refund's settlement planned before another refund write is stale: nothing written.
pub async fn a_transition_at_a_stale_refund_revision_conflicts(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (charge, entries, at) = booked_small(store, &account).await;
    let first = refund_write(
        store,
        &charge,
        &entries,
        1_000,
        RefundLiability::Merchant,
        at,
    )
    .await;
    assert_eq!(
        store.request_refund(&first).await,
        Ok(MoneyOutOutcome::Applied)
    );
    let read = stored(store, &charge).await;
    let mut settled = read.refunds[0].clone();
    settled.state = RefundState::Failed;
    settled.failure_reason = Some("refused".into());
    let settle = |from_revision| ChargeTransition {
        charge: read.with_refund(settled.clone()),
        from: read.status,
        from_revision,
        movement: None,
        events: Vec::new(),
        outbox: Vec::new(),
    };
    // Another refund write came between the read and this settlement.
    assert_eq!(
        store.transition_charge(&settle(0)).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(stored(store, &charge).await, read);
    assert_eq!(
        store.transition_charge(&settle(1)).await,
        Ok(WriteOutcome::Applied)
    );
    let now = stored(store, &charge).await;
    assert_eq!(
        (now.refund_revision, now.status),
        (2, ChargeStatus::Confirmed)
    );
}

pub async fn a_refund_with_a_lost_claim_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let (charge, entries, at) = booked_small(store, &account).await;
    let now = base_time();
    // A claim whose token no longer matches is lost, whatever else holds.
    let lost = IdempotencyClaim {
        lock_token: "someone-else".into(),
        ..claimed(claim(store, &account, "key-1", "hash-A", "t1", now).await)
    };
    let write = RequestRefund {
        completion: Some(completion(&lost, 202, "{}")),
        ..refund_write(
            store,
            &charge,
            &entries,
            1_000,
            RefundLiability::Merchant,
            at,
        )
        .await
    };
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::ClaimLost)
    );
    assert_eq!(stored(store, &charge).await, charge);
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));

    let held = claimed(claim(store, &account, "key-2", "hash-A", "t2", now).await);
    let write = RequestRefund {
        completion: Some(completion(&held, 202, "{\"refund\":1}")),
        ..refund_write(
            store,
            &charge,
            &entries,
            1_000,
            RefundLiability::Merchant,
            at,
        )
        .await
    };
    assert_eq!(
        store.request_refund(&write).await,
        Ok(MoneyOutOutcome::Applied)
    );
    assert_eq!(
        claim(
            store,
            &account,
            "key-2",
            "hash-A",
            "t3",
            now + Duration::seconds(1)
        )
        .await,
        ClaimOutcome::Replay(response(202, "{\"refund\":1}")),
        "the claim was completed in the same write"
    );
}
