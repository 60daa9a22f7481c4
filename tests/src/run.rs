//! Running a tool: its output, the objects it wrote, and when the simulator handled a request.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::envelope::Envelope;

/// What a tool run produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// stdout as text.
    pub stdout: String,
    /// stderr as text.
    pub stderr: String,
}

/// A finished child process's exit code (-1 when a signal ended it) and output as text.
impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the run exited 0 with one object and no `error`; the object, read strictly as
    /// an envelope ([`Envelope`]).
    #[track_caller]
    pub fn ok(&self) -> Value {
        self.ok_passing(&[])
    }

    /// [`Run::ok`] with the fields `extra` the test put in the input itself.
    #[track_caller]
    pub fn ok_passing(&self, extra: &[&str]) -> Value {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let o = self.object();
        assert!(o.get("error").is_none(), "{o}\nstderr:\n{}", self.stderr);
        Envelope::of_passing(&o, extra);
        o
    }

    /// Asserts the run exited 1 with one object whose `error` is `step`'s, of code `code`;
    /// the object, read strictly as an envelope.
    #[track_caller]
    pub fn failed(&self, step: &str, code: &str) -> Value {
        self.failed_passing(step, code, &[])
    }

    /// [`Run::failed`] with the fields `extra` the test put in the input itself.
    #[track_caller]
    pub fn failed_passing(&self, step: &str, code: &str, extra: &[&str]) -> Value {
        assert_eq!(
            self.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let o = self.object();
        let error = Envelope::of_passing(&o, extra).error().clone();
        assert_eq!(error.step, step, "{o}");
        assert_eq!(error.code, code, "{o}\nstderr:\n{}", self.stderr);
        o
    }

    /// Asserts the run exited `exit` with one object whose `error` is `step`'s; the object,
    /// read strictly as an envelope.
    #[track_caller]
    pub fn failed_exit(&self, exit: i32, step: &str) -> Value {
        assert_eq!(
            self.code, exit,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let o = self.object();
        assert_eq!(Envelope::of(&o).error().step, step, "{o}");
        o
    }

    /// Asserts the run exited 1 because the caller does not own the app (Graph's
    /// `Authorization_RequestDenied`, with the hint to ask the app's owner); the error.
    #[track_caller]
    pub fn refused_not_owner(&self) -> Value {
        assert_eq!(self.code, 1, "{}", self.stderr);
        let e = self.object()["error"].clone();
        assert_eq!(e["code"], "Authorization_RequestDenied", "{e}");
        assert!(
            e["hint"].as_str().unwrap().contains("owner of the app"),
            "{e}"
        );
        e
    }

    /// stdout's lines parsed as JSON objects.
    #[track_caller]
    pub fn objects(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The single object on stdout.
    #[track_caller]
    pub fn object(&self) -> Value {
        let mut o = self.objects();
        assert_eq!(
            o.len(),
            1,
            "expected one object on stdout, got {}:\n{}\nstderr:\n{}",
            o.len(),
            self.stdout,
            self.stderr
        );
        o.remove(0)
    }
}

/// Starts a prepared command with piped stdout and stderr, writes `stdin` to it and closes it.
///
/// An empty `stdin` is `/dev/null`, as for a step run from its flags alone (a terminal, a
/// Makefile recipe): an empty *pipe* means the step before wrote nothing, and is refused.
pub fn spawn_with_input(c: &mut Command, stdin: &str) -> std::process::Child {
    c.stdin(if stdin.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn tool");
    if let Some(mut i) = child.stdin.take() {
        // A tool may exit before reading everything (usage errors): ignore EPIPE.
        let _ = i.write_all(stdin.as_bytes());
    }
    child
}

/// Runs a prepared command with `stdin` and collects its output.
pub fn run_cmd(mut c: Command, args: &[&str], stdin: &str) -> Run {
    c.args(args);
    let child = spawn_with_input(&mut c, stdin);
    child.wait_with_output().expect("wait for tool").into()
}

/// Runs a prepared command with stdin an empty pipe (as a step whose step before wrote
/// nothing, or a CI runner's), and collects its output.
pub fn run_on_empty_pipe(mut c: Command, args: &[&str]) -> Run {
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    drop(child.stdin.take());
    child.wait_with_output().expect("wait").into()
}

/// When the simulator began and finished handling a logged request, in seconds since the
/// epoch: its `time` is when it answered (after any latency), `duration_ms` how long it took.
pub fn span(entry: &Value) -> (f64, f64) {
    let at = entry["time"]
        .as_str()
        .unwrap_or_else(|| panic!("a log entry without time: {entry}"));
    let end = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("the log's time {at:?}: {e}"))
        .unix_timestamp_nanos() as f64
        / 1e9;
    let took = entry["duration_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("a log entry without duration_ms: {entry}"));
    (end - took / 1000.0, end)
}

/// Whether the simulator was handling both logged requests at some moment: each began
/// before the other ended.
pub fn overlap(a: &Value, b: &Value) -> bool {
    let ((a0, a1), (b0, b1)) = (span(a), span(b));
    a0 < b1 && b0 < a1
}

/// One JSON object as an NDJSON line.
pub fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// Waits until `done`, looking every 5 ms; panics with `what` once `limit` of real time has
/// passed.
#[track_caller]
pub fn wait_until(what: &str, limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A child's exit code (none when a signal ended it) and stderr, once it ended.
#[track_caller]
pub fn ended(child: std::process::Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait for the child");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Ctrl-C (SIGINT) to `child`, as a terminal sends it; then [`ended`].
#[track_caller]
pub fn interrupt(child: std::process::Child) -> (Option<i32>, String) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT {}", child.id());
    ended(child)
}
