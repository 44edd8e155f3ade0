//! MED disputes (MED 2.0, mandatory since 2026-02-02): a payer reports fraud (or an
//! operational flaw), the payer's bank opens an infraction, and the receiving institution —
//! us — sets the disputed amount aside until it is decided.
//!
//! **A dispute is a provisional refund whose money is held.** Opening one divides the disputed
//! amount exactly as a refund of that amount would under the account's liability rule
//! ([`crate::refund::liability`]), but into `held` instead of out to the payer
//! ([`hold_funding`]): unpaid splits' parts come from their reserve (those splits wait), the
//! account's part and the parts of splits already paid come from `available`, and whatever
//! `available` cannot cover is `owed` — never a silently negative `available`. Lost, the held
//! money pays the devolução (nature `MED_FRAUDE` or `MED_OPERACIONAL`) and the parts become
//! final as that refund's would; won, everything goes back where it came from.
//!
//! This module is the aggregate and its rules, pure; the flows and storage build on it.

pub mod checks;
pub mod ports;
pub mod record;
pub mod validation;
pub mod view;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::charge::DisputeClaim;
use crate::ledger::{Bucket, LedgerAccount, Leg};
use crate::pix::ids::{AccountId, DisputeId, RefundId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::refund::RefundLiability;
use crate::refund::liability::{DebtIncrease, RefundFunding, SplitPart};

/// Why the payer's bank opened the infraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisputeReason {
    Fraud,
    OperationalFlaw,
}

impl DisputeReason {
    pub const ALL: [DisputeReason; 2] = [DisputeReason::Fraud, DisputeReason::OperationalFlaw];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeReason::Fraud => "FRAUD",
            DisputeReason::OperationalFlaw => "OPERATIONAL_FLAW",
        }
    }

    pub fn parse(s: &str) -> Option<DisputeReason> {
        DisputeReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The nature of the devolução a lost dispute of this reason makes.
    pub fn devolution_nature(self) -> DevolutionNature {
        match self {
            DisputeReason::Fraud => DevolutionNature::MedFraud,
            DisputeReason::OperationalFlaw => DevolutionNature::MedOperational,
        }
    }
}

/// The nature of a devolução (BCB API Pix, `natureza`), with its return reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DevolutionNature {
    /// The merchant gives the payment back (MD06).
    Original,
    /// A withdrawal (Pix Saque / Troco) given back (SL02).
    Withdrawal,
    /// A MED return for an operational flaw of a participant (BE08).
    MedOperational,
    /// A MED return for fraud (FR01).
    MedFraud,
}

impl DevolutionNature {
    pub const ALL: [DevolutionNature; 4] = [
        DevolutionNature::Original,
        DevolutionNature::Withdrawal,
        DevolutionNature::MedOperational,
        DevolutionNature::MedFraud,
    ];

    pub fn parse(s: &str) -> Option<DevolutionNature> {
        DevolutionNature::ALL.into_iter().find(|n| n.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DevolutionNature::Original => "ORIGINAL",
            DevolutionNature::Withdrawal => "RETIRADA",
            DevolutionNature::MedOperational => "MED_OPERACIONAL",
            DevolutionNature::MedFraud => "MED_FRAUDE",
        }
    }

    /// The ISO 20022 return reason code the PIX network carries.
    pub fn return_code(self) -> &'static str {
        match self {
            DevolutionNature::Original => "MD06",
            DevolutionNature::Withdrawal => "SL02",
            DevolutionNature::MedOperational => "BE08",
            DevolutionNature::MedFraud => "FR01",
        }
    }
}

/// Where a dispute stands: `OPEN` → (`DEFENDED`) → `WON` | `LOST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DisputeState {
    Open,
    Defended,
    Won,
    Lost,
}

impl DisputeState {
    pub const ALL: [DisputeState; 4] = [
        DisputeState::Open,
        DisputeState::Defended,
        DisputeState::Won,
        DisputeState::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeState::Open => "OPEN",
            DisputeState::Defended => "DEFENDED",
            DisputeState::Won => "WON",
            DisputeState::Lost => "LOST",
        }
    }

    pub fn parse(s: &str) -> Option<DisputeState> {
        DisputeState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Still undecided: its money is held.
    pub fn is_open(self) -> bool {
        matches!(self, DisputeState::Open | DisputeState::Defended)
    }
}

/// The most disputes one charge may carry. Why a limit: the charge keeps a claim per dispute
/// in its own item (its conditional write keeps Σ refunds + disputes ≤ amount); a payer's bank
/// opens one infraction per report, and ten reports on one PIX is far past any real case.
pub const MAX_DISPUTES_PER_CHARGE: usize = 10;

/// How long the merchant has to defend when the provider names no deadline. MED 2.0 gives
/// the receiving institution 7 days to analyse an infraction; the merchant must answer within
/// that.
pub const DEFAULT_DEFENCE_DAYS: i64 = 7;

/// The longest defence the gateway forwards. Why a limit: it travels inside the dispute's
/// record and to the provider; 5,000 characters is a long letter.
pub const MAX_DEFENCE_CHARS: usize = 5_000;

/// Why a dispute cannot change as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeRuleError {
    #[error("the defence deadline {respond_by} has passed")]
    DeadlinePassed { respond_by: DateTime<Utc> },
    #[error("the dispute is decided already")]
    Decided,
    #[error("a defence must be 1..={MAX_DEFENCE_CHARS} characters")]
    DefenceLength,
}

/// A dispute's deadline and state, the part its rules read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeTerms {
    pub state: DisputeState,
    pub respond_by: DateTime<Utc>,
}

impl DisputeTerms {
    /// Whether a defence of `text` may be filed at `now`: the dispute is undecided, the deadline
    /// not passed (a defence at the very deadline is in time), the text not empty nor too long.
    /// Filing again before the deadline replaces the defence.
    pub fn check_defence(&self, text: &str, now: DateTime<Utc>) -> Result<(), DisputeRuleError> {
        if !self.state.is_open() {
            return Err(DisputeRuleError::Decided);
        }
        if now > self.respond_by {
            return Err(DisputeRuleError::DeadlinePassed {
                respond_by: self.respond_by,
            });
        }
        let chars = text.trim().chars().count();
        if chars == 0 || chars > MAX_DEFENCE_CHARS {
            return Err(DisputeRuleError::DefenceLength);
        }
        Ok(())
    }
}

/// Where a dispute's held money comes from (all centavos ≥ 0; `from_reserve + from_available
/// + owed` = the disputed amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisputeHold {
    /// The unpaid splits' parts, from `reservedForSplits`.
    pub from_reserve: i64,
    /// The account's part and the paid splits' parts, as far as `available` covers them.
    pub from_available: i64,
    /// What `available` could not cover: the account owes it.
    pub owed: i64,
}

/// The hold of a dispute divided like a refund (`funding`, from
/// [`crate::refund::liability::plan_funding`] over the disputed amount) when `available` holds
/// `available`. A last dispute whose cancelled reserve exceeds its amount gives the excess to
/// `available` as a refund would (`funding.from_available` < 0): nothing is then owed.
pub fn hold_funding(funding: &RefundFunding, available: Money) -> DisputeHold {
    let wanted = funding.from_available;
    let from_available = wanted.min(available.cents().max(0));
    DisputeHold {
        from_reserve: funding.from_reserve.cents(),
        from_available,
        owed: (wanted - from_available).max(0),
    }
}

/// The legs of a dispute opening of `amount` held per `hold`: the reserve and `available` pay
/// what they cover, `owed` takes the rest, `held` takes it all. Balanced by construction:
/// `from_reserve + from_available + owed = amount`.
pub fn opened_legs(account: &AccountId, amount: Money, hold: &DisputeHold) -> Vec<Leg> {
    vec![
        merchant_leg(account, Bucket::ReservedForSplits, -hold.from_reserve),
        merchant_leg(account, Bucket::Available, -hold.from_available),
        merchant_leg(account, Bucket::Owed, -hold.owed),
        merchant_leg(account, Bucket::Held, amount.cents()),
    ]
}

/// The legs of a won dispute of `amount`: `held` gives it all back — `restored` to the reserve
/// of the splits it reduced that still wait, `owed_cleared` (≤ what it put into `owed` and
/// still owed) clears the debt it made, the rest to `available`.
pub fn won_legs(account: &AccountId, amount: Money, restored: i64, owed_cleared: i64) -> Vec<Leg> {
    vec![
        merchant_leg(account, Bucket::Held, -amount.cents()),
        merchant_leg(account, Bucket::ReservedForSplits, restored),
        merchant_leg(account, Bucket::Owed, owed_cleared),
        merchant_leg(
            account,
            Bucket::Available,
            amount.cents() - restored - owed_cleared,
        ),
    ]
}

/// The legs of a lost dispute of `amount`: `held` pays the devolução; the parts of splits
/// already paid, which `available` fronted when it opened, become the recipients' debts.
pub fn lost_legs(account: &AccountId, amount: Money, debts: &[DebtIncrease]) -> Vec<Leg> {
    let fronted: i64 = debts.iter().map(|d| d.amount.cents()).sum();
    let mut legs = vec![
        merchant_leg(account, Bucket::Held, -amount.cents()),
        Leg {
            account: LedgerAccount::PixNetwork,
            amount,
        },
        merchant_leg(account, Bucket::RecipientDebts, fronted),
    ];
    for debt in debts {
        legs.push(Leg {
            account: LedgerAccount::Recipient(account.clone(), debt.recipient_id.clone()),
            amount: Money::from_cents(-debt.amount.cents()),
        });
    }
    legs
}

fn merchant_leg(account: &AccountId, bucket: Bucket, cents: i64) -> Leg {
    Leg {
        account: LedgerAccount::Merchant(account.clone(), bucket),
        amount: Money::from_cents(cents),
    }
}

/// How the payer's bank decided a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DisputeOutcome {
    /// The merchant keeps the money: everything held goes back where it came from.
    Won,
    /// The payer gets it back: the held money pays the devolução.
    Lost,
}

impl DisputeOutcome {
    pub const ALL: [DisputeOutcome; 2] = [DisputeOutcome::Won, DisputeOutcome::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeOutcome::Won => "WON",
            DisputeOutcome::Lost => "LOST",
        }
    }

    pub fn parse(s: &str) -> Option<DisputeOutcome> {
        DisputeOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// The merchant's answer to a dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defence {
    pub text: String,
    pub filed_at: DateTime<Utc>,
}

/// A MED dispute on a paid charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: DisputeId,
    pub account_id: AccountId,
    pub transaction_id: TransactionId,
    /// The provider that reported it, and its own id of the infraction (the dispute's id
    /// derives from both).
    pub provider: String,
    pub infraction_id: String,
    pub reason: DisputeReason,
    pub amount: Money,
    /// The account's liability rule when it opened: a lost dispute divides by it.
    pub liability: RefundLiability,
    /// What each split bears should it be lost (fixed when it opened, like a refund's).
    pub split_parts: Vec<SplitPart>,
    /// Where its held money came from.
    pub hold: DisputeHold,
    /// What it still owes of `hold.owed`: credits pay it down (their booking takes it first),
    /// a won dispute clears it, a lost one keeps it until credits pay it.
    pub still_owed: i64,
    pub state: DisputeState,
    /// Bumped by every write of the dispute, which requires the one it read.
    pub version: u32,
    pub respond_by: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub defence: Option<Defence>,
    /// The devolução's `D…` id, once lost and returned.
    pub devolution_end_to_end_id: Option<EndToEndId>,
}

impl Dispute {
    /// The id of the devolução a loss makes: a lost dispute is a refund of the charge, and the
    /// recipient debts it creates name it like a refund's.
    pub fn devolution_id(&self) -> RefundId {
        RefundId::for_dispute(&self.id)
    }

    /// The claim its charge keeps.
    pub fn claim(&self) -> DisputeClaim {
        DisputeClaim {
            id: self.id.clone(),
            amount: self.amount,
            state: self.state,
            split_parts: self.split_parts.clone(),
        }
    }

    /// The ledger reference of its movements.
    pub fn reference(&self) -> &str {
        self.id.as_str()
    }

    pub fn terms(&self) -> DisputeTerms {
        DisputeTerms {
            state: self.state,
            respond_by: self.respond_by,
        }
    }

    /// The dispute with `text` filed as its defence at `now` (see
    /// [`DisputeTerms::check_defence`]).
    pub fn defended(&self, text: &str, now: DateTime<Utc>) -> Result<Dispute, DisputeRuleError> {
        self.terms().check_defence(text, now)?;
        Ok(Dispute {
            state: DisputeState::Defended,
            defence: Some(Defence {
                text: text.trim().to_owned(),
                filed_at: now,
            }),
            version: self.version.saturating_add(1),
            ..self.clone()
        })
    }

    /// The dispute decided `outcome` at `now`; `None` when it is decided already (a decision
    /// delivered twice, or a second one, changes nothing).
    /// Won, what it still owes is cleared with it.
    pub fn decided(&self, outcome: DisputeOutcome, now: DateTime<Utc>) -> Option<Dispute> {
        if !self.state.is_open() {
            return None;
        }
        Some(Dispute {
            state: match outcome {
                DisputeOutcome::Won => DisputeState::Won,
                DisputeOutcome::Lost => DisputeState::Lost,
            },
            still_owed: match outcome {
                DisputeOutcome::Won => 0,
                DisputeOutcome::Lost => self.still_owed,
            },
            decided_at: Some(now),
            version: self.version.saturating_add(1),
            ..self.clone()
        })
    }

    /// The dispute with `paid` (0 < paid ≤ still owed) of what it owes paid by a credit.
    pub fn repaid(&self, paid: i64) -> Dispute {
        debug_assert!(paid > 0 && paid <= self.still_owed);
        Dispute {
            still_owed: self.still_owed - paid,
            version: self.version.saturating_add(1),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn funding(from_reserve: i64, from_available: i64) -> RefundFunding {
        RefundFunding {
            reduced: Vec::new(),
            from_reserve: Money::from_cents(from_reserve),
            from_available,
            debts: Vec::new(),
            parts: Vec::new(),
        }
    }

    #[test]
    fn available_pays_what_it_can_and_the_rest_is_owed() {
        let hold = hold_funding(&funding(4_750, 250), Money::from_cents(100));
        assert_eq!(
            hold,
            DisputeHold {
                from_reserve: 4_750,
                from_available: 100,
                owed: 150
            }
        );
        let covered = hold_funding(&funding(0, 10_000), Money::from_cents(57_000));
        assert_eq!((covered.from_available, covered.owed), (10_000, 0));
        let excess = hold_funding(&funding(19_000, -1_000), Money::ZERO);
        assert_eq!((excess.from_available, excess.owed), (-1_000, 0));
    }

    proptest! {
        /// The hold always adds up to the disputed amount, never takes more than `available`
        /// holds, and owes only what `available` lacked.
        #[test]
        fn the_hold_adds_up(reserve in 0..1_000_000i64, wanted in -100_000..1_000_000i64, available in 0..2_000_000i64) {
            let hold = hold_funding(&funding(reserve, wanted), Money::from_cents(available));
            prop_assert_eq!(hold.from_reserve + hold.from_available + hold.owed, reserve + wanted.max(0) + wanted.min(0));
            prop_assert!(hold.from_available <= available);
            prop_assert!(hold.owed >= 0);
            prop_assert_eq!(hold.owed > 0, wanted > available);
        }
    }

    fn net(legs: &[Leg], bucket: Bucket) -> i64 {
        legs.iter()
            .filter(|l| matches!(&l.account, LedgerAccount::Merchant(_, b) if *b == bucket))
            .map(|l| l.amount.cents())
            .sum()
    }

    proptest! {
        /// Opening then deciding either way balances at every step, empties `held` of the
        /// dispute, and never makes `owed` positive; won with nothing restored or cleared,
        /// `available` gets back exactly what it paid plus what was owed and not cleared.
        #[test]
        fn every_movement_of_a_dispute_balances(
            reserve in 0..500_000i64,
            wanted in 0..500_000i64,
            available in 0..1_000_000i64,
            paid_since in 0..500_000i64,
        ) {
            let account = AccountId::generate();
            let hold = hold_funding(&funding(reserve, wanted), Money::from_cents(available));
            let amount = Money::from_cents(reserve + wanted);
            prop_assume!(amount.cents() > 0);
            let opened = opened_legs(&account, amount, &hold);
            prop_assert_eq!(opened.iter().map(|l| l.amount.cents()).sum::<i64>(), 0);
            prop_assert!(net(&opened, Bucket::Owed) <= 0);
            prop_assert_eq!(net(&opened, Bucket::Held), amount.cents());
            // Credits paid part of what is owed meanwhile; winning clears the rest.
            let still_owed = (hold.owed - paid_since).max(0);
            let won = won_legs(&account, amount, hold.from_reserve, still_owed);
            prop_assert_eq!(won.iter().map(|l| l.amount.cents()).sum::<i64>(), 0);
            prop_assert_eq!(net(&opened, Bucket::Held) + net(&won, Bucket::Held), 0);
            prop_assert_eq!(net(&opened, Bucket::ReservedForSplits) + net(&won, Bucket::ReservedForSplits), 0);
            prop_assert!(net(&opened, Bucket::Owed) + net(&won, Bucket::Owed) <= 0);
            let lost = lost_legs(&account, amount, &[]);
            prop_assert_eq!(lost.iter().map(|l| l.amount.cents()).sum::<i64>(), 0);
            prop_assert_eq!(net(&opened, Bucket::Held) + net(&lost, Bucket::Held), 0);
        }
    }

    #[test]
    fn a_defence_is_in_time_up_to_the_deadline_and_only_while_undecided() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let terms = DisputeTerms {
            state: DisputeState::Open,
            respond_by: at,
        };
        assert_eq!(terms.check_defence("the goods were delivered", at), Ok(()));
        assert_eq!(
            terms.check_defence("late", at + Duration::milliseconds(1)),
            Err(DisputeRuleError::DeadlinePassed { respond_by: at })
        );
        assert_eq!(
            terms.check_defence("  ", at),
            Err(DisputeRuleError::DefenceLength)
        );
        assert_eq!(
            terms.check_defence(&"x".repeat(MAX_DEFENCE_CHARS + 1), at),
            Err(DisputeRuleError::DefenceLength)
        );
        let decided = DisputeTerms {
            state: DisputeState::Lost,
            respond_by: at,
        };
        assert_eq!(
            decided.check_defence("too late", at),
            Err(DisputeRuleError::Decided)
        );
    }

    fn dispute(at: DateTime<Utc>) -> Dispute {
        Dispute {
            id: DisputeId::derive("sandbox", "inf-1"),
            account_id: AccountId::generate(),
            transaction_id: TransactionId::generate(),
            provider: "sandbox".to_owned(),
            infraction_id: "inf-1".to_owned(),
            reason: DisputeReason::Fraud,
            amount: Money::from_cents(5_000),
            liability: RefundLiability::Proportional,
            split_parts: Vec::new(),
            hold: DisputeHold {
                from_reserve: 4_750,
                from_available: 250,
                owed: 0,
            },
            still_owed: 0,
            state: DisputeState::Open,
            version: 0,
            respond_by: at + Duration::days(7),
            opened_at: at,
            decided_at: None,
            defence: None,
            devolution_end_to_end_id: None,
        }
    }

    #[test]
    fn a_dispute_is_defended_then_decided_once() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let open = dispute(at);
        let defended = open.defended("  delivered, signed receipt  ", at).unwrap();
        assert_eq!(defended.state, DisputeState::Defended);
        assert_eq!(
            defended.defence.as_ref().map(|d| d.text.as_str()),
            Some("delivered, signed receipt")
        );
        assert_eq!(defended.version, 1);
        let won = defended.decided(DisputeOutcome::Won, at).unwrap();
        assert_eq!((won.state, won.decided_at), (DisputeState::Won, Some(at)));
        assert_eq!(won.version, 2);
        assert_eq!(won.decided(DisputeOutcome::Lost, at), None);
        assert_eq!(won.defended("again", at), Err(DisputeRuleError::Decided));
        // Decided without a defence.
        let lost = open.decided(DisputeOutcome::Lost, at).unwrap();
        assert_eq!(lost.state, DisputeState::Lost);
        assert!(lost.defence.is_none());
    }

    #[test]
    fn the_view_shows_the_devolution_only_when_lost() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let open = dispute(at);
        let json = serde_json::to_value(view::DisputeView::new(&open)).unwrap();
        assert_eq!(json["status"], "OPEN");
        assert_eq!(json["reason"], "FRAUD");
        assert_eq!(json["amount"], 50.0);
        assert_eq!(json["respondBy"], "2026-12-14T12:00:00.000Z");
        assert!(json.get("devolution").is_none() && json.get("defence").is_none());
        let lost = open
            .defended("delivered", at)
            .unwrap()
            .decided(DisputeOutcome::Lost, at)
            .unwrap();
        let json = serde_json::to_value(view::DisputeView::new(&lost)).unwrap();
        assert_eq!(json["status"], "LOST");
        assert_eq!(json["defence"]["text"], "delivered");
        assert_eq!(json["devolution"]["nature"], "MED_FRAUDE");
        assert_eq!(json["devolution"]["returnCode"], "FR01");
    }

    #[test]
    fn the_record_round_trips_and_refuses_what_does_not_add_up() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let lost = dispute(at)
            .defended("delivered", at)
            .unwrap()
            .decided(DisputeOutcome::Lost, at)
            .unwrap();
        let record = record::DisputeRecord::from(&lost);
        let json = serde_json::to_string(&record).unwrap();
        let back: record::DisputeRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(Dispute::try_from(back).unwrap(), lost);
        let broken = record::DisputeRecord {
            owed_cents: 1,
            ..record.clone()
        };
        assert!(Dispute::try_from(broken).is_err());
        let half_defence = record::DisputeRecord {
            defence_filed_at_ms: None,
            ..record
        };
        assert!(Dispute::try_from(half_defence).is_err());
    }

    #[test]
    fn reasons_map_to_the_bcb_natures_and_codes() {
        let natures: Vec<(&str, &str)> = DisputeReason::ALL
            .iter()
            .map(|r| {
                let n = r.devolution_nature();
                (n.as_str(), n.return_code())
            })
            .collect();
        assert_eq!(
            natures,
            vec![("MED_FRAUDE", "FR01"), ("MED_OPERACIONAL", "BE08")]
        );
        assert_eq!(
            (
                DevolutionNature::Original.return_code(),
                DevolutionNature::Withdrawal.as_str()
            ),
            ("MD06", "RETIRADA")
        );
        for r in DisputeReason::ALL {
            assert_eq!(DisputeReason::parse(r.as_str()), Some(r));
        }
    }
}
