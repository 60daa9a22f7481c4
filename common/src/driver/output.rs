//! The output: objects written in input order, each as soon as those before it are; what
//! an object that could not be delivered held, removed again; the counts of the run for
//! its exit code and its last line.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Duration;

use super::object::{Outcome, Status, Written};
use super::{Undo, Verdict};
use crate::context::{Ctx, Shared};
use crate::error::Error;
use crate::exit::ExitCode;
use crate::interrupt::{Interrupt, Signal};
use crate::ui;
use crate::wait::Deadline;

/// How long a run that passes on an interrupted object waits for its own signal.
const SIGNAL_SETTLE: Duration = Duration::from_millis(250);

/// How long the removal of what an undelivered object held may take.
const UNDO_WITHIN: Duration = Duration::from_secs(60);

/// What the run does after writing what was ready.
pub(super) enum Flow {
    /// Go on.
    Go,
    /// stdout was closed just now: nothing new may start (the run stops as on a signal).
    Closed,
    /// The input is unusable from here on: the run ends with this error.
    Fatal(Error),
}

/// The objects finished, written in input order.
pub(super) struct Output<'o> {
    /// `None` once stdout cannot be written (what it buffered is dropped, never sent later).
    out: Option<BufWriter<&'o mut dyn Write>>,
    /// Objects finished before an earlier one, by position in the input.
    held: BTreeMap<usize, Outcome>,
    /// The position of the next object to write.
    next: usize,
    /// Objects written to the buffer since it was last flushed.
    unflushed: usize,
    /// The counts so far.
    pub(super) tally: Tally,
    /// The exit code the objects written so far make (0, 1, 3 or 4).
    pub(super) code: ExitCode,
    /// Whether the run waited for its own signal after an interrupted object came.
    settled: bool,
}

impl<'o> Output<'o> {
    pub(super) fn new(out: &'o mut dyn Write) -> Self {
        Self {
            out: Some(BufWriter::with_capacity(64 << 10, out)),
            held: BTreeMap::new(),
            next: 0,
            unflushed: 0,
            tally: Tally::default(),
            code: ExitCode::Success,
            settled: false,
        }
    }

    /// The position in the input of the next object to write: objects taken and not yet
    /// written are those from here on.
    pub(super) fn next(&self) -> usize {
        self.next
    }

    /// Keeps the outcome of the object at position `i` until it is its turn.
    pub(super) fn put(&mut self, i: usize, outcome: Outcome) {
        self.held.insert(i, outcome);
    }

    /// Writes, in order, every object whose turn has come (to the buffer: see [`Self::flush`]).
    pub(super) async fn write_ready(&mut self, shared: &Arc<Shared>) -> Flow {
        let mut flow = Flow::Go;
        while let Some(outcome) = self.held.remove(&self.next) {
            self.next += 1;
            let w = match outcome {
                Outcome::Fatal(e) => {
                    self.flush();
                    return Flow::Fatal(e);
                }
                Outcome::Written(w) => w,
            };
            if let Status::Skipped { interrupted, line } = &w.status {
                self.say_skipped(line, *interrupted, shared.interrupt).await;
            }
            self.count(&w.status);
            if self.deliver(&w).is_err() {
                flow = Flow::Closed;
                if let Some(u) = w.undo {
                    undo(u, shared).await;
                }
            }
        }
        flow
    }

    /// Sends what is buffered: before the run waits, so the next step has every object
    /// written so far. `Closed` when stdout was closed just now.
    pub(super) fn flush(&mut self) -> Flow {
        if self.unflushed == 0 {
            return Flow::Go;
        }
        if let Some(Err(e)) = self.out.as_mut().map(Write::flush) {
            // The objects buffered since the last flush are lost with it.
            self.close(&e);
            return Flow::Closed;
        }
        self.unflushed = 0;
        Flow::Go
    }

    /// Says an object passed through. One carrying an interrupt, while this run was not
    /// interrupted, waits (once per run) up to [`SIGNAL_SETTLE`] for this run's own signal:
    /// the same Ctrl-C on the pipe's process group most likely reached it too, and its
    /// watcher may be a moment behind. Then the step that was stopped has said it: quiet
    /// here (with -v only).
    async fn say_skipped(&mut self, line: &str, carried_interrupt: bool, interrupt: &Interrupt) {
        if carried_interrupt && interrupt.raised().is_none() && !self.settled {
            self.settled = true;
            interrupt.raised_within(SIGNAL_SETTLE).await;
        }
        if carried_interrupt && interrupt.raised().is_some() {
            ui::debug(line);
        } else {
            ui::info(line);
        }
    }

    /// Writes one object; an object holding something to undo is flushed at once, alone,
    /// so that its undo runs exactly when it was not delivered.
    fn deliver(&mut self, w: &Written) -> Result<(), ()> {
        let Some(out) = self.out.as_mut() else {
            self.tally.undelivered += 1;
            return Err(());
        };
        let line = w.object.to_line();
        let mut sent = writeln!(out, "{line}");
        if w.undo.is_some() {
            sent = sent.and_then(|()| out.flush());
        }
        match sent {
            Ok(()) if w.undo.is_some() => self.unflushed = 0,
            Ok(()) => self.unflushed += 1,
            Err(e) => {
                self.tally.undelivered += 1;
                self.close(&e);
                return Err(());
            }
        }
        Ok(())
    }

    /// stdout cannot be written: says so once, and counts what it buffered as lost.
    fn close(&mut self, e: &std::io::Error) {
        let Some(out) = self.out.take() else {
            return;
        };
        // Dropped unsent: a later flush must not deliver half of what follows.
        let _ = out.into_parts();
        self.tally.undelivered += std::mem::take(&mut self.unflushed);
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            ui::error(
                "stdout is closed (the next command ended): objects from here on are not delivered, and nothing new starts",
            );
        } else {
            ui::error(&format!(
                "cannot write to stdout ({e}): objects from here on are not delivered, and nothing new starts"
            ));
        }
    }

    fn count(&mut self, status: &Status) {
        self.tally.count(status);
        let code = match status {
            // A report may find something broken (1), or that needs attention soon (4:
            // only when nothing failed, which the merge sees to).
            Status::Done { verdict, .. } => match verdict {
                Verdict::Fine => ExitCode::Success,
                Verdict::Soon => ExitCode::Soon,
                Verdict::Broken => ExitCode::Failure,
            },
            // A credential failure exits 3; any other error written (this step's, or an
            // earlier one passed through: the last tool of a pipe reports the pipe) 1.
            Status::Failed(e) if e.exit_code() == ExitCode::Credential => ExitCode::Credential,
            Status::Failed(_) | Status::Skipped { .. } | Status::NotStarted(_) => ExitCode::Failure,
        };
        self.code = self.code.merge(code);
    }
}

/// Removes what an undelivered object held, and says so (or what is left and how to remove it).
async fn undo(u: Undo, shared: &Arc<Shared>) {
    // A context of its own: the run's interrupt is raised (stdout closed), and this is the
    // one write that still has to be made.
    let ctx = Ctx {
        shared: shared.clone(),
        deadline: Deadline::after(UNDO_WITHIN),
    };
    match (u.remove)(&ctx).await {
        Ok(done) => ui::warn(&format!("{} was in that object alone: {done}", u.what)),
        Err(e) => ui::error(&format!(
            "{} was in that object alone and is now orphaned: removing it failed ({}); remove it with: {}",
            u.what,
            e.message(),
            u.by_hand
        )),
    }
}

/// What the run wrote, for its last line.
#[derive(Default)]
pub(super) struct Tally {
    objects: usize,
    changed: usize,
    unchanged: usize,
    failed: usize,
    skipped: usize,
    not_started: usize,
    undelivered: usize,
    /// Objects this run stopped or did not start because of a signal.
    interrupted: usize,
    /// The first of those errors, which the last line of a one-object run says.
    first_interrupt: Option<String>,
    /// Whether a write of a stopped object has an unknown outcome.
    outcome_unknown: bool,
}

impl Tally {
    fn count(&mut self, status: &Status) {
        self.objects += 1;
        match status {
            Status::Done { changed: true, .. } => self.changed += 1,
            Status::Done { changed: false, .. } => self.unchanged += 1,
            Status::Failed(e) => {
                self.failed += 1;
                self.stopped(e);
            }
            Status::Skipped { .. } => self.skipped += 1,
            Status::NotStarted(e) => {
                self.not_started += 1;
                self.stopped(e);
            }
        }
    }

    fn stopped(&mut self, e: &Error) {
        if e.is_interrupted() {
            self.interrupted += 1;
            self.outcome_unknown |= e.is_outcome_unknown();
            if self.first_interrupt.is_none() {
                self.first_interrupt = Some(e.message().to_owned());
            }
        }
    }

    /// `N objects: a changed, b unchanged, c failed, d skipped, e not started[, f not delivered]`.
    fn counts(&self) -> String {
        let mut s = format!(
            "{} objects: {} changed, {} unchanged, {} failed, {} skipped, {} not started",
            self.objects, self.changed, self.unchanged, self.failed, self.skipped, self.not_started
        );
        if self.undelivered > 0 {
            let _ = write!(s, ", {} not delivered", self.undelivered);
        }
        s
    }

    /// The run's last line: the summary of a multi-object run; after a signal that stopped
    /// work of this run, what it stopped and what to do (one line); nothing more for a
    /// one-object run that was not interrupted.
    pub(super) fn say_end(&self, signal: Option<Signal>) {
        match signal {
            Some(s) if s != Signal::Pipe && self.interrupted > 0 => {
                let unknown = if self.outcome_unknown {
                    " (a write's outcome is unknown: the rerun reads what exists before it writes)"
                } else {
                    ""
                };
                let what = match (&self.first_interrupt, self.objects) {
                    (Some(m), 1) => m.clone(),
                    _ => format!("{}: {}", s.name(), self.counts()),
                };
                ui::warn(&format!(
                    "{what}{unknown}; rerun the same command on the output to finish"
                ));
            }
            _ if self.objects > 1 => ui::info(&format!("summary: {}", self.counts())),
            Some(s) if s != Signal::Pipe => {
                ui::debug(&format!("{}: nothing of this run was stopped", s.name()));
            }
            _ => {}
        }
    }
}
