//! Account events: what happened to a merchant's money, recorded in the same atomic write as
//! the state change itself, so an event exists if and only if its change happened.
//!
//! Every event is also the outbox message that delivers it to the merchant's webhook
//! endpoint ([`crate::webhooks`]): the stores relay each new event to the `webhook-deliveries`
//! queue. Its `data` is the resource as the API's GET shows it at that moment
//! (the `view` module of each aggregate). Each event's id is derived from what it reports (the payout, the
//! split), so a repeated write of the same change cannot record it twice: the store creates an
//! event only if its id is absent, as one more condition of the write.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::pix::clock::millis_to_time;
use crate::pix::ids::AccountId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    CashinConfirmed,
    CashinExpired,
    CashinRefunded,
    SplitPaid,
    SplitFailed,
    PayoutPaid,
    PayoutFailed,
    CashoutCompleted,
    CashoutFailed,
    DisputeOpened,
    DisputeWon,
    DisputeLost,
    CashinHeld,
    CashinHoldReleased,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::CashinConfirmed,
        EventType::CashinExpired,
        EventType::CashinRefunded,
        EventType::SplitPaid,
        EventType::SplitFailed,
        EventType::PayoutPaid,
        EventType::PayoutFailed,
        EventType::CashoutCompleted,
        EventType::CashoutFailed,
        EventType::DisputeOpened,
        EventType::DisputeWon,
        EventType::DisputeLost,
        EventType::CashinHeld,
        EventType::CashinHoldReleased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CashinConfirmed => "CASHIN_CONFIRMED",
            EventType::CashinExpired => "CASHIN_EXPIRED",
            EventType::CashinRefunded => "CASHIN_REFUNDED",
            EventType::SplitPaid => "SPLIT_PAID",
            EventType::SplitFailed => "SPLIT_FAILED",
            EventType::PayoutPaid => "PAYOUT_PAID",
            EventType::PayoutFailed => "PAYOUT_FAILED",
            EventType::CashoutCompleted => "CASHOUT_COMPLETED",
            EventType::CashoutFailed => "CASHOUT_FAILED",
            EventType::DisputeOpened => "DISPUTE_OPENED",
            EventType::DisputeWon => "DISPUTE_WON",
            EventType::DisputeLost => "DISPUTE_LOST",
            EventType::CashinHeld => "CASHIN_HELD",
            EventType::CashinHoldReleased => "CASHIN_HOLD_RELEASED",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One recorded event. `data` is the JSON object a webhook will carry (camelCase, money as
/// 2-place decimal strings, like the API).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountEvent {
    /// `evt_` + 32 hex, see [`AccountEvent::new`].
    pub id: String,
    pub account_id: AccountId,
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl AccountEvent {
    /// `subject` names what the event reports (a payout id, `transaction/index` of a split):
    /// the id is a digest of type and subject, so the same fact always gets the same id.
    pub fn new(
        account_id: &AccountId,
        event_type: EventType,
        subject: &str,
        occurred_at: DateTime<Utc>,
        data: serde_json::Value,
    ) -> AccountEvent {
        let digest = Sha256::digest(format!("{}:{subject}", event_type.as_str()).as_bytes());
        AccountEvent {
            id: format!("evt_{}", &hex::encode(digest)[..32]),
            account_id: account_id.clone(),
            event_type,
            occurred_at,
            data,
        }
    }
}

/// The stored form, shared by the adapters. `data` is kept as JSON text: an event's payload
/// is opaque to storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountEventRecord {
    pub event_id: String,
    pub account_id: String,
    pub event_type: String,
    pub occurred_at_ms: i64,
    pub data: String,
}

impl From<&AccountEvent> for AccountEventRecord {
    fn from(e: &AccountEvent) -> Self {
        AccountEventRecord {
            event_id: e.id.clone(),
            account_id: e.account_id.to_string(),
            event_type: e.event_type.as_str().to_owned(),
            occurred_at_ms: e.occurred_at.timestamp_millis(),
            data: e.data.to_string(),
        }
    }
}

impl TryFrom<AccountEventRecord> for AccountEvent {
    type Error = StoreError;

    fn try_from(r: AccountEventRecord) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of event {}", r.event_id));
        Ok(AccountEvent {
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId"))?,
            event_type: EventType::parse(&r.event_type).ok_or_else(|| corrupt("eventType"))?,
            occurred_at: millis_to_time(r.occurred_at_ms).ok_or_else(|| corrupt("occurredAt"))?,
            data: serde_json::from_str(&r.data).map_err(|_| corrupt("data"))?,
            id: r.event_id,
        })
    }
}

/// Reading an account's recorded events (writing happens inside the state-changing writes).
#[async_trait]
pub trait EventLog: Send + Sync {
    /// The account's events, oldest first (by `occurred_at`, then id), after the event id
    /// `after` (exclusive) — at most `limit`.
    async fn list_events(
        &self,
        account: &AccountId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AccountEvent>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_are_stable_per_fact_and_distinct_per_type() {
        let account = AccountId::generate();
        let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
        let a = AccountEvent::new(
            &account,
            EventType::PayoutPaid,
            "po_1",
            at,
            serde_json::json!({}),
        );
        let b = AccountEvent::new(
            &account,
            EventType::PayoutPaid,
            "po_1",
            at,
            serde_json::json!({"x":1}),
        );
        let c = AccountEvent::new(
            &account,
            EventType::PayoutFailed,
            "po_1",
            at,
            serde_json::json!({}),
        );
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert!(a.id.starts_with("evt_") && a.id.len() == 36);
    }

    #[test]
    fn records_round_trip() {
        let account = AccountId::generate();
        let at = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let event = AccountEvent::new(
            &account,
            EventType::SplitFailed,
            "tx/1",
            at,
            serde_json::json!({"amount": "1.23"}),
        );
        let back = AccountEvent::try_from(AccountEventRecord::from(&event)).unwrap();
        assert_eq!(back, event);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }
}
