//! The input: what stdin is, and the objects read from it on a thread of their own.
use std::io::{BufRead, IsTerminal};

use crate::envelope::Envelope;
use crate::error::Error;

/// What stdin is, which decides what an input without a single object means.
///
/// A pipe (FIFO or socket) or a regular file carries the output of another command: when
/// it delivers no object, that command wrote none (it failed on its flags, or its output
/// file is empty), so the tool says so and does not run. A terminal, `/dev/null` (a
/// character device) or a closed stdin means nothing was meant to be piped in: the tool
/// runs once on its flags (a step rerun by hand, a Makefile recipe or a CI job; where a
/// CI job's stdin is an empty pipe, give it `< /dev/null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A terminal: nothing is read; one run on the flags alone.
    Terminal,
    /// `/dev/null` or another device, or no stdin at all: empty means one run on the flags.
    Null,
    /// A pipe, socket or file: the output of another command; empty is refused.
    Stream,
}

impl Source {
    /// What this process's stdin is (fstat of file descriptor 0).
    pub fn of_stdin() -> Self {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Self::Terminal;
        }
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            use std::os::unix::fs::FileTypeExt;
            let kind = stdin
                .as_fd()
                .try_clone_to_owned()
                .and_then(|fd| std::fs::File::from(fd).metadata())
                .map(|m| m.file_type());
            match kind {
                Ok(t) if t.is_fifo() || t.is_socket() || t.is_file() => Self::Stream,
                _ => Self::Null,
            }
        }
        #[cfg(not(unix))]
        {
            Self::Stream
        }
    }
}

/// The refusal of a pipe or file that delivered no object.
pub const NO_INPUT: &str = "no input objects: the previous step wrote none — see its error above (to run on the flags alone, give stdin </dev/null)";

/// One input item: an object, or the reason the input stopped being usable.
pub(super) enum Item {
    /// An object.
    Object(Envelope),
    /// An object the tool could not name ([`super::Named::Failed`]): written with its error.
    Failed(Envelope, Error),
    /// The input is unusable from here on.
    Fatal(Error),
}

/// Reads objects on a thread, so a slow producer upstream never blocks the runtime.
pub(super) fn spawn_reader(
    input: Box<dyn BufRead + Send>,
    source: Source,
) -> tokio::sync::mpsc::Receiver<Item> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        let stream = serde_json::Deserializer::from_reader(input)
            .into_iter::<Box<serde_json::value::RawValue>>();
        let mut n = 0usize;
        for item in stream {
            n += 1;
            let sent = match item {
                Ok(raw) => match Envelope::parse(raw.get()) {
                    Ok(e) => tx.blocking_send(Item::Object(e)),
                    Err(why) => tx.blocking_send(Item::Fatal(Error::usage(format!(
                        "input object {n}: {why}"
                    )))),
                },
                Err(e) => {
                    let _ = tx.blocking_send(Item::Fatal(Error::usage(format!(
                        "input is not valid JSON: {e}"
                    ))));
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
        if n == 0 {
            let _ = tx.blocking_send(match source {
                // The command before this one wrote nothing: it failed, and said why.
                Source::Stream => Item::Fatal(Error::usage(NO_INPUT)),
                // Nothing piped in (a terminal, /dev/null): one run from the flags alone.
                Source::Terminal | Source::Null => Item::Object(Envelope::new()),
            });
        }
    });
    rx
}
