//! Everything the tools say on stderr: messages, hints, progress, logs.
//!
//! stdout carries only envelope objects (see [`crate::driver`]); this module is the one
//! path to stderr. Every line starts with the tool's name. `-q` keeps only errors, `-v`
//! adds one line per HTTP request, `-vv` also the Azure SDK's own logs. Progress of a
//! long wait is a live line on a terminal, and otherwise a plain line at 1 s, 10 s, 1 min and
//! then every 3 minutes.
//!
//! Messages carry values read from envelopes, which come from other people: every line is
//! passed through [`escape_controls`] on its way out, so a value holding a newline, a
//! carriage return, an ANSI escape or a bidi override cannot start a forged line, rewrite
//! the one shown, or reorder what the reader sees.

use std::borrow::Cow;
use std::fmt::Write as _;
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

/// Whether `c` must be shown escaped: C0 and C1 controls and DEL (newline, carriage
/// return, tab and ESC among them), the Unicode line and paragraph separators, the
/// bidirectional formatting characters (embeddings, overrides, isolates and marks), the
/// invisible ones (zero-width space, joiners, the byte order mark, word joiner and the
/// invisible operators) and the tag characters: the union of fd's `sanitize` set and ours.
fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // bidi marks and controls
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                // line and paragraph separators
                | '\u{2028}'
                | '\u{2029}'
                // zero-width space, non-joiner, joiner; word joiner and invisible operators; BOM
                | '\u{200b}'..='\u{200d}'
                | '\u{2060}'..='\u{2064}'
                | '\u{feff}'
                // tag characters (invisible, used to smuggle text)
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// `text` with every character that could forge or disguise a line shown escaped:
/// `\n`, `\r` and `\t` as such, every other control, separator or bidi character as
/// `\u{…}` (ESC is `\u{1b}`). Printable text, non-ASCII letters included, is unchanged.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(must_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if must_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `text` cut to at most `max` characters, ending in `…` when cut: for a value from an
/// envelope shown inside a message (a step's name, an error code), which may be of any length.
pub fn short(text: &str, max: usize) -> Cow<'_, str> {
    if text.char_indices().nth(max).is_none() {
        return Cow::Borrowed(text);
    }
    let cut = text
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", &text[..cut]))
}

/// Writes one line to stderr, after clearing a live progress line; controls in `text` are
/// escaped ([`escape_controls`]). The line goes out in one write, so the lines of the
/// tools of a pipe, which share stderr, do not interleave within a line.
fn line(text: &str) {
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut text = format!("{}: {}\n", tool(), escape_controls(text));
    if LIVE_LINE.swap(false, Ordering::Relaxed) {
        text.insert_str(0, "\r\x1b[K");
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// An error message (always shown).
pub fn error(text: &str) {
    line(&format!("error: {text}"));
}

/// Something a person must act on, e.g. a link to open (shown even with `-q`).
pub fn notice(text: &str) {
    line(text);
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
    plain_shown: u64,
}

/// When a plain (non-terminal) progress line is shown: once the wait passes 1 s, 10 s and
/// 1 min, then every [`PLAIN_EVERY`] — a 10-minute wait is 6 lines, not one every few seconds.
const PLAIN_AT: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
];
/// The interval of plain progress lines after the first minute.
const PLAIN_EVERY: Duration = Duration::from_secs(180);

/// How many plain progress lines a wait of `elapsed` has earned (at 1 s, 10 s and 1 min,
/// then every 3 minutes).
pub fn plain_marks(elapsed: Duration) -> u64 {
    let early = PLAIN_AT.iter().filter(|at| elapsed >= **at).count() as u64;
    let late = elapsed
        .checked_sub(PLAIN_AT[2])
        .map_or(0, |after| after.as_secs() / PLAIN_EVERY.as_secs());
    early + late
}

impl Progress {
    /// Starts showing progress for `label` (e.g. "waiting for the role to reach the registry").
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            started: Instant::now(),
            plain_shown: 0,
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
            let _ = write!(err, "\r\x1b[K{}: {}", tool(), escape_controls(&text));
            let _ = err.flush();
            LIVE_LINE.store(true, Ordering::Relaxed);
        } else {
            let due = plain_marks(self.started.elapsed());
            if due > self.plain_shown {
                self.plain_shown = due;
                line(&text);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_progress_thins_out_as_the_wait_grows() {
        let s = Duration::from_secs;
        assert_eq!(plain_marks(Duration::from_millis(900)), 0);
        assert_eq!(plain_marks(s(1)), 1);
        assert_eq!(plain_marks(s(9)), 1);
        assert_eq!(plain_marks(s(10)), 2);
        assert_eq!(plain_marks(s(60)), 3);
        assert_eq!(plain_marks(s(239)), 3);
        assert_eq!(plain_marks(s(240)), 4);
        // A 10-minute wait polled every second: 6 lines (the issue counted 68 before).
        let lines = (0..=600)
            .map(|t| plain_marks(s(t)))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            - 1;
        assert_eq!(lines, 6);
    }

    #[test]
    fn long_values_are_shortened_on_a_character_boundary() {
        assert_eq!(short("consent-link", 48), "consent-link");
        assert_eq!(short("abcdef", 6), "abcdef");
        assert_eq!(short("abcdefg", 6), "abcde…");
        assert_eq!(short("ééééééé", 4), "ééé…");
        assert_eq!(short(&"x".repeat(10_000), 48).chars().count(), 48);
    }

    #[test]
    fn printable_text_is_unchanged() {
        for t in [
            "",
            "plain text",
            "fabrikamacr.azurecr.io",
            "café ünïcode 東京 ✓",
            "a\\nb",
        ] {
            assert!(matches!(escape_controls(t), Cow::Borrowed(_)), "{t}");
            assert_eq!(escape_controls(t), t);
        }
    }

    #[test]
    fn line_breaks_and_tabs_are_escaped() {
        assert_eq!(
            escape_controls("x.azurecr.io\nacr-grant: done, changed: false"),
            "x.azurecr.io\\nacr-grant: done, changed: false"
        );
        assert_eq!(escape_controls("a\r\nb\tc"), "a\\r\\nb\\tc");
        assert_eq!(
            escape_controls("a\u{2028}b\u{2029}c"),
            "a\\u{2028}b\\u{2029}c"
        );
    }

    #[test]
    fn ansi_and_other_controls_are_escaped() {
        assert_eq!(
            escape_controls("\x1b[2K\x1b[1Gok\x1b]0;title\x07"),
            "\\u{1b}[2K\\u{1b}[1Gok\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(escape_controls("a\0b\x7fc"), "a\\u{0}b\\u{7f}c");
        // C1 controls, the 8-bit CSI among them.
        assert_eq!(escape_controls("a\u{9b}2Jb\u{85}"), "a\\u{9b}2Jb\\u{85}");
    }

    #[test]
    fn bidi_formatting_is_escaped() {
        assert_eq!(escape_controls("app\u{202e}txt.exe"), "app\\u{202e}txt.exe");
    }

    fn each_is_escaped(class: &str, chars: impl IntoIterator<Item = char>) {
        let mut n = 0;
        for c in chars {
            let shown = escape_controls(&format!("a{c}b")).into_owned();
            let want = match c {
                '\n' => "a\\nb".to_owned(),
                '\r' => "a\\rb".to_owned(),
                '\t' => "a\\tb".to_owned(),
                c => format!("a\\u{{{:x}}}b", u32::from(c)),
            };
            assert_eq!(shown, want, "{class}: U+{:04X}", u32::from(c));
            n += 1;
        }
        assert!(n > 0, "{class}: no characters tested");
    }

    #[test]
    fn zero_width_characters_are_escaped() {
        each_is_escaped("zero-width", '\u{200b}'..='\u{200d}');
        assert_eq!(escape_controls("ad\u{200b}min"), "ad\\u{200b}min");
    }

    #[test]
    fn byte_order_mark_is_escaped() {
        each_is_escaped("BOM", ['\u{feff}']);
    }

    #[test]
    fn word_joiner_and_invisible_operators_are_escaped() {
        each_is_escaped("word joiner, invisible operators", '\u{2060}'..='\u{2064}');
    }

    #[test]
    fn bidi_controls_and_marks_are_escaped() {
        each_is_escaped(
            "bidi",
            ('\u{202a}'..='\u{202e}')
                .chain('\u{2066}'..='\u{2069}')
                .chain(['\u{061c}', '\u{200e}', '\u{200f}']),
        );
    }

    #[test]
    fn tag_characters_are_escaped() {
        each_is_escaped("tags", '\u{e0000}'..='\u{e007f}');
        // "hi" smuggled as tag characters after a visible word.
        assert_eq!(
            escape_controls("ok\u{e0068}\u{e0069}"),
            "ok\\u{e0068}\\u{e0069}"
        );
    }

    #[test]
    fn c0_and_c1_controls_are_escaped() {
        each_is_escaped("C0", ('\u{0}'..='\u{1f}').chain(['\u{7f}']));
        each_is_escaped("C1", '\u{80}'..='\u{9f}');
    }

    #[test]
    fn neighbours_of_the_escaped_ranges_are_unchanged() {
        for c in [
            '\u{a0}',
            '\u{200a}',
            '\u{2010}',
            '\u{205f}',
            '\u{2065}',
            '\u{fefe}',
            '\u{e0080}',
            '\u{e0100}',
            'é',
            '中',
        ] {
            let t = format!("a{c}b");
            assert_eq!(escape_controls(&t), t, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn every_escaped_text_is_one_printable_line() {
        let all: String = (0u32..0x3000)
            .chain(0xfe00..0x1_0000)
            .chain(0xe0000..0xe0100)
            .filter_map(char::from_u32)
            .collect();
        let shown = escape_controls(&all);
        assert!(!shown.chars().any(must_escape));
    }
}
