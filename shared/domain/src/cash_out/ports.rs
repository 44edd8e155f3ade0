//! What storage must do for cash-outs: request one (the money leaves `available` in the same
//! write, conditioned per balance shard), update it as the provider answers, read and list them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::cash_out::{CashOut, CashOutId, CashOutState};
use crate::error::StoreError;
use crate::error::WriteOutcome;
use crate::idempotency::IdempotencyCompletion;
use crate::ledger::ports::MoneyOutOutcome;
use crate::ledger::{AvailableDraw, Movement};
use crate::messaging::events::AccountEvent;
use crate::messaging::outbox::OutboxMessage;
use crate::pix::cursor_text;
use crate::pix::ids::AccountId;

/// Creates a cash-out (PROCESSING) and takes its amount out of `available`.
///
/// Conditions: no cash-out with this id; the account has no cash-out with this `externalId`
/// (a guard item created here); the movement does not exist; every shard in `draw` holds its
/// part; the idempotency claim (if any) is still ours.
/// Effects: the cash-out, its externalId guard and listing keys; the movement and its shard
/// updates; the outbox messages (`CashoutRequested`); the completion.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestCashOut {
    pub cash_out: CashOut,
    pub movement: Movement,
    pub draw: AvailableDraw,
    pub outbox: Vec<OutboxMessage>,
    pub completion: Option<IdempotencyCompletion>,
}

/// Replaces a cash-out whose stored state is `from` (its settlement, or recording the
/// provider's transfer id while it is still PROCESSING).
///
/// Conditions: the cash-out is stored with state `from`; the movement (if any) and the events
/// do not exist.
/// Effects: the cash-out is replaced; the movement (a FAILED cash-out's money back to
/// `available`) with its shard updates; the events.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCashOut {
    pub cash_out: CashOut,
    pub from: CashOutState,
    pub movement: Option<Movement>,
    pub events: Vec<AccountEvent>,
}

/// A position in the newest-first cash-out listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashOutCursor {
    #[serde(rename = "t")]
    pub created_at_ms: i64,
    #[serde(rename = "i")]
    pub id: CashOutId,
}

impl CashOutCursor {
    pub fn of(cash_out: &CashOut) -> CashOutCursor {
        CashOutCursor {
            created_at_ms: cash_out.created_at.timestamp_millis(),
            id: cash_out.id.clone(),
        }
    }

    /// The grammar of [`CashOutCursor::encode`]'s text, `{createdAtMs}.{cashOutId}`: what
    /// [`CashOutCursor::decode`] accepts, exactly (see [`crate::pix::cursor_text`]).
    pub const PATTERN: &'static str = r"^-?[0-9]{1,15}\.co_[0-9a-f]{32}$";

    pub fn encode(&self) -> String {
        format!("{}.{}", cursor_text::write_ms(self.created_at_ms), self.id)
    }

    pub fn decode(text: &str) -> Option<CashOutCursor> {
        let (ms, id) = text.split_once('.')?;
        Some(CashOutCursor {
            created_at_ms: cursor_text::read_ms(ms)?,
            id: CashOutId::parse(id)?,
        })
    }
}

/// Which of an account's cash-outs to list, newest first (by `created_at`, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutQuery {
    pub state: Option<CashOutState>,
    /// `created_at` ≥ `from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at` < `to`.
    pub to: Option<DateTime<Utc>>,
    /// 1..=100.
    pub limit: u32,
    /// Continue strictly after this position.
    pub after: Option<CashOutCursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutPage {
    pub items: Vec<CashOut>,
    /// Present when more cash-outs may follow.
    pub next: Option<CashOutCursor>,
}

/// Cash-outs: request (the debit of `available` in the same write), update, read, list.
#[async_trait]
pub trait CashOutStore: Send + Sync {
    /// See [`RequestCashOut`].
    async fn request_cash_out(&self, write: &RequestCashOut)
    -> Result<MoneyOutOutcome, StoreError>;

    /// See [`UpdateCashOut`].
    async fn update_cash_out(&self, write: &UpdateCashOut) -> Result<WriteOutcome, StoreError>;

    /// Strongly consistent.
    async fn get_cash_out(&self, id: &CashOutId) -> Result<Option<CashOut>, StoreError>;

    async fn find_cash_out_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<CashOut>, StoreError>;

    /// The account's cash-outs, newest first, through keys/indexes only.
    async fn list_cash_outs(
        &self,
        account: &AccountId,
        query: &CashOutQuery,
    ) -> Result<CashOutPage, StoreError>;
}
