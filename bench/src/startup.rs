//! Start-up: `--help`, an input that only passes an `error` object through, and a no-op rerun.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::Args;
use crate::run::{TOOLS, run_cmd, tool_cmd};
use crate::section::{Goal, Section, median, ms, table};
use crate::sim::{Sim, SimFlags};
use crate::tools::Reruns;

/// Median wall time of `n` runs of `bin args` with `stdin`, each exiting `expect`, in ms.
fn time_runs(
    bin_dir: &Path,
    bin: &str,
    sim: Option<&Sim>,
    (args, stdin): (&[String], &str),
    expect: i32,
    n: usize,
) -> anyhow::Result<f64> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        let r = run_cmd(tool_cmd(bin_dir, bin, sim), args, stdin)?;
        let took = t0.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            r.code == expect,
            "{bin} {args:?} exited {} (expected {expect}): {}",
            r.code,
            r.stderr
        );
        v.push(took);
    }
    Ok(median(&v))
}

/// Runs the start-up measurements; `reruns` are the no-op reruns of section 1.
pub(crate) fn measure(
    args: &Args,
    bin_dir: &Path,
    reruns: Option<&Reruns>,
) -> anyhow::Result<Section> {
    // A simulator only for its cloud file: a pass-through sends nothing.
    let sim = Sim::start(bin_dir, &SimFlags::default(), None)?;
    let passthrough = "{\"cluster_tenant_id\":\"contoso.onmicrosoft.com\",\"error\":{\"step\":\"an-earlier-step\",\"code\":\"X\",\"message\":\"failed earlier\"}}\n";
    let n = args.startup_runs;
    let mut rows = Vec::new();
    let mut worst: f64 = 0.0;
    for bin in TOOLS.iter().copied().chain(["azure-sim"]) {
        let help = time_runs(bin_dir, bin, None, (&["--help".into()], ""), 0, n)?;
        let (pass, r20, r0) = if bin == "azure-sim" {
            (String::from("–"), String::from("–"), String::from("–"))
        } else {
            // An error passed through fails the stream (exit 1), so the pipe's last command tells.
            let p = time_runs(bin_dir, bin, Some(&sim), (&[], passthrough), 1, n)?;
            worst = worst.max(p).max(help);
            let rr = |lat: u64| {
                reruns
                    .and_then(|r| r.get(&(lat, bin.to_owned())))
                    .map_or_else(
                        || "–".to_owned(),
                        |s| format!("{} ({:.0} requests)", ms(s.wall()), s.requests()),
                    )
            };
            (ms(p), rr(args.latency_ms), rr(0))
        };
        rows.push(vec![bin.to_owned(), ms(help), pass, r20, r0]);
    }
    let mut md = String::from("## 3. Start-up\n\n");
    let _ = write!(
        md,
        "Median of {n} runs each, wall time from spawn to exit in ms. *Pass-through*: one input object that \
         already carries an `error` (written back untouched, nothing sent): start-up, the cloud file, the \
         HTTP client with its root store, one object in and out. *No-op rerun*: the step rerun on its own \
         output (section 1), which finds everything done and sends only reads.\n\n"
    );
    md.push_str(&table(
        &[
            "binary",
            "--help",
            "pass-through",
            &format!("no-op rerun, {} ms latency", args.latency_ms),
            "no-op rerun, 0 ms",
        ],
        &rows,
    ));
    Ok(Section {
        md,
        goals: vec![Goal {
            name: "start-up is not what a user waits on".into(),
            result: format!("`--help` and a pass-through take at most {} ms", ms(worst)),
            met: worst < 50.0,
        }],
    })
}
