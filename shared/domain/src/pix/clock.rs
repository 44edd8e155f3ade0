//! Time: the [`Clock`] port (the only way the domain learns the time, so tests and the sandbox
//! can move it) and the two ways times are written, epoch milliseconds in storage and ISO 8601
//! with milliseconds in the API.

use chrono::{DateTime, Utc};

use chrono::{SecondsFormat, TimeZone};

// Clock

/// The only way the domain learns the time, so tests and the sandbox can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

// Clock

pub fn millis_to_time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// ISO 8601 with milliseconds and `Z`, as in seed 004 (`2024-01-15T10:30:00.000Z`).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
