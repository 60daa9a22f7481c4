//! Latency: the pipe's wall time beside its critical-path bound, at 100 ms and 20 ms per answer.

use std::fmt::Write as _;
use std::path::Path;

use crate::log::{self, Req};
use crate::run::{TOOLS, repetition};
use crate::section::{Goal, Section, median, ms, table};
use crate::{Args, progress_repetition};

/// The latencies measured, in ms per answer.
const LATENCIES: [u64; 2] = [100, 20];
/// The goal at 100 ms: wall time within this factor of the bound…
const RATIO_GOAL: f64 = 1.25;
/// …and at most this many ms.
const WALL_GOAL_MS: f64 = 1800.0;

/// One measured run: wall ms, bound ms, requests, and the chain's labels.
struct One {
    wall: f64,
    bound: f64,
    requests: usize,
    chain: Vec<String>,
}

fn one(wall_ms: f64, reqs: &[Req], a: &str, b: &str) -> One {
    let (bound, chain) = log::critical_path(reqs);
    One {
        wall: wall_ms,
        bound,
        requests: reqs.len(),
        chain: chain
            .iter()
            .map(|&i| {
                format!(
                    "{} ({} ms)",
                    reqs[i].label(a, b),
                    ms((reqs[i].end - reqs[i].start) * 1000.0)
                )
            })
            .collect(),
    }
}

/// The median run of several (by wall time).
fn middle(mut runs: Vec<One>) -> One {
    runs.sort_by(|x, y| x.wall.total_cmp(&y.wall));
    let i = runs.len() / 2;
    runs.swap_remove(i)
}

/// Runs the section.
pub(crate) fn measure(args: &Args, bin_dir: &Path) -> anyhow::Result<Section> {
    let mut rows = Vec::new();
    let mut chains = String::new();
    let mut goals = Vec::new();
    for lat in LATENCIES {
        let mut pipes = Vec::new();
        let mut per_tool: Vec<Vec<One>> = TOOLS.iter().map(|_| Vec::new()).collect();
        for rep in 0..args.reps {
            progress_repetition(lat, rep, args.reps);
            let name = format!("xtenant-bench-latency-{lat}ms-{rep}");
            let p = repetition(bin_dir, lat, &name, |tools, s| {
                let (a, b) = tools.sim.tenants();
                let wall = s.run.wall.as_secs_f64() * 1000.0;
                per_tool[s.k].push(one(wall, s.reqs, &a, &b));
                Ok(())
            })?;
            let (a, b) = &p.tenants;
            pipes.push(one(p.run.wall.as_secs_f64() * 1000.0, &p.reqs, a, b));
        }
        let walls: Vec<f64> = pipes.iter().map(|o| o.wall).collect();
        let wall = median(&walls);
        for (k, runs) in per_tool.into_iter().enumerate() {
            let m = middle(runs);
            rows.push(row(TOOLS[k], lat, &m));
        }
        let m = middle(pipes);
        rows.push(row("the four as one pipe", lat, &m));
        let _ = writeln!(
            chains,
            "\nThe pipe's critical path at {lat} ms ({} requests, {} ms of answers; the median run):\n",
            m.chain.len(),
            ms(m.bound)
        );
        for (i, c) in m.chain.iter().enumerate() {
            let _ = writeln!(chains, "{}. {c}", i + 1);
        }
        if lat == 100 {
            let ratio = wall / m.bound;
            goals.push(Goal {
                name: format!(
                    "latency: at 100 ms per answer the pipe ends within {RATIO_GOAL}× its critical path and in at most {} s",
                    WALL_GOAL_MS / 1000.0
                ),
                result: format!(
                    "{} ms, bound {} ms ({ratio:.2}×), {} requests",
                    ms(wall),
                    ms(m.bound),
                    m.requests
                ),
                met: ratio <= RATIO_GOAL && wall <= WALL_GOAL_MS,
            });
        }
    }
    let mut md = String::from("## 2a. Latency: wall time beside the critical path\n\n");
    let _ = writeln!(
        md,
        "The simulator answers each request after 100 ms (then 20 ms), as Azure takes 50–300 ms. The \
         same flags as section 1, tenants included (`--cluster-tenant A` for steps 1, 2 and 4, \
         `--registry-tenant B` for steps 2 and 3): with them each step starts, before its object \
         arrives, what its flags determine (tokens; step 3 also the registry and its pull role; \
         step 4 the cluster and the role assignments of the service principal it runs as). {} \
         repetitions, the median run.\n\n\
         *Critical path*: from the simulator's request log (each request's start and end), the \
         longest chain of requests each sent after the previous one was answered, by the time the \
         simulator spent on them; no client could finish those requests sooner. It is printed \
         below, request by request: each link is a request sent after the one before it was \
         answered — mostly because it needs that answer (an id, a token, a state); an early read \
         that ended before the next link started may stand in a chain it did not delay. \
         *Ratio* = wall ÷ critical path: what start-up, TLS, our own work and idle time add.\n",
        args.reps
    );
    md.push_str(&table(
        &[
            "run",
            "latency",
            "wall ms",
            "critical path ms",
            "ratio",
            "requests",
            "chain length",
        ],
        &rows,
    ));
    md.push_str(&chains);
    md.push('\n');
    Ok(Section { md, goals })
}

fn row(name: &str, lat: u64, m: &One) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{lat} ms"),
        ms(m.wall),
        ms(m.bound),
        format!("{:.2}", m.wall / m.bound),
        m.requests.to_string(),
        m.chain.len().to_string(),
    ]
}
