//! The shared driver: the only place that reads stdin, writes stdout and ends the process.
//!
//! A tool's `main` is `common::driver::main::<Cli>()`. The driver parses the flags,
//! reads JSON objects from stdin (NDJSON, or one pretty-printed object), runs the
//! tool's step on each — up to `--jobs` at once, writing results in input order as soon
//! as they are ready — and maps the outcome to the exit code of DESIGN.md. An object
//! that already carries `error` passes through untouched; a failed object is written
//! as the input plus `error: {step, code, message}` and the stream goes on.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::auth::Credentials;
use crate::cli::{CommonArgs, EXIT_CODES, Generate};
use crate::cloud::Cloud;
use crate::envelope::{Envelope, fields};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Api, Http, build_client};
use crate::ui;
use crate::wait::Deadline;

/// A tool: its flags, its name, and its step on one object.
pub trait Tool: Parser + Send + Sync + 'static {
    /// The tool's name, written as `error.step`.
    const NAME: &'static str;

    /// The shared flags.
    fn common(&self) -> &CommonArgs;

    /// Runs the step on one object: validate every input first, then act, then add the output fields.
    fn run(&self, input: Envelope, ctx: &Ctx) -> impl Future<Output = Result<Done>>;
}

/// A step's result for one object.
#[derive(Debug)]
pub struct Done {
    /// The object to write.
    pub envelope: Envelope,
    /// Whether anything was changed in Azure.
    pub changed: bool,
    /// One line for stderr saying what was done.
    pub summary: String,
}

struct Shared {
    http: Http,
    common: CommonArgs,
    /// Lookups made once per run: see [`Ctx::once`].
    memo: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Value>>>>>,
}

/// What a step works with for one object: the cloud, the HTTP client, the deadline.
pub struct Ctx {
    shared: Arc<Shared>,
    deadline: Deadline,
}

impl Ctx {
    /// The HTTP client (credentials included).
    pub fn http(&self) -> &Http {
        &self.shared.http
    }

    /// The cloud.
    pub fn cloud(&self) -> &Cloud {
        self.shared.http.cloud()
    }

    /// This object's deadline.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Microsoft Graph acting in `tenant`.
    pub fn graph(&self, tenant: &str) -> Api<'_> {
        self.shared.http.graph(tenant, self.deadline)
    }

    /// ARM acting in `tenant`.
    pub fn arm(&self, tenant: &str) -> Api<'_> {
        self.shared.http.arm(tenant, self.deadline)
    }

    /// Whether writes are only reported.
    pub fn dry_run(&self) -> bool {
        self.shared.common.dry_run
    }

    /// The shared flags.
    pub fn common(&self) -> &CommonArgs {
        &self.shared.common
    }

    /// The answer of `lookup` for `key`, found once for the whole run: every object (and
    /// every job) asking for the same key while or after it is looked up shares the answer.
    /// For reads whose answer does not change during a run (an app's service principal, a
    /// built-in role's id), so that a stream of 200 objects does not ask 200 times. Nothing
    /// found (`None`) and errors are not kept: the next object asks again.
    pub async fn once<F, Fut>(&self, key: String, lookup: F) -> Result<Option<Value>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Value>>>,
    {
        let slot = {
            let mut memo = self
                .shared
                .memo
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            memo.entry(key).or_default().clone()
        };
        let mut found = slot.lock().await;
        if let Some(v) = found.as_ref() {
            return Ok(Some(v.clone()));
        }
        let answer = lookup().await?;
        found.clone_from(&answer);
        Ok(answer)
    }

    /// [`crate::graph::service_principal_id`] for `app_id` in the tenant of `graph`, looked
    /// up once per run (see [`Ctx::once`]; `None` is asked again).
    pub async fn service_principal_id(
        &self,
        graph: &Api<'_>,
        app_id: &str,
    ) -> Result<Option<String>> {
        let key = format!(
            "servicePrincipal|{}|{}",
            graph.tenant().to_ascii_lowercase(),
            app_id.to_ascii_lowercase()
        );
        let found = self
            .once(key, || async {
                Ok(crate::graph::service_principal_id(graph, app_id)
                    .await?
                    .map(Value::String))
            })
            .await?;
        Ok(found.and_then(|v| v.as_str().map(str::to_owned)))
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

    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
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
    let input: Box<dyn BufRead + Send> = if interactive {
        Box::new(std::io::empty())
    } else {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    };
    let code = rt.block_on(run_stream(&tool, input, &mut std::io::stdout().lock()));
    ExitCode::from(code)
}

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
fn spawn_reader(input: Box<dyn BufRead + Send>) -> tokio::sync::mpsc::Receiver<Item> {
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
            // Empty stdin (a Makefile recipe, a CI job): one run from the flags alone.
            let _ = tx.blocking_send(Item::Object(Envelope::new()));
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
    let common = tool.common().clone();
    let mut rx = spawn_reader(input);
    let first = rx.recv().await;

    let cloud = match pick_cloud(common.cloud.as_deref(), first.as_ref()) {
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
        memo: std::sync::Mutex::default(),
    });

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
    loop {
        let take = input_open && running.len() < jobs;
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
                    if let Some(e) = err {
                        code = code.max(if e.exit_code() == 3 { 3 } else { 1 });
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
    code
}

fn fatal(e: &Error) -> u8 {
    ui::error(&e.full_message());
    e.exit_code().max(2)
}

/// The cloud: the flag or `XTENANT_CLOUD` when given, else the first object's `cloud` field, else AzureCloud.
fn pick_cloud(flag: Option<&str>, first: Option<&Item>) -> Result<Cloud> {
    if let Some(f) = flag {
        return Cloud::from_arg(f);
    }
    let from_input = match first {
        Some(Item::Object(e)) => e.str(&fields::CLOUD).ok().flatten(),
        _ => None,
    };
    match from_input {
        Some(name)
            if crate::cloud::BUILT_IN
                .iter()
                .any(|b| b.eq_ignore_ascii_case(&name)) =>
        {
            Cloud::from_arg(&name)
        }
        Some(name) => Err(Error::usage(format!(
            "the input was made in the custom cloud {name:?}: pass its cloud file with --cloud FILE (or XTENANT_CLOUD)"
        ))),
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
    if input.has_error() {
        // A failure of an earlier step passes through untouched; this tool's own failure
        // is retried, so a rerun on a failed output (e.g. a timed-out wait) completes it.
        let own = input
            .get(fields::ERROR.name)
            .and_then(|e| e.get("step").and_then(|s| s.as_str().map(str::to_owned)));
        if own.as_deref() != Some(T::NAME) {
            return Outcome::Written(input, None);
        }
        input.remove(fields::ERROR.name);
    }
    let cloud = shared.http.cloud().name.clone();
    match input.str(&fields::CLOUD) {
        Ok(Some(c)) if !c.eq_ignore_ascii_case(&cloud) => {
            let e = Error::input(
                fields::CLOUD.name,
                format!(
                    "this object was made in cloud {c:?} but the tool runs in {cloud:?}: pass the same --cloud to every step"
                ),
            );
            return failed(T::NAME, input, e);
        }
        Err(e) => return failed(T::NAME, input, e),
        _ => {}
    }
    input.set(fields::CLOUD.name, &cloud);
    let ctx = Ctx {
        shared: shared.clone(),
        deadline: Deadline::after(shared.common.timeout),
    };
    match tool.run(input.clone(), &ctx).await {
        Ok(done) => {
            let state = if done.changed { "changed" } else { "unchanged" };
            let dry = if ctx.dry_run() { ", dry run" } else { "" };
            ui::info(&format!("{} ({state}{dry})", done.summary));
            Outcome::Written(done.envelope, None)
        }
        Err(e) => failed(T::NAME, input, e),
    }
}

fn failed(step: &str, mut input: Envelope, e: Error) -> Outcome {
    ui::error(&format!("{} ({})", e.message(), e.code()));
    if let Some(h) = e.hint() {
        ui::hint(h);
    }
    if matches!(e.kind(), ErrorKind::Input { .. }) {
        ui::debug("nothing was sent for this object");
    }
    for (name, value) in e.extra_fields() {
        if value.is_null() {
            input.remove(name);
        } else {
            input.set(name, value);
        }
    }
    input.set(
        fields::ERROR.name,
        json!({"step": step, "code": e.code(), "message": e.full_message()}),
    );
    Outcome::Written(input, Some(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_ctx() -> Ctx {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            common: CommonArgs,
        }
        let common = Flags::parse_from(["t"]).common;
        let cloud = Arc::new(Cloud::azure_public());
        let client = build_client(&cloud).unwrap();
        let creds = Arc::new(Credentials::new(
            crate::auth::AuthMethod::Env,
            cloud.clone(),
            client.clone(),
        ));
        Ctx {
            shared: Arc::new(Shared {
                http: Http::new(client, cloud, creds, false),
                common,
                memo: std::sync::Mutex::default(),
            }),
            deadline: Deadline::after(std::time::Duration::from_secs(5)),
        }
    }

    #[tokio::test]
    async fn a_lookup_is_made_once_per_run_unless_it_found_nothing() {
        let ctx = test_ctx();
        let calls = std::cell::Cell::new(0);
        let look = |v: Option<Value>| {
            calls.set(calls.get() + 1);
            async move { Ok(v) }
        };
        assert_eq!(ctx.once("k".into(), || look(None)).await.unwrap(), None);
        let one = Some(json!(1));
        assert_eq!(
            ctx.once("k".into(), || look(one.clone())).await.unwrap(),
            one
        );
        assert_eq!(
            ctx.once("k".into(), || look(Some(json!(2)))).await.unwrap(),
            one
        );
        assert_eq!(
            calls.get(),
            2,
            "nothing found is asked again; an answer is kept"
        );
        let e = ctx
            .once("e".into(), || async { Err(Error::step("Boom", "x")) })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "Boom");
        assert_eq!(
            ctx.once("e".into(), || look(Some(json!(3)))).await.unwrap(),
            Some(json!(3)),
            "an error is not kept"
        );
        // Two jobs asking at once share one lookup.
        let slow = |v: i64| {
            calls.set(calls.get() + 1);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(Some(json!(v)))
            }
        };
        let before = calls.get();
        let (a, b) = tokio::join!(
            ctx.once("j".into(), || slow(1)),
            ctx.once("j".into(), || slow(2))
        );
        assert_eq!((a.unwrap(), b.unwrap()), (Some(json!(1)), Some(json!(1))));
        assert_eq!(calls.get(), before + 1);
    }

    #[test]
    fn a_failed_object_carries_the_errors_extra_fields() {
        let input = Envelope::parse(r#"{"app_id":"a","stale":"x","keep":1}"#).unwrap();
        let e = Error::step("OperationStillRunning", "still running")
            .with_field("cluster_operation_url", "https://arm/op/1")
            .with_field("stale", Value::Null);
        let Outcome::Written(out, Some(err)) = failed("aks-sp-update", input, e) else {
            panic!("not written")
        };
        assert_eq!(err.code(), "OperationStillRunning");
        assert_eq!(
            out.to_line(),
            r#"{"app_id":"a","keep":1,"cluster_operation_url":"https://arm/op/1","error":{"step":"aks-sp-update","code":"OperationStillRunning","message":"still running"}}"#
        );
    }
}
