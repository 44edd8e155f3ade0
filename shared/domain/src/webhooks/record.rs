//! The stored forms of endpoints and deliveries, shared by the adapters (times in epoch
//! milliseconds, enums as their API names).

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::messaging::events::EventType;
use crate::pix::clock::millis_to_time;
use crate::pix::ids::AccountId;

use super::delivery::{Delivery, DeliveryAttempt, DeliveryStatus, InFlight};
use super::endpoint::{EndpointStatus, SealedSecret, WebhookEndpoint};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretRecord {
    pub sealed: String,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointRecord {
    pub account_id: String,
    pub url: String,
    /// Absent = every event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    pub secrets: Vec<SealedSecretRecord>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: u64,
}

impl From<&WebhookEndpoint> for WebhookEndpointRecord {
    fn from(e: &WebhookEndpoint) -> Self {
        let (disabled_reason, disabled_at_ms) = match &e.status {
            EndpointStatus::Enabled => (None, None),
            EndpointStatus::Disabled { reason, at } => {
                (Some(reason.clone()), Some(at.timestamp_millis()))
            }
        };
        WebhookEndpointRecord {
            account_id: e.account_id.to_string(),
            url: e.url.clone(),
            events: e
                .events
                .as_ref()
                .map(|set| set.iter().map(|t| t.as_str().to_owned()).collect()),
            secrets: e
                .secrets
                .iter()
                .map(|s| SealedSecretRecord {
                    sealed: s.sealed.clone(),
                    created_at_ms: s.created_at.timestamp_millis(),
                    expires_at_ms: s.expires_at.map(|t| t.timestamp_millis()),
                })
                .collect(),
            status: e.status.as_str().to_owned(),
            disabled_reason,
            disabled_at_ms,
            created_at_ms: e.created_at.timestamp_millis(),
            updated_at_ms: e.updated_at.timestamp_millis(),
            version: e.version,
        }
    }
}

impl TryFrom<WebhookEndpointRecord> for WebhookEndpoint {
    type Error = StoreError;

    fn try_from(r: WebhookEndpointRecord) -> Result<Self, StoreError> {
        let corrupt = |what: &str| {
            StoreError::Corrupt(format!("{what} of webhook endpoint {}", r.account_id))
        };
        let time = |ms: i64, what: &str| millis_to_time(ms).ok_or_else(|| corrupt(what));
        let events = match &r.events {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| EventType::parse(n).ok_or_else(|| corrupt("events")))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let secrets = r
            .secrets
            .iter()
            .map(|s| {
                Ok(SealedSecret {
                    sealed: s.sealed.clone(),
                    created_at: time(s.created_at_ms, "secret createdAt")?,
                    expires_at: s
                        .expires_at_ms
                        .map(|ms| time(ms, "secret expiresAt"))
                        .transpose()?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let status = match (r.status.as_str(), &r.disabled_reason, r.disabled_at_ms) {
            ("ENABLED", _, _) => EndpointStatus::Enabled,
            ("DISABLED", Some(reason), Some(at)) => EndpointStatus::Disabled {
                reason: reason.clone(),
                at: time(at, "disabledAt")?,
            },
            _ => return Err(corrupt("status")),
        };
        Ok(WebhookEndpoint {
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId"))?,
            url: r.url.clone(),
            events,
            secrets,
            status,
            created_at: time(r.created_at_ms, "createdAt")?,
            updated_at: time(r.updated_at_ms, "updatedAt")?,
            version: r.version,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptRecord {
    pub number: u32,
    pub round: u32,
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub delivery_id: String,
    pub account_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub round: u32,
    pub round_started_at_ms: i64,
    pub attempt_count: u32,
    pub attempts: Vec<DeliveryAttemptRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_lease_until_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub version: u64,
}

impl From<&Delivery> for DeliveryRecord {
    fn from(d: &Delivery) -> Self {
        DeliveryRecord {
            delivery_id: d.id.clone(),
            account_id: d.account_id.to_string(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.as_str().to_owned(),
            status: d.status.as_str().to_owned(),
            round: d.round,
            round_started_at_ms: d.round_started_at.timestamp_millis(),
            attempt_count: d.attempt_count,
            attempts: d
                .attempts
                .iter()
                .map(|a| DeliveryAttemptRecord {
                    number: a.number,
                    round: a.round,
                    at_ms: a.at.timestamp_millis(),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
                .collect(),
            next_attempt_at_ms: d.next_attempt_at.map(|t| t.timestamp_millis()),
            in_flight_attempt: d.in_flight.as_ref().map(|f| f.attempt),
            in_flight_lease_until_ms: d
                .in_flight
                .as_ref()
                .map(|f| f.lease_until.timestamp_millis()),
            created_at_ms: d.created_at.timestamp_millis(),
            updated_at_ms: d.updated_at.timestamp_millis(),
            version: d.version,
        }
    }
}

impl TryFrom<DeliveryRecord> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRecord) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("{what} of delivery {}", r.delivery_id));
        let time = |ms: i64, what: &str| millis_to_time(ms).ok_or_else(|| corrupt(what));
        let attempts = r
            .attempts
            .iter()
            .map(|a| {
                Ok(DeliveryAttempt {
                    number: a.number,
                    round: a.round,
                    at: time(a.at_ms, "attempt time")?,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let in_flight = match (r.in_flight_attempt, r.in_flight_lease_until_ms) {
            (Some(attempt), Some(ms)) => Some(InFlight {
                attempt,
                lease_until: time(ms, "lease")?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("in-flight attempt")),
        };
        Ok(Delivery {
            id: r.delivery_id.clone(),
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId"))?,
            event_id: r.event_id.clone(),
            event_type: EventType::parse(&r.event_type).ok_or_else(|| corrupt("eventType"))?,
            status: DeliveryStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            round: r.round,
            round_started_at: time(r.round_started_at_ms, "roundStartedAt")?,
            attempt_count: r.attempt_count,
            attempts,
            next_attempt_at: r
                .next_attempt_at_ms
                .map(|ms| time(ms, "nextAttemptAt"))
                .transpose()?,
            in_flight,
            created_at: time(r.created_at_ms, "createdAt")?,
            updated_at: time(r.updated_at_ms, "updatedAt")?,
            version: r.version,
        })
    }
}
