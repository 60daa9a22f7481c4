//! Splitting stdin into objects, each at most [`MAX_OBJECT`] bytes, with the line numbers
//! its refusals name.
use std::io::{BufRead, Read};

use serde_json::value::RawValue;

use crate::envelope::Envelope;

/// The largest input object, in bytes (1 MiB; an envelope is a few KiB): a line or a
/// pretty-printed object over it is refused (exit 2) without being read into memory.
pub const MAX_OBJECT: usize = 1 << 20;

/// How far the length of a refused line is measured (read and dropped) before it is only
/// said to be longer.
const MEASURED_UP_TO: u64 = 4 << 30;

/// The limit in a refusal, and what to do.
fn limit() -> String {
    format!(
        "the limit of {MAX_OBJECT} bytes (1 MiB) for one object: nothing from it on was read; an envelope is a few KiB, so check the command that wrote it"
    )
}

/// Splits the input into objects: NDJSON, or pretty-printed objects over several lines.
///
/// A line at a time is read into `pending` (never more than [`MAX_OBJECT`] + 1 bytes), and
/// the complete values in it are parsed; what is left is the start of an object that goes
/// on in the next lines. Each further parse waits for twice as many bytes as the last,
/// so a long pretty-printed object is parsed a few times, not once per line.
pub(super) struct Reader<R> {
    input: R,
    /// Bytes read and not yet parsed into objects.
    pending: Vec<u8>,
    /// Where lines start in `pending` and their numbers (1-based), in order; the first
    /// is the line `pending` starts on.
    lines: Vec<(usize, u64)>,
    /// Objects parsed, the one-based count used in messages.
    objects: usize,
    /// How many bytes `pending` must hold before it is parsed again.
    need: usize,
    /// Objects parsed but not yet handed out.
    ready: std::collections::VecDeque<Result<Envelope, String>>,
    eof: bool,
    /// Why the input is unusable, handed out after the objects before it.
    failed: Option<String>,
    /// Bytes read since the last batch was handed over.
    pub(super) read: u64,
}

impl<R: Read> Reader<std::io::BufReader<R>> {
    /// Whether the next object may need a read that waits for the producer: none is parsed
    /// and the buffer holds no whole line.
    pub(super) fn would_wait(&self) -> bool {
        self.ready.is_empty() && !self.input.buffer().contains(&b'\n')
    }
}

impl<R: BufRead> Reader<R> {
    pub(super) fn new(input: R) -> Self {
        Self {
            input,
            pending: Vec::new(),
            lines: vec![(0, 1)],
            objects: 0,
            need: 0,
            ready: std::collections::VecDeque::new(),
            eof: false,
            failed: None,
            read: 0,
        }
    }

    /// The next object (or why it is not one); `None` at the end; `Err` when the input is
    /// unusable from here on (not JSON, an object over the limit, a read error).
    pub(super) fn next(&mut self) -> Result<Option<Result<Envelope, String>>, String> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Ok(Some(item));
            }
            if let Some(why) = self.failed.take() {
                return Err(why);
            }
            if self.eof {
                return Ok(None);
            }
            if let Err(why) = self.fill().and_then(|()| self.parse()) {
                self.failed = Some(why);
                self.eof = true;
            }
        }
    }

    /// Reads a line, and more while `pending` is shorter than `need`.
    fn fill(&mut self) -> Result<(), String> {
        loop {
            let room = (MAX_OBJECT + 1).saturating_sub(self.pending.len());
            if room == 0 {
                return Ok(());
            }
            let read = (&mut self.input)
                .take(room as u64)
                .read_until(b'\n', &mut self.pending)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            if read == 0 {
                self.eof = true;
                return Ok(());
            }
            self.read += read as u64;
            if self.pending.last() == Some(&b'\n') {
                let next = self.lines.last().map_or(1, |l| l.1) + 1;
                self.lines.push((self.pending.len(), next));
            }
            if self.pending.len() >= self.need {
                return Ok(());
            }
        }
    }

    /// The number of the line holding `pending[at]`.
    fn line_of(&self, at: usize) -> u64 {
        let i = self.lines.partition_point(|l| l.0 <= at);
        self.lines[i.saturating_sub(1)].1
    }

    /// Parses the complete values in `pending` and keeps the rest.
    fn parse(&mut self) -> Result<(), String> {
        let mut stream =
            serde_json::Deserializer::from_slice(&self.pending).into_iter::<&RawValue>();
        let mut consumed = 0;
        let mut incomplete = false;
        loop {
            match stream.next() {
                Some(Ok(raw)) => {
                    consumed = stream.byte_offset();
                    self.objects += 1;
                    let at = raw.get().as_ptr() as usize - self.pending.as_ptr() as usize;
                    if raw.get().len() > MAX_OBJECT {
                        let line = self.line_of(at);
                        let size = raw.get().len();
                        return Err(format!(
                            "input line {line} holds an object of {size} bytes, over {}",
                            limit()
                        ));
                    }
                    let parsed = Envelope::parse(raw.get()).map_err(|why| {
                        format!(
                            "input object {} (line {}): {why}",
                            self.objects,
                            self.line_of(at)
                        )
                    });
                    self.ready.push_back(parsed);
                }
                Some(Err(e)) if e.is_eof() && !self.eof => {
                    incomplete = true;
                    break;
                }
                Some(Err(e)) => {
                    let line = self.line_of(0) + e.line().saturating_sub(1) as u64;
                    let text = e.to_string();
                    let why = text.rfind(" at line ").map_or(&*text, |i| &text[..i]);
                    return Err(format!("input line {line} is not valid JSON: {why}"));
                }
                None => {
                    consumed = self.pending.len();
                    break;
                }
            }
        }
        self.drain(consumed);
        let start = self
            .pending
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.pending.len());
        let size = self.pending.len() - start;
        if size > MAX_OBJECT {
            return Err(self.too_large(start));
        }
        // A value not complete yet: parse again once there are twice as many bytes.
        self.need = if incomplete {
            2 * self.pending.len()
        } else {
            0
        };
        Ok(())
    }

    /// Drops the first `n` bytes of `pending` (parsed), keeping the line numbers right.
    fn drain(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let first = self.lines.partition_point(|l| l.0 <= n).saturating_sub(1);
        self.lines.drain(..first);
        for l in &mut self.lines {
            l.0 = l.0.saturating_sub(n);
        }
        self.pending.drain(..n);
    }

    /// The refusal of the object starting at `pending[start]`, over [`MAX_OBJECT`]. A
    /// line that holds it alone is measured to its end (read and dropped, never kept).
    fn too_large(&mut self, start: usize) -> String {
        let line = self.line_of(start);
        let limit = limit();
        if line != self.line_of(self.pending.len()) {
            return format!(
                "the input object starting at line {line} is over {limit} (still open at line {})",
                self.line_of(self.pending.len())
            );
        }
        let mut size = (self.pending.len() - start) as u64;
        let mut chunk = Vec::with_capacity(64 << 10);
        let ended = loop {
            chunk.clear();
            match (&mut self.input)
                .take(64 << 10)
                .read_until(b'\n', &mut chunk)
            {
                Ok(0) | Err(_) => break true,
                Ok(n) if chunk.last() == Some(&b'\n') => {
                    size += n as u64 - 1;
                    break true;
                }
                Ok(n) => size += n as u64,
            }
            if size > MEASURED_UP_TO {
                break false;
            }
        };
        let size = if ended {
            format!("{size} bytes")
        } else {
            format!("more than {MEASURED_UP_TO} bytes")
        };
        format!("input line {line} is {size}, over {limit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item of `text`, read through a buffer of `capacity` bytes: the objects as
    /// lines, or the error that ended the input.
    fn read(text: &[u8], capacity: usize) -> (Vec<String>, Option<String>) {
        let input = std::io::BufReader::with_capacity(capacity, text);
        let mut reader = Reader::new(input);
        let mut objects = Vec::new();
        loop {
            match reader.next() {
                Ok(Some(Ok(e))) => objects.push(e.to_line()),
                Ok(Some(Err(why))) | Err(why) => return (objects, Some(why)),
                Ok(None) => return (objects, None),
            }
        }
    }

    #[test]
    fn ndjson_pretty_printed_and_several_per_line_are_read_alike() {
        let pretty = "{\n  \"a\": [1,\n 2],\n  \"b\": \"x\\ny\"\n}\n";
        let text = format!("{{\"n\":1}}\n\n  {{\"n\":2}} {{\"n\":3}}\n{pretty}{{\"n\":5}}");
        for capacity in [1, 7, 64 << 10] {
            let (objects, end) = read(text.as_bytes(), capacity);
            assert_eq!(end, None);
            assert_eq!(
                objects,
                [
                    r#"{"n":1}"#,
                    r#"{"n":2}"#,
                    r#"{"n":3}"#,
                    r#"{"a":[1,2],"b":"x\ny"}"#,
                    r#"{"n":5}"#
                ]
            );
        }
    }

    #[test]
    fn errors_name_the_line() {
        let (objects, end) = read(b"{\"n\":1}\n\n{\"n\":\n2}\n{\"n\": nope}\n{}\n", 64);
        assert_eq!(objects.len(), 2);
        let end = end.unwrap();
        assert!(end.starts_with("input line 5 is not valid JSON: "), "{end}");
        assert!(
            !end.contains("column"),
            "a column of our buffer, not of the line: {end}"
        );
        let (_, end) = read(b"{}\n[1]\n", 64);
        assert_eq!(
            end.unwrap(),
            "input object 2 (line 2): expected a JSON object, got an array"
        );
        let (objects, end) = read(b"{\"n\":1}\n{\"cut\":", 64);
        assert_eq!(objects.len(), 1);
        assert!(
            end.unwrap()
                .starts_with("input line 2 is not valid JSON: EOF")
        );
    }

    #[test]
    fn an_object_up_to_the_limit_is_read_and_one_over_it_is_refused_by_line_and_size() {
        let object = |size: usize| {
            let mut s = b"{\"x\":\"".to_vec();
            s.resize(size - 2, b'a');
            s.extend_from_slice(b"\"}");
            s
        };
        let mut text = b"{}\n".to_vec();
        text.extend(object(MAX_OBJECT));
        text.extend(b"\n{}\n");
        let (objects, end) = read(&text, 64 << 10);
        assert_eq!((objects.len(), end), (3, None));

        let mut text = b"{}\n{}\n".to_vec();
        text.extend(object(3 * MAX_OBJECT + 5));
        text.extend(b"\n{}\n");
        let (objects, end) = read(&text, 64 << 10);
        assert_eq!(objects.len(), 2);
        let end = end.unwrap();
        let size = 3 * MAX_OBJECT + 5;
        assert!(
            end.starts_with(&format!(
                "input line 3 is {size} bytes, over the limit of 1048576 bytes (1 MiB)"
            )),
            "{end}"
        );
        // Without a newline at its end, too.
        let (_, end) = read(&object(MAX_OBJECT + 1), 64 << 10);
        let end = end.unwrap();
        let over = MAX_OBJECT + 1;
        assert!(
            end.starts_with(&format!(
                "input line 1 holds an object of {over} bytes, over the limit"
            )),
            "{end}"
        );
    }

    #[test]
    fn a_pretty_printed_object_over_the_limit_is_refused_where_it_starts() {
        let mut text = b"{}\n{\n".to_vec();
        for _ in 0..MAX_OBJECT / 8 {
            text.extend(b"  \"k\": \"vvvv\",\n");
        }
        text.extend(b"  \"end\": 1\n}\n");
        let (objects, end) = read(&text, 64 << 10);
        assert_eq!(objects.len(), 1);
        let end = end.unwrap();
        assert!(
            end.starts_with(
                "the input object starting at line 2 is over the limit of 1048576 bytes (1 MiB)"
            ),
            "{end}"
        );
    }
}
