//! Rolling a multi-object run out so that a failure is seen before the fleet is touched
//! (a tool opts in with [`super::Tool::rollout`]; `aks-sp-update`'s resets do).
//!
//! The first object the step acts on runs alone (a canary); once it is done, up to `--jobs`
//! at once. After `max_failures` objects failed (their own error, not a signal's), no new
//! object is started: each one left is written at once with `error.code` `NotStarted`
//! (`error.step` this tool's), so the rerun of the same command on the output retries the
//! failed ones and starts exactly those — the ones done before are only read again. What
//! already runs finishes. Objects passed through (an earlier step's error) or refused on their
//! inputs touch nothing in Azure: they do not count as failures (nor end the canary's turn).

use crate::error::{Error, codes};

/// How a tool's multi-object runs are rolled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// The first object acted on runs alone.
    pub canary: bool,
    /// No new object starts after this many failed (`None`: all start).
    pub max_failures: Option<u32>,
}

impl Default for Rollout {
    /// Every object, `--jobs` at once, whatever fails.
    fn default() -> Self {
        Self {
            canary: false,
            max_failures: None,
        }
    }
}

/// The run's rollout as it goes.
#[derive(Debug, Default)]
pub(super) struct Gate {
    rollout: Rollout,
    /// Objects the step acted on that are done.
    done: usize,
    /// Of those, how many failed.
    failures: u32,
}

impl Gate {
    pub(super) fn new(rollout: Rollout) -> Self {
        Self {
            rollout,
            ..Self::default()
        }
    }

    /// How many objects may run at once now: one until the canary is done, then `jobs`.
    pub(super) fn width(&self, jobs: usize) -> usize {
        if self.rollout.canary && self.done == 0 {
            1
        } else {
            jobs
        }
    }

    /// Whether no new object starts.
    pub(super) fn stopped(&self) -> bool {
        self.rollout
            .max_failures
            .is_some_and(|max| self.failures >= max)
    }

    /// An object the step acted on is done, with its error if it failed; `true` when this
    /// failure stops the run from starting more.
    pub(super) fn finished(&mut self, error: Option<&Error>) -> bool {
        self.done += 1;
        let was = self.stopped();
        if error.is_some_and(|e| !e.is_interrupted()) {
            self.failures += 1;
        }
        !was && self.stopped()
    }

    /// The failures so far.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }

    /// The error an object not started is written with.
    pub(super) fn not_started(&self, step: &str) -> Error {
        Error::step(
            codes::NOT_STARTED,
            format!(
                "{step} did not start on this object: {} earlier object(s) failed (--max-failures {})",
                self.failures,
                self.rollout.max_failures.unwrap_or(0)
            ),
        )
        .with_hint("fix the cause the failed objects name, then rerun the same command on this output: it retries them and starts these")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_runs_alone_and_the_first_failure_stops_the_rest() {
        let mut g = Gate::new(Rollout {
            canary: true,
            max_failures: Some(1),
        });
        assert_eq!(g.width(8), 1);
        assert!(!g.finished(None));
        assert_eq!(g.width(8), 8);
        assert!(!g.stopped());
        let e = Error::step(codes::RESET_NOT_APPLIED, "no");
        assert!(g.finished(Some(&e)), "this failure stops the run");
        assert!(g.stopped());
        assert!(!g.finished(Some(&e)), "already stopped");
        let n = g.not_started("aks-sp-update");
        assert_eq!(n.code(), "NotStarted");
        assert!(n.message().contains("2 earlier object(s) failed"), "{n}");
    }

    #[test]
    fn an_interrupt_is_no_failure_and_by_default_nothing_stops() {
        let mut g = Gate::new(Rollout {
            canary: false,
            max_failures: Some(2),
        });
        assert_eq!(g.width(4), 4);
        let i = Error::interrupted(crate::interrupt::Signal::Int, "stopped");
        g.finished(Some(&i));
        assert_eq!(g.failures(), 0);
        let mut d = Gate::new(Rollout::default());
        for _ in 0..10 {
            d.finished(Some(&Error::step(codes::OPERATION_FAILED, "x")));
        }
        assert!(!d.stopped());
    }
}
