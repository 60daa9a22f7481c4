//! The pause before a record write is read back: how long, and what may end it.
//!
//! Another writer Q loses this writer P's entry when Graph takes Q's read before P's write
//! lands and Q's write after it: Q sends back the tags it read, without P's entry. P sees that
//! only in a read Graph takes after Q's write. Q's window — from the moment Graph took its
//! read to the moment its write landed — lies within Q's own read-and-write as Q's clock sees
//! it (its read sent to its write answered), and P's write landed inside the window; so P's
//! read-back, sent a pause after P's write was answered, shows Q's write whenever the pause is
//! at least as long as Q's window. P cannot see Q, so it measures a like writer's window by
//! its own read-and-write: from its read sent to its write answered, two round trips and its
//! work between them, where Q's window holds about one round trip and that work (Graph takes a
//! read somewhere in its round trip, and applies a write somewhere in its). The pause is that
//! read-and-write, or the median of the run's last [`RECENT`] if longer (a slow link or a busy
//! machine that lasts shows in them, not only in this one; a single slow answer does not
//! lengthen the pauses after it), plus [`MARGIN`]; up to half as long again at random,
//! so that two writers that met do not read back in step, and doubled on each further
//! attempt, up to [`MAX_PAUSE`]. Between P's write landing and Graph taking P's read-back lie,
//! besides the pause, the way back of P's write's answer and the way out of its read-back,
//! about one more round trip; so the pause outlasts the window of a writer whose round trips
//! are up to about three times as long as P's (a pause of the write's round trip alone, as it
//! was sized before, about twice), and of one whose path is slower one way (its write held up
//! on its way) by up to about two of P's round trips.
//!
//! Against Graph (round trips of tens to hundreds of milliseconds) [`MARGIN`] adds little.
//! It is for what the measure may miss where round trips take a millisecond, the simulator on
//! the same machine: another writer held up between its read and its write longer than this
//! run's writes were. A read-and-write there takes 2 to 10 ms in a debug build (one process
//! at a time); on a machine loaded 4 times over its cores (two runs of 8 clusters each at
//! `--jobs 8` beside 19 other tests), a median 9 ms, 49 ms at the 90th percentile and up to
//! 190 ms — and then a run's own writes show a slowness that lasts, and its pauses with them.
//! What the margin does not cover, there: another writer held up 10 to 100 ms longer than this
//! run's writes show (its process descheduled while this one's was not), or one on a slower
//! link than this run's (a person's laptop beside a CI runner in Graph's region). For an entry
//! whose loss only makes a later run more careful that is accepted: step 4's next write of the
//! entry puts back a bound entry lost so (unless the process dies first), and a confirmed entry
//! lost so leaves the pending one, so the next run resets again (see [`super`]'s *Claims*). An
//! entry whose loss would make a later run more generous ([`ReadBack::Guarded`]: step 4's
//! pending entry, before its reset is posted, or a prune could remove the key the cluster then
//! holds) is read back after at least [`GUARDED_PAUSE`] whatever this run measures, as every
//! write was before: 100 ms before a reset that takes minutes cost nothing. The floor for
//! every write made step 4 alone at 0 latency take 391 ms in a release build (13.8 ms before
//! its record moved to the app); with it on the pending entry alone, see docs/performance.md.
//! The tests of two runs of 8 clusters of one app at once and of 32 clusters at `--jobs 32`
//! (`record::` in `tests/`) lost no entry in 15 runs, three at a time beside a release build
//! (load 7 to 17 on 2 cores).
//! `record::two_writers_whose_windows_overlap_lose_no_entry` (in `tests/`) holds one writer's
//! write on its way so that another's lands inside its window, and fails when the pause is
//! sized from the write's round trip alone.
//!
//! # A second look
//! A [`ReadBack::Measured`] batch (step 4's confirmed entries) that was written and read back
//! is read once more after a pause twice as long, and written again if an entry is gone: the
//! write of another process from a read taken before this one landed, held up between its
//! read and its write longer than the first pause (on a loaded machine, its process
//! descheduled, or the server slow to take it), lands after the read-back and puts back
//! the older entries (step 4's pending ones: the next run would reset those clusters again).
//! The second look covers a hold-up about three times as long as the read-back alone. A look
//! cut short (a signal, the deadline, a failed read) leaves the batch written: it was read
//! back once.
//!
//! What no pause covers: a write held in flight (a stalled connection, a proxy) longer than
//! the other writer's pause, from a read made before it. Our own retries never make one: a
//! record write that fails on its way (a 429, a 5xx, no answer) is not sent again as it was
//! but made again from a fresh read (`Request::never_resent`,
//! `record::a_throttled_record_write_is_made_again_from_a_fresh_read` in `tests/`). See [`super`]'s
//! *Concurrency*.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use super::update::{shows, wanted};
use super::{Record, Update, read};
use crate::http::Api;
use crate::ui;

/// What the pause before the read-back adds to this run's reads-and-writes.
const MARGIN: Duration = Duration::from_millis(10);
/// The shortest pause before a [`ReadBack::Guarded`] write's read-back.
pub(super) const GUARDED_PAUSE: Duration = Duration::from_millis(100);
/// The longest.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// How many of this run's reads-and-writes the pause looks back on.
const RECENT: usize = 8;

/// What a lost entry would cost, which sets how its write is read back. A batch is read
/// back as the strictest of its entries asks (`Supersedable` < `Measured` < `Guarded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadBack {
    /// After this run's measured pause, or by a later write queued behind it that changes
    /// every one of its entries (step 4's note of the reset's operation, which the confirmed
    /// entry replaces): its loss only makes a later run more careful.
    Supersedable,
    /// After this run's measured pause, by this write: its loss makes a later run more
    /// careful (step 4's confirmed entry: a reset again).
    Measured,
    /// After the measured pause and at least [`GUARDED_PAUSE`], by this write: its loss
    /// would make a later run more generous (step 4's pending entry, before its reset is
    /// posted: a prune could remove the key the cluster then holds).
    Guarded,
}

/// What this run's reads-and-writes of the record took.
#[derive(Default)]
pub(super) struct Measure {
    recent: Mutex<VecDeque<Duration>>,
}

impl Measure {
    /// Notes what a read-and-write took; the longer of it and the median of the last
    /// [`RECENT`], this one's included (the lower of the two middle ones): a busy machine or a
    /// slow link that lasts shows in it, a single slow answer does not.
    pub(super) fn took(&self, took: Duration) -> Duration {
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(took);
        let mut sorted: Vec<Duration> = recent.iter().copied().collect();
        sorted.sort_unstable();
        took.max(sorted[(sorted.len() - 1) / 2])
    }
}

/// How a pause before a read-back ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Paused {
    /// Its time passed (or the deadline, or an interrupt, came).
    Over,
    /// Every entry of the batch is queued again behind it ([`ReadBack::Supersedable`]).
    Superseded,
}

/// The pause before a read-back: `took` (this read-and-write, from the read sent to the write
/// answered, or the median of the run's last ones if longer) plus [`MARGIN`], at least
/// [`GUARDED_PAUSE`] for a `Guarded` batch, jittered, growing with the attempt; never past the
/// deadline, cut short by an interrupt, and ended when `superseded` says so (looked at again
/// whenever `queued` is told of an entry queued).
pub(super) async fn pause(
    graph: &Api<'_>,
    queued: &Notify,
    superseded: impl Fn() -> bool,
    took: Duration,
    read_back: ReadBack,
    attempt: u32,
) -> Paused {
    let least = if read_back == ReadBack::Guarded {
        GUARDED_PAUSE
    } else {
        Duration::ZERO
    };
    let base = (took + MARGIN)
        .max(least)
        .saturating_mul(1 << attempt.saturating_sub(1).min(4))
        .min(MAX_PAUSE);
    // Up to half as long again, at random (as the retries' jitter): two writers that met
    // do not read back in step.
    let wait = (base + base.mul_f64(fastrand::f64() / 2.0)).min(graph.deadline().remaining());
    ui::trace(&format!(
        "the record: read back in {wait:?} (this run's reads-and-writes took up to {took:?})"
    ));
    let sleep = tokio::time::sleep(wait);
    tokio::pin!(sleep);
    loop {
        // Registered before the look at the queue: an entry queued after it still wakes.
        let notified = queued.notified();
        if superseded() {
            return Paused::Superseded;
        }
        tokio::select! {
            () = &mut sleep => return Paused::Over,
            _ = graph.deadline().interrupt().wait() => return Paused::Over,
            () = notified => {}
        }
    }
}

/// The second look at a `Measured` batch already read back, after a pause twice as long as
/// the first: the record as it reads then when an entry is gone (written again), else `None`.
/// A look cut short (a signal, the deadline, a failed read) leaves it at the read-back.
pub(super) async fn second_look(
    graph: &Api<'_>,
    queued: &Notify,
    app_id: &str,
    changes: &[(String, Update)],
    took: Duration,
) -> Option<Record> {
    pause(graph, queued, || false, took, ReadBack::Measured, 2).await;
    let now = read(graph, app_id).await.ok()?;
    if shows(&wanted(&now, changes)) {
        return None;
    }
    ui::debug(&format!(
        "the record on app {app_id} lost an entry after its read-back (another writer's write from an older read): writing it again"
    ));
    Some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_pause_looks_back_on_the_runs_last_reads_and_writes() {
        let w = Measure::default();
        assert_eq!(w.took(ms(3)), ms(3));
        assert_eq!(w.took(ms(700)), ms(700), "this one's own");
        assert_eq!(
            w.took(ms(2)),
            ms(3),
            "a single slow answer is not the median"
        );
        for _ in 0..3 {
            w.took(ms(50));
        }
        assert_eq!(w.took(ms(1)), ms(50), "a slowness that lasts is");
        for _ in 0..RECENT {
            w.took(ms(1));
        }
        assert_eq!(w.took(ms(1)), ms(1), "and goes once it has");
    }

    #[test]
    fn a_batch_is_read_back_as_its_strictest_entry_asks() {
        use ReadBack::{Guarded, Measured, Supersedable};
        let batch = |r: &[ReadBack]| r.iter().copied().fold(Supersedable, ReadBack::max);
        assert_eq!(batch(&[Supersedable, Supersedable]), Supersedable);
        assert_eq!(batch(&[Supersedable, Measured]), Measured);
        assert_eq!(batch(&[Measured, Guarded, Supersedable]), Guarded);
    }
}
