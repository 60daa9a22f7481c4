//! The loop: every object of the input through the step, up to `--jobs` at once, written
//! in input order; drained on a signal; the exit code.
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::input::{Item, Source, spawn_reader};
use super::object::{Outcome, one};
use super::{Named, SOON_EXIT, Tool, Verdict};
use crate::auth::Credentials;
use crate::cloud::Cloud;
use crate::context::{Ctx, Memos, Shared};
use crate::envelope::fields;
use crate::error::{Error, Result, codes};
use crate::http::{Http, build_client};
use crate::interrupt::{Interrupt, Signal};
use crate::ui;

/// Runs the tool over every object of `input`, writing to `out`; returns the exit code.
pub async fn run_stream<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    out: &mut dyn Write,
) -> u8 {
    run_stream_with(tool, input, out, Interrupt::unwatched()).await
}

/// [`run_stream`], drained when `interrupt` is raised: nothing new is started, every wait
/// stops, every object is written (unfinished ones, and those that arrive after, with
/// `error.code` `Interrupted` — unless they already carry an error, which passes through
/// untouched), stdin is read to its end, and the exit code is the signal's (130, 143).
///
/// An `input` without objects is one run on the flags alone (as [`Source::Null`]).
pub async fn run_stream_with<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    out: &mut dyn Write,
    interrupt: &'static Interrupt,
) -> u8 {
    run_source_with(tool, input, Source::Null, out, interrupt).await
}

/// [`run_stream_with`] on an input of kind `source`: a [`Source::Stream`] without objects
/// is refused ([`NO_INPUT`](super::NO_INPUT), exit 2) instead of run on the flags.
pub async fn run_source_with<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    source: Source,
    out: &mut dyn Write,
    interrupt: &'static Interrupt,
) -> u8 {
    let common = tool.common().clone();
    let rx = spawn_reader(input, source);

    let cloud = match pick_cloud(common.cloud.as_deref())
        .and_then(|c| c.with_network(common.resolve.clone(), common.ca_file.as_deref()))
    {
        Ok(c) => Arc::new(c),
        Err(e) => return fatal(&e),
    };
    let client = match build_client(&cloud) {
        Ok(c) => c,
        Err(e) => return fatal(&e),
    };
    let creds = Arc::new(Credentials::new(common.auth, cloud.clone(), client.clone()));
    let shared = Arc::new(Shared {
        http: Http::new(client, cloud, creds, common.dry_run),
        common: common.clone(),
        memos: Memos::default(),
        claimed_files: std::sync::Mutex::default(),
        states: std::sync::Mutex::default(),
        interrupt,
    });
    // In a pipe every step starts at once: what the flags alone determine is started now,
    // while the previous step works on the object this one waits for.
    let ctx = Ctx {
        shared: shared.clone(),
        deadline: shared.deadline(),
    };
    if let Some(settling) = tool.settle(&ctx) {
        settling.await;
    }
    tool.prepare(&ctx);
    let items = input_items(tool, &ctx, rx).await;
    // Up to --jobs objects at once. A job is free again as soon as its object is done, not
    // when every earlier object is (one slow object must not idle the others); results are
    // written in input order, each as soon as those before it are written.
    let jobs = usize::from(common.jobs);
    let mut items = std::pin::pin!(items);
    let mut running = futures::stream::FuturesUnordered::new();
    let mut finished: BTreeMap<usize, Outcome> = BTreeMap::new();
    let (mut next_in, mut next_out) = (0usize, 0usize);
    let mut input_open = true;
    let shared = &shared;
    let mut code = 0u8;
    let mut tally = Tally::default();
    loop {
        // Once interrupted, what still arrives is only written (at once), so no job limit.
        let take = input_open && (running.len() < jobs || interrupt.raised().is_some());
        if !take && running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some((i, outcome)) = running.next(), if !running.is_empty() => {
                finished.insert(i, outcome);
            }
            item = items.next(), if take => match item {
                Some(item) => {
                    // Nothing after unusable input is started.
                    if matches!(item, Item::Fatal(_)) {
                        input_open = false;
                    }
                    let i = next_in;
                    next_in += 1;
                    running.push(async move { (i, one(tool, shared, item).await) });
                }
                None => input_open = false,
            },
        }
        while let Some(result) = finished.remove(&next_out) {
            next_out += 1;
            let line = match result {
                Outcome::Fatal(e) => return fatal(&e).max(code),
                Outcome::Written(env, err, verdict) => {
                    tally.count(err.as_ref());
                    code = code.max(tally.judged(verdict));
                    // Any object written with an error fails the run, its own or one passed
                    // through: the last tool of a pipe reports the pipeline's outcome.
                    if let Some(e) = err {
                        code = code.max(if e.exit_code() == 3 { 3 } else { 1 });
                    } else if env.has_error() {
                        code = code.max(1);
                        tally.upstream_interrupted |= env
                            .get(fields::ERROR.name)
                            .is_some_and(|e| e["code"] == codes::INTERRUPTED.name);
                    }
                    env.to_line()
                }
            };
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return 0;
                }
                ui::error(&format!("cannot write to stdout: {e}"));
                return 1;
            }
        }
    }
    // An object an earlier step wrote as interrupted: the same Ctrl-C on the pipe's process
    // group most likely reached this process too, and its watcher may be a moment behind.
    let raised = match interrupt.raised() {
        None if tally.upstream_interrupted => interrupt.raised_within(SIGNAL_SETTLE).await,
        r => r,
    };
    if let Some(s) = raised {
        tally.report(s);
        return s.exit_code();
    }
    tool.finish(&ctx);
    tally.exit(code)
}

/// The run's input: the objects the tool names itself ([`Tool::objects`]; stdin is then
/// not read), or stdin's.
async fn input_items<'a, T: Tool>(
    tool: &'a T,
    ctx: &'a Ctx,
    mut rx: tokio::sync::mpsc::Receiver<Item>,
) -> futures::stream::LocalBoxStream<'a, Item> {
    if let Some(found) = tool.objects(ctx) {
        return futures::stream::iter(found.await.into_iter().map(|n| match n {
            Named::Object(e) => Item::Object(e),
            Named::Failed(e, err) => Item::Failed(e, err),
        }))
        .boxed_local();
    }
    let first = rx.recv().await;
    futures::stream::iter(first)
        .chain(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|i| (i, rx))
        }))
        .boxed_local()
}

/// How long a run that passed on an interrupted object waits for its own signal.
const SIGNAL_SETTLE: Duration = Duration::from_millis(250);

/// What the run wrote: for an interrupted run's last line on stderr, and a report's exit 4.
#[derive(Default)]
struct Tally {
    /// Objects written with `error.code` `Interrupted`.
    interrupted: usize,
    /// Objects written whole, or with another error.
    others: usize,
    /// Whether an object came with an earlier step's `Interrupted` error.
    upstream_interrupted: bool,
    /// Whether a report found something that needs attention soon ([`Verdict::Soon`]).
    soon: bool,
}

impl Tally {
    fn count(&mut self, err: Option<&Error>) {
        if err.is_some_and(Error::is_interrupted) {
            self.interrupted += 1;
        } else {
            self.others += 1;
        }
    }

    /// The exit code a report's verdict asks for (a `Soon` is kept for the end: exit 4
    /// only when nothing failed).
    fn judged(&mut self, v: Verdict) -> u8 {
        match v {
            Verdict::Broken => 1,
            Verdict::Soon => {
                self.soon = true;
                0
            }
            Verdict::Fine => 0,
        }
    }

    /// The run's exit code when no signal stopped it: exit 4 only when nothing failed.
    fn exit(&self, code: u8) -> u8 {
        if code == 0 && self.soon {
            SOON_EXIT
        } else {
            code
        }
    }

    fn report(&self, s: Signal) {
        ui::warn(&format!(
            "{}: every object was written: {} with error Interrupted, {} other(s); rerun the same command on the output to complete them",
            s.name(),
            self.interrupted,
            self.others
        ));
    }
}

fn fatal(e: &Error) -> u8 {
    ui::error(&e.full_message());
    e.exit_code().max(2)
}

/// The cloud: `--cloud` (or `XTENANT_CLOUD`), else AzureCloud. Never the input's `cloud`
/// field: an envelope from another party must not choose where the operator's credential
/// is sent; an object whose `cloud` differs is refused (see [`super::object`]).
pub(super) fn pick_cloud(flag: Option<&str>) -> Result<Cloud> {
    match flag {
        Some(f) => Cloud::from_arg(f),
        None => Ok(Cloud::azure_public()),
    }
}
