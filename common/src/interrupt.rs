//! Interrupts (SIGINT, SIGTERM): one cancellation signal that every wait observes.
//!
//! The driver raises a run's [`Interrupt`] on the first signal; every [`Deadline`] of the
//! run carries it, so each poll loop, retry backoff, sign-in and request in flight sees
//! it through the deadline it already holds — one mechanism, no step has its own. What an
//! interrupted wait does is fixed here:
//! - nothing new is sent: a request not yet sent fails with `Interrupted`;
//! - a read in flight, a sign-in and every pause (poll interval, backoff) end at once;
//! - a write already sent is waited for, up to [`WRITE_GRACE`] after the signal: its
//!   answer is then known; past that the error says its outcome is unknown
//!   ([`Error::outcome_unknown`]) and the step says how a rerun resolves it.
//!
//! [`Deadline`]: crate::wait::Deadline

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::exit::ExitCode;

/// How long a write already sent is waited for after the signal (at most: `--write-grace`
/// shortens it, [`Interrupt::shorten_write_grace`]).
pub const WRITE_GRACE: Duration = Duration::from_secs(5);

pub use crate::exit::Signal;

/// The signal as stored in an [`Interrupt`] (0: not raised).
fn signal_from_u8(v: u8) -> Option<Signal> {
    match v {
        1 => Some(Signal::Int),
        2 => Some(Signal::Term),
        3 => Some(Signal::Pipe),
        _ => None,
    }
}

fn signal_to_u8(s: Signal) -> u8 {
    match s {
        Signal::Int => 1,
        Signal::Term => 2,
        Signal::Pipe => 3,
    }
}

/// A run's cancellation signal: raised once, seen by every wait of the run.
#[derive(Debug, Default)]
pub struct Interrupt {
    signal: AtomicU8,
    notify: Notify,
    /// The write grace, in milliseconds.
    grace_ms: AtomicU64,
}

/// The interrupt of deadlines made outside a run (tests, programs): never raised by the driver.
static UNWATCHED: Interrupt = Interrupt::new();

impl Interrupt {
    /// A signal not raised yet.
    pub const fn new() -> Self {
        Self {
            signal: AtomicU8::new(0),
            notify: Notify::const_new(),
            grace_ms: AtomicU64::new(WRITE_GRACE.as_secs() * 1000),
        }
    }

    /// Waits for a write already sent at most `grace` after the signal (`--write-grace`):
    /// never longer than [`WRITE_GRACE`].
    pub fn shorten_write_grace(&self, grace: Duration) {
        let ms = u64::try_from(grace.min(WRITE_GRACE).as_millis()).unwrap_or(0);
        self.grace_ms.store(ms, Ordering::SeqCst);
    }

    /// How long a write already sent is waited for after the signal.
    pub fn write_grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms.load(Ordering::SeqCst))
    }

    /// The interrupt of a run: one per run, living as long as the process (a deadline,
    /// which carries it, is `Copy`).
    pub fn for_run() -> &'static Self {
        Box::leak(Box::new(Self::new()))
    }

    /// The interrupt of deadlines made outside a driven run.
    pub fn unwatched() -> &'static Self {
        &UNWATCHED
    }

    /// Raises the signal; `false` when it was raised already (the second signal).
    pub fn raise(&self, signal: Signal) -> bool {
        let first = self
            .signal
            .compare_exchange(0, signal_to_u8(signal), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        self.notify.notify_waiters();
        first
    }

    /// The signal, once raised.
    pub fn raised(&self) -> Option<Signal> {
        signal_from_u8(self.signal.load(Ordering::SeqCst))
    }

    /// Resolves when the signal is raised (at once if it was).
    pub async fn wait(&self) -> Signal {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(s) = self.raised() {
                return s;
            }
            notified.await;
        }
    }

    /// The signal, if it is raised within `d`.
    pub async fn raised_within(&self, d: Duration) -> Option<Signal> {
        tokio::time::timeout(d, self.wait()).await.ok()
    }

    /// `Err(Interrupted)` once raised: checked before anything new is started.
    pub fn check(&self, what: &str) -> Result<()> {
        match self.raised() {
            Some(s) => Err(Error::interrupted(s, format!("{what} was not started"))),
            None => Ok(()),
        }
    }

    /// Sleeps `d`, or ends with `Interrupted` when the signal comes first.
    pub async fn sleep(&self, d: Duration, what: &str) -> Result<()> {
        self.check(what)?;
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            s = self.wait() => Err(Error::interrupted(s, format!("{what} was stopped"))),
        }
    }

    /// Runs `fut` (a read, a sign-in: nothing is lost by dropping it) unless the signal
    /// comes first.
    pub async fn abandon<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.check(what)?;
        tokio::select! {
            r = fut => r,
            s = self.wait() => Err(Error::interrupted(s, format!("{what} was stopped"))),
        }
    }

    /// Runs `fut`, a write already being sent: after the signal it is given the write
    /// grace ([`Interrupt::write_grace`]) to answer; past that the error says its outcome
    /// is unknown.
    pub async fn finish_write<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        self.finish_write_within(self.write_grace(), what, fut)
            .await
    }

    async fn finish_write_within<T>(
        &self,
        grace: Duration,
        what: &str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let mut fut = std::pin::pin!(fut);
        tokio::select! {
            r = &mut fut => return r,
            _ = self.wait() => {}
        }
        if let Ok(r) = tokio::time::timeout(grace, fut).await {
            return r;
        }
        let s = self.raised().unwrap_or(Signal::Int);
        Err(Error::interrupted(
            s,
            format!(
                "{what} was sent, and its answer did not come within {} of the {}: whether it took effect is unknown",
                crate::duration::human(grace),
                s.name()
            ),
        )
        .outcome_unknown()
        .with_hint("the rerun of the same command reads what exists before it writes again"))
    }
}

/// Watches SIGINT and SIGTERM for the process, on a thread of its own (so a second signal
/// is seen even while the run is blocked writing to a full pipe): the first raises
/// `interrupt` (the run says on stderr what happens now); the second ends the process at once.
///
/// Returns once the handlers are in place, so no signal between here and the run's end
/// kills the process without its objects.
pub fn watch_signals(interrupt: &'static Interrupt) -> Result<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(Error::usage(format!(
                        "cannot start the signal watcher: {e}"
                    ))));
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let (mut int, mut term) =
                    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                        (Ok(i), Ok(t)) => (i, t),
                        (Err(e), _) | (_, Err(e)) => {
                            let _ = ready_tx.send(Err(Error::usage(format!(
                                "cannot watch SIGINT and SIGTERM: {e}"
                            ))));
                            return;
                        }
                    };
                let _ = ready_tx.send(Ok(()));
                loop {
                    let s = tokio::select! {
                        _ = int.recv() => Signal::Int,
                        _ = term.recv() => Signal::Term,
                    };
                    // The first raises the interrupt: the run says so (when it has work
                    // under way) and drains. A second, or one after stdout closed, ends it.
                    if interrupt.raise(s) {
                        crate::ui::debug(&format!(
                            "{}: starting nothing new; writing every object (unfinished ones with error Interrupted) and passing on the rest of stdin; a second signal stops at once",
                            s.name()
                        ));
                    } else {
                        crate::ui::warn(&format!(
                            "{} again: stopping at once; objects not yet written are lost",
                            s.name()
                        ));
                        // The one exit outside the driver's return: the user asked for it twice.
                        #[allow(clippy::exit)]
                        std::process::exit(i32::from(ExitCode::Stopped(s).code()));
                    }
                }
            });
        })
        .map_err(|e| Error::usage(format!("cannot start the signal watcher: {e}")))?;
    ready_rx
        .recv()
        .map_err(|_| Error::usage("the signal watcher stopped"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_raised_interrupt_ends_sleeps_and_reads_but_not_a_write_that_answers() {
        let i = Interrupt::for_run();
        assert!(i.raised().is_none() && i.check("x").is_ok());
        let started = Instant::now();
        let (slept, ()) = tokio::join!(i.sleep(Duration::from_secs(30), "the pause"), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(i.raise(Signal::Term));
        });
        let e = slept.unwrap_err();
        assert!(e.is_interrupted() && e.code() == "Interrupted", "{e}");
        assert!(e.message().contains("the pause"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!i.raise(Signal::Int), "the second signal is not the first");
        assert_eq!(i.raised(), Some(Signal::Term));

        // Raised already: nothing new starts, a read is not even polled.
        let e = i
            .abandon("GET x", async { Ok::<_, Error>(1) })
            .await
            .unwrap_err();
        assert!(e.message().contains("not started"), "{e}");
        // A write in flight is waited for, and its answer kept.
        let v = i
            .finish_write("POST x", async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Error>(7)
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        assert!(!Error::interrupted(Signal::Int, "m").is_outcome_unknown());
    }

    #[tokio::test]
    async fn a_write_that_does_not_answer_within_the_grace_is_unknown() {
        let i = Interrupt::for_run();
        i.raise(Signal::Int);
        let e = i
            .finish_write_within(
                Duration::from_millis(50),
                "POST /reset",
                std::future::pending::<Result<()>>(),
            )
            .await
            .unwrap_err();
        assert!(e.is_interrupted() && e.is_outcome_unknown(), "{e}");
        assert!(e.message().contains("POST /reset") && e.message().contains("unknown"));
    }

    #[tokio::test]
    async fn a_shortened_grace_is_the_one_waited_and_it_never_grows() {
        let i = Interrupt::for_run();
        assert_eq!(i.write_grace(), WRITE_GRACE);
        i.shorten_write_grace(Duration::from_secs(60));
        assert_eq!(
            i.write_grace(),
            WRITE_GRACE,
            "never longer than WRITE_GRACE"
        );
        i.shorten_write_grace(Duration::from_millis(100));
        assert_eq!(i.write_grace(), Duration::from_millis(100));
        i.raise(Signal::Term);
        let started = Instant::now();
        let e = i
            .finish_write("POST /addPassword", std::future::pending::<Result<()>>())
            .await
            .unwrap_err();
        assert!(e.is_outcome_unknown(), "{e}");
        assert!(e.message().contains("within 100ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn signals_are_stored_and_read_back() {
        for s in [Signal::Int, Signal::Term, Signal::Pipe] {
            assert_eq!(signal_from_u8(signal_to_u8(s)), Some(s));
        }
        assert!(Interrupt::unwatched().raised().is_none());
    }
}
