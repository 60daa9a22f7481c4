//! Azure's clock: the one `now()` every handler reads, compressed by the time scale and
//! moved on by the control API.
//!
//! Everything Azure does at its own pace (replication, Graph's lags, a secret reaching every
//! sign-in replica, a reset's node image upgrade, a cluster update, ARM refilling its
//! throttling buckets) is timed on this clock in Azure's own, realistic durations. At time
//! scale `s` it runs `1/s` times as fast as the real one (0.001: an hour of Azure's time
//! passes in 3.6 real seconds), and `POST /_sim/clock/advance` jumps it forward. What a client
//! times with its own clock stays on the real one: token lifetimes (`iat`/`exp`,
//! `expires_in`), the injected latency and fault delays.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// The longest compression and slow-down accepted (a scale outside is refused at start).
pub const TIME_SCALE_RANGE: (f64, f64) = (1e-6, 1e3);

/// Azure's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    /// The real moment it started.
    origin: Instant,
    /// Azure's time at `origin` (the real time then).
    origin_at: OffsetDateTime,
    /// Real seconds per second of Azure's time.
    scale: f64,
    /// How far the control API moved it on, in Azure's time.
    advanced: Mutex<Duration>,
}

impl Clock {
    /// A clock starting at the real time now (or at `resume`, a loaded state's time, if that
    /// is later), running at `scale`.
    pub(crate) fn new(scale: f64, resume: Option<OffsetDateTime>) -> Self {
        let real = OffsetDateTime::now_utc();
        Self {
            origin: Instant::now(),
            origin_at: resume.map_or(real, |r| r.max(real)),
            scale,
            advanced: Mutex::new(Duration::ZERO),
        }
    }

    /// Azure's now.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let ran = self.origin.elapsed().div_f64(self.scale);
        let advanced = *crate::sync::lock(&self.advanced);
        self.origin_at
            .saturating_add(time::Duration::try_from(ran + advanced).unwrap_or(time::Duration::MAX))
    }

    /// Moves Azure's time on by `by` (what was due meanwhile is due now).
    pub(crate) fn advance(&self, by: Duration) {
        let mut a = crate::sync::lock(&self.advanced);
        *a = a.saturating_add(by);
    }

    /// How far it was moved on so far.
    pub(crate) fn advanced(&self) -> Duration {
        *crate::sync::lock(&self.advanced)
    }

    /// Real seconds per second of Azure's time.
    pub(crate) fn scale(&self) -> f64 {
        self.scale
    }

    /// How long a span of Azure's time takes on the real clock (negative spans: zero).
    pub(crate) fn real(&self, azure: time::Duration) -> Duration {
        Duration::try_from(azure)
            .unwrap_or(Duration::ZERO)
            .mul_f64(self.scale)
    }
}

/// The real time now, for what a client times with its own clock (token lifetimes).
pub(crate) fn wall() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Whether `scale` is a usable time scale.
pub(crate) fn valid_scale(scale: f64) -> bool {
    scale.is_finite() && (TIME_SCALE_RANGE.0..=TIME_SCALE_RANGE.1).contains(&scale)
}

#[cfg(test)]
mod tests {
    use super::{Clock, valid_scale};
    use std::time::Duration;

    #[test]
    fn a_compressed_clock_runs_fast_and_advances() {
        let c = Clock::new(0.001, None);
        let t0 = c.now();
        std::thread::sleep(Duration::from_millis(20));
        let ran = c.now() - t0;
        assert!(ran >= time::Duration::seconds(20), "{ran}");
        assert!(ran < time::Duration::seconds(600), "{ran}");
        let before = c.now();
        c.advance(Duration::from_secs(3600));
        assert!(c.now() - before >= time::Duration::hours(1));
        assert_eq!(c.advanced(), Duration::from_secs(3600));
        assert_eq!(
            c.real(time::Duration::minutes(15)),
            Duration::from_millis(900)
        );
        assert_eq!(c.real(time::Duration::seconds(-3)), Duration::ZERO);
    }

    #[test]
    fn a_clock_resumes_a_later_time_only() {
        let later = super::wall() + time::Duration::days(2);
        assert!(Clock::new(1.0, Some(later)).now() >= later);
        let earlier = super::wall() - time::Duration::days(2);
        assert!(Clock::new(1.0, Some(earlier)).now() > earlier + time::Duration::days(1));
    }

    #[test]
    fn scales_outside_the_range_are_refused() {
        assert!(valid_scale(1.0) && valid_scale(0.001) && valid_scale(10.0));
        assert!(!valid_scale(0.0) && !valid_scale(-1.0) && !valid_scale(f64::NAN));
        assert!(!valid_scale(f64::INFINITY) && !valid_scale(1e-9));
    }
}
