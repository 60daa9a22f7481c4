//! The report: the machine, the sections in order, and the goals.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::section::{Goal, table};
use crate::{Args, fleet, precision, progress, startup, tools};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// nproc, CPU model, memory, kernel.
fn machine() -> Vec<(String, String)> {
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or_else(
            || "unknown".to_owned(),
            |kb| format!("{:.1} GiB", kb / 1_048_576.0),
        );
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let load = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let git = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    vec![
        ("nproc".into(), nproc.to_string()),
        ("CPU".into(), model),
        ("memory".into(), mem),
        ("kernel".into(), kernel),
        ("load average at start (1, 5, 15 min)".into(), load),
        ("commit".into(), git),
    ]
}

/// Runs every section and writes the report.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .to_path_buf(),
    };
    for b in crate::run::TOOLS.iter().chain(&["azure-sim"]) {
        if !bin_dir.join(b).is_file() {
            bail!(
                "{} is not built: run `make bench` (cargo build --release --workspace --bins)",
                bin_dir.join(b).display()
            );
        }
    }
    let skip = |s: &str| args.skip.iter().any(|x| x == s);
    let date = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?;
    let command: Vec<String> = std::env::args().collect();

    let mut sections = Vec::new();
    let mut reruns = None;
    if !skip("tools") {
        progress("per-tool runs");
        let t = tools::measure(args, &bin_dir)?;
        reruns = Some(t.reruns);
        sections.push(t.section);
    }
    if !skip("latency") {
        progress("latency: the pipe at 100 ms and 20 ms per answer");
        sections.push(crate::latency::measure(args, &bin_dir)?);
    }
    if !skip("startup") {
        progress("start-up");
        sections.push(startup::measure(args, &bin_dir, reruns.as_ref())?);
    }
    if !skip("precision") {
        progress("waiting precision");
        sections.push(precision::measure(args, &bin_dir)?);
    }
    if !skip("fleet") {
        progress("fleet");
        sections.push(fleet::measure(args, &bin_dir)?);
    }
    if !skip("status") {
        progress("fleet status");
        sections.push(crate::status::measure(args, &bin_dir)?);
    }

    let mut md = String::from("# xtenant benchmarks\n\n");
    md.push_str(
        "Written by `make bench` (`bench/`, package `xtenant-bench`): the release binaries of the four \
         tools, each run as its own process as a user runs it, against the release binary of `azure-sim` \
         started with the flags each measurement needs. Request counts and the simulator's time come \
         from its request log (`GET /_sim/requests`), ready moments from its state (`GET /_sim/state`). \
         Regenerate with `make bench`.\n\n",
    );
    let mut rows = machine();
    rows.push(("date (UTC)".into(), date));
    rows.push((
        "command".into(),
        format!(
            "`make bench` → `{}`",
            command
                .iter()
                .map(|a| shorten(a))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    ));
    rows.push((
        "bench run time".into(),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    ));
    md.push_str(&table(
        &["machine", ""],
        &rows
            .into_iter()
            .map(|(k, v)| vec![k, v])
            .collect::<Vec<_>>(),
    ));
    md.push('\n');

    let goals: Vec<&Goal> = sections.iter().flat_map(|s| &s.goals).collect();
    if !goals.is_empty() {
        md.push_str("## Goals\n\n");
        md.push_str(&table(
            &["goal", "this run", "met"],
            &goals
                .iter()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        g.result.clone(),
                        if g.met { "yes" } else { "**no**" }.to_owned(),
                    ]
                })
                .collect::<Vec<_>>(),
        ));
        md.push('\n');
    }
    for s in &sections {
        md.push_str(&s.md);
        md.push('\n');
    }
    std::fs::write(&args.out, &md).with_context(|| format!("write {}", args.out.display()))?;
    progress(&format!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A path argument relative to the current directory, for the report.
fn shorten(a: &str) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    PathBuf::from(a)
        .strip_prefix(&cwd)
        .map_or_else(|_| a.to_owned(), |p| p.display().to_string())
}
