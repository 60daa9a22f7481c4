//! Everything the tools say on stderr: messages, hints, progress, logs.
//!
//! stdout carries only envelope objects (see [`crate::driver`]); this module is the one
//! path to stderr. Every line starts with the tool's name. `-q` keeps only errors, `-v`
//! adds one line per HTTP request, `-vv` also the Azure SDK's own logs. Progress of a
//! long wait is a live line on a terminal and a plain line every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicI8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static TOOL: OnceLock<&'static str> = OnceLock::new();
static VERBOSITY: AtomicI8 = AtomicI8::new(0);
static LIVE_LINE: AtomicBool = AtomicBool::new(false);
static STDERR_TTY: OnceLock<bool> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());

/// Sets the tool name and verbosity (`-v` count minus `-q` count).
pub fn init(tool: &'static str, verbosity: i8) {
    let _ = TOOL.set(tool);
    VERBOSITY.store(verbosity, Ordering::Relaxed);
}

/// The verbosity set by [`init`].
pub fn verbosity() -> i8 {
    VERBOSITY.load(Ordering::Relaxed)
}

fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("xtenant")
}

fn is_tty() -> bool {
    *STDERR_TTY.get_or_init(|| std::io::stderr().is_terminal())
}

/// Writes one line to stderr, after clearing a live progress line.
fn line(text: &str) {
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut err = std::io::stderr().lock();
    if LIVE_LINE.swap(false, Ordering::Relaxed) {
        let _ = write!(err, "\r\x1b[K");
    }
    let _ = writeln!(err, "{}: {text}", tool());
}

/// An error message (always shown).
pub fn error(text: &str) {
    line(&format!("error: {text}"));
}

/// A warning (hidden by `-q`).
pub fn warn(text: &str) {
    if verbosity() >= 0 {
        line(&format!("warning: {text}"));
    }
}

/// A note or summary (hidden by `-q`).
pub fn info(text: &str) {
    if verbosity() >= 0 {
        line(text);
    }
}

/// A hint on what to do next (hidden by `-q`).
pub fn hint(text: &str) {
    if verbosity() >= 0 {
        line(&format!("hint: {text}"));
    }
}

/// Detail shown with `-v` (one line per request).
pub fn debug(text: &str) {
    if verbosity() >= 1 {
        line(text);
    }
}

/// Detail shown with `-vv`.
pub fn trace(text: &str) {
    if verbosity() >= 2 {
        line(text);
    }
}

/// Writes a JSON value as one line (the `--dry-run` report of a write).
pub fn json(value: &serde_json::Value) {
    line(&format!("dry-run: {value}"));
}

/// Progress of one long wait.
pub struct Progress {
    label: String,
    started: Instant,
    last_plain: Option<Instant>,
}

/// How often a plain (non-terminal) progress line is repeated.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// Starts showing progress for `label` (e.g. "waiting for the role to reach the registry").
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            started: Instant::now(),
            last_plain: None,
        }
    }

    /// Updates the status shown after the label.
    pub fn update(&mut self, status: &str) {
        if verbosity() < 0 {
            return;
        }
        let elapsed = self.started.elapsed().as_secs();
        let text = format!("{}: {status} ({elapsed}s)", self.label);
        if is_tty() {
            let _guard = LOCK
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{}: {text}", tool());
            let _ = err.flush();
            LIVE_LINE.store(true, Ordering::Relaxed);
        } else if self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
            self.last_plain = Some(Instant::now());
            line(&text);
        }
    }

    /// Ends the wait with a final status line.
    pub fn finish(self, status: &str) {
        let elapsed = self.started.elapsed();
        info(&format!(
            "{}: {status} after {:.1}s",
            self.label,
            elapsed.as_secs_f64()
        ));
    }

    /// Time since the wait started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
