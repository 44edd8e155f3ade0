//! The books of refunds and recipient debts, checked from the ledger up: what
//! [`Shop::assert_books`] asks of every charge's refunds and of the account's recipients.

use std::collections::BTreeMap;

use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::pix::ids::RecipientId;
use pixgw_domain::pix::payment::EndToEndKind;
use pixgw_domain::refund::RefundState;
use pixgw_domain::refund::liability::SplitPartKind;
use pixgw_domain::split::entry::SplitEntry;

use super::Shop;

impl Shop {
    /// Every refund of `c` has its request movement (and, failed, its return), moving exactly
    /// its amount and its declared parts; no refund movement exists without its refund; the
    /// refunds never exceed the amount; the status follows the refunds.
    /// `disputes`: (Σ parts the charge's disputes reduced, Σ their wins restored), from
    /// [`Shop::assert_disputes`].
    pub(super) fn assert_refunds(
        &self,
        c: &Charge,
        entries: &[SplitEntry],
        by_id: &BTreeMap<&str, &Movement>,
        disputes: (i64, i64),
    ) {
        let id = &c.transaction_id;
        let mut restored_total = 0;
        for r in &c.refunds {
            let reference = r.reference(id);
            let requested = by_id
                .get(
                    MovementKind::RefundRequested
                        .movement_id(&reference)
                        .as_str(),
                )
                .unwrap_or_else(|| panic!("refund {reference} has no movement"));
            assert_eq!(
                super::network_cents(requested),
                r.amount.cents(),
                "{requested:?}"
            );
            let d = requested.balance_delta();
            let part = |kind| -> i64 {
                r.split_parts
                    .iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| p.amount.cents())
                    .sum()
            };
            assert_eq!(
                -d.reserved_for_splits.cents(),
                part(SplitPartKind::Reduced),
                "reserve leg vs reduced parts: {requested:?} {r:?}"
            );
            assert_eq!(
                d.recipient_debts.cents(),
                part(SplitPartKind::Debt),
                "debt leg vs debt parts: {requested:?} {r:?}"
            );
            for p in &r.split_parts {
                assert!(
                    entries.iter().any(|e| e.index == p.index),
                    "a part of a split never booked: {r:?}"
                );
            }
            let returned = by_id.get(
                MovementKind::RefundReturned
                    .movement_id(&reference)
                    .as_str(),
            );
            assert_eq!(
                returned.is_some(),
                r.state == RefundState::Failed,
                "refund {reference}: returned = {returned:?}, {r:?}"
            );
            if let Some(back) = returned {
                // A refusal gives back at most what each party bore: the reserve at most the
                // reduced parts, the recipients at most their debt parts; the account the rest.
                assert_eq!(super::network_cents(back), -r.amount.cents(), "{back:?}");
                let d = back.balance_delta();
                let restored = d.reserved_for_splits.cents();
                let forgiven = -d.recipient_debts.cents();
                assert!(
                    (0..=part(SplitPartKind::Reduced)).contains(&restored)
                        && (0..=part(SplitPartKind::Debt)).contains(&forgiven),
                    "a refusal gave back more than was borne: {back:?} {r:?}"
                );
                assert_eq!(
                    d.available.cents() + d.incoming.cents() + restored,
                    r.amount.cents(),
                    "{back:?}"
                );
                restored_total += restored;
            }
            if r.state == RefundState::Completed {
                let e2e = r.end_to_end_id.as_ref().expect("a settled refund's D… id");
                assert_eq!(e2e.kind(), EndToEndKind::Devolution, "{r:?}");
                assert!(e2e.as_str().starts_with('D'), "{r:?}");
            }
        }
        // What the splits gave up is what refunds and disputes reduced them by, less what
        // refusals and won disputes restored.
        let reduced_total: i64 = disputes.0
            + c.refunds
                .iter()
                .flat_map(|r| &r.split_parts)
                .filter(|p| p.kind == SplitPartKind::Reduced)
                .map(|p| p.amount.cents())
                .sum::<i64>();
        let refunded_total: i64 = entries.iter().map(|e| e.refunded.cents()).sum();
        assert_eq!(
            refunded_total,
            reduced_total - restored_total - disputes.1,
            "splits' refunded vs refunds' reduced parts less restorations: {c:?} {entries:?}"
        );
        let prefix = format!("{}#", id);
        let movements_of_charge = by_id
            .values()
            .filter(|m| m.kind == MovementKind::RefundRequested && m.reference.starts_with(&prefix))
            .count();
        assert_eq!(
            movements_of_charge,
            c.refunds.len(),
            "refund movements without their refund: {c:?}"
        );
        assert!(
            c.committed_refunds().cents() <= c.amount.cents(),
            "refunds exceed the amount: {c:?}"
        );
        match c.status {
            ChargeStatus::Pending | ChargeStatus::Expired => assert!(
                c.payment.is_none() && c.refunds.is_empty() && c.disputes.is_empty(),
                "{c:?}"
            ),
            _ => assert_eq!(c.status, c.status_from_refunds(), "{c:?}"),
        }
    }

    /// Each recipient's stored debt (owed and being recovered) is minus the sum of its legs,
    /// and the account's `recipientDebts` is their sum; its queue sums to what is owed; Σ of
    /// the recipients' `scheduled` is `reservedForSplits`. Every recipient is listed once,
    /// walking the listing one at a time (every page boundary).
    pub(super) async fn assert_recipient_debts(&self, movements: &[Movement], balance: &Balance) {
        let mut legs: BTreeMap<RecipientId, i64> = BTreeMap::new();
        for m in movements {
            for leg in &m.legs {
                if let LedgerAccount::Recipient(owner, recipient) = &leg.account {
                    assert_eq!(owner, &self.account, "{m:?}");
                    *legs.entry(recipient.clone()).or_default() += leg.amount.cents();
                }
            }
        }
        let store = &self.gw.state.store;
        let mut listed = Vec::new();
        let mut after: Option<RecipientId> = None;
        loop {
            let (page, next) = store
                .list_recipients(&self.account, after.as_ref(), 1)
                .await
                .expect("list recipients");
            assert!(page.len() <= 1, "{page:?}");
            listed.extend(page);
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ids: Vec<&RecipientId> = listed.iter().map(|r| &r.id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "listed out of order or twice: {ids:?}"
        );
        let (mut owed_total, mut scheduled_total) = (0, 0);
        for r in &listed {
            let owed = r.debt.cents() + r.recovering.cents();
            let sum = legs.remove(&r.id).unwrap_or(0);
            assert_eq!(owed, -sum, "recipient {}'s debt vs its legs: {r:?}", r.id);
            assert!(r.debt.cents() >= 0 && r.recovering.cents() >= 0, "{r:?}");
            assert_eq!(
                pixgw_domain::recipient::total(&r.open_debts),
                r.debt,
                "{r:?}"
            );
            let stored = store
                .get_recipient(&self.account, &r.id)
                .await
                .expect("get recipient");
            assert_eq!(stored.as_ref(), Some(r), "get vs list");
            owed_total += owed;
            scheduled_total += r.scheduled.cents();
        }
        assert!(
            legs.is_empty(),
            "recipients with legs but not listed: {legs:?}"
        );
        assert_eq!(
            balance.get(Bucket::RecipientDebts).cents(),
            owed_total,
            "recipientDebts ≠ Σ recipients' debts"
        );
        assert_eq!(
            balance.reserved_for_splits.cents(),
            scheduled_total,
            "reservedForSplits ≠ Σ recipients' scheduled"
        );
    }
}
