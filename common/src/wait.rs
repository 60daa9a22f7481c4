//! Waiting on Azure: deadlines and polling for eventual consistency (ARM's long-running
//! operations, which poll with these, are followed in [`crate::arm::operation`]).
//!
//! Which answer means "not yet" is the step's knowledge; this module only loops. The
//! polling interval grows with the time already waited (about 8 % of it, between 250 ms
//! and 10 s, from the start of one look to the start of the next), so a wait that ends
//! after D seconds is noticed within max(250 ms, ~0.1·D) plus one round trip, while a long
//! wait does not hammer Azure. A `Retry-After` from the server wins.

use std::future::Future;
use std::time::{Duration, Instant};

pub use crate::duration::human;
use crate::error::{Error, ErrorKind, Result};
use crate::interrupt::Interrupt;
use crate::ui::Progress;

/// The moment an object's work must be done by (`--timeout` after it started), and the
/// run's [`Interrupt`]: every wait bound by the deadline also ends on the signal.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    timeout: Duration,
    interrupt: &'static Interrupt,
}

impl Deadline {
    /// A deadline `timeout` from now, outside a driven run (no signal ends it).
    pub fn after(timeout: Duration) -> Self {
        Self::watched(timeout, Interrupt::unwatched())
    }

    /// A deadline `timeout` from now that also ends when `interrupt` is raised.
    pub fn watched(timeout: Duration, interrupt: &'static Interrupt) -> Self {
        Self {
            at: Instant::now() + timeout,
            timeout,
            interrupt,
        }
    }

    /// The run's interrupt: what every wait under this deadline observes.
    pub fn interrupt(&self) -> &'static Interrupt {
        self.interrupt
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The `--timeout` it was made from, for messages.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// One look at something being waited for.
#[derive(Debug)]
pub enum Poll<T> {
    /// Done, with the result.
    Ready(T),
    /// Not yet; the status to show, and the server's `Retry-After` if it gave one.
    Pending(String, Option<Duration>),
    /// Over without what was waited for (a refusal that waiting will not change): the result,
    /// and the status the progress line ends with — never "done".
    Ended(T, String),
}

/// The shortest pause between two looks.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);

/// The interval before the next look, after `waited`.
pub fn interval(waited: Duration) -> Duration {
    waited
        .mul_f64(0.08)
        .clamp(MIN_INTERVAL, Duration::from_secs(10))
}

/// Looks with `check` until it is ready or the deadline passes, showing progress.
///
/// A check that fails ends the wait with its error. On timeout the error says what
/// was waited for and the last status seen.
pub async fn poll_until<T, F, Fut>(label: &str, deadline: Deadline, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let mut progress: Option<Progress> = None;
    let mut last_status: Option<String> = None;
    let started = Instant::now();
    loop {
        if let Some(s) = deadline.interrupt().raised() {
            let last = last_status.as_deref().unwrap_or("none yet");
            return Err(Error::interrupted(
                s,
                format!("{label}: stopped; last status: {last}"),
            ));
        }
        let look_started = Instant::now();
        let looked = match check().await {
            Ok(p) => p,
            Err(e) if e.kind() == &ErrorKind::Timeout => {
                let last = last_status.as_deref().unwrap_or("none yet");
                return Err(Error::timeout(format!(
                    "{label}: not done after {} (the --timeout); last status: {last}",
                    human(deadline.timeout())
                )));
            }
            Err(e) if e.is_interrupted() => return Err(e.context(label)),
            Err(e) => return Err(e),
        };
        match looked {
            Poll::Ready(v) => {
                if let Some(p) = progress {
                    p.finish("done");
                }
                return Ok(v);
            }
            Poll::Ended(v, status) => {
                if let Some(p) = progress {
                    p.finish(&status);
                }
                return Ok(v);
            }
            Poll::Pending(status, retry_after) => {
                let p = progress.get_or_insert_with(|| Progress::new(label));
                p.update(&status);
                // The interval runs from the start of one look to the start of the next (the
                // look's own round trip is not added to it); the server's Retry-After counts
                // from its answer, and is honoured, but never as a busy loop.
                let wait = retry_after.map_or_else(
                    || {
                        interval(look_started.duration_since(started))
                            .saturating_sub(look_started.elapsed())
                    },
                    |ra| ra.max(MIN_INTERVAL),
                );
                if deadline.remaining() <= wait {
                    // One last look exactly at the deadline would rarely help; stop cleanly.
                    return Err(Error::timeout(format!(
                        "{label}: not done after {} (the --timeout); last status: {status}",
                        human(deadline.timeout())
                    )));
                }
                last_status = Some(status);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = deadline.interrupt().wait() => {}
                }
            }
        }
    }
}

/// Now, in RFC 3339 UTC with whole seconds (e.g. `2026-01-02T03:04:05Z`).
pub fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_grows_with_the_wait_and_stays_bounded() {
        assert_eq!(interval(Duration::ZERO), Duration::from_millis(250));
        assert_eq!(
            interval(Duration::from_secs(10)),
            Duration::from_millis(800)
        );
        assert_eq!(interval(Duration::from_secs(3600)), Duration::from_secs(10));
        // precision goal: within max(1 s, 10 %) of the moment something became ready
        for s in [1u64, 5, 20, 60, 300, 3000] {
            let d = Duration::from_secs(s);
            assert!(interval(d) <= Duration::from_secs(1).max(d / 10), "{s}");
        }
    }

    #[tokio::test]
    async fn poll_until_returns_when_ready_and_times_out_cleanly() {
        let mut n = 0;
        let v = poll_until("t", Deadline::after(Duration::from_secs(5)), || {
            n += 1;
            let k = n;
            async move {
                Ok(if k < 3 {
                    Poll::Pending(format!("try {k}"), Some(Duration::from_millis(10)))
                } else {
                    Poll::Ready(k)
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);

        let started = Instant::now();
        let e = poll_until::<(), _, _>(
            "waiting for godot",
            Deadline::after(Duration::from_millis(600)),
            || async { Ok(Poll::Pending("not yet".into(), None)) },
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert!(
            e.message().contains("waiting for godot") && e.message().contains("not yet"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok()
                && t.ends_with('Z'),
            "{t}"
        );
    }
}
