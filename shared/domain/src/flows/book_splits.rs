//! Books a confirmed charge's splits (queue `charge-confirmed`).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{info, warn};

use crate::charge::ports::ChargeStore;
use crate::charge::{Charge, ChargeStatus};
use crate::dispute::Dispute;
use crate::dispute::ports::{DisputeStore, OwedRepayment};
use crate::error::WriteOutcome;
use crate::error::{DomainError, StoreError};
use crate::ledger::ports::LedgerStore;
use crate::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::messaging::consumer::{HandlerError, MessageHandler};
use crate::messaging::outbox::PipelineMessage;
use crate::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use crate::pix::clock::Clock;
use crate::pix::money::Money;
use crate::recipient::RecipientTotals;
use crate::split;
use crate::split::entry::{SplitEntry, SplitState};
use crate::split::ports::BookSplits;
use crate::split::ports::SplitStore;

/// The storage ports [`SplitCalculator`] uses, and nothing more.
#[derive(Clone)]
pub struct SplitCalculatorPorts {
    pub charges: Arc<dyn ChargeStore>,
    pub splits: Arc<dyn SplitStore>,
    /// The account's disputes that still owe: a credit pays them first.
    pub disputes: Arc<dyn DisputeStore>,
    pub ledger: Arc<dyn LedgerStore>,
}

/// How often a booking is planned again when a dispute it repays changed under it (another
/// booking of the account paid it first) before the message is retried later.
const BOOKING_ATTEMPTS: usize = 5;

#[derive(Clone)]
pub struct SplitCalculator {
    store: SplitCalculatorPorts,
    clock: Arc<dyn Clock>,
}

/// What booking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingResult {
    Booked,
    /// Booked before (a redelivery): nothing changed.
    AlreadyBooked,
    /// The charge is no longer CONFIRMED (refunded or never confirmed): nothing to book.
    NotConfirmed,
}

impl SplitCalculator {
    pub fn new(store: SplitCalculatorPorts, clock: Arc<dyn Clock>) -> Self {
        SplitCalculator { store, clock }
    }

    pub async fn book(
        &self,
        id: &crate::pix::ids::TransactionId,
    ) -> Result<BookingResult, DomainError> {
        let charge = self
            .store
            .charges
            .get_charge(id)
            .await?
            .ok_or(DomainError::NotFound("charge"))?;
        // A held payment is not the merchant's yet: its release books it.
        if charge.status != ChargeStatus::Confirmed || charge.is_held() {
            return Ok(BookingResult::NotConfirmed);
        }
        for _ in 0..BOOKING_ATTEMPTS {
            if self.booked(id).await? {
                return Ok(BookingResult::AlreadyBooked);
            }
            let owing = self
                .store
                .disputes
                .owing_disputes(&charge.account_id)
                .await?;
            let now = crate::flows::create_charge::truncate_to_millis(self.clock.now());
            let write = booking_repaying(&charge, &owing, now)?;
            match self.store.splits.book_splits(&write).await? {
                WriteOutcome::Applied => {
                    info!(
                        transaction_id = %id,
                        splits = write.splits.len(),
                        immediate = write.payouts.len(),
                        repaid = write.repayments.len(),
                        "splits booked"
                    );
                    return Ok(BookingResult::Booked);
                }
                // A concurrent delivery booked it, the charge left CONFIRMED, or a dispute it
                // repays changed: read again.
                WriteOutcome::Conflict => match self.store.charges.get_charge(id).await? {
                    Some(c) if c.status == ChargeStatus::Confirmed => {
                        warn!(transaction_id = %id, "booking raced another write; planning again");
                    }
                    _ => return Ok(BookingResult::NotConfirmed),
                },
            }
        }
        Err(DomainError::ConcurrentUpdate)
    }

    /// Books `charge`'s splits if its queue has not yet (a refund or a dispute divides booked
    /// shares); `false` when the charge changed under us (read it again).
    pub async fn ensure_booked(&self, charge: &Charge) -> Result<bool, DomainError> {
        let id = &charge.transaction_id;
        if self.booked(id).await? {
            return Ok(true);
        }
        self.book(id).await?;
        self.booked(id).await
    }

    /// Whether the charge's splits are booked: its booking movement exists (a charge without
    /// splits books a movement too).
    async fn booked(&self, id: &crate::pix::ids::TransactionId) -> Result<bool, DomainError> {
        Ok(!self.store.splits.get_splits(id).await?.is_empty()
            || self
                .store
                .ledger
                .movement_exists(&MovementKind::SplitsBooked.movement_id(id.as_str()))
                .await?)
    }
}

/// The booking of `charge` when the account's disputes `owing` (oldest first) still owe: the
/// account's part of the credit (the remainder) pays them first, oldest first, and only the
/// rest reaches `available`.
pub fn booking_repaying(
    charge: &Charge,
    owing: &[Dispute],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BookSplits, DomainError> {
    let mut write = booking(charge, now)?;
    let mut left = charge.remainder.cents();
    for dispute in owing {
        if left <= 0 {
            break;
        }
        if dispute.account_id != charge.account_id || dispute.still_owed <= 0 {
            continue;
        }
        let paid = dispute.still_owed.min(left);
        left -= paid;
        write.repayments.push(OwedRepayment {
            dispute: dispute.repaid(paid),
            from_version: dispute.version,
            paid,
        });
    }
    let repaid = charge.remainder.cents() - left;
    if repaid > 0 {
        let merchant = |bucket| LedgerAccount::Merchant(charge.account_id.clone(), bucket);
        let mut legs = write.movement.legs.clone();
        legs.push(Leg {
            account: merchant(Bucket::Available),
            amount: Money::from_cents(-repaid),
        });
        legs.push(Leg {
            account: merchant(Bucket::Owed),
            amount: Money::from_cents(repaid),
        });
        write.movement = Movement::new(
            MovementKind::SplitsBooked,
            &charge.account_id,
            charge.transaction_id.as_str(),
            merge_legs(legs),
            now,
        )
        .map_err(|e| corrupt(charge, &e.to_string()))?;
    }
    Ok(write)
}

/// The legs with one leg per ledger account (their sum), in first-seen order.
fn merge_legs(legs: Vec<Leg>) -> Vec<Leg> {
    let mut merged: Vec<Leg> = Vec::with_capacity(legs.len());
    for leg in legs {
        match merged.iter_mut().find(|m| m.account == leg.account) {
            Some(m) => m.amount = Money::from_cents(m.amount.cents() + leg.amount.cents()),
            None => merged.push(leg),
        }
    }
    merged
}

/// The whole booking of a charge, computed from the charge alone (so every delivery computes
/// the same thing).
pub fn booking(
    charge: &Charge,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BookSplits, DomainError> {
    // The shares were computed when the charge was created; recompute them with the one
    // rounding rule and refuse to pay anything if the stored ones disagree.
    let values: Vec<_> = charge.splits.iter().map(|s| s.rule.value).collect();
    let allocation = split::allocate(charge.amount, &values)
        .map_err(|_| corrupt(charge, "split rules no longer fit the amount"))?;
    let stored: Vec<Money> = charge.splits.iter().map(|s| s.amount).collect();
    if allocation.shares != stored || allocation.remainder != charge.remainder {
        return Err(corrupt(
            charge,
            "stored split shares disagree with the rounding rule",
        ));
    }

    let mut splits = Vec::with_capacity(charge.splits.len());
    let mut payouts = Vec::new();
    let mut outbox = Vec::new();
    for (index, split) in charge.splits.iter().enumerate() {
        let index = u8::try_from(index).map_err(|_| corrupt(charge, "too many splits"))?;
        let mut entry = SplitEntry {
            transaction_id: charge.transaction_id.clone(),
            account_id: charge.account_id.clone(),
            index,
            split: split.clone(),
            state: SplitState::Scheduled,
            payout_id: None,
            end_to_end_id: None,
            failure_reason: None,
            attempts: 0,
            refunded: Money::ZERO,
            created_at: now,
            updated_at: now,
        };
        if split.rule.immediate {
            let payout_id = PayoutId::for_immediate_split(&charge.transaction_id, index);
            entry.state = SplitState::Processing;
            entry.payout_id = Some(payout_id.clone());
            payouts.push(Payout {
                id: payout_id.clone(),
                account_id: charge.account_id.clone(),
                trigger: PayoutTrigger::Immediate,
                recipient: entry.recipient(),
                amount: split.amount,
                splits: vec![entry.key()],
                split_count: 1,
                unsettled_splits: 0,
                state: PayoutState::Processing,
                end_to_end_id: None,
                deductions: None,
                provider_transfer_id: None,
                failure_reason: None,
                created_at: now,
                updated_at: now,
            });
            outbox.push(
                PipelineMessage::PayoutRequested {
                    payout_id,
                    account_id: charge.account_id.clone(),
                }
                .to_outbox(now),
            );
        }
        splits.push(entry);
    }

    let reserved = Money::from_cents(stored.iter().map(|m| m.cents()).sum());
    let merchant = |bucket| LedgerAccount::Merchant(charge.account_id.clone(), bucket);
    let movement = Movement::new(
        MovementKind::SplitsBooked,
        &charge.account_id,
        charge.transaction_id.as_str(),
        vec![
            Leg {
                account: merchant(Bucket::Incoming),
                amount: Money::from_cents(-charge.amount.cents()),
            },
            Leg {
                account: merchant(Bucket::Available),
                amount: charge.remainder,
            },
            Leg {
                account: merchant(Bucket::ReservedForSplits),
                amount: reserved,
            },
        ],
        now,
    )
    .map_err(|e| corrupt(charge, &e.to_string()))?;

    let recipients = RecipientTotals::scheduled_by_split(
        &charge.account_id,
        splits.iter().map(|s| (s, s.split.amount.cents())),
    );
    Ok(BookSplits {
        transaction_id: charge.transaction_id.clone(),
        account_id: charge.account_id.clone(),
        splits,
        payouts,
        movement,
        outbox,
        recipients,
        repayments: Vec::new(),
    })
}

fn corrupt(charge: &Charge, what: &str) -> DomainError {
    DomainError::Store(StoreError::Corrupt(format!(
        "charge {}: {what}",
        charge.transaction_id
    )))
}

#[async_trait]
impl MessageHandler for SplitCalculator {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        match PipelineMessage::parse(body) {
            Ok(PipelineMessage::ChargeConfirmed { transaction_id, .. }) => {
                self.book(&transaction_id).await?;
                Ok(())
            }
            Ok(other) => Err(HandlerError::Poison(format!(
                "unexpected message on charge-confirmed: {other:?}"
            ))),
            Err(e) => Err(HandlerError::Poison(format!("unreadable message: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::charge::{ChargeSplit, Payer};
    use crate::pix::document::TaxDocument;
    use crate::pix::ids::{AccountId, TransactionId};
    use crate::pix::pix_key::PixKeyType;
    use crate::split::{SplitRule, SplitValue};

    fn charge(gross: i64, rules: &[(SplitValue, bool)]) -> Option<Charge> {
        let values: Vec<SplitValue> = rules.iter().map(|(v, _)| *v).collect();
        let allocation = split::allocate(Money::from_cents(gross), &values).ok()?;
        let document = TaxDocument::parse("12345678909").ok()?;
        let now = chrono::Utc::now();
        Some(Charge {
            transaction_id: TransactionId::generate(),
            account_id: AccountId::generate(),
            correlation_id: uuid::Uuid::new_v4(),
            external_id: "x".into(),
            status: ChargeStatus::Confirmed,
            amount: Money::from_cents(gross),
            description: "d".into(),
            payer: Payer {
                full_name: "p".into(),
                document: document.clone(),
            },
            additional_info: BTreeMap::new(),
            splits: rules
                .iter()
                .zip(&allocation.shares)
                .map(|((value, immediate), share)| ChargeSplit {
                    rule: SplitRule {
                        pix_key: "r@example.com".into(),
                        pix_key_type: PixKeyType::Email,
                        name: "r".into(),
                        document: document.clone(),
                        value: *value,
                        immediate: *immediate,
                    },
                    amount: *share,
                })
                .collect(),
            remainder: allocation.remainder,
            pix_code: String::new(),
            generate_qr_code: false,
            provider: "sandbox".into(),
            provider_charge_id: String::new(),
            expiration_seconds: 3600,
            created_at: now,
            expires_at: now,
            payment: None,
            refunds: Vec::new(),
            hold: None,
            disputes: Vec::new(),
            refund_revision: 0,
        })
    }

    fn rule() -> impl Strategy<Value = (SplitValue, bool)> {
        (
            prop_oneof![
                (1i64..500_000).prop_map(|c| SplitValue::Fixed(Money::from_cents(c))),
                (1u32..=10_000).prop_map(SplitValue::Percentage),
            ],
            any::<bool>(),
        )
    }

    proptest! {
        /// Whatever the amount and rules, booking moves exactly the gross out of `incoming`:
        /// the remainder to `available`, Σ shares to `reservedForSplits`, and one payout per
        /// immediate split for exactly its share.
        #[test]
        fn booking_balances_to_the_cent(
            gross in 1i64..100_000_000,
            rules in proptest::collection::vec(rule(), 0..=split::MAX_SPLITS),
        ) {
            let Some(charge) = charge(gross, &rules) else {
                return Ok(()); // rules that do not fit the amount are refused at creation
            };
            let book = booking(&charge, chrono::Utc::now()).unwrap();
            let delta = book.movement.balance_delta();
            let shares: i64 = charge.splits.iter().map(|s| s.amount.cents()).sum();
            prop_assert_eq!(book.movement.legs.iter().map(|l| l.amount.cents()).sum::<i64>(), 0);
            prop_assert_eq!(delta.incoming.cents(), -gross);
            prop_assert_eq!(delta.available, charge.remainder);
            prop_assert_eq!(delta.reserved_for_splits.cents(), shares);
            prop_assert_eq!(shares + charge.remainder.cents(), gross);
            let immediate: Vec<_> = charge.splits.iter().filter(|s| s.rule.immediate).collect();
            prop_assert_eq!(book.payouts.len(), immediate.len());
            prop_assert_eq!(book.outbox.len(), immediate.len());
            for (payout, split) in book.payouts.iter().zip(immediate) {
                prop_assert_eq!(payout.amount, split.amount);
            }
            prop_assert!(book.splits.iter().all(|s| s.split.amount.cents() >= 1));
        }

        /// Stored shares that disagree with the rounding rule are never paid.
        #[test]
        fn tampered_shares_are_refused(gross in 100i64..1_000_000, pct in 1u32..=9_000) {
            let mut charge = charge(gross, &[(SplitValue::Percentage(pct), true)]).unwrap();
            charge.splits[0].amount = Money::from_cents(charge.splits[0].amount.cents() + 1);
            prop_assert!(booking(&charge, chrono::Utc::now()).is_err());
        }
    }
}
