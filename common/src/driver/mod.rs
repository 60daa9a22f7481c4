//! The shared driver: the only place that reads stdin, writes stdout and ends the process.
//!
//! A tool's `main` is `common::driver::main::<Cli>()`. The driver parses the flags,
//! reads JSON objects from stdin (NDJSON, or one pretty-printed object), runs the
//! tool's step on each — up to `--jobs` at once, writing results in input order as soon
//! as they are ready — and maps the outcome to the exit code of DESIGN.md. An object
//! that already carries an earlier step's `error` passes through: the flags are written
//! onto it and one stderr line says so. A multi-object run ends with a summary line.
//!
//! Memory is bounded: an input object over [`MAX_OBJECT`] is refused unread, and objects
//! finished while an earlier one still runs are held only up to 4 × `--jobs`, after which
//! stdin is not read until the earlier one is written.
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
//! Layout: this file holds the contract and the process's `main`; `input.rs` reads the
//! objects (`reader.rs` splits them), `run.rs` is the loop that runs them (up to `--jobs` at once, drained on a
//! signal), `object.rs` the step on one object and what is written for it, `output.rs`
//! writes the objects in order (and undoes what an undelivered one held) and counts them.
//! The step context and memos are in `context.rs`, the signal in `interrupt.rs`.
use std::future::Future;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use futures::future::LocalBoxFuture;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::cli::{CommonArgs, EXIT_CODES, Generate};
use crate::cloud::Cloud;
pub use crate::context::{Ctx, EarlyTokens, Memo, Primed};
use crate::envelope::{Envelope, Field};
use crate::error::{Error, Result};
use crate::exit::ExitCode as Exit;
use crate::interrupt::{Interrupt, watch_signals};
use crate::ui;

mod input;
mod object;
mod output;
mod reader;
mod rollout;
mod run;

pub use input::{NO_INPUT, Source};
pub use reader::MAX_OBJECT;
pub use rollout::Rollout;
pub use run::{run_source_with, run_stream, run_stream_with};

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

    /// Settles, once and before anything else of the run, what the flags name only through
    /// a lookup (e.g. the subscription of a cluster named by resource group and name). Reads
    /// only; what it finds, or why it could not, is the tool's to keep (a failure is the
    /// failure of each object that needs it, never of the run). By default, nothing.
    fn settle<'a>(&'a self, ctx: &'a Ctx) -> Option<LocalBoxFuture<'a, ()>> {
        let _ = ctx;
        None
    }

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

    /// The input objects the flags alone name (e.g. every cluster of a tenant that runs as
    /// an app these tools made), found by reads, taken instead of stdin; `None` (the
    /// default): the objects come from stdin. An object that could not be named (a listing
    /// refused) is written as that failure, and the run goes on.
    fn objects<'a>(&'a self, ctx: &'a Ctx) -> Option<LocalBoxFuture<'a, Vec<Named>>> {
        let _ = ctx;
        None
    }

    /// How a run of many objects is rolled out ([`Rollout`]): by default every object, up to
    /// `--jobs` at once, whatever fails.
    fn rollout(&self) -> Rollout {
        Rollout::default()
    }

    /// Called once the last object is written (not after a fatal error or a signal): e.g. a
    /// report's summary line on stderr. Returns whether it said the run's last line, which
    /// then stands for the driver's summary of a multi-object run. By default, nothing.
    fn finish(&self, ctx: &Ctx) -> bool {
        let _ = ctx;
        false
    }
}

/// An input object a tool found itself ([`Tool::objects`]), or one it could not name.
#[derive(Debug)]
pub enum Named {
    /// An object to act on.
    Object(Envelope),
    /// What could not be named, written with this tool's error (exit 1).
    Failed(Envelope, Error),
}

/// How an object written without an error counts toward the exit code: most steps only
/// succeed (`Fine`); a report (`aks-sp-update --status`) may find something broken (exit 1)
/// or something that needs attention soon (exit 4, when nothing failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing to report.
    #[default]
    Fine,
    /// Needs attention soon (e.g. a key that expires within the warning window): exit 4.
    Soon,
    /// Broken: exit 1.
    Broken,
}

/// Typed fields a step writes onto the object.
pub trait Fields {
    /// Writes the fields (sets, or removes those that no longer hold).
    fn write_to(&self, object: &mut Envelope);

    /// How the object counts toward the exit code ([`Verdict::Fine`] unless a report says otherwise).
    fn verdict(&self) -> Verdict {
        Verdict::Fine
    }

    /// What this run made that only the object holds (a client secret Entra shows once),
    /// and how to remove it again: the driver runs it when the object cannot be delivered
    /// (stdout closed: the next command ended), so nothing is left behind that no one
    /// knows of. By default, nothing.
    fn undelivered(&self) -> Option<Undo> {
        None
    }
}

/// One object's side of a tool with two modes: the step's, or the one a flag turns on
/// instead of it (an undo: `acr-grant --revoke`, `consent-link --remove`; a read-only report:
/// `aks-sp-update --status`); what it asks for (its inputs) or what it came to (its fields,
/// which each side writes itself).
#[derive(Debug)]
pub enum Either<S, O> {
    /// The step's.
    Step(S),
    /// The other mode's.
    Other(O),
}

impl<S: Fields, O: Fields> Fields for Either<S, O> {
    fn write_to(&self, object: &mut Envelope) {
        match self {
            Self::Step(o) => o.write_to(object),
            Self::Other(o) => o.write_to(object),
        }
    }

    fn verdict(&self) -> Verdict {
        match self {
            Self::Step(o) => o.verdict(),
            Self::Other(o) => o.verdict(),
        }
    }

    fn undelivered(&self) -> Option<Undo> {
        match self {
            Self::Step(o) => o.undelivered(),
            Self::Other(o) => o.undelivered(),
        }
    }
}

/// The future an [`Undo`] runs.
pub type UndoFuture<'c> = std::pin::Pin<Box<dyn Future<Output = Result<String>> + 'c>>;

/// Something a step made that is lost with an undelivered object, and its removal.
pub struct Undo {
    /// What it is, for stderr (e.g. `the new client secret <key id> of app <app id>`).
    pub what: String,
    /// How a person removes it when the driver could not (a command).
    pub by_hand: String,
    /// Removes it (with a context of its own, not cut short by the run's end); says what it did.
    pub remove: Box<dyn for<'c> FnOnce(&'c Ctx) -> UndoFuture<'c> + Send>,
}

impl std::fmt::Debug for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Undo")
            .field("what", &self.what)
            .field("by_hand", &self.by_hand)
            .finish_non_exhaustive()
    }
}

/// No fields.
impl Fields for () {
    fn write_to(&self, _: &mut Envelope) {}
}

/// A large side of an [`Either`], boxed: its own fields.
impl<T: Fields> Fields for Box<T> {
    fn write_to(&self, object: &mut Envelope) {
        (**self).write_to(object);
    }

    fn verdict(&self) -> Verdict {
        (**self).verdict()
    }

    fn undelivered(&self) -> Option<Undo> {
        (**self).undelivered()
    }
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

impl<O> Done<O> {
    /// The same result with its output changed by `f` (a tool with several modes wraps each).
    pub fn map<T>(self, f: impl FnOnce(O) -> T) -> Done<T> {
        Done {
            output: f(self.output),
            changed: self.changed,
            summary: self.summary,
        }
    }
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
            // `--help` and `--version` are printed to stdout and succeed.
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            return code.into();
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
            return Exit::Failure.into();
        }
    };
    // From here on SIGINT and SIGTERM drain the run instead of killing it (DESIGN.md).
    let interrupt = Interrupt::for_run();
    interrupt.shorten_write_grace(common.write_grace);
    if let Err(e) = watch_signals(interrupt) {
        ui::error(&e.full_message());
        return Exit::Failure.into();
    }
    let input: Box<dyn BufRead + Send> = if source == Source::Terminal {
        Box::new(std::io::empty())
    } else {
        Box::new(std::io::BufReader::with_capacity(
            64 << 10,
            std::io::stdin(),
        ))
    };
    let code = rt.block_on(run_source_with(
        &tool,
        input,
        source,
        &mut std::io::stdout().lock(),
        interrupt,
    ));
    code.into()
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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .finish()
        .with(log_targets(&filter))
        .try_init();
}

/// `RUST_LOG`'s directives (`level`, `target=level`, comma-separated) as a static filter,
/// without env-filter's regex engine (issue 28: two crates fewer to build). A directive it
/// does not understand (env-filter's span and field filters) is left out with a warning.
fn log_targets(filter: &str) -> tracing_subscriber::filter::Targets {
    let mut all = tracing_subscriber::filter::Targets::new();
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.parse::<tracing_subscriber::filter::Targets>() {
            Ok(one) => {
                if let Some(level) = one.default_level() {
                    all = all.with_default(level);
                }
                all = all.with_targets(one);
            }
            Err(e) => ui::warn(&format!("RUST_LOG: {directive:?} left out ({e})")),
        }
    }
    all
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
    if ok { Exit::Success } else { Exit::Failure }.into()
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::{LevelFilter, Targets};

    use super::log_targets;

    fn on(t: &Targets, target: &str, level: LevelFilter) -> bool {
        t.would_enable(target, &level.into_level().expect("a level"))
    }

    #[test]
    fn rust_log_reads_levels_and_targets_and_leaves_out_the_rest() {
        let t = log_targets("warn, azure_core=debug,[span{x=1}]=debug,bogus=loud");
        assert!(on(&t, "azure_core::http", LevelFilter::DEBUG));
        assert!(!on(&t, "azure_core::http", LevelFilter::TRACE));
        assert!(on(&t, "reqwest", LevelFilter::WARN));
        assert!(!on(&t, "reqwest", LevelFilter::INFO));
        assert!(
            !on(&t, "bogus", LevelFilter::INFO),
            "a bad level is left out"
        );
        assert!(on(
            &log_targets("trace"),
            "typespec_client_core",
            LevelFilter::TRACE
        ));
        assert!(!on(&log_targets(""), "azure_core", LevelFilter::ERROR));
    }
}
