//! The shared driver: the only place that reads stdin, writes stdout and ends the process.
//!
//! A tool's `main` is `common::driver::main::<Cli>()`. The driver parses the flags,
//! reads JSON objects from stdin (NDJSON, or one pretty-printed object), runs the
//! tool's step on each — up to `--jobs` at once, writing results in input order as soon
//! as they are ready — and maps the outcome to the exit code of DESIGN.md. An object
//! that already carries `error` passes through untouched.
//!
//! A step has two phases, and data goes one way through them:
//! 1. [`Tool::inputs`] (pure, synchronous): the flags and the input object become the
//!    step's typed inputs, every check that needs no request made. It is the only code of
//!    a tool that reads the envelope.
//! 2. [`Tool::act`] (async): the inputs and a [`Ctx`] become a typed [`Done`] (the fields
//!    the step owns, whether anything changed, a summary), or a [`Failed`] (the error and
//!    a typed partial output: what this run made that a rerun needs).
//!
//! The driver alone writes the object: the input, then the flags ([`Tool::flags`]), then
//! the output — or, on failure, the partial output and `error: {step, code, message}`.
//!
//! Length: over 500 lines of code, above the ~400 of STYLE.md: the contract (`Tool`,
//! `Fields`, `Done`, `Failed`) and the one loop that applies it (interrupts included) belong
//! in one place; the step context and memos are in `context.rs`, the signal in `interrupt.rs`.
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use serde_json::json;

use crate::auth::Credentials;
use crate::cli::{CommonArgs, EXIT_CODES, Generate};
use crate::cloud::Cloud;
pub use crate::context::{Ctx, Memo, Primed};
use crate::context::{Memos, Shared};
use crate::envelope::{Envelope, Field, fields};
use crate::error::{Error, ErrorKind, Result, codes};
use crate::http::{Http, build_client};
use crate::interrupt::{Interrupt, Signal, watch_signals};
use crate::ui;

/// A tool: its flags, its name, and its step on one object, in two phases.
pub trait Tool: Parser + Send + Sync + 'static {
    /// The tool's name, written as `error.step`.
    const NAME: &'static str;

    /// Every input of one object, checked.
    type Inputs;
    /// The fields the step writes when it succeeds.
    type Output: Fields;
    /// What a failed run made that its rerun needs (e.g. a new secret, an operation URL).
    type Partial: Fields + Default;

    /// The shared flags.
    fn common(&self) -> &CommonArgs;

    /// The envelope fields the flags given set (flags win over stdin). The driver writes
    /// them onto the object, whether the step succeeds or not.
    fn flags(&self) -> Vec<(Field, String)>;

    /// Reads and checks every input of one object: the flags and `input` (the object as it
    /// came, before the flags were written onto it). Pure: no request, no output.
    fn inputs(&self, input: &Envelope, cloud: &Cloud) -> Result<Self::Inputs>;

    /// Starts, before the first object arrives, the work the flags alone determine: tokens
    /// for the tenants the flags name, lookups of the resources they name. Called once per
    /// run, while the driver waits for the first object; it only starts reads (never a
    /// write) whose answers land in the run's memos ([`Ctx::state`], [`Ctx::spawn`]),
    /// where the objects that need them find them. A failure of this work is the failure of
    /// the first object that needs it, never of the run. By default, nothing.
    fn prepare(&self, ctx: &Ctx) {
        let _ = ctx;
    }

    /// Acts on Azure for one object.
    fn act(
        inputs: &Self::Inputs,
        ctx: &Ctx,
    ) -> impl Future<Output = Result<Done<Self::Output>, Failed<Self::Partial>>>;
}

/// Typed fields a step writes onto the object.
pub trait Fields {
    /// Writes the fields (sets, or removes those that no longer hold).
    fn write_to(&self, object: &mut Envelope);
}

/// No fields.
impl Fields for () {
    fn write_to(&self, _: &mut Envelope) {}
}

/// A step's result for one object.
#[derive(Debug)]
pub struct Done<O> {
    /// The fields the step owns.
    pub output: O,
    /// Whether anything was changed in Azure.
    pub changed: bool,
    /// One line for stderr saying what was done.
    pub summary: String,
}

/// A step's failure for one object: the error, and what the run made before it failed.
#[derive(Debug)]
pub struct Failed<P> {
    /// What went wrong.
    pub error: Error,
    /// The fields the failed object carries for its rerun.
    pub partial: P,
}

impl<P: Default> From<Error> for Failed<P> {
    fn from(error: Error) -> Self {
        Self {
            error,
            partial: P::default(),
        }
    }
}

impl<P> Failed<P> {
    /// A failure that leaves `partial` for the rerun.
    pub fn with(error: Error, partial: P) -> Self {
        Self { error, partial }
    }
}

/// Runs a tool as a process: flags, stdin, stdout, exit code.
pub fn main<T: Tool>() -> ExitCode {
    let cmd = T::command().after_long_help(EXIT_CODES);
    let tool = match cmd.try_get_matches().and_then(|m| T::from_arg_matches(&m)) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let common = tool.common().clone();
    if let Some(g) = common.generate {
        return generate::<T>(g);
    }
    ui::init(
        T::NAME,
        i8::try_from(common.verbose).unwrap_or(9) - i8::try_from(common.quiet).unwrap_or(9),
    );
    init_tracing();

    let source = Source::of_stdin();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui::error(&format!("cannot start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    // From here on SIGINT and SIGTERM drain the run instead of killing it (DESIGN.md).
    let interrupt = Interrupt::for_run();
    if let Err(e) = watch_signals(interrupt) {
        ui::error(&e.full_message());
        return ExitCode::from(1);
    }
    let input: Box<dyn BufRead + Send> = if source == Source::Terminal {
        Box::new(std::io::empty())
    } else {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    };
    let code = rt.block_on(run_source_with(
        &tool,
        input,
        source,
        &mut std::io::stdout().lock(),
        interrupt,
    ));
    ExitCode::from(code)
}
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

fn init_tracing() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ if ui::verbosity() >= 2 => {
            "azure_core=debug,azure_identity=debug,typespec_client_core=debug".to_owned()
        }
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn generate<T: Tool>(what: Generate) -> ExitCode {
    let mut cmd = T::command().after_long_help(EXIT_CODES);
    let mut out = std::io::stdout().lock();
    let ok = match what {
        Generate::Man => clap_mangen::Man::new(cmd).render(&mut out).is_ok(),
        Generate::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, T::NAME, &mut out);
            true
        }
        Generate::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, T::NAME, &mut out);
            true
        }
        Generate::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, T::NAME, &mut out);
            true
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One input item: an object, or the reason the input stopped being usable.
enum Item {
    Object(Envelope),
    Fatal(Error),
}

/// Reads objects on a thread, so a slow producer upstream never blocks the runtime.
fn spawn_reader(
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
/// is refused ([`NO_INPUT`], exit 2) instead of run on the flags.
pub async fn run_source_with<T: Tool>(
    tool: &T,
    input: Box<dyn BufRead + Send>,
    source: Source,
    out: &mut dyn Write,
    interrupt: &'static Interrupt,
) -> u8 {
    let common = tool.common().clone();
    let mut rx = spawn_reader(input, source);

    let cloud = match pick_cloud(common.cloud.as_deref()) {
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
    tool.prepare(&Ctx {
        shared: shared.clone(),
        deadline: shared.deadline(),
    });
    let first = rx.recv().await;

    let items = futures::stream::iter(first)
        .chain(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|i| (i, rx))
        }));
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
                Outcome::Written(env, err) => {
                    tally.count(err.as_ref());
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
    match raised {
        Some(s) => {
            tally.report(s);
            s.exit_code()
        }
        None => code,
    }
}

/// How long a run that passed on an interrupted object waits for its own signal.
const SIGNAL_SETTLE: Duration = Duration::from_millis(250);

/// What an interrupted run wrote, for its last line on stderr.
#[derive(Default)]
struct Tally {
    /// Objects written with `error.code` `Interrupted`.
    interrupted: usize,
    /// Objects written whole, or with another error.
    others: usize,
    /// Whether an object came with an earlier step's `Interrupted` error.
    upstream_interrupted: bool,
}

impl Tally {
    fn count(&mut self, err: Option<&Error>) {
        if err.is_some_and(Error::is_interrupted) {
            self.interrupted += 1;
        } else {
            self.others += 1;
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
/// is sent; an object whose `cloud` differs is refused (see [`one`]).
fn pick_cloud(flag: Option<&str>) -> Result<Cloud> {
    match flag {
        Some(f) => Cloud::from_arg(f),
        None => Ok(Cloud::azure_public()),
    }
}

enum Outcome {
    Written(Envelope, Option<Error>),
    Fatal(Error),
}

async fn one<T: Tool>(tool: &T, shared: &Arc<Shared>, item: Item) -> Outcome {
    let mut input = match item {
        Item::Fatal(e) => return Outcome::Fatal(e),
        Item::Object(e) => e,
    };
    let interrupted = shared.interrupt.raised();
    if input.has_error() {
        // A failure of an earlier step passes through untouched; this tool's own failure
        // is retried, so a rerun on a failed output (e.g. a timed-out wait) completes it —
        // but not once interrupted: then it passes through as it came.
        let own = input
            .get(fields::ERROR.name)
            .and_then(|e| e.get("step").and_then(|s| s.as_str().map(str::to_owned)));
        if own.as_deref() != Some(T::NAME) || interrupted.is_some() {
            return Outcome::Written(input, None);
        }
        input.remove(fields::ERROR.name);
    }
    let flags = tool.flags();
    let cloud = shared.http.cloud().name.clone();
    if let Some(s) = interrupted {
        return not_started(T::NAME, input, &flags, &cloud, s);
    }
    let dry_run = shared.common.dry_run;
    if let Err(e) = check_cloud(&input, &cloud).and_then(|()| check_dry_run(&input, dry_run)) {
        return failed(T::NAME, input, &flags, &cloud, &(), e);
    }
    let inputs = match tool.inputs(&input, shared.http.cloud()) {
        Ok(i) => i,
        Err(e) => {
            let out = failed(T::NAME, input, &flags, &cloud, &(), e);
            return mark_dry_run(out, dry_run, Vec::new());
        }
    };
    if let Some(s) = shared.interrupt.raised() {
        return not_started(T::NAME, input, &flags, &cloud, s);
    }
    let ctx = Ctx {
        shared: shared.clone(),
        deadline: shared.deadline(),
    };
    let (result, planned) = crate::http::collect_plan(T::act(&inputs, &ctx)).await;
    let out = match result {
        Ok(done) => {
            if dry_run {
                ui::info(&format!("{} (dry run)", done.summary));
            } else {
                let state = if done.changed { "changed" } else { "unchanged" };
                ui::info(&format!("{} ({state})", done.summary));
            }
            let mut out = input;
            write_flags(&mut out, &flags, &cloud);
            done.output.write_to(&mut out);
            Outcome::Written(out, None)
        }
        Err(Failed { error, partial }) => failed(T::NAME, input, &flags, &cloud, &partial, error),
    };
    mark_dry_run(out, dry_run, planned)
}
/// An object a `--dry-run` wrote holds placeholders and writes never made: only another
/// `--dry-run` may take it.
fn check_dry_run(input: &Envelope, dry_run: bool) -> Result<()> {
    if input.is_dry_run() && !dry_run {
        return Err(Error::input(
            fields::DRY_RUN.name,
            "`dry_run` is true: this object was written by a --dry-run, so its writes were never made and its new ids are placeholders",
        )
        .with_hint("run the earlier steps again without --dry-run, or add --dry-run to this step to extend the plan"));
    }
    Ok(())
}

/// In a dry run: `dry_run: true`, and `planned` added to the input's `plan`.
fn mark_dry_run(outcome: Outcome, dry_run: bool, planned: Vec<serde_json::Value>) -> Outcome {
    let Outcome::Written(mut object, err) = outcome else {
        return outcome;
    };
    if dry_run {
        let mut plan = match object.get(fields::PLAN.name) {
            Some(serde_json::Value::Array(a)) => a,
            _ => Vec::new(),
        };
        plan.extend(planned);
        // At the end, before `error`.
        let error = object.get(fields::ERROR.name);
        for f in [&fields::DRY_RUN, &fields::PLAN, &fields::ERROR] {
            object.remove(f.name);
        }
        object.set(fields::DRY_RUN.name, true);
        object.set(fields::PLAN.name, plan);
        if let Some(e) = error {
            object.set(fields::ERROR.name, e);
        }
    }
    Outcome::Written(object, err)
}

/// An object that arrived after the interrupt, or was not started before it: written with
/// the flags and `error.code` `Interrupted`, which a rerun of the same command completes.
fn not_started(
    step: &str,
    mut out: Envelope,
    flags: &[(Field, String)],
    cloud: &str,
    s: Signal,
) -> Outcome {
    let e = Error::interrupted(s, format!("{step} did not start on this object"));
    write_flags(&mut out, flags, cloud);
    out.set(fields::ERROR.name, error_object(step, &e));
    Outcome::Written(out, Some(e))
}

/// An object made in another cloud is refused, never adopted: the fix is the flag.
fn check_cloud(input: &Envelope, cloud: &str) -> Result<()> {
    match input.str(&fields::CLOUD)? {
        Some(c) if !c.eq_ignore_ascii_case(cloud) => Err(Error::input(
            fields::CLOUD.name,
            format!(
                "`cloud` is {c:?} but the tool runs in {cloud:?}: the cloud is chosen by --cloud (or XTENANT_CLOUD), never by the input; pass the --cloud this object was made with to every step, or remove `cloud` from the object"
            ),
        )),
        _ => Ok(()),
    }
}

/// The flags' fields and the cloud, written onto the object.
fn write_flags(out: &mut Envelope, flags: &[(Field, String)], cloud: &str) {
    out.set(fields::CLOUD.name, cloud);
    for (field, value) in flags {
        out.set(field.name, value);
    }
}

fn failed(
    step: &str,
    mut out: Envelope,
    flags: &[(Field, String)],
    cloud: &str,
    partial: &dyn Fields,
    e: Error,
) -> Outcome {
    ui::error(&format!("{} ({})", e.message(), e.code()));
    if let Some(h) = e.hint() {
        ui::hint(h);
    }
    if let Some(d) = e.detail() {
        ui::debug(&format!("Azure said: {d}"));
    }
    if let Some(r) = e.request_id() {
        ui::debug(&format!("request id: {r}"));
    }
    if matches!(e.kind(), ErrorKind::Input { .. }) {
        ui::debug("nothing was sent for this object");
    }
    // The cloud of a refused object is kept as it came: it is what the error is about.
    if !matches!(e.kind(), ErrorKind::Input { field } if field == fields::CLOUD.name) {
        write_flags(&mut out, flags, cloud);
    }
    partial.write_to(&mut out);
    out.set(fields::ERROR.name, error_object(step, &e));
    Outcome::Written(out, Some(e))
}

/// `error`: `{step, code, message}`, plus `hint` (what to do) and `request_id` (Azure's,
/// for a support case) when there are.
fn error_object(step: &str, e: &Error) -> serde_json::Value {
    let mut obj = json!({"step": step, "code": e.code(), "message": e.message()});
    if let Some(h) = e.hint() {
        obj["hint"] = json!(h);
    }
    if let Some(r) = e.request_id() {
        obj["request_id"] = json!(r);
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Made {
        url: &'static str,
    }

    impl Fields for Made {
        fn write_to(&self, object: &mut Envelope) {
            object.set(fields::CLUSTER_OPERATION_URL.name, self.url);
        }
    }

    #[test]
    fn a_failed_object_carries_the_flags_and_the_partial_output() {
        let input = Envelope::parse(r#"{"app_id":"a","keep":1}"#).unwrap();
        let flags = [(fields::CLUSTER_ID, "/subscriptions/s/c".to_owned())];
        let e = Error::step("OperationStillRunning", "still running");
        let Outcome::Written(out, Some(err)) = failed(
            "aks-sp-update",
            input,
            &flags,
            "AzureCloud",
            &Made {
                url: "https://arm/op/1",
            },
            e,
        ) else {
            panic!("not written")
        };
        assert_eq!(err.code(), "OperationStillRunning");
        assert_eq!(
            out.to_line(),
            r#"{"app_id":"a","keep":1,"cloud":"AzureCloud","cluster_id":"/subscriptions/s/c","cluster_operation_url":"https://arm/op/1","error":{"step":"aks-sp-update","code":"OperationStillRunning","message":"still running"}}"#
        );
    }

    #[test]
    fn the_cloud_comes_from_the_flag_never_from_the_input() {
        // Before, the first object's `cloud` chose the built-in cloud when --cloud was not given.
        assert_eq!(pick_cloud(None).unwrap().name, "AzureCloud");
        assert_eq!(
            pick_cloud(Some("AzureUSGovernment")).unwrap().name,
            "AzureUSGovernment"
        );
        let other = Envelope::parse(r#"{"cloud":"AzureUSGovernment"}"#).unwrap();
        let e = check_cloud(&other, "AzureCloud").unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::Input {
                field: "cloud".into()
            }
        );
        assert!(e.message().contains("--cloud"), "{e}");
        assert!(check_cloud(&other, "azureusgovernment").is_ok());
        assert!(check_cloud(&Envelope::new(), "AzureCloud").is_ok());
    }
}
