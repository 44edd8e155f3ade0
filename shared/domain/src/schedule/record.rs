//! The stored form of an account's payout schedule ([`ScheduleState`]), shared by every storage
//! adapter in the style of [`crate::charge::record`]: enums by their API names, times as epoch
//! milliseconds, re-validated on the way back so a corrupted item surfaces as
//! [`StoreError::Corrupt`] instead of a wrong payout window.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::pix::clock::millis_to_time;
use crate::pix::ids::AccountId;
use crate::schedule::PayoutSchedule;
use crate::schedule::ports::{RunLease, ScheduleState};

/// `{accountId, frequency, time, weekday?, dayOfMonth?, nextRunAtMs, version, updatedAtMs}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRecord {
    pub account_id: String,
    /// `DAILY`, `WEEKLY` or `MONTHLY`.
    pub frequency: String,
    /// Local (America/Sao_Paulo) `HH:MM`.
    pub time: String,
    /// WEEKLY only: `MONDAY` … `SUNDAY`. Omitted, not null, otherwise (DynamoDB has no use for
    /// a NULL attribute and the stream relay's SDK is picky about odd encodings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<String>,
    /// MONTHLY only: 1..=31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_of_month: Option<u8>,
    pub next_run_at_ms: i64,
    pub version: u64,
    pub updated_at_ms: i64,
    /// The payout scheduler's lease ([`RunLease`]), all three or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_window_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<i64>,
}

impl From<&ScheduleState> for ScheduleRecord {
    fn from(s: &ScheduleState) -> Self {
        let (frequency, time, weekday, day_of_month) = s.schedule.as_record();
        ScheduleRecord {
            account_id: s.account_id.to_string(),
            frequency,
            time,
            weekday,
            day_of_month,
            next_run_at_ms: s.next_run_at.timestamp_millis(),
            version: s.version,
            updated_at_ms: s.updated_at.timestamp_millis(),
            lease_run_id: s.lease.as_ref().map(|l| l.run_id.clone()),
            lease_window_ms: s.lease.as_ref().map(|l| l.window.timestamp_millis()),
            lease_until_ms: s.lease.as_ref().map(|l| l.lease_until.timestamp_millis()),
        }
    }
}

impl TryFrom<ScheduleRecord> for ScheduleState {
    type Error = StoreError;

    fn try_from(r: ScheduleRecord) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("{what} of schedule {}", r.account_id));
        let schedule = PayoutSchedule::from_record(
            &r.frequency,
            &r.time,
            r.weekday.as_deref(),
            r.day_of_month,
        )
        .ok_or_else(|| corrupt("schedule"))?;
        let lease = match (r.lease_run_id, r.lease_window_ms, r.lease_until_ms) {
            (None, None, None) => None,
            (Some(run_id), Some(window), Some(until)) => Some(RunLease {
                run_id,
                window: millis_to_time(window).ok_or_else(|| corrupt("lease window"))?,
                lease_until: millis_to_time(until).ok_or_else(|| corrupt("lease expiry"))?,
            }),
            _ => return Err(corrupt("lease")),
        };
        Ok(ScheduleState {
            lease,
            account_id: AccountId::parse(&r.account_id).ok_or_else(|| corrupt("accountId"))?,
            schedule,
            next_run_at: millis_to_time(r.next_run_at_ms).ok_or_else(|| corrupt("nextRunAt"))?,
            version: r.version,
            updated_at: millis_to_time(r.updated_at_ms).ok_or_else(|| corrupt("updatedAt"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, TimeZone, Utc, Weekday};

    use super::*;

    #[test]
    fn round_trips_every_frequency_and_rejects_garbage() {
        let at = |ms| Utc.timestamp_millis_opt(ms).single().expect("instant");
        let nine = NaiveTime::from_hms_opt(9, 30, 0).expect("time");
        let schedules = [
            PayoutSchedule::daily(nine),
            PayoutSchedule::weekly(Weekday::Fri, nine),
            PayoutSchedule::monthly(31, nine).expect("valid day"),
        ];
        for schedule in schedules {
            let state = ScheduleState {
                account_id: AccountId::generate(),
                schedule,
                next_run_at: at(1_767_268_800_000),
                version: 7,
                updated_at: at(1_767_200_000_123),
                lease: Some(RunLease {
                    run_id: "run-1".into(),
                    window: at(1_767_268_000_000),
                    lease_until: at(1_767_268_300_000),
                }),
            };
            let record = ScheduleRecord::from(&state);
            assert_eq!(ScheduleState::try_from(record), Ok(state));
        }

        let good = ScheduleRecord::from(&ScheduleState::initial(&AccountId::generate(), at(0)));
        let broken = [
            ScheduleRecord {
                frequency: "HOURLY".into(),
                ..good.clone()
            },
            ScheduleRecord {
                time: "9:00".into(),
                ..good.clone()
            },
            ScheduleRecord {
                weekday: Some("FRIDAY".into()),
                ..good.clone()
            },
            ScheduleRecord {
                account_id: "nope".into(),
                ..good.clone()
            },
        ];
        for record in broken {
            assert!(matches!(
                ScheduleState::try_from(record),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
