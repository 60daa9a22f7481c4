//! Per tool and for the whole pipeline: wall time, requests, token requests, the simulator's
//! time and ours; the requests beside the minimal sequence the procedure needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::bail;

use crate::log::{self, Req};
use crate::run::{Step, TOOLS, repetition};
use crate::section::{Goal, Section, median, ms, table};
use crate::sequences::{Counts, MINIMAL_TOTAL, counts, sequences_md};
use crate::{Args, progress_repetition};

/// Medians of one row over the repetitions.
#[derive(Debug, Default, Clone)]
pub(crate) struct Series {
    wall: Vec<f64>,
    requests: Vec<f64>,
    tokens: Vec<f64>,
    busy: Vec<f64>,
    overhead: Vec<f64>,
}

impl Series {
    fn add(&mut self, wall_ms: f64, reqs: &[Req]) {
        let busy = log::busy_ms(reqs);
        self.wall.push(wall_ms);
        self.requests.push(reqs.len() as f64);
        self.tokens
            .push(reqs.iter().filter(|r| r.is_entra_token()).count() as f64);
        self.busy.push(busy);
        self.overhead.push(wall_ms - busy);
    }

    fn add_series(&mut self, i: usize, other: &Self) {
        let at = |v: &Vec<f64>| v.get(i).copied().unwrap_or(f64::NAN);
        for (mine, theirs) in [
            (&mut self.wall, &other.wall),
            (&mut self.requests, &other.requests),
            (&mut self.tokens, &other.tokens),
            (&mut self.busy, &other.busy),
            (&mut self.overhead, &other.overhead),
        ] {
            if mine.len() <= i {
                mine.push(0.0);
            }
            mine[i] += at(theirs);
        }
    }

    /// Median wall time in ms.
    pub(crate) fn wall(&self) -> f64 {
        median(&self.wall)
    }

    /// Median request count.
    pub(crate) fn requests(&self) -> f64 {
        median(&self.requests)
    }

    fn row(&self, name: &str, latency: u64) -> Vec<String> {
        vec![
            name.to_owned(),
            format!("{latency} ms"),
            ms(median(&self.wall)),
            format!("{:.0}", median(&self.requests)),
            format!("{:.0}", median(&self.tokens)),
            ms(median(&self.busy)),
            ms(median(&self.overhead)),
        ]
    }
}

/// What the start-up section reuses: the no-op reruns, per latency and tool.
pub(crate) type Reruns = BTreeMap<(u64, String), Series>;

/// The section and the reruns.
pub(crate) struct Out {
    pub(crate) section: Section,
    pub(crate) reruns: Reruns,
}

/// Runs every measurement of this section.
pub(crate) fn measure(args: &Args, bin_dir: &Path) -> anyhow::Result<Out> {
    let mut latencies = vec![args.latency_ms];
    if args.latency_ms != 0 {
        latencies.push(0);
    }
    let mut rows: BTreeMap<(u64, String), Series> = BTreeMap::new();
    let mut reruns: Reruns = BTreeMap::new();
    let mut sequences: BTreeMap<String, Counts> = BTreeMap::new();
    let mut rerun_sequences: BTreeMap<String, Counts> = BTreeMap::new();
    // Cluster writes of each step-4 run (on AKS each is a managed-cluster operation).
    let mut cluster_writes: Vec<usize> = Vec::new();
    for &lat in &latencies {
        for rep in 0..args.reps {
            progress_repetition(lat, rep, args.reps);
            let name = format!("xtenant-bench-{lat}ms-{rep}");
            let p = repetition(bin_dir, lat, &name, |tools, step| {
                let Step {
                    bin,
                    flags,
                    run: r,
                    reqs,
                    ..
                } = *step;
                let (a, b) = tools.sim.tenants();
                if bin == "aks-sp-update" {
                    cluster_writes.push(reqs.iter().filter(|q| q.is_cluster_write()).count());
                }
                rows.entry((lat, bin.to_owned()))
                    .or_default()
                    .add(r.wall.as_secs_f64() * 1000.0, reqs);
                if lat == 0 && rep == 0 {
                    sequences.insert(bin.to_owned(), counts(reqs, &a, &b));
                }
                // The same command on its own output: a no-op.
                let (again, rerun_reqs) = tools.step(bin, flags, &r.stdout)?;
                if !again.stderr.contains("(unchanged)") {
                    bail!("{bin} rerun changed something:\n{}", again.stderr);
                }
                if rerun_reqs
                    .iter()
                    .any(|q| !matches!(q.method.as_str(), "GET" | "HEAD") && !q.is_entra_token())
                {
                    bail!("{bin} rerun wrote to Azure");
                }
                reruns
                    .entry((lat, bin.to_owned()))
                    .or_default()
                    .add(again.wall.as_secs_f64() * 1000.0, &rerun_reqs);
                if lat == 0 && rep == 0 {
                    rerun_sequences.insert(bin.to_owned(), counts(&rerun_reqs, &a, &b));
                }
                Ok(())
            })?;
            rows.entry((lat, "pipeline".to_owned()))
                .or_default()
                .add(p.run.wall.as_secs_f64() * 1000.0, &p.reqs);
        }
        for bin in TOOLS {
            let s = rows[&(lat, bin.to_owned())].clone();
            let sum = rows.entry((lat, "sum".to_owned())).or_default();
            for i in 0..args.reps {
                sum.add_series(i, &s);
            }
        }
    }

    let mut md = String::from("## 1. Per tool and for the whole pipeline\n\n");
    let _ = writeln!(
        md,
        "Each step run on the previous step's output (files between them, as a Makefile does), then the \
         four as one shell-style pipe (`a | b | c | d`, all four processes started at once), {} \
         repetitions, medians. Flags as in the e2e pipeline, tenants given to each step: \
         `entra-app-create --cluster-tenant A --display-name NAME`, `consent-link --registry-tenant B \
         --cluster-tenant A --create`, `acr-grant --registry-tenant B --registry ID --verify --image \
         IMAGE`, `aks-sp-update --cluster-tenant A --cluster ID`. The simulator \
         runs with `--latency {} ms` and with `0`, no replication delay, role propagation, Graph lag or secret propagation, and `--lro-duration 0`, so the \
         time is the round trips and our own (waiting is measured in section 4).\n",
        args.reps, args.latency_ms
    );
    md.push_str(
        "*Simulator busy* is the time covered by at least one request in its log (`duration_ms`, \
         latency included; concurrent requests counted once). *Client overhead* = wall time − \
         simulator busy: process start-up, TLS, JSON, our logic and any time no request was in \
         flight.\n\n",
    );
    let mut trs = Vec::new();
    for &lat in &latencies {
        for name in TOOLS.iter().copied().chain(["sum", "pipeline"]) {
            let label = match name {
                "sum" => "the four, one after another (sum)",
                "pipeline" => "the four as one pipe",
                n => n,
            };
            if let Some(s) = rows.get(&(lat, name.to_owned())) {
                trs.push(s.row(label, lat));
            }
        }
    }
    md.push_str(&table(
        &[
            "step",
            "latency",
            "wall ms",
            "HTTP requests",
            "token requests",
            "simulator busy ms",
            "client overhead ms",
        ],
        &trs,
    ));

    let (seq_md, unexplained) = sequences_md(&sequences, &rerun_sequences);
    md.push_str(&seq_md);
    let total: usize = sequences.values().flatten().map(|(_, n)| n).sum();
    let goals = vec![
        Goal {
            name: "every request beyond the procedure's minimal sequence has a reason".into(),
            result: if unexplained.is_empty() {
                format!(
                    "{total} requests for the four steps, {MINIMAL_TOTAL} minimal; every extra one explained (section 2)"
                )
            } else {
                format!("unexplained: {}", unexplained.join(", "))
            },
            met: unexplained.is_empty(),
        },
        Goal {
            name: "a rerun on a step's own output changes nothing and writes nothing".into(),
            result: "all four: `(unchanged)`, only GET/HEAD and token requests".into(),
            met: true,
        },
        cluster_writes_goal(&cluster_writes),
    ];
    Ok(Out {
        section: Section { md, goals },
        reruns,
    })
}

/// Step 4 updates the cluster once per run: the reset (its record goes to the app, in Graph).
fn cluster_writes_goal(per_run: &[usize]) -> Goal {
    let (min, max) = (
        per_run.iter().min().copied().unwrap_or(0),
        per_run.iter().max().copied().unwrap_or(0),
    );
    Goal {
        name: "cluster writes per step-4 run: 1, the reset (each is a managed-cluster operation on AKS)".into(),
        result: if min == max {
            format!(
                "{min} in each of {} runs (the record of the secret goes to the app, in Graph)",
                per_run.len()
            )
        } else {
            format!("{min} to {max} over {} runs", per_run.len())
        },
        met: !per_run.is_empty() && per_run.iter().all(|n| *n == 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_writes_goal_is_one_write_per_run() {
        assert!(cluster_writes_goal(&[1, 1, 1]).met);
        assert!(
            !cluster_writes_goal(&[1, 3]).met,
            "the record in the cluster's tags"
        );
        assert!(!cluster_writes_goal(&[]).met, "no step-4 run measured");
        assert!(
            cluster_writes_goal(&[1, 1])
                .result
                .starts_with("1 in each of 2 runs")
        );
    }
}
