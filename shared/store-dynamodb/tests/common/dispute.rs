//! Dispute fixtures, built by hand from the domain's stable rules (a refund's division
//! [`plan_funding`], [`hold_funding`], the legs of each step) rather than the dispute flow's
//! builders, so these tests pin the adapter alone: an opening, a decision, a repayment.

use pixgw_domain::charge::Charge;
use pixgw_domain::dispute::ports::{DecideDispute, OpenDispute, OwedRepayment};
use pixgw_domain::dispute::{
    Dispute, DisputeHold, DisputeOutcome, DisputeReason, DisputeState, hold_funding, lost_legs,
    opened_legs, won_legs,
};
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{AvailableDraw, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::pix::ids::{DisputeId, RecipientId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::refund::liability::{DebtIncrease, RefundTerms, SplitPartKind, plan_funding};
use pixgw_domain::refund::ports::ReducedSplit;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_store_dynamodb::DynamoStore;

use super::at_ms;

/// A dispute of `amount` on `c`, OPEN at `opened_at_ms`, its division not filled in yet.
pub fn dispute_of(
    c: &Charge,
    infraction: &str,
    amount: i64,
    liability: RefundLiability,
    opened_at_ms: i64,
) -> Dispute {
    let opened_at = at_ms(opened_at_ms);
    Dispute {
        id: DisputeId::derive("sandbox", infraction),
        account_id: c.account_id.clone(),
        transaction_id: c.transaction_id.clone(),
        provider: "sandbox".to_owned(),
        infraction_id: infraction.to_owned(),
        reason: DisputeReason::Fraud,
        amount: Money::from_cents(amount),
        liability,
        split_parts: Vec::new(),
        hold: DisputeHold {
            from_reserve: 0,
            from_available: 0,
            owed: 0,
        },
        still_owed: 0,
        state: DisputeState::Open,
        version: 0,
        respond_by: opened_at + chrono::Duration::days(7),
        opened_at,
        decided_at: None,
        defence: None,
        devolution_end_to_end_id: None,
    }
}

pub fn event(dispute: &Dispute, event_type: EventType) -> AccountEvent {
    AccountEvent::new(
        &dispute.account_id,
        event_type,
        dispute.id.as_str(),
        dispute.decided_at.unwrap_or(dispute.opened_at),
        serde_json::json!({ "id": dispute.id.as_str(), "status": dispute.state.as_str() }),
    )
}

/// The opening of `dispute` on `c` (as read) with its splits `entries` (as read): divided like
/// a refund of its amount, held, `available` drawn from the shards as stored now.
pub async fn opening(
    store: &DynamoStore,
    c: &Charge,
    entries: &[SplitEntry],
    dispute: Dispute,
) -> OpenDispute {
    let at = dispute.opened_at;
    let terms = RefundTerms {
        refund_id: dispute.devolution_id(),
        gross: c.amount,
        refund: dispute.amount,
        liability: dispute.liability,
        takes_rest: dispute.amount == c.refundable(),
        now: at,
    };
    let funding = plan_funding(terms, entries).expect("a divisible dispute");
    let shards = store.balance_shards(&c.account_id).await.expect("shards");
    let available: i64 = shards.iter().map(|(_, b)| b.available.cents().max(0)).sum();
    let hold = hold_funding(&funding, Money::from_cents(available));
    let draw = if hold.from_available > 0 {
        AvailableDraw::plan(&shards, Money::from_cents(hold.from_available)).expect("draw")
    } else {
        AvailableDraw::default()
    };
    let dispute = Dispute {
        split_parts: funding.parts.clone(),
        hold,
        still_owed: hold.owed,
        ..dispute
    };
    let movement = Movement::new(
        MovementKind::DisputeOpened,
        &c.account_id,
        dispute.reference(),
        opened_legs(&c.account_id, dispute.amount, &hold),
        at,
    )
    .expect("movement");
    let reduced: Vec<ReducedSplit> = funding
        .reduced
        .iter()
        .map(|entry| ReducedSplit {
            refunded_before: entries
                .iter()
                .find(|e| e.index == entry.index)
                .map_or(Money::ZERO, |e| e.refunded),
            entry: entry.clone(),
        })
        .collect();
    let recipients = RecipientTotals::scheduled_by_split(
        &c.account_id,
        reduced.iter().map(|r| {
            let gave_up = r.entry.refunded.cents() - r.refunded_before.cents();
            (&r.entry, -gave_up)
        }),
    );
    let events = vec![event(&dispute, EventType::DisputeOpened)];
    OpenDispute {
        charge: c.with_dispute(dispute.claim()),
        from: c.status,
        from_revision: c.refund_revision,
        dispute,
        reduced,
        recipients,
        movement,
        draw,
        events,
    }
}

/// The decision `outcome` of `d` (as read) on `c` with its splits `entries` (as read) at
/// `at_millis`. Won: the reduced splits still waiting get their part back, what it owes is
/// cleared, the rest returns to `available`. Lost: the held money leaves for the PIX network
/// and the paid splits' parts become their recipients' debts.
pub fn decision(
    c: &Charge,
    d: &Dispute,
    entries: &[SplitEntry],
    outcome: DisputeOutcome,
    at_millis: i64,
) -> DecideDispute {
    let at = at_ms(at_millis);
    let decided = d.decided(outcome, at).expect("an undecided dispute");
    let account = &c.account_id;
    let entry = |index: u8| entries.iter().find(|e| e.index == index);
    let (kind, legs, restored, debts, event_type) = match outcome {
        DisputeOutcome::Won => {
            let restored: Vec<ReducedSplit> = d
                .split_parts
                .iter()
                .filter(|p| p.kind == SplitPartKind::Reduced)
                .filter_map(|p| {
                    let e = entry(p.index)?;
                    let waiting = matches!(e.state, SplitState::Scheduled | SplitState::Cancelled)
                        && e.payout_id.is_none();
                    waiting.then(|| ReducedSplit {
                        entry: SplitEntry {
                            state: SplitState::Scheduled,
                            refunded: Money::from_cents(e.refunded.cents() - p.amount.cents()),
                            updated_at: at,
                            ..e.clone()
                        },
                        refunded_before: e.refunded,
                    })
                })
                .collect();
            let back: i64 = restored
                .iter()
                .map(|r| r.refunded_before.cents() - r.entry.refunded.cents())
                .sum();
            let legs = won_legs(account, d.amount, back, d.still_owed);
            (
                MovementKind::DisputeWon,
                legs,
                restored,
                Vec::new(),
                EventType::DisputeWon,
            )
        }
        DisputeOutcome::Lost => {
            let debts: Vec<DebtIncrease> = d
                .split_parts
                .iter()
                .filter(|p| p.kind == SplitPartKind::Debt)
                .filter_map(|p| {
                    let e = entry(p.index)?;
                    let paid = matches!(e.state, SplitState::Paid | SplitState::Processing);
                    paid.then(|| DebtIncrease {
                        recipient_id: RecipientId::derive(account, e.recipient().grouping_key()),
                        recipient: e.recipient(),
                        amount: p.amount,
                        refund_id: d.devolution_id(),
                        transaction_id: c.transaction_id.clone(),
                    })
                })
                .collect();
            let legs = lost_legs(account, d.amount, &debts);
            (
                MovementKind::DisputeLost,
                legs,
                Vec::new(),
                debts,
                EventType::DisputeLost,
            )
        }
    };
    let movement = Movement::new(kind, account, d.reference(), legs, at).expect("movement");
    let recipients = RecipientTotals::scheduled_by_split(
        account,
        restored.iter().map(|r| {
            let back = r.refunded_before.cents() - r.entry.refunded.cents();
            (&r.entry, back)
        }),
    );
    let events = vec![event(&decided, event_type)];
    DecideDispute {
        charge: c.with_dispute(decided.claim()),
        from: c.status,
        from_revision: c.refund_revision,
        from_version: d.version,
        dispute: decided,
        restored,
        debts,
        recipients,
        movement,
        events,
    }
}

/// `book` paying `paid` of what `d` (as read) still owes from the account's part: the
/// repayment, and the movement's `available` → `owed` legs.
pub fn repaying(book: &BookSplits, d: &Dispute, paid: i64) -> BookSplits {
    let account = &book.account_id;
    let merchant = |bucket| LedgerAccount::Merchant(account.clone(), bucket);
    let mut legs: Vec<Leg> = book.movement.legs.clone();
    for leg in &mut legs {
        if leg.account == merchant(Bucket::Available) {
            leg.amount = Money::from_cents(leg.amount.cents() - paid);
        }
    }
    legs.push(Leg {
        account: merchant(Bucket::Owed),
        amount: Money::from_cents(paid),
    });
    let movement = Movement::new(
        book.movement.kind,
        account,
        &book.movement.reference,
        legs,
        book.movement.created_at,
    )
    .expect("movement");
    let mut repayments = book.repayments.clone();
    repayments.push(OwedRepayment {
        dispute: d.repaid(paid),
        from_version: d.version,
        paid,
    });
    BookSplits {
        movement,
        repayments,
        ..book.clone()
    }
}
