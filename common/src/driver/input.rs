//! The input: what stdin is, and the objects read from it on a thread of their own.
use std::io::{BufRead, IsTerminal};

use super::reader::Reader;
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

/// A batch handed over at most this many items, or (about) this many bytes of input: one
/// wake-up of the run per batch rather than per object.
const BATCH_ITEMS: usize = 64;
const BATCH_BYTES: u64 = 256 << 10;

/// Reads objects on a thread, so a slow producer upstream never blocks the runtime. They
/// are handed over in batches: what is read before a read that may wait for the producer
/// (or [`BATCH_ITEMS`]). The channel holds two, and the thread blocks when it is full:
/// stdin is read only as fast as the run takes objects ([`MAX_OBJECT`](super::MAX_OBJECT) and the run's
/// window bound what is held).
pub(super) fn spawn_reader(
    input: Box<dyn BufRead + Send>,
    source: Source,
) -> tokio::sync::mpsc::Receiver<Vec<Item>> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    std::thread::spawn(move || {
        let mut reader = Reader::new(std::io::BufReader::with_capacity(64 << 10, input));
        let mut n = 0usize;
        let mut batch = Vec::new();
        loop {
            let full = batch.len() >= BATCH_ITEMS || reader.read >= BATCH_BYTES;
            if !batch.is_empty() && (full || reader.would_wait()) {
                if tx.blocking_send(std::mem::take(&mut batch)).is_err() {
                    return;
                }
                reader.read = 0;
            }
            let item = match reader.next() {
                Ok(Some(Ok(object))) => Item::Object(object),
                Ok(Some(Err(why))) | Err(why) => Item::Fatal(Error::usage(why)),
                Ok(None) => break,
            };
            n += 1;
            let fatal = matches!(item, Item::Fatal(_));
            batch.push(item);
            if fatal {
                let _ = tx.blocking_send(batch);
                return;
            }
        }
        if n == 0 {
            batch.push(match source {
                // The command before this one wrote nothing: it failed, and said why.
                Source::Stream => Item::Fatal(Error::usage(NO_INPUT)),
                // Nothing piped in (a terminal, /dev/null): one run from the flags alone.
                Source::Terminal | Source::Null => Item::Object(Envelope::new()),
            });
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
    });
    rx
}
