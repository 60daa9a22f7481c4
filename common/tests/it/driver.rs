//! The shared driver with a fake tool: order under --jobs, pass-through, errors, exit codes.

use std::io::Cursor;
use std::time::{Duration, Instant};

use clap::Parser;
use common::cli::CommonArgs;
use common::cloud::Cloud;
use common::driver::{Ctx, Done, Failed, Fields, Rollout, Tool, Undo, run_stream, run_stream_with};
use common::envelope::{Envelope, Field};
use common::exit::ExitCode;
use common::interrupt::{Interrupt, Signal};
use common::{Error, Result};
use serde_json::Value;

#[derive(Parser)]
struct Fake {
    #[command(flatten)]
    common: CommonArgs,
    #[arg(long)]
    tag: Option<String>,
    /// A rollout (a canary, then stop after this many failures).
    #[arg(long)]
    max_failures: Option<u32>,
}

const TAG: Field = Field {
    name: "tag",
    flag: Some("--tag"),
    from: None,
};

const MINT: Field = Field {
    name: "mint",
    flag: None,
    from: None,
};

struct FakeInputs {
    n: Option<u64>,
    delay_ms: Option<u64>,
    fail: bool,
    nocred: bool,
    stamp: bool,
    /// Wait until the test's input has been read to its end (this many lines) or stops
    /// being read, then report how much was read.
    wait_read: Option<u64>,
    /// "Mint" something only the object holds (its undo is recorded in `UNDONE`).
    mint: Option<String>,
}

/// Lines the test's counted input has handed out.
static LINES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// What undelivered objects' undos removed.
static UNDONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct FakeOutput {
    finished_us: Option<u64>,
    read_at_end: Option<u64>,
    minted: Option<String>,
}

impl Fields for FakeOutput {
    fn write_to(&self, object: &mut Envelope) {
        if let Some(at) = self.finished_us {
            object.set("finished_us", at);
        }
        if let Some(n) = self.read_at_end {
            object.set("read_at_end", n);
        }
        object.set("done", true);
    }

    fn undelivered(&self) -> Option<Undo> {
        let minted = self.minted.clone()?;
        Some(Undo {
            what: format!("the thing {minted}"),
            by_hand: "nothing".into(),
            remove: Box::new(move |_ctx| {
                Box::pin(async move {
                    UNDONE.lock().unwrap().push(minted);
                    Ok("removed it again".to_owned())
                })
            }),
        })
    }
}

#[derive(Default)]
struct FakePartial {
    made: Option<String>,
}

impl Fields for FakePartial {
    fn write_to(&self, object: &mut Envelope) {
        if let Some(m) = &self.made {
            object.set("made", m);
        }
    }
}

impl Tool for Fake {
    const NAME: &'static str = "fake";
    type Inputs = FakeInputs;
    type Output = FakeOutput;
    type Partial = FakePartial;

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    fn flags(&self) -> Vec<(Field, String)> {
        self.tag.iter().map(|t| (TAG, t.clone())).collect()
    }

    fn inputs(&self, input: &Envelope, _cloud: &Cloud) -> Result<FakeInputs> {
        Ok(FakeInputs {
            n: input.get("n").and_then(|v| v.as_u64()),
            delay_ms: input.get("delay_ms").and_then(|v| v.as_u64()),
            fail: input.has("fail"),
            nocred: input.has("nocred"),
            stamp: input.has("stamp"),
            wait_read: input.get("wait_read").and_then(|v| v.as_u64()),
            mint: input.str(&MINT)?,
        })
    }

    fn rollout(&self) -> Rollout {
        Rollout {
            canary: self.max_failures.is_some(),
            max_failures: self.max_failures,
        }
    }

    async fn act(i: &FakeInputs, ctx: &Ctx) -> Result<Done<FakeOutput>, Failed<FakePartial>> {
        if let Some(n) = i.n {
            EVENTS.lock().unwrap().push(format!("start {n}"));
        }
        let r = Self::act_inner(i, ctx).await;
        if let Some(n) = i.n {
            EVENTS.lock().unwrap().push(format!("end {n}"));
        }
        r
    }
}

/// The order in which objects (their `n`) started and ended.
static EVENTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl Fake {
    async fn act_inner(i: &FakeInputs, ctx: &Ctx) -> Result<Done<FakeOutput>, Failed<FakePartial>> {
        if let Some(ms) = i.delay_ms {
            // A wait as a step's: it ends on the run's interrupt, keeping what was made.
            let waited = ctx
                .deadline()
                .interrupt()
                .sleep(Duration::from_millis(ms), "the fake wait")
                .await;
            if let Err(e) = waited {
                return Err(Failed::with(
                    e,
                    FakePartial {
                        made: Some("before the wait".into()),
                    },
                ));
            }
        }
        let read_at_end = match i.wait_read {
            Some(total) => Some(wait_for_the_input(total).await),
            None => None,
        };
        if i.fail {
            return Err(Failed::with(
                Error::azure(common::ErrorKind::Step, "Boom", "it failed as asked"),
                FakePartial {
                    made: Some("half".into()),
                },
            ));
        }
        if i.nocred {
            return Err(Error::credential(
                common::error::codes::INVALID_CLIENT_SECRET,
                "wrong secret",
            )
            .into());
        }
        let finished_us = i.stamp.then(|| {
            // When it finished, in µs since the first stamped object finished (one clock for all).
            static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_micros()).unwrap()
        });
        Ok(Done {
            output: FakeOutput {
                finished_us,
                read_at_end,
                minted: i.mint.clone(),
            },
            changed: true,
            summary: "did it".into(),
        })
    }
}

/// Waits until `total` lines of the input were read, or none more were for 300 ms; how many were.
async fn wait_for_the_input(total: u64) -> u64 {
    let (mut last, mut still) = (u64::MAX, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let read = LINES_READ.load(std::sync::atomic::Ordering::SeqCst);
        if read >= total {
            return read;
        }
        still = if read == last { still + 1 } else { 0 };
        if still >= 6 {
            return read;
        }
        last = read;
    }
}

async fn run(args: &[&str], input: &str) -> (ExitCode, Vec<Value>, String) {
    let mut command_line = vec!["fake", "--cloud", "AzureCloud"];
    command_line.extend_from_slice(args);
    let tool = Fake::parse_from(command_line);
    let mut out = Vec::new();
    let code = run_stream(
        &tool,
        Box::new(Cursor::new(input.to_owned().into_bytes())),
        &mut out,
    )
    .await;
    let text = String::from_utf8(out).unwrap();
    let objs = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, objs, text)
}

#[tokio::test]
async fn jobs_run_concurrently_and_keep_input_order() {
    let input = (0..8).fold(String::new(), |mut s, i| {
        s.push_str(&serde_json::json!({"n": i, "delay_ms": (8 - i) * 40}).to_string());
        s.push('\n');
        s
    });
    let started = Instant::now();
    let (code, objs, _) = run(&["--jobs", "4"], &input).await;
    let took = started.elapsed();
    assert_eq!(code, ExitCode::Success);
    let order: Vec<u64> = objs.iter().map(|o| o["n"].as_u64().unwrap()).collect();
    assert_eq!(order, (0..8).collect::<Vec<_>>());
    let serial: u64 = (1..=8).map(|k| k * 40).sum();
    assert!(
        took < Duration::from_millis(serial),
        "took {took:?}, serial would be {serial} ms"
    );
    assert!(
        objs.iter()
            .all(|o| o["done"] == true && o["cloud"] == "AzureCloud")
    );
}

#[tokio::test]
async fn a_slow_object_does_not_hold_back_the_jobs_after_it() {
    // One slow object, then several quick ones, two jobs: the quick ones go through the
    // second job one after another while the slow one runs, and all are written in order.
    let input = (0..6).fold(String::new(), |mut s, i| {
        let delay = if i == 0 { 800 } else { 10 };
        s.push_str(&serde_json::json!({"n": i, "delay_ms": delay, "stamp": true}).to_string());
        s.push('\n');
        s
    });
    let (code, objs, _) = run(&["--jobs", "2"], &input).await;
    assert_eq!(code, ExitCode::Success);
    let order: Vec<u64> = objs.iter().map(|o| o["n"].as_u64().unwrap()).collect();
    assert_eq!(order, (0..6).collect::<Vec<_>>());
    let slow = objs[0]["finished_us"].as_u64().unwrap();
    for o in &objs[1..] {
        assert!(
            o["finished_us"].as_u64().unwrap() < slow,
            "object {} waited for the slow one: {objs:?}",
            o["n"]
        );
    }
}

#[tokio::test]
async fn error_objects_pass_through_with_the_flags_and_failures_are_written() {
    let input = "{\"error\":{\"step\":\"earlier\",\"code\":\"X\",\"message\":\"m\"},\"keep\":1.50}\n{\"fail\":true,\"keep\":2}\n{\"ok\":true}\n";
    let (code, objs, text) = run(&["--tag", "t"], input).await;
    assert_eq!(code, ExitCode::Failure);
    // Passed through as it came, plus this step's flags (the procedure it was part of).
    assert_eq!(
        text.lines().next().unwrap(),
        "{\"error\":{\"step\":\"earlier\",\"code\":\"X\",\"message\":\"m\"},\"keep\":1.50,\"cloud\":\"AzureCloud\",\"tag\":\"t\"}"
    );
    assert_eq!(objs[1]["error"]["step"], "fake");
    assert_eq!(objs[1]["error"]["code"], "Boom");
    assert_eq!(objs[1]["keep"], 2);
    assert_eq!(objs[1]["tag"], "t", "a failed object carries the flags");
    assert_eq!(objs[1]["made"], "half", "and what the run made");
    assert_eq!(objs[2]["tag"], "t");
}

#[tokio::test]
async fn a_rerun_retries_the_tools_own_failures() {
    let input = "{\"error\":{\"step\":\"fake\",\"code\":\"Boom\",\"message\":\"m\"},\"keep\":1}\n";
    let (code, objs, _) = run(&[], input).await;
    assert_eq!(code, ExitCode::Success);
    assert_eq!(objs[0]["done"], true);
    assert_eq!(objs[0]["keep"], 1);
    assert!(objs[0].get("error").is_none());
}

#[tokio::test]
async fn a_credential_failure_exits_3() {
    let (code, objs, _) = run(&[], "{\"nocred\":1}\n{}\n").await;
    assert_eq!(code, ExitCode::Credential);
    assert_eq!(objs[0]["error"]["code"], "InvalidClientSecret");
    assert_eq!(objs[1]["done"], true);
}

#[tokio::test]
async fn empty_input_runs_once_from_flags() {
    let (code, objs, _) = run(&["--tag", "x"], "").await;
    assert_eq!(code, ExitCode::Success);
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["tag"], "x");
}

#[tokio::test]
async fn pretty_printed_single_object_is_accepted() {
    let (code, objs, text) = run(&[], "{\n  \"a\": [1, 2],\n  \"b\": \"c\"\n}\n").await;
    assert_eq!(code, ExitCode::Success);
    assert_eq!(objs.len(), 1);
    assert!(text.starts_with("{\"a\":[1,2],\"b\":\"c\""), "{text}");
}

#[tokio::test]
async fn input_that_is_not_json_objects_exits_2() {
    for bad in ["[1,2]\n", "42\n", "\"s\"\n", "{\"a\":\n", "not json\n"] {
        let (code, objs, _) = run(&[], bad).await;
        assert_eq!(code, ExitCode::Usage, "{bad}");
        assert!(objs.is_empty(), "{bad}");
    }
    // Objects before the bad line are written; nothing after it.
    let (code, objs, _) = run(&[], "{\"n\":1}\nnot json\n{\"n\":2}\n").await;
    assert_eq!(code, ExitCode::Usage);
    assert_eq!(objs.len(), 1);
}

#[tokio::test]
async fn an_object_from_another_cloud_is_refused() {
    let (code, objs, _) = run(&[], "{\"cloud\":\"AzureChinaCloud\"}\n").await;
    assert_eq!(objs[0]["cloud"], "AzureChinaCloud", "kept as it came");
    assert_eq!(code, ExitCode::Failure);
    assert_eq!(objs[0]["error"]["code"], "InvalidInput");
    assert!(
        objs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cloud")
    );
}

#[test]
fn help_lists_exit_codes() {
    use clap::CommandFactory;
    Fake::command().debug_assert();
}

#[tokio::test]
async fn the_inputs_cloud_never_chooses_the_cloud() {
    // Before, without --cloud the first object's `cloud` chose the built-in cloud (and so
    // where the operator's credential is sent).
    if std::env::var_os("XTENANT_CLOUD").is_some() {
        return;
    }
    let tool = Fake::parse_from(["fake"]);
    let mut out = Vec::new();
    let input = "{\"cloud\":\"AzureUSGovernment\"}\n{}\n";
    let code = run_stream(
        &tool,
        Box::new(Cursor::new(input.as_bytes().to_vec())),
        &mut out,
    )
    .await;
    let objs: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(code, ExitCode::Failure);
    assert_eq!(objs[0]["error"]["code"], "InvalidInput");
    let message = objs[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`cloud`") && message.contains("--cloud"),
        "{message}"
    );
    assert!(objs[0].get("done").is_none());
    assert_eq!(objs[1]["cloud"], "AzureCloud");
    assert_eq!(objs[1]["done"], true);
}

#[tokio::test]
async fn an_interrupt_drains_the_run_and_exits_130() {
    let tool = Fake::parse_from(["fake", "--cloud", "AzureCloud", "--tag", "t", "--jobs", "1"]);
    let other = r#"{"n":1,"error":{"step":"other","code":"X","message":"m"}}"#;
    let own = r#"{"n":3,"error":{"step":"fake","code":"Boom","message":"m"}}"#;
    let input = format!("{{\"n\":0,\"delay_ms\":30000}}\n{other}\n{{\"n\":2}}\n{own}\n");
    let interrupt = Interrupt::for_run();
    let mut out = Vec::new();
    let started = Instant::now();
    let (code, ()) = tokio::join!(
        run_stream_with(
            &tool,
            Box::new(Cursor::new(input.into_bytes())),
            &mut out,
            interrupt
        ),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            interrupt.raise(Signal::Int);
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(code, ExitCode::Stopped(Signal::Int));
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["error"]["code"], "Interrupted");
    assert_eq!(first["error"]["step"], "fake");
    assert_eq!(
        first["made"], "before the wait",
        "the partial output is kept"
    );
    assert_eq!(first["tag"], "t", "the flags are written");
    // Objects with an error pass through once interrupted, this tool's own too: as they
    // came, plus the flags.
    let flags = r#","cloud":"AzureCloud","tag":"t"}"#;
    assert_eq!(
        lines[1],
        format!("{}{flags}", other.strip_suffix('}').unwrap())
    );
    assert_eq!(
        lines[3],
        format!("{}{flags}", own.strip_suffix('}').unwrap())
    );
    let third: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(third["error"]["code"], "Interrupted");
    assert!(
        third["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not start"),
        "{third}"
    );
    assert_eq!(third["tag"], "t");
    assert!(third.get("done").is_none());
}

/// Lines `{"n":i,"error":…}` made as they are read (nothing held in the test), counted in
/// `LINES_READ`.
struct Lines {
    first: Option<Vec<u8>>,
    next: u64,
    total: u64,
    line: Vec<u8>,
    at: usize,
}

impl std::io::Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            if let Some(first) = self.first.take() {
                self.line = first;
            } else if self.next < self.total {
                self.line = format!(
                    "{{\"n\":{},\"error\":{{\"step\":\"earlier\",\"code\":\"X\",\"message\":\"m\"}}}}\n",
                    self.next
                )
                .into_bytes();
                self.next += 1;
            } else {
                return Ok(0);
            }
            self.at = 0;
            LINES_READ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Issue 23: a slow first object holds back the reading of stdin once the few objects
/// after it are done (at most 4 × --jobs held, plus what the reader's buffers hold), not
/// the rest of stdin; then every object is written, in order.
#[tokio::test]
async fn a_slow_first_object_holds_back_stdin_not_all_of_it() {
    let total = 20_000u64;
    let input = Lines {
        first: Some(format!("{{\"n\":-1,\"wait_read\":{}}}\n", total + 1).into_bytes()),
        next: 0,
        total,
        line: Vec::new(),
        at: 0,
    };
    let tool = Fake::parse_from(["fake", "--cloud", "AzureCloud", "--jobs", "2"]);
    let mut out = Vec::new();
    let code = run_stream(&tool, Box::new(std::io::BufReader::new(input)), &mut out).await;
    assert_eq!(
        code,
        ExitCode::Failure,
        "the objects passed through carry an error"
    );
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let read = first["read_at_end"].as_u64().unwrap();
    // Lines of ~70 bytes: 64 KiB buffered by the reader (~940), two batches in the channel
    // and one in hand (≤ 64 each), the window (8), the test's own BufReader (8 KiB, ~120).
    assert!(
        read < 1_400,
        "{read} of {total} lines were read while the first object was running"
    );
    assert_eq!(
        lines.count() as u64,
        total,
        "and then every object was written"
    );
}

/// Issue 25: an object that cannot be delivered (stdout closed) has what only it held
/// removed again; nothing new starts; the run exits 141.
#[tokio::test]
async fn an_undelivered_object_has_what_it_held_removed_and_nothing_new_starts() {
    struct Closed;
    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let tool = Fake::parse_from(["fake", "--cloud", "AzureCloud"]);
    let input = "{\"mint\":\"k1\"}\n{\"mint\":\"k2\"}\n{\"stamp\":true}\n";
    let code = run_stream(
        &tool,
        Box::new(Cursor::new(input.as_bytes().to_vec())),
        &mut Closed,
    )
    .await;
    assert_eq!(code, ExitCode::Stopped(Signal::Pipe));
    assert_eq!(
        *UNDONE.lock().unwrap(),
        ["k1"],
        "the first object's thing is removed, and the second was never made"
    );
}

#[tokio::test]
async fn a_rollout_runs_a_canary_alone_and_starts_nothing_after_the_first_failure() {
    let lines = [
        r#"{"n":0,"delay_ms":100}"#,
        r#"{"n":1,"fail":true}"#,
        r#"{"n":2,"delay_ms":200}"#,
        r#"{"n":3}"#,
        r#"{"n":4}"#,
        r#"{"n":5}"#,
        r#"{"n":6,"error":{"step":"acr-grant","code":"X","message":"earlier"}}"#,
    ];
    let input = lines.join("\n") + "\n";
    let (code, objs, _) = run(&["--jobs", "3", "--max-failures", "1"], &input).await;
    assert_eq!(code, ExitCode::Failure);
    let events = EVENTS.lock().unwrap().clone();
    assert_eq!(
        &events[..2],
        ["start 0", "end 0"],
        "the first object runs alone: {events:?}"
    );
    for n in [4, 5] {
        assert!(!events.contains(&format!("start {n}")), "{events:?}");
    }
    let codes: Vec<&str> = objs
        .iter()
        .map(|o| o["error"]["code"].as_str().unwrap_or("-"))
        .collect();
    // 1 failed; 2 and 3 had started beside it and finish; 4 and 5 are not started; 6 passes.
    assert_eq!(
        codes,
        ["-", "Boom", "-", "-", "NotStarted", "NotStarted", "X"]
    );
    assert_eq!(objs[4]["error"]["step"], "fake");
    assert!(
        objs[4]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 earlier object(s) failed")
    );

    // The cause fixed, the rerun on the output completes the failed and the not started.
    EVENTS.lock().unwrap().clear();
    let fixed = objs.iter().fold(String::new(), |mut s, o| {
        let mut o = o.clone();
        o.as_object_mut().unwrap().remove("fail");
        s.push_str(&o.to_string());
        s.push('\n');
        s
    });
    let (code, objs, _) = run(&["--jobs", "3", "--max-failures", "1"], &fixed).await;
    assert_eq!(
        code,
        ExitCode::Failure,
        "only the object of an earlier step still carries its error"
    );
    let done = objs.iter().filter(|o| o["done"] == true).count();
    assert_eq!(done, 6);
    assert_eq!(objs[6]["error"]["code"], "X");
}

#[tokio::test]
async fn without_a_rollout_every_object_starts_whatever_fails() {
    let input = (0..5).fold(String::new(), |mut s, n| {
        s.push_str(&serde_json::json!({"n": n, "fail": true}).to_string());
        s.push('\n');
        s
    });
    let (code, objs, _) = run(&["--jobs", "2"], &input).await;
    assert_eq!(code, ExitCode::Failure);
    let failed = objs.iter().filter(|o| o["error"]["code"] == "Boom").count();
    assert_eq!(
        failed, 5,
        "every object was started, none held back: {objs:?}"
    );
}
