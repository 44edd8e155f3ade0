//! The account statement: one entry per leg of each movement that touches the account's
//! buckets, oldest first. Every balance is the sum of its bucket's entries (each entry is a
//! leg of the double-entry ledger the balances are booked from), and every entry names its
//! cause (the charge, payout, refund or cash-out) by type and id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, StoreError};
use crate::ledger::ports::LedgerStore;
use crate::ledger::ports::{MAX_MOVEMENTS_PER_PAGE, MovementCursor, MovementQuery};
use crate::ledger::{Bucket, LedgerAccount, Movement, MovementKind};
use crate::pix::cursor_text;
use crate::pix::ids::AccountId;
use crate::pix::money::Money;

/// Credit (money into the bucket) or debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Credit,
    Debit,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Credit => "CREDIT",
            Direction::Debit => "DEBIT",
        }
    }
}

/// One statement line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    /// `{movementId}/{bucket}`: stable, unique.
    pub id: String,
    pub movement_id: String,
    pub kind: MovementKind,
    pub created_at: DateTime<Utc>,
    /// Positive; see `direction`.
    pub amount: Money,
    pub direction: Direction,
    pub bucket: Bucket,
    /// `CASH_IN`, `PAYOUT`, `REFUND` or `CASH_OUT`.
    pub cause_type: &'static str,
    /// The charge's transaction id, the payout id or the cash-out id.
    pub cause_id: String,
}

impl StatementEntry {
    /// The signed amount: positive credits, negative debits.
    pub fn signed_cents(&self) -> i64 {
        match self.direction {
            Direction::Credit => self.amount.cents(),
            Direction::Debit => -self.amount.cents(),
        }
    }
}

/// A position in the statement: the next entry to return (movement + its leg's position among
/// the movement's entries), opaque to API clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementCursor {
    #[serde(rename = "t")]
    pub created_at_ms: i64,
    #[serde(rename = "m")]
    pub movement_id: String,
    #[serde(rename = "l")]
    pub leg: usize,
}

/// The longest movement id a cursor carries, in bytes.
const CURSOR_MAX_MOVEMENT_ID: usize = 199;

impl StatementCursor {
    /// The grammar of [`StatementCursor::encode`]'s text, `{createdAtMs}.{leg}.{hex of the
    /// movement id}`: what [`StatementCursor::decode`] accepts, exactly (see
    /// [`crate::pix::cursor_text`]).
    pub const PATTERN: &'static str = r"^-?[0-9]{1,15}\.[0-7]\.(?:[0-9a-f]{2}){1,199}$";

    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            cursor_text::write_ms(self.created_at_ms),
            self.leg,
            cursor_text::write_hex(&self.movement_id)
        )
    }

    pub fn decode(text: &str) -> Option<StatementCursor> {
        let mut fields = text.splitn(3, '.');
        let created_at_ms = cursor_text::read_ms(fields.next()?)?;
        let leg = match fields.next()?.as_bytes() {
            [digit @ b'0'..=b'7'] => usize::from(digit - b'0'),
            _ => return None,
        };
        let movement_id = cursor_text::read_hex(fields.next()?, CURSOR_MAX_MOVEMENT_ID)?;
        Some(StatementCursor {
            created_at_ms,
            movement_id,
            leg,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<StatementCursor>,
    /// 1..=100 entries.
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementPage {
    pub entries: Vec<StatementEntry>,
    pub next: Option<StatementCursor>,
}

/// The entries of one movement, in leg order.
pub fn entries_of(movement: &Movement) -> Vec<StatementEntry> {
    let (cause_type, cause_id) = cause(movement);
    movement
        .legs
        .iter()
        .filter_map(|leg| match &leg.account {
            LedgerAccount::Merchant(owner, bucket) if owner == &movement.account_id => {
                Some((*bucket, leg.amount.cents()))
            }
            _ => None,
        })
        .filter(|(_, cents)| *cents != 0)
        .map(|(bucket, cents)| StatementEntry {
            id: format!("{}/{}", movement.id, bucket.as_str()),
            movement_id: movement.id.clone(),
            kind: movement.kind,
            created_at: movement.created_at,
            amount: Money::from_cents(cents.abs()),
            direction: if cents > 0 {
                Direction::Credit
            } else {
                Direction::Debit
            },
            bucket,
            cause_type,
            cause_id: cause_id.clone(),
        })
        .collect()
}

/// What caused a movement, by the kind of thing and its id.
fn cause(movement: &Movement) -> (&'static str, String) {
    let reference = movement.reference.as_str();
    match movement.kind {
        MovementKind::ChargeConfirmed | MovementKind::SplitsBooked => {
            ("CASH_IN", reference.to_owned())
        }
        MovementKind::PayoutPaid | MovementKind::PayoutFailed | MovementKind::DebtsWrittenOff => {
            ("PAYOUT", reference.to_owned())
        }
        // `{payoutId}:{transactionId}:{index}` (the chunk's first split).
        MovementKind::SplitsFailed => (
            "PAYOUT",
            reference.split(':').next().unwrap_or(reference).to_owned(),
        ),
        // `{transactionId}#{attempt}`.
        MovementKind::RefundRequested | MovementKind::RefundReturned => (
            "REFUND",
            reference.split('#').next().unwrap_or(reference).to_owned(),
        ),
        MovementKind::CashoutRequested | MovementKind::CashoutReturned => {
            ("CASH_OUT", reference.to_owned())
        }
        MovementKind::DisputeOpened | MovementKind::DisputeWon | MovementKind::DisputeLost => {
            ("DISPUTE", reference.to_owned())
        }
        MovementKind::HoldReleased | MovementKind::HoldReturned => ("HOLD", reference.to_owned()),
    }
}

/// Where a read of movements starts: at a movement (skipping the entries of it the caller
/// has had), or strictly after it.
struct ReadFrom {
    movement: MovementCursor,
    inclusive: bool,
    /// Entries of the movement at `movement` to skip (only when `inclusive`).
    skip: usize,
}

impl ReadFrom {
    /// The position a client's cursor names: its movement, from its entry on.
    fn cursor(cursor: &StatementCursor) -> ReadFrom {
        ReadFrom {
            movement: MovementCursor {
                created_at: crate::pix::clock::millis_to_time(cursor.created_at_ms)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
                movement_id: cursor.movement_id.clone(),
            },
            inclusive: true,
            skip: cursor.leg,
        }
    }

    /// Right after a movement read whole.
    fn after(movement: &Movement) -> ReadFrom {
        ReadFrom {
            movement: MovementCursor {
                created_at: movement.created_at,
                movement_id: movement.id.clone(),
            },
            inclusive: false,
            skip: 0,
        }
    }

    /// How many entries of `movement` the page has had already.
    fn skipped_in(&self, movement: &Movement) -> usize {
        if self.inclusive && self.movement.movement_id == movement.id {
            self.skip
        } else {
            0
        }
    }
}

/// A page of the statement: up to `limit` entries from the cursor on, and a cursor exactly
/// when another entry follows them.
///
/// The end of the statement is what the store says (`MovementPage::more`), never inferred
/// from how many movements a read returned: the store caps a read at
/// [`MAX_MOVEMENTS_PER_PAGE`], below the one-past-the-page a full page asks for.
pub async fn statement_page(
    store: &dyn LedgerStore,
    account: &AccountId,
    query: &StatementQuery,
) -> Result<StatementPage, DomainError> {
    let limit = query.limit.clamp(1, 100) as usize;
    let mut entries: Vec<StatementEntry> = Vec::with_capacity(limit);
    let mut position = query.after.as_ref().map(ReadFrom::cursor);
    loop {
        // One more movement than entries still wanted: every movement has at least one entry,
        // so a read that fills the page usually shows where the next page starts too.
        let want = (limit - entries.len() + 1).min(MAX_MOVEMENTS_PER_PAGE as usize);
        let page = store
            .movements_page(account, &movement_query(query, position.as_ref(), want))
            .await?;
        for movement in &page.movements {
            let skip = position.as_ref().map_or(0, |p| p.skipped_in(movement));
            for (leg, entry) in entries_of(movement).into_iter().enumerate().skip(skip) {
                if entries.len() == limit {
                    // An entry beyond the page: the next page starts with it.
                    let next = StatementCursor {
                        created_at_ms: movement.created_at.timestamp_millis(),
                        movement_id: movement.id.clone(),
                        leg,
                    };
                    return Ok(StatementPage {
                        entries,
                        next: Some(next),
                    });
                }
                entries.push(entry);
            }
        }
        if !page.more {
            return Ok(StatementPage {
                entries,
                next: None,
            });
        }
        let last = page.movements.last().ok_or_else(|| {
            StoreError::Corrupt("an empty page of movements says more follow".into())
        })?;
        position = Some(ReadFrom::after(last));
    }
}

/// The read of up to `want` movements of `query`'s range from `position` on.
fn movement_query(
    query: &StatementQuery,
    position: Option<&ReadFrom>,
    want: usize,
) -> MovementQuery {
    MovementQuery {
        from: query.from,
        to: query.to,
        start: position.map(|p| p.movement.clone()),
        inclusive: position.is_none_or(|p| p.inclusive),
        limit: u32::try_from(want).unwrap_or(MAX_MOVEMENTS_PER_PAGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Leg;

    #[test]
    fn entries_name_their_cause_and_sum_to_the_movement() {
        let a = AccountId::generate();
        let m = Movement::new(
            MovementKind::RefundRequested,
            &a,
            "0123456789abcdef0123456789abcdef#2",
            vec![
                Leg {
                    account: LedgerAccount::Merchant(a.clone(), Bucket::ReservedForSplits),
                    amount: Money::from_cents(-300),
                },
                Leg {
                    account: LedgerAccount::Merchant(a.clone(), Bucket::Available),
                    amount: Money::from_cents(-700),
                },
                Leg {
                    account: LedgerAccount::PixNetwork,
                    amount: Money::from_cents(1000),
                },
            ],
            Utc::now(),
        )
        .unwrap();
        let entries = entries_of(&m);
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.cause_type == "REFUND"
            && e.cause_id == "0123456789abcdef0123456789abcdef"
            && e.direction == Direction::Debit));
        assert_eq!(
            entries
                .iter()
                .map(StatementEntry::signed_cents)
                .sum::<i64>(),
            -1000
        );
        let cursor = StatementCursor {
            created_at_ms: 1,
            movement_id: m.id.clone(),
            leg: 1,
        };
        assert_eq!(
            StatementCursor::decode(&cursor.encode()),
            Some(cursor.clone())
        );
        assert_eq!(
            cursor.encode(),
            format!("1.1.{}", hex::encode(m.id.as_bytes()))
        );
        for bad in [
            "nope", "1.8.61", "1.1.", "1.1.6", "1.1.6G", "1..61", ".1.61",
        ] {
            assert_eq!(StatementCursor::decode(bad), None, "{bad}");
        }
    }
}
