//! The delivery log: one [`Delivery`] per event sent to an endpoint, with every attempt.
//!
//! A delivery goes PENDING → DELIVERED (a 2xx) or FAILED (retries ran out after at least
//! [`RETRY_WINDOW`], or the endpoint answered 410 Gone, or it was removed/disabled). A manual
//! redelivery starts a new *round*: the delivery is PENDING again, its attempt numbers go on,
//! and a fresh retry window begins. Messages name the round and attempt they are for, so a
//! duplicate or late message is recognised and dropped.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::messaging::events::EventType;
use crate::pix::ids::AccountId;

/// Retries go on for at least this long after a round starts.
pub const RETRY_WINDOW: Duration = Duration::hours(24);

/// The attempts a delivery record keeps (the newest); `attempt_count` keeps counting.
pub const MAX_LOGGED_ATTEMPTS: usize = 50;

/// Each attempt waits at most this long for the response.
pub const ATTEMPT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// How long a claimed attempt is exclusive: longer than the timeout plus recording it. A
/// dispatcher that dies mid-attempt leaves the claim, and the message's redelivery (after the
/// queue's visibility timeout) retries once the lease has passed.
pub const ATTEMPT_LEASE: Duration = Duration::seconds(60);

/// Nominal waits after the 1st, 2nd, … failed attempt; the last repeats. With ±20 % jitter the
/// 24-hour window holds 11 or 12 attempts.
const BACKOFF: [i64; 9] = [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800];

/// The nominal wait after failed attempt number `attempt` (1-based).
fn nominal_backoff(attempt: u32) -> Duration {
    let index = (attempt.max(1) as usize - 1).min(BACKOFF.len() - 1);
    Duration::seconds(BACKOFF[index])
}

/// The wait after failed attempt `attempt`, with jitter: `unit` is uniform in [0, 1) and
/// scales the nominal wait by 0.8 ..< 1.2 (spreads retries of many deliveries that failed
/// together, e.g. when a merchant's server was down).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let factor = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
    let millis = nominal_backoff(attempt).num_milliseconds() as f64 * factor;
    Duration::milliseconds(millis.round() as i64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One POST to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// 1-based, over the delivery's whole life (rounds included).
    pub number: u32,
    pub round: u32,
    pub at: DateTime<Utc>,
    /// `None` when no response came (timeout, connection refused, URL refused).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it did not succeed, when it did not (never the response body).
    pub error: Option<String>,
}

impl DeliveryAttempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// The attempt a dispatcher has claimed and not recorded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    pub attempt: u32,
    pub lease_until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `dlv_` + 32 hex, derived from the event id: see [`Delivery::id_for`].
    pub id: String,
    pub account_id: AccountId,
    /// Also the `webhook-id` header: the same on every attempt and round.
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    /// 0 for the automatic deliveries; +1 per manual redelivery.
    pub round: u32,
    pub round_started_at: DateTime<Utc>,
    /// Attempts made so far, all rounds.
    pub attempt_count: u32,
    /// The newest [`MAX_LOGGED_ATTEMPTS`] attempts, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due (PENDING only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub in_flight: Option<InFlight>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic lock: every write names the version it read and bumps it.
    pub version: u64,
}

impl Delivery {
    /// One delivery per event (an account has one endpoint), so the id is the event's.
    pub fn id_for(event_id: &str) -> String {
        let digest = Sha256::digest(format!("delivery:{event_id}").as_bytes());
        format!("dlv_{}", &hex::encode(digest)[..32])
    }

    /// A new PENDING delivery whose first attempt is due now.
    pub fn new(
        account_id: &AccountId,
        event_id: &str,
        event_type: EventType,
        now: DateTime<Utc>,
    ) -> Delivery {
        Delivery {
            id: Delivery::id_for(event_id),
            account_id: account_id.clone(),
            event_id: event_id.to_owned(),
            event_type,
            status: DeliveryStatus::Pending,
            round: 0,
            round_started_at: now,
            attempt_count: 0,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            in_flight: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The number of the next attempt.
    pub fn next_attempt(&self) -> u32 {
        self.attempt_count + 1
    }

    pub fn last_attempt(&self) -> Option<&DeliveryAttempt> {
        self.attempts.last()
    }

    /// Adds an attempt to the log (dropping the oldest beyond [`MAX_LOGGED_ATTEMPTS`]) and
    /// counts it. Status, schedule and claim are the caller's to set.
    pub fn log_attempt(&mut self, attempt: DeliveryAttempt) {
        self.attempt_count = self.attempt_count.max(attempt.number);
        self.attempts.push(attempt);
        let excess = self.attempts.len().saturating_sub(MAX_LOGGED_ATTEMPTS);
        self.attempts.drain(..excess);
    }

    /// After a failed attempt at `now`: when to try again, or `None` when the round's retry
    /// window is over.
    pub fn retry_at(
        &self,
        failed_attempt: u32,
        now: DateTime<Utc>,
        unit: f64,
    ) -> Option<DateTime<Utc>> {
        if now >= self.round_started_at + RETRY_WINDOW {
            return None;
        }
        Some(now + backoff(failed_attempt, unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retries_cover_at_least_a_day() {
        // The slowest schedule (every wait at its minimum) must still reach the 24-hour mark
        // before giving up: a delivery is FAILED only by a failure at or after it.
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let delivery = Delivery::new(
            &AccountId::generate(),
            "evt_x",
            EventType::PayoutPaid,
            start,
        );
        for unit in [0.0, 0.5, 0.999] {
            let mut now = start;
            let mut attempt = 1;
            while let Some(next) = delivery.retry_at(attempt, now, unit) {
                assert!(next > now);
                now = next;
                attempt += 1;
                assert!(attempt < 30, "the schedule must end");
            }
            assert!(now >= start + RETRY_WINDOW, "gave up at {now}");
            assert!(now < start + RETRY_WINDOW + Duration::hours(10));
            assert!((10..=13).contains(&attempt), "{attempt} attempts");
        }
    }

    proptest! {
        #[test]
        fn backoff_grows_and_stays_within_the_jitter(attempt in 1u32..40, unit in 0.0f64..1.0) {
            let nominal = nominal_backoff(attempt).num_milliseconds();
            let wait = backoff(attempt, unit).num_milliseconds();
            prop_assert!(wait * 10 >= nominal * 8 && wait * 10 < nominal * 12 + 10);
            prop_assert!(nominal_backoff(attempt + 1) >= nominal_backoff(attempt));
            prop_assert!(wait <= 15 * 60 * 1000 || nominal > 15 * 60 * 1000);
        }
    }

    #[test]
    fn the_log_keeps_the_newest_attempts_and_the_count() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut d = Delivery::new(&AccountId::generate(), "evt_y", EventType::PayoutPaid, now);
        for number in 1..=(MAX_LOGGED_ATTEMPTS as u32 + 5) {
            d.log_attempt(DeliveryAttempt {
                number,
                round: 0,
                at: now,
                status_code: Some(500),
                latency_ms: 3,
                error: None,
            });
        }
        assert_eq!(d.attempts.len(), MAX_LOGGED_ATTEMPTS);
        assert_eq!(d.attempts[0].number, 6);
        assert_eq!(d.attempt_count, MAX_LOGGED_ATTEMPTS as u32 + 5);
        assert_eq!(d.next_attempt(), MAX_LOGGED_ATTEMPTS as u32 + 6);
        assert_eq!(Delivery::id_for("evt_y"), d.id);
        assert_ne!(Delivery::id_for("evt_z"), d.id);
    }
}
