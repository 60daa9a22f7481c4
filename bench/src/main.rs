//! `xtenant-bench`: how fast the tools are, how few requests they send, how close they wait
//! to the moment Azure is ready, and how close a fleet run gets to ARM's write limit (and a
//! fleet's status to its read limit).
//!
//! It drives the release binaries of the four tools as separate processes (as users run
//! them) against the release binary of `azure-sim`, started with the flags each measurement
//! needs, reads the simulator's request log and state, and writes `bench/RESULTS.md`.
//! `make bench` builds the release binaries and runs it.
#![allow(
    clippy::too_many_lines,
    reason = "each report section reads top to bottom, as the report does"
)]

mod fleet;
mod latency;
mod log;
mod precision;
mod report;
mod run;
mod section;
mod sequences;
mod sim;
mod startup;
mod status;
mod tools;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Benchmarks of the xtenant tools against azure-sim; writes a Markdown report.
#[derive(Debug, Parser)]
#[command(name = "xtenant-bench")]
pub(crate) struct Args {
    /// Where the release binaries are [default: this program's own directory]
    #[arg(long, value_name = "DIR")]
    pub(crate) bin_dir: Option<PathBuf>,

    /// The report to write
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md"))]
    pub(crate) out: PathBuf,

    /// The simulator's added round-trip latency in ms (a run with 0 ms is always added)
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub(crate) latency_ms: u64,

    /// Repetitions of each per-tool measurement (medians are reported)
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(crate) reps: usize,

    /// Runs of each binary for the start-up times
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub(crate) startup_runs: usize,

    /// Registries in the fleet run
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub(crate) fleet_registries: usize,

    /// Clusters in the fleet run
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub(crate) fleet_clusters: usize,

    /// --jobs of the fleet runs, one run each (comma-separated)
    #[arg(long, value_name = "N,…", value_delimiter = ',', default_values_t = [32u16, 64])]
    pub(crate) fleet_jobs: Vec<u16>,

    /// The simulator's ARM write limit in the fleet run, RATE/BURST per principal
    #[arg(long, default_value = "10/10", value_name = "RATE/BURST", value_parser = parse_limit)]
    pub(crate) write_limit: (u32, u32),

    /// Clusters in the fleet status run (`aks-sp-update --status --all`)
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub(crate) status_clusters: usize,

    /// Skip a section: tools, latency, startup, precision, fleet, status (repeatable)
    #[arg(long, value_name = "SECTION")]
    pub(crate) skip: Vec<String>,
}

fn parse_limit(s: &str) -> Result<(u32, u32), String> {
    let (r, b) = s.split_once('/').ok_or("expected RATE/BURST, e.g. 10/10")?;
    let n = |x: &str| x.trim().parse::<u32>().ok().filter(|v| *v > 0);
    match (n(r), n(b)) {
        (Some(r), Some(b)) => Ok((r, b)),
        _ => Err("RATE and BURST must be positive integers".into()),
    }
}

/// Progress on stderr.
pub(crate) fn progress(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "bench: {msg}");
}

/// Tells repetition `rep` (from 0) of `reps` at `latency_ms` per answer has begun.
pub(crate) fn progress_repetition(latency_ms: u64, rep: usize, reps: usize) {
    progress(&format!(
        "  latency {latency_ms} ms, repetition {}/{reps}",
        rep + 1
    ));
}

fn main() -> ExitCode {
    let args = Args::parse();
    match report::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            progress(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
