//! The loop: every object of the input through the step, up to `--jobs` at once, written
//! in input order; drained on a signal; the exit code.
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::sync::Arc;

use futures::StreamExt;

use super::input::{Item, Source, spawn_reader};
use super::object::{Next, Outcome, Stamp, act, failure, held_back, start};
use super::output::{Flow, Output};
use super::rollout::Gate;
use super::{Named, Tool};
use crate::auth::Credentials;
use crate::cli::CommonArgs;
use crate::cloud::Cloud;
use crate::context::{Ctx, Memos, Shared};
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::http::{Http, build_client};
use crate::interrupt::{Interrupt, Signal};
use crate::ui;

/// Runs the tool over every object of `input`, writing to `out`; returns the exit code.
pub async fn run_stream<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    out: &mut dyn Write,
) -> ExitCode {
    run_stream_with(tool, input, out, Interrupt::unwatched()).await
}

/// [`run_stream`], drained when `interrupt` is raised: nothing new is started, every wait
/// stops, every object is written (unfinished ones, and those that arrive after, with
/// `error.code` `Interrupted` — unless they already carry an error: then they pass through
/// with the flags), stdin is read to its end, and the exit code is the signal's (130, 143).
///
/// An `input` without objects is one run on the flags alone (as [`Source::Null`]).
pub async fn run_stream_with<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    out: &mut dyn Write,
    interrupt: &'static Interrupt,
) -> ExitCode {
    run_source_with(tool, input, Source::Null, out, interrupt).await
}

/// [`run_stream_with`] on an input of kind `source`: a [`Source::Stream`] without objects
/// is refused ([`NO_INPUT`](super::NO_INPUT), exit 2) instead of run on the flags.
#[expect(
    clippy::too_many_lines,
    reason = "the one loop (taking, the rollout's gate, writing in order, signals) reads top to bottom; split, its state would be threaded through every part"
)]
pub async fn run_source_with<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    source: Source,
    out: &mut dyn Write,
    interrupt: &'static Interrupt,
) -> ExitCode {
    let common = tool.common().clone();
    let mut rx = spawn_reader(input, source);
    let shared = match shared_for(&common, interrupt) {
        Ok(s) => s,
        Err(e) => return fatal(&e),
    };
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
    let (mut batch, mut input_open) = first_items(tool, &ctx, &mut rx).await;

    // Up to --jobs objects at once. A job is free again as soon as its object is done, not
    // when every earlier object is (one slow object must not idle the others); results are
    // written in input order, each as soon as those before it are written. Objects taken
    // and not yet written are at most HELD_PER_JOB × --jobs: past that, stdin waits.
    let jobs = usize::from(common.jobs);
    let window = HELD_PER_JOB * jobs;
    let stamp = Stamp::new(tool, &shared);
    let mut running = futures::stream::FuturesUnordered::new();
    let mut output = Output::new(out);
    let mut next_in = 0usize;
    let mut announced = false;
    let mut gate = Gate::new(tool.rollout());
    let (shared, stamp) = (&shared, &stamp);
    loop {
        // Once interrupted, what still arrives is only written (at once), so no job limit.
        let can_take = |running: usize, next_in: usize, written: usize| {
            next_in - written < window
                && (running < gate.width(jobs) || interrupt.raised().is_some())
        };
        while can_take(running.len(), next_in, output.next()) {
            let Some(item) = batch.pop_front() else {
                break;
            };
            // Nothing after unusable input is started.
            if matches!(item, Item::Fatal(_)) {
                input_open = false;
                batch.clear();
            }
            let i = next_in;
            next_in += 1;
            match start(tool, stamp, shared, item) {
                Next::Write(outcome) => output.put(i, outcome),
                Next::Act(input, _) if gate.stopped() => {
                    output.put(i, held_back(stamp, input, gate.not_started(stamp.step)));
                }
                Next::Act(input, inputs) => {
                    running.push(async move { (i, act::<T>(stamp, shared, input, inputs).await) });
                }
            }
        }
        let mut flow = output.write_ready(shared).await;
        // Everything taken is written: the window is free again for the batch in hand.
        let again = running.is_empty() && !batch.is_empty();
        if !again && matches!(flow, Flow::Go) {
            flow = output.flush();
        }
        match flow {
            Flow::Go => {}
            // No object can be delivered: nothing new starts, and what runs stops as on a
            // signal (what it minted is removed again as each is written).
            Flow::Closed => {
                input_open = false;
                batch.clear();
                interrupt.raise(Signal::Pipe);
            }
            Flow::Fatal(e) => {
                let code = fatal(&e).merge(output.code);
                output.tally.say_end(interrupt.raised());
                return code;
            }
        }
        if running.is_empty() {
            if !batch.is_empty() {
                continue;
            }
            if !input_open {
                break;
            }
        }
        tokio::select! {
            biased;
            Some((i, outcome)) = running.next(), if !running.is_empty() => {
                finished(&mut gate, &outcome, running.len());
                output.put(i, outcome);
            }
            s = interrupt.wait(), if !announced => {
                announced = true;
                say_stopping(s, !running.is_empty());
            }
            got = rx.recv(), if input_open && batch.is_empty() => match got {
                Some(b) => batch = VecDeque::from(b),
                None => input_open = false,
            },
        }
    }
    // (A run that passed on an interrupted object has waited for its own signal already.)
    let raised = interrupt.raised();
    if let Some(s) = raised {
        output.tally.say_end(Some(s));
        return ExitCode::Stopped(s);
    }
    if !tool.finish(&ctx) {
        output.tally.say_end(None);
    }
    output.code
}

/// The run's first items: the objects the tool names itself ([`Tool::objects`]; stdin is
/// then not read), or stdin's first batch; and whether more may come from stdin.
async fn first_items<T: Tool>(
    tool: &T,
    ctx: &Ctx,
    rx: &mut tokio::sync::mpsc::Receiver<Vec<Item>>,
) -> (VecDeque<Item>, bool) {
    if let Some(found) = tool.objects(ctx) {
        let items = found.await.into_iter().map(|n| match n {
            Named::Object(e) => Item::Object(e),
            Named::Failed(e, err) => Item::Failed(e, err),
        });
        return (items.collect(), false);
    }
    match rx.recv().await {
        Some(b) => (VecDeque::from(b), true),
        None => (VecDeque::new(), false),
    }
}

/// What every object of the run shares: the cloud (from the flag), the HTTP client, the
/// credentials, the memos, the interrupt.
fn shared_for(common: &CommonArgs, interrupt: &'static Interrupt) -> Result<Arc<Shared>> {
    let cloud = pick_cloud(common.cloud.as_deref())
        .and_then(|c| c.with_network(common.resolve.clone(), common.ca_file.as_deref()))?;
    let cloud = Arc::new(cloud);
    let client = build_client(&cloud)?;
    let creds = Arc::new(Credentials::new(common.auth, cloud.clone(), client.clone()));
    Ok(Arc::new(Shared {
        http: Http::new(client, cloud, creds, common.dry_run),
        common: common.clone(),
        memos: Memos::default(),
        claimed_files: std::sync::Mutex::default(),
        states: std::sync::Mutex::default(),
        interrupt,
    }))
}

/// How many objects per job may be held, finished, while an earlier one still runs.
const HELD_PER_JOB: usize = 4;

/// Notes an acted object's end in the rollout; says so when its failure stops the run
/// from starting more ([`Gate`]).
fn finished(gate: &mut Gate, outcome: &Outcome, still_running: usize) {
    if !gate.finished(failure(outcome)) {
        return;
    }
    ui::warn(&format!(
        "{} failed (--max-failures): no new one starts, {still_running} running finish, the rest are NotStarted; fix it and rerun on the output",
        gate.failures()
    ));
}

/// The first line of an interrupt, when this run has work under way (else only with -v).
fn say_stopping(s: Signal, busy: bool) {
    if s == Signal::Pipe {
        return;
    }
    let line = format!(
        "{}: stopping; what runs is written with error Interrupted (a second {} stops at once)",
        s.name(),
        s.name()
    );
    if busy {
        ui::warn(&line);
    } else {
        ui::debug(&line);
    }
}

/// An error that ends the run: at least a usage error (exit 2), whatever it is.
fn fatal(e: &Error) -> ExitCode {
    ui::error(&e.full_message());
    e.exit_code().merge(ExitCode::Usage)
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
