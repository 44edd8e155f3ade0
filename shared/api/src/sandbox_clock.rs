//! The sandbox's test clock: real time plus an offset that only moves forward.
//!
//! The local gateway creates one and hands the SAME instance to every service it runs (the
//! API, the payout scheduler loop, the queue workers, the sandbox PIX network), so
//! `POST /api/sandbox/clock/advance` moves time for all of them at once: a weekly payout
//! window comes due, a charge passes its `expirationDate`, bearer tokens age. Lambda hosts
//! never build one (they run on [`pixgw_domain::pix::clock::SystemClock`]), so the route that
//! moves it does not exist there.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use pixgw_domain::pix::clock::{Clock, SystemClock};

/// The most one call may move the clock: one year (365 days).
pub const MAX_ADVANCE_SECONDS: i64 = 31_536_000;

/// How far the clock may run ahead of real time in total: 100 years of advances is far
/// beyond any test, and keeps every instant well inside what timestamps and storage keys hold.
pub const MAX_TOTAL_OFFSET: Duration = Duration::days(36_525);

/// An adjustable [`Clock`]: `base.now() + offset`, the offset held in an atomic so every
/// service reads it without a lock.
pub struct SandboxClock {
    base: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

/// Advancing would move the clock more than [`MAX_TOTAL_OFFSET`] ahead of its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sandbox clock cannot run more than 100 years ahead of real time")]
pub struct OffsetLimit;

impl SandboxClock {
    /// Real (system) time, not advanced yet.
    pub fn system() -> SandboxClock {
        SandboxClock::over(Arc::new(SystemClock))
    }

    /// `base` plus an offset (tests put it over a clock they control).
    pub fn over(base: Arc<dyn Clock>) -> SandboxClock {
        SandboxClock {
            base,
            offset_ms: AtomicI64::new(0),
        }
    }

    /// How far ahead of its base the clock runs.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by `by` (not backwards: a negative or zero `by` changes
    /// nothing) and returns the new time. Concurrent advances add up.
    pub fn advance(&self, by: Duration) -> Result<DateTime<Utc>, OffsetLimit> {
        let by_ms = by.num_milliseconds().max(0);
        let limit = MAX_TOTAL_OFFSET.num_milliseconds();
        self.offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                current.checked_add(by_ms).filter(|total| *total <= limit)
            })
            .map_err(|_| OffsetLimit)?;
        Ok(self.now())
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> DateTime<Utc> {
        let base = self.base.now();
        // The offset is capped at 100 years, so this only falls back for a base clock at the
        // very end of chrono's range.
        base.checked_add_signed(self.offset()).unwrap_or(base)
    }
}

impl std::fmt::Debug for SandboxClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxClock")
            .field("offset", &self.offset())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(DateTime<Utc>);

    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2031-02-10T10:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn advances_add_up_and_never_go_back() {
        let clock = SandboxClock::over(Arc::new(Fixed(start())));
        assert_eq!(clock.now(), start());
        assert_eq!(
            clock.advance(Duration::seconds(90)),
            Ok(start() + Duration::seconds(90))
        );
        assert_eq!(
            clock.advance(Duration::days(1)),
            Ok(start() + Duration::seconds(90) + Duration::days(1))
        );
        assert_eq!(
            clock.advance(Duration::seconds(-500)),
            Ok(start() + Duration::seconds(90) + Duration::days(1))
        );
        assert_eq!(clock.offset(), Duration::seconds(90) + Duration::days(1));
    }

    #[test]
    fn the_total_offset_is_capped() {
        let clock = SandboxClock::over(Arc::new(Fixed(start())));
        for _ in 0..100 {
            assert!(clock.advance(Duration::days(365)).is_ok());
        }
        assert_eq!(clock.advance(Duration::days(365)), Err(OffsetLimit));
        // A refused advance changes nothing.
        assert_eq!(clock.offset(), Duration::days(36_500));
        assert!(clock.advance(Duration::days(25)).is_ok());
        assert_eq!(clock.advance(Duration::milliseconds(1)), Err(OffsetLimit));
    }

    #[test]
    fn concurrent_advances_all_count() {
        let clock = Arc::new(SandboxClock::over(Arc::new(Fixed(start()))));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let clock = clock.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let _ = clock.advance(Duration::seconds(1));
                    }
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        assert_eq!(clock.offset(), Duration::seconds(800));
    }
}
