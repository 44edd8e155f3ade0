//! Refund fixtures: a refund request built the way the refund flow builds it — the domain's
//! own liability plan ([`plan_funding`]) over the splits as given, the charge with the refund
//! ([`Charge::with_refund`]), the movement's legs, a draw on `available` planned from the
//! shards as stored — so a test can also build one from a stale read.

use std::collections::HashMap;

use pixgw_domain::charge::Charge;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::ledger::{AvailableDraw, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::pix::ids::RefundId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::refund::liability::{RefundFunding, RefundTerms, plan_funding};
use pixgw_domain::refund::ports::{ReducedSplit, RequestRefund};
use pixgw_domain::refund::{ChargeRefund, RefundLiability, RefundState};
use pixgw_domain::split::entry::SplitEntry;
use pixgw_store_dynamodb::DynamoStore;

use super::at_ms;

/// The request of a refund of `amount` of `c` (as read) under `liability` at `at_millis`,
/// planned over `entries` (the charge's splits as read, possibly stale).
pub async fn refund_write(
    store: &DynamoStore,
    c: &Charge,
    entries: &[SplitEntry],
    amount: i64,
    liability: RefundLiability,
    at_millis: i64,
) -> RequestRefund {
    let at = at_ms(at_millis);
    let amount = Money::from_cents(amount);
    let refund_id = RefundId::generate();
    let terms = RefundTerms {
        refund_id: refund_id.clone(),
        gross: c.amount,
        refund: amount,
        liability,
        takes_rest: amount == c.refundable(),
        now: at,
    };
    let funding = plan_funding(terms, entries).expect("a refund within the charge");
    let refund = ChargeRefund {
        id: refund_id,
        amount,
        liability,
        split_parts: funding.parts.clone(),
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
    let movement = Movement::new(
        MovementKind::RefundRequested,
        &c.account_id,
        &refund.reference(&c.transaction_id),
        legs(c, amount, &funding),
        at,
    )
    .expect("balanced refund movement");
    let draw = if funding.from_available > 0 {
        let shards = store.balance_shards(&c.account_id).await.expect("shards");
        AvailableDraw::plan(&shards, Money::from_cents(funding.from_available))
            .expect("affordable refund")
    } else {
        AvailableDraw::default()
    };
    let message = PipelineMessage::RefundRequested {
        transaction_id: c.transaction_id.clone(),
        account_id: c.account_id.clone(),
        refund_id: Some(refund.id.clone()),
        attempt: None,
    };
    let before: HashMap<u8, Money> = entries.iter().map(|e| (e.index, e.refunded)).collect();
    let reduced: Vec<ReducedSplit> = funding
        .reduced
        .iter()
        .map(|entry| ReducedSplit {
            refunded_before: before[&entry.index],
            entry: entry.clone(),
        })
        .collect();
    let recipients = RecipientTotals::scheduled_by_split(
        &c.account_id,
        reduced.iter().map(|r| {
            (
                &r.entry,
                r.refunded_before.cents() - r.entry.refunded.cents(),
            )
        }),
    );
    RequestRefund {
        charge: c.with_refund(refund),
        from: c.status,
        from_revision: c.refund_revision,
        reduced,
        debts: funding.debts,
        recipients,
        movement,
        draw,
        outbox: vec![message.to_outbox(at)],
        completion: None,
    }
}

/// The refund flow's legs: the payer gets `amount`; the reduced splits' reserve and
/// `available` pay it; each new debt is the account's claim on its recipient.
fn legs(c: &Charge, amount: Money, funding: &RefundFunding) -> Vec<Leg> {
    let account = &c.account_id;
    let leg = |account, cents| Leg {
        account,
        amount: Money::from_cents(cents),
    };
    let merchant = |bucket| LedgerAccount::Merchant(account.clone(), bucket);
    let mut legs = vec![
        leg(LedgerAccount::PixNetwork, amount.cents()),
        leg(
            merchant(Bucket::ReservedForSplits),
            -funding.from_reserve.cents(),
        ),
        leg(merchant(Bucket::Available), -funding.from_available),
        leg(merchant(Bucket::RecipientDebts), funding.fronted().cents()),
    ];
    for debt in &funding.debts {
        legs.push(leg(
            LedgerAccount::Recipient(account.clone(), debt.recipient_id.clone()),
            -debt.amount.cents(),
        ));
    }
    legs
}
