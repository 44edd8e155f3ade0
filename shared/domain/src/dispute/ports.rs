//! What storage must do for MED disputes: open one (its charge's claim, the splits it reduces,
//! the held money) in one write, record a defence, decide it either way in one write, let a
//! credit pay what it owes, and list them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::charge::{Charge, ChargeStatus};
use crate::dispute::{Dispute, DisputeState};
use crate::error::{StoreError, WriteOutcome};
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::{AvailableDraw, Movement};
use crate::messaging::events::AccountEvent;
use crate::pix::cursor_text;
use crate::pix::ids::{AccountId, DisputeId};
use crate::recipient::RecipientTotals;
use crate::refund::liability::DebtIncrease;
use crate::refund::ports::ReducedSplit;

/// A dispute opened: its money is held in the same write that records it.
///
/// Conditions: the dispute does not exist (a notice delivered twice opens it once); the charge
/// is stored with status `from` and refund revision `from_revision` (refunds and disputes of a
/// charge serialise there: Σ refunds + open or lost disputes ≤ amount, always); each reduced
/// split is stored SCHEDULED, in no payout, of the charge's account, with `refunded_before`
/// (as for a refund); the movement and the events do not exist; every shard in `draw` holds
/// its part of `available`. Effects: the dispute created; the charge replaced by `charge`
/// (with the dispute's claim); each reduced split by its new version; the recipients' totals
/// changed; the movement with its shard updates; the events and their webhook messages.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenDispute {
    pub dispute: Dispute,
    pub charge: Charge,
    pub from: ChargeStatus,
    pub from_revision: u32,
    pub reduced: Vec<ReducedSplit>,
    pub recipients: Vec<RecipientTotals>,
    pub movement: Movement,
    pub draw: AvailableDraw,
    pub events: Vec<AccountEvent>,
}

/// A defence filed: conditions the dispute stored at `from_version` (and so undecided, as the
/// caller read it); replaces it by `dispute`.
#[derive(Debug, Clone, PartialEq)]
pub struct DefendDispute {
    pub dispute: Dispute,
    pub from_version: u32,
}

/// A dispute decided, won or lost.
///
/// Conditions: the dispute stored at `from_version`; the charge at status `from` and refund
/// revision `from_revision`; each restored split (won) stored SCHEDULED or CANCELLED, in no
/// payout, with `refunded_before` (as for a refused refund); the movement and events absent.
/// Effects: the dispute and the charge replaced; each restored split replaced; each debt (lost:
/// the parts of splits already paid) added to its recipient; the recipients' totals changed;
/// the movement with its shard updates (no debit of `available`: a decision only gives back or
/// pays from `held`); the events and their webhook messages.
#[derive(Debug, Clone, PartialEq)]
pub struct DecideDispute {
    pub dispute: Dispute,
    pub from_version: u32,
    pub charge: Charge,
    pub from: ChargeStatus,
    pub from_revision: u32,
    pub restored: Vec<ReducedSplit>,
    pub debts: Vec<DebtIncrease>,
    pub recipients: Vec<RecipientTotals>,
    pub movement: Movement,
    pub events: Vec<AccountEvent>,
}

/// Part of what a dispute owes, paid by a credit in the write that books the credit: the
/// dispute stored at `from_version` is replaced by `dispute` (its `still_owed` lower).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedRepayment {
    pub dispute: Dispute,
    pub from_version: u32,
    /// Centavos paid (> 0).
    pub paid: i64,
}

/// A position in a newest-first listing of disputes, opaque to API clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeCursor {
    pub opened_at_ms: i64,
    pub dispute_id: DisputeId,
}

impl DisputeCursor {
    pub fn of(dispute: &Dispute) -> DisputeCursor {
        DisputeCursor {
            opened_at_ms: dispute.opened_at.timestamp_millis(),
            dispute_id: dispute.id.clone(),
        }
    }

    /// The grammar of [`DisputeCursor::encode`]'s text, `{openedAtMs}.{disputeId}`.
    pub const PATTERN: &'static str = r"^-?[0-9]{1,15}\.dp_[0-9a-f]{32}$";

    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            cursor_text::write_ms(self.opened_at_ms),
            self.dispute_id
        )
    }

    pub fn decode(text: &str) -> Option<DisputeCursor> {
        let (ms, id) = text.split_once('.')?;
        Some(DisputeCursor {
            opened_at_ms: cursor_text::read_ms(ms)?,
            dispute_id: DisputeId::parse(id)?,
        })
    }
}

/// A listing of one account's disputes, newest opened first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeQuery {
    pub status: Option<DisputeState>,
    /// 1..=[`MAX_DISPUTES_PER_PAGE`].
    pub limit: u32,
    /// Continue strictly after this position.
    pub after: Option<DisputeCursor>,
}

/// The most disputes one page holds.
pub const MAX_DISPUTES_PER_PAGE: u32 = 100;

/// The most owing disputes one booking reads (and so may pay): the oldest first. Why a limit:
/// each one paid is one more item in the booking's write; a credit rarely covers more than a
/// few, and the next credit pays the next ones.
pub const MAX_REPAID_PER_CREDIT: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisputePage {
    pub items: Vec<Dispute>,
    /// Present when more disputes may follow.
    pub next: Option<DisputeCursor>,
}

/// Dispute writes and reads.
#[async_trait]
pub trait DisputeStore: Send + Sync {
    /// See [`OpenDispute`]. `Conflict` when a condition other than the draw failed (the
    /// dispute exists, the charge or a split changed): read again.
    async fn open_dispute(&self, write: &OpenDispute) -> Result<MoneyOutOutcome, StoreError>;

    /// See [`DefendDispute`].
    async fn defend_dispute(&self, write: &DefendDispute) -> Result<WriteOutcome, StoreError>;

    /// See [`DecideDispute`].
    async fn decide_dispute(&self, write: &DecideDispute) -> Result<WriteOutcome, StoreError>;

    /// Strongly consistent.
    async fn get_dispute(&self, id: &DisputeId) -> Result<Option<Dispute>, StoreError>;

    /// A page of the account's disputes per `query`, newest opened first.
    async fn list_disputes(
        &self,
        account: &AccountId,
        query: &DisputeQuery,
    ) -> Result<DisputePage, StoreError>;

    /// Up to [`MAX_REPAID_PER_CREDIT`] of the account's disputes that still owe something,
    /// oldest opened first, each as stored now (found through an index that may lag, then
    /// read strongly consistent; one that no longer owes is left out). The repayment's own
    /// condition on each dispute's version keeps it exact.
    async fn owing_disputes(&self, account: &AccountId) -> Result<Vec<Dispute>, StoreError>;
}
