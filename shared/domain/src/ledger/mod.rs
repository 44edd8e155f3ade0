//! The double-entry ledger. Every movement of money is one [`Movement`]: a balanced set of
//! legs (Σ = 0 to the cent), written in the same atomic write as the state change that caused
//! it, under a deterministic id (`confirm:{transactionId}`, `payout-paid:{payoutId}`, …) that is
//! created only if absent, so a retried or redelivered step can never book twice.
//!
//! Buckets of a merchant account:
//! - `incoming`: paid charges whose splits are not booked yet (moments, normally);
//! - `available`: the merchant's own money;
//! - `reservedForSplits`: money owed to split recipients, until paid out;
//! - `recipientDebts`: what split recipients owe the account (refunds of splits already paid,
//!   fronted by the account; recovered from their next payouts). Its other side is one
//!   [`LedgerAccount::Recipient`] per recipient, whose balance is minus that recipient's debt.
//!
//! The other side of every leg that enters or leaves the gateway is the external
//! [`LedgerAccount::PixNetwork`] (our settlement account at the PSP), so the ledger as a whole
//! always sums to zero.
//!
//! # Balances on hot accounts
//!
//! A balance is the sum of its legs. Summing on every read would not scale, and one balance
//! item per account would need a write per movement — more than the ~1,000 writes/s a single
//! DynamoDB item sustains once a betting platform confirms thousands of charges per second.
//! So each account's running totals are kept in [`BALANCE_SHARDS`] shard items; a movement adds
//! its legs to exactly one shard, chosen by hashing the movement id (uniform, and the same on
//! a retry), in the same transaction as the movement itself. A read sums the shards
//! (one BatchGetItem). At 3,000 movements/s per account each shard sees ~94 writes/s. Shards
//! are caches of the legs, never a source of truth: a test recomputes every balance from the
//! movements and compares.

pub mod ports;
pub mod record;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::pix::ids::{AccountId, RecipientId};
use crate::pix::money::Money;

/// How many shard items hold one account's balance.
pub const BALANCE_SHARDS: u32 = 32;

/// A merchant account's buckets. Each holds money the account has (≥ 0), except
/// [`Bucket::Owed`], which holds what it owes and does not have (≤ 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    Incoming,
    Available,
    ReservedForSplits,
    RecipientDebts,
    /// Set aside while the PIX network may claim it back: an open dispute (MED) or a
    /// confirmation under cautelar hold.
    Held,
    /// What the account owes and `available` could not cover (a dispute larger than it):
    /// negative, shown as a positive `owed`; the account's next credits pay it first. So a
    /// shortfall is a visible debt, never a silently negative `available`.
    Owed,
}

impl Bucket {
    pub const ALL: [Bucket; 6] = [
        Bucket::Incoming,
        Bucket::Available,
        Bucket::ReservedForSplits,
        Bucket::RecipientDebts,
        Bucket::Held,
        Bucket::Owed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Incoming => "INCOMING",
            Bucket::Available => "AVAILABLE",
            Bucket::ReservedForSplits => "RESERVED_FOR_SPLITS",
            Bucket::RecipientDebts => "RECIPIENT_DEBTS",
            Bucket::Held => "HELD",
            Bucket::Owed => "OWED",
        }
    }

    /// Whether the bucket's balance is a debt (never above 0) rather than money (never below).
    pub fn is_debt(self) -> bool {
        self == Bucket::Owed
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Who a leg belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    Merchant(AccountId, Bucket),
    /// A split recipient of the account: negative while it owes the account.
    Recipient(AccountId, RecipientId),
    /// Outside the gateway: money arriving from / leaving to the PIX network.
    PixNetwork,
}

/// One side of a movement: positive credits the account, negative debits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub account: LedgerAccount,
    pub amount: Money,
}

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MovementKind {
    /// A charge was paid: PIX network → incoming.
    ChargeConfirmed,
    /// Its splits were booked: incoming → available (remainder) + reservedForSplits (shares).
    SplitsBooked,
    /// A payout reached its recipient: reservedForSplits → PIX network.
    PayoutPaid,
    /// A payout failed for good: reservedForSplits → available (the merchant settles with the
    /// recipient some other way; nothing is left stuck in the reserve).
    PayoutFailed,
    /// Scheduled splits failed their last allowed payout window: reservedForSplits →
    /// available, one movement per settled chunk of the failed payout's manifest.
    SplitsFailed,
    /// A refund was requested: its money leaves for the payer, from the reserve of the splits
    /// it reduces and from `available` for the rest (see [`crate::refund::liability`]); the
    /// recipient debts it creates in the same movement (`recipientDebts` +, each recipient −).
    /// Reference: `{transactionId}#{refundId}` (legacy: `#{attempt}`).
    RefundRequested,
    /// The provider refused the refund: its money comes back — to the reserve of the splits it
    /// restores, off the debts it forgives (`recipientDebts` −, each recipient +), the rest to
    /// `available` (see [`crate::flows::refund::refund_failure`]). Same reference as the
    /// request.
    RefundReturned,
    /// A cash-out was requested: available → PIX network. Reference: the cash-out id.
    CashoutRequested,
    /// The cash-out failed: PIX network → available. Reference: the cash-out id.
    CashoutReturned,
    /// A failed payout's recipient is let off the debts refunds gave it for the splits that
    /// payout failed for good — it never received them (`recipientDebts` −, the recipient +;
    /// the splits' money went back to `available` with the failure). Reference: the payout id.
    DebtsWrittenOff,
    /// A MED dispute opened: the disputed amount into `held` — from the reserve of the splits
    /// it reduces, from `available` as far as it covers the rest, and what it cannot cover
    /// into `owed` (see [`crate::dispute`]). Reference: the dispute id.
    DisputeOpened,
    /// The dispute was won: `held` back where it came from, `owed` cleared. Reference: the
    /// dispute id.
    DisputeWon,
    /// The dispute was lost: `held` pays the devolução (PIX network); the parts of splits
    /// already paid become recipient debts. Reference: the dispute id.
    DisputeLost,
    /// A cautelar hold lifted: held → incoming (the charge's booking follows). Reference: the
    /// charge's transaction id. (A held payment's own `ChargeConfirmed` goes to `held`.)
    HoldReleased,
    /// A held charge's money returned to the payer: held → PIX network. Reference: the
    /// charge's transaction id.
    HoldReturned,
}

impl MovementKind {
    pub const ALL: [MovementKind; 15] = [
        MovementKind::ChargeConfirmed,
        MovementKind::SplitsBooked,
        MovementKind::PayoutPaid,
        MovementKind::PayoutFailed,
        MovementKind::SplitsFailed,
        MovementKind::RefundRequested,
        MovementKind::RefundReturned,
        MovementKind::CashoutRequested,
        MovementKind::CashoutReturned,
        MovementKind::DebtsWrittenOff,
        MovementKind::DisputeOpened,
        MovementKind::DisputeWon,
        MovementKind::DisputeLost,
        MovementKind::HoldReleased,
        MovementKind::HoldReturned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::ChargeConfirmed => "CHARGE_CONFIRMED",
            MovementKind::SplitsBooked => "SPLITS_BOOKED",
            MovementKind::PayoutPaid => "PAYOUT_PAID",
            MovementKind::PayoutFailed => "PAYOUT_FAILED",
            MovementKind::SplitsFailed => "SPLITS_FAILED",
            MovementKind::RefundRequested => "REFUND_REQUESTED",
            MovementKind::RefundReturned => "REFUND_RETURNED",
            MovementKind::CashoutRequested => "CASHOUT_REQUESTED",
            MovementKind::CashoutReturned => "CASHOUT_RETURNED",
            MovementKind::DebtsWrittenOff => "DEBTS_WRITTEN_OFF",
            MovementKind::DisputeOpened => "DISPUTE_OPENED",
            MovementKind::DisputeWon => "DISPUTE_WON",
            MovementKind::DisputeLost => "DISPUTE_LOST",
            MovementKind::HoldReleased => "HOLD_RELEASED",
            MovementKind::HoldReturned => "HOLD_RETURNED",
        }
    }

    pub fn parse(s: &str) -> Option<MovementKind> {
        MovementKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The movement id of this kind for `reference`.
    pub fn movement_id(self, reference: &str) -> String {
        format!("{}:{reference}", self.id_prefix())
    }

    fn id_prefix(self) -> &'static str {
        match self {
            MovementKind::ChargeConfirmed => "confirm",
            MovementKind::SplitsBooked => "splits",
            MovementKind::PayoutPaid => "payout-paid",
            MovementKind::PayoutFailed => "payout-failed",
            MovementKind::SplitsFailed => "splits-failed",
            MovementKind::RefundRequested => "refund",
            MovementKind::RefundReturned => "refund-returned",
            MovementKind::CashoutRequested => "cashout",
            MovementKind::CashoutReturned => "cashout-returned",
            MovementKind::DebtsWrittenOff => "debts-written-off",
            MovementKind::DisputeOpened => "dispute-opened",
            MovementKind::DisputeWon => "dispute-won",
            MovementKind::DisputeLost => "dispute-lost",
            MovementKind::HoldReleased => "hold-released",
            MovementKind::HoldReturned => "hold-returned",
        }
    }
}

/// A balanced set of legs, all for one merchant account (plus the PIX network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// `{kind prefix}:{reference}`; one movement per kind and reference, ever.
    pub id: String,
    pub account_id: AccountId,
    pub kind: MovementKind,
    /// The charge's transaction id or the payout id that caused it.
    pub reference: String,
    pub legs: Vec<Leg>,
    pub created_at: DateTime<Utc>,
}

/// The balance of one account (or one shard of it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    pub incoming: Money,
    pub available: Money,
    pub reserved_for_splits: Money,
    pub recipient_debts: Money,
    pub held: Money,
    /// The ledger's sum for [`Bucket::Owed`]: ≤ 0 (the API shows it negated).
    pub owed: Money,
}

impl Balance {
    pub fn get(&self, bucket: Bucket) -> Money {
        match bucket {
            Bucket::Incoming => self.incoming,
            Bucket::Available => self.available,
            Bucket::ReservedForSplits => self.reserved_for_splits,
            Bucket::RecipientDebts => self.recipient_debts,
            Bucket::Held => self.held,
            Bucket::Owed => self.owed,
        }
    }

    fn slot(&mut self, bucket: Bucket) -> &mut Money {
        match bucket {
            Bucket::Incoming => &mut self.incoming,
            Bucket::Available => &mut self.available,
            Bucket::ReservedForSplits => &mut self.reserved_for_splits,
            Bucket::RecipientDebts => &mut self.recipient_debts,
            Bucket::Held => &mut self.held,
            Bucket::Owed => &mut self.owed,
        }
    }

    /// Adds a movement's legs for `account`.
    pub fn apply(&mut self, account: &AccountId, movement: &Movement) {
        for leg in &movement.legs {
            if let LedgerAccount::Merchant(owner, bucket) = &leg.account
                && owner == account
            {
                let slot = self.slot(*bucket);
                *slot = Money::from_cents(slot.cents() + leg.amount.cents());
            }
        }
    }

    pub fn plus(self, other: Balance) -> Balance {
        Balance {
            incoming: Money::from_cents(self.incoming.cents() + other.incoming.cents()),
            available: Money::from_cents(self.available.cents() + other.available.cents()),
            reserved_for_splits: Money::from_cents(
                self.reserved_for_splits.cents() + other.reserved_for_splits.cents(),
            ),
            recipient_debts: Money::from_cents(
                self.recipient_debts.cents() + other.recipient_debts.cents(),
            ),
            held: Money::from_cents(self.held.cents() + other.held.cents()),
            owed: Money::from_cents(self.owed.cents() + other.owed.cents()),
        }
    }

    /// The sum of all movements' legs for `account`: the truth the shards must equal.
    pub fn from_movements<'a>(
        account: &AccountId,
        movements: impl IntoIterator<Item = &'a Movement>,
    ) -> Balance {
        let mut balance = Balance::default();
        for m in movements {
            balance.apply(account, m);
        }
        balance
    }
}

/// Why a movement could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("movement {0} does not balance")]
    Unbalanced(String),
    #[error("movement {0} has a non-positive amount")]
    NonPositive(String),
    #[error("the draw of movement {0} does not match its debit of available")]
    DrawMismatch(String),
}

impl Movement {
    /// Builds a movement, refusing one whose legs do not sum to zero.
    pub fn new(
        kind: MovementKind,
        account_id: &AccountId,
        reference: &str,
        legs: Vec<Leg>,
        created_at: DateTime<Utc>,
    ) -> Result<Movement, LedgerError> {
        let id = kind.movement_id(reference);
        let sum: i64 = legs.iter().map(|l| l.amount.cents()).sum();
        if sum != 0 || legs.is_empty() {
            return Err(LedgerError::Unbalanced(id));
        }
        Ok(Movement {
            id,
            account_id: account_id.clone(),
            kind,
            reference: reference.to_owned(),
            legs: legs.into_iter().filter(|l| l.amount.cents() != 0).collect(),
            created_at,
        })
    }

    /// Moves `amount` from one account to another.
    pub fn transfer(
        kind: MovementKind,
        account_id: &AccountId,
        reference: &str,
        from: LedgerAccount,
        to: LedgerAccount,
        amount: Money,
        created_at: DateTime<Utc>,
    ) -> Result<Movement, LedgerError> {
        if amount.cents() <= 0 {
            return Err(LedgerError::NonPositive(format!(
                "{}:{reference}",
                kind.id_prefix()
            )));
        }
        Movement::new(
            kind,
            account_id,
            reference,
            vec![
                Leg {
                    account: from,
                    amount: Money::from_cents(-amount.cents()),
                },
                Leg {
                    account: to,
                    amount,
                },
            ],
            created_at,
        )
    }

    /// The shard of the account's balance this movement adds to.
    pub fn balance_shard(&self) -> u32 {
        balance_shard(&self.id)
    }

    /// This movement's effect on its account's balance.
    pub fn balance_delta(&self) -> Balance {
        let mut b = Balance::default();
        b.apply(&self.account_id, self);
        b
    }
}

/// Where a debit of `available` is taken from: shard → amount, each taken only if that shard
/// holds at least that much when the write happens.
///
/// Why per shard: a balance is spread over [`BALANCE_SHARDS`] items and a storage condition
/// can only look at one item, so "available ≥ X" cannot be one condition. Instead every debit
/// of `available` takes from shards that each hold enough ([`AvailableDraw::plan`], over a
/// fresh read), and the write conditions each of those shards on holding its part. No shard's
/// `available` ever goes below zero, so neither does their sum; a write that lost a race to
/// another debit fails its condition and is planned again from a new read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvailableDraw {
    /// (shard, amount > 0), shards distinct and ascending.
    pub parts: Vec<(u32, Money)>,
}

/// Not enough `available` for a debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("available balance {available} does not cover {needed}")]
pub struct InsufficientAvailable {
    pub available: Money,
    pub needed: Money,
}

impl AvailableDraw {
    /// Takes `needed` from the fullest shards first (fewest items in the write, and the
    /// least chance of racing a small concurrent debit). `shards` are (shard, balance) as just
    /// read; shards with nothing available are never used. `needed` of zero draws nothing.
    pub fn plan(
        shards: &[(u32, Balance)],
        needed: Money,
    ) -> Result<AvailableDraw, InsufficientAvailable> {
        let mut fullest: Vec<(u32, i64)> = shards
            .iter()
            .map(|(shard, b)| (*shard, b.available.cents()))
            .filter(|(_, cents)| *cents > 0)
            .collect();
        fullest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let total: i64 = fullest.iter().map(|(_, c)| c).sum();
        if total < needed.cents() {
            return Err(InsufficientAvailable {
                available: Money::from_cents(total.max(0)),
                needed,
            });
        }
        let mut left = needed.cents();
        let mut parts = Vec::new();
        for (shard, cents) in fullest {
            if left <= 0 {
                break;
            }
            let take = cents.min(left);
            parts.push((shard, Money::from_cents(take)));
            left -= take;
        }
        parts.sort_by_key(|(shard, _)| *shard);
        Ok(AvailableDraw { parts })
    }

    pub fn total(&self) -> Money {
        Money::from_cents(self.parts.iter().map(|(_, m)| m.cents()).sum())
    }
}

/// One balance shard item's change in a write: add `delta`, and when `requires_available` is
/// set, only if the shard's `available` is at least that much before the add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardUpdate {
    pub shard: u32,
    pub delta: Balance,
    pub requires_available: Option<Money>,
}

/// The shard updates that book `movement`, its `available` debit taken as `draw` says.
///
/// Every leg goes to the movement's own shard ([`Movement::balance_shard`]) except the debit of
/// `available`, which `draw` spreads over the shards that hold it (each part conditioned on the
/// shard holding it). A shard named by both gets one update. Errors when `draw` does not add up
/// to the movement's net debit of `available` (a programming error: nothing must be written).
pub fn shard_updates(
    movement: &Movement,
    draw: &AvailableDraw,
) -> Result<Vec<ShardUpdate>, LedgerError> {
    let mut own = movement.balance_delta();
    let debit = (-own.available.cents()).max(0);
    if draw.total().cents() != debit {
        return Err(LedgerError::DrawMismatch(movement.id.clone()));
    }
    if debit > 0 {
        own.available = Money::ZERO;
    }
    let own_shard = movement.balance_shard();
    let mut updates: Vec<ShardUpdate> = Vec::with_capacity(1 + draw.parts.len());
    for (shard, amount) in &draw.parts {
        updates.push(ShardUpdate {
            shard: *shard,
            delta: Balance {
                available: Money::from_cents(-amount.cents()),
                ..Balance::default()
            },
            requires_available: Some(*amount),
        });
    }
    let nothing_drawn = updates.is_empty();
    match updates.iter_mut().find(|u| u.shard == own_shard) {
        Some(u) => u.delta = u.delta.plus(own),
        None if own != Balance::default() || nothing_drawn => updates.push(ShardUpdate {
            shard: own_shard,
            delta: own,
            requires_available: None,
        }),
        None => {}
    }
    updates.sort_by_key(|u| u.shard);
    Ok(updates)
}

/// `hash(movement id) mod BALANCE_SHARDS`: uniform, and stable across processes and retries.
pub fn balance_shard(movement_id: &str) -> u32 {
    let digest = Sha256::digest(movement_id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % BALANCE_SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc() -> AccountId {
        AccountId::generate()
    }

    #[test]
    fn unbalanced_movements_are_refused() {
        let a = acc();
        let now = Utc::now();
        let legs = vec![Leg {
            account: LedgerAccount::Merchant(a.clone(), Bucket::Available),
            amount: Money::from_cents(100),
        }];
        assert!(matches!(
            Movement::new(MovementKind::ChargeConfirmed, &a, "x", legs, now),
            Err(LedgerError::Unbalanced(_))
        ));
        assert!(
            Movement::transfer(
                MovementKind::PayoutPaid,
                &a,
                "p",
                LedgerAccount::PixNetwork,
                LedgerAccount::PixNetwork,
                Money::from_cents(0),
                now
            )
            .is_err()
        );
    }

    #[test]
    fn deltas_and_shards() {
        let a = acc();
        let m = Movement::transfer(
            MovementKind::ChargeConfirmed,
            &a,
            "abc",
            LedgerAccount::PixNetwork,
            LedgerAccount::Merchant(a.clone(), Bucket::Incoming),
            Money::from_cents(20_000),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(m.id, "confirm:abc");
        assert_eq!(m.balance_delta().incoming.cents(), 20_000);
        assert_eq!(m.balance_shard(), balance_shard("confirm:abc"));
        assert!(m.balance_shard() < BALANCE_SHARDS);
        // Another account's legs do not count.
        assert_eq!(Balance::from_movements(&acc(), [&m]), Balance::default());
    }

    #[test]
    fn shards_spread_evenly() {
        let mut counts = [0u32; BALANCE_SHARDS as usize];
        for i in 0..32_000 {
            counts[balance_shard(&format!("confirm:{i:032x}")) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    mod draws {
        use super::*;
        use proptest::prelude::*;

        fn shards(values: &[i64]) -> Vec<(u32, Balance)> {
            values
                .iter()
                .enumerate()
                .map(|(i, cents)| {
                    (
                        i as u32,
                        Balance {
                            available: Money::from_cents(*cents),
                            ..Balance::default()
                        },
                    )
                })
                .collect()
        }

        proptest! {
            /// A plan takes exactly what is needed, never more than a shard holds, or refuses
            /// when the shards together hold less.
            #[test]
            fn plans_are_exact_and_never_overdraw(
                values in proptest::collection::vec(-5_000i64..50_000, 0..32),
                needed in 0i64..400_000,
            ) {
                let shards = shards(&values);
                let positive: i64 = values.iter().filter(|v| **v > 0).sum();
                match AvailableDraw::plan(&shards, Money::from_cents(needed)) {
                    Ok(draw) => {
                        prop_assert!(positive >= needed);
                        prop_assert_eq!(draw.total().cents(), needed);
                        for (shard, amount) in &draw.parts {
                            prop_assert!(amount.cents() > 0);
                            prop_assert!(amount.cents() <= values[*shard as usize]);
                        }
                    }
                    Err(e) => {
                        prop_assert!(positive < needed);
                        prop_assert_eq!(e.needed.cents(), needed);
                    }
                }
            }

            /// The shard updates of a movement add up to its effect on the balance, and every
            /// debited shard is conditioned on holding its part.
            #[test]
            fn shard_updates_add_up_to_the_movement(
                values in proptest::collection::vec(0i64..50_000, 1..32),
                needed in 1i64..100_000,
                reserved in 0i64..10_000,
            ) {
                let a = AccountId::generate();
                let shards = shards(&values);
                let Ok(draw) = AvailableDraw::plan(&shards, Money::from_cents(needed)) else {
                    return Ok(());
                };
                let m = Movement::new(
                    MovementKind::RefundRequested,
                    &a,
                    "tx#1",
                    vec![
                        Leg { account: LedgerAccount::Merchant(a.clone(), Bucket::Available), amount: Money::from_cents(-needed) },
                        Leg { account: LedgerAccount::Merchant(a.clone(), Bucket::ReservedForSplits), amount: Money::from_cents(-reserved) },
                        Leg { account: LedgerAccount::PixNetwork, amount: Money::from_cents(needed + reserved) },
                    ],
                    Utc::now(),
                ).unwrap();
                let updates = shard_updates(&m, &draw).unwrap();
                let sum = updates.iter().fold(Balance::default(), |acc, u| acc.plus(u.delta));
                prop_assert_eq!(sum, m.balance_delta());
                let mut seen = std::collections::BTreeSet::new();
                for u in &updates {
                    prop_assert!(seen.insert(u.shard));
                    if u.delta.available.cents() < 0 {
                        prop_assert_eq!(u.requires_available.map(|m| m.cents()), Some(-u.delta.available.cents()));
                    }
                }
                // A draw that does not match the debit is refused.
                prop_assert!(shard_updates(&m, &AvailableDraw::default()).is_err());
            }
        }
    }
}
