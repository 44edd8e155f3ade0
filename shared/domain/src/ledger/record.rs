//! The stored forms of ledger movements and their legs (integer centavos).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::error::corrupt;
use crate::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use crate::pix::clock::millis_to_time;
use crate::pix::ids::{AccountId, RecipientId};
use crate::pix::money::Money;

/// A leg: `account` is `PIX_NETWORK`, `MERCHANT:{bucket}` or `RECIPIENT:{recipientId}` (the
/// merchant, and the recipient's account, is the movement's account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegRecord {
    pub account: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MovementRecord {
    pub movement_id: String,
    pub account_id: String,
    pub kind: String,
    pub reference: String,
    pub legs: Vec<LegRecord>,
    pub created_at_ms: i64,
}

impl From<&Movement> for MovementRecord {
    fn from(m: &Movement) -> Self {
        MovementRecord {
            movement_id: m.id.clone(),
            account_id: m.account_id.to_string(),
            kind: m.kind.as_str().to_owned(),
            reference: m.reference.clone(),
            legs: m
                .legs
                .iter()
                .map(|l| LegRecord {
                    account: match &l.account {
                        LedgerAccount::PixNetwork => "PIX_NETWORK".to_owned(),
                        LedgerAccount::Merchant(_, bucket) => {
                            format!("MERCHANT:{}", bucket.as_str())
                        }
                        LedgerAccount::Recipient(_, recipient) => {
                            format!("RECIPIENT:{recipient}")
                        }
                    },
                    amount_cents: l.amount.cents(),
                })
                .collect(),
            created_at_ms: m.created_at.timestamp_millis(),
        }
    }
}

impl TryFrom<MovementRecord> for Movement {
    type Error = StoreError;

    fn try_from(r: MovementRecord) -> Result<Self, StoreError> {
        let id = r.movement_id.clone();
        let account_id =
            AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId", &id))?;
        let legs = r
            .legs
            .iter()
            .map(|l| {
                let account = match l.account.as_str() {
                    "PIX_NETWORK" => LedgerAccount::PixNetwork,
                    other if other.starts_with("RECIPIENT:") => other
                        .strip_prefix("RECIPIENT:")
                        .and_then(RecipientId::parse)
                        .map(|r| LedgerAccount::Recipient(account_id.clone(), r))
                        .ok_or_else(|| corrupt("leg account", &id))?,
                    other => other
                        .strip_prefix("MERCHANT:")
                        .and_then(Bucket::parse)
                        .map(|b| LedgerAccount::Merchant(account_id.clone(), b))
                        .ok_or_else(|| corrupt("leg account", &id))?,
                };
                Ok(Leg {
                    account,
                    amount: Money::from_cents(l.amount_cents),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if legs.iter().map(|l| l.amount.cents()).sum::<i64>() != 0 {
            return Err(corrupt("balance of legs", &id));
        }
        Ok(Movement {
            id: r.movement_id,
            account_id,
            kind: MovementKind::parse(&r.kind).ok_or_else(|| corrupt("kind", &id))?,
            reference: r.reference,
            legs,
            created_at: millis_to_time(r.created_at_ms).ok_or_else(|| corrupt("createdAt", &id))?,
        })
    }
}
