//! Per tool and for the whole pipeline: wall time, requests, token requests, the simulator's
//! time and ours; the requests beside the minimal sequence the procedure needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::bail;

use crate::log::{self, Req};
use crate::report::{Goal, Section, median, ms, table};
use crate::run::{Run, TOOLS, Tools};
use crate::sim::{Sim, SimFlags};
use crate::{Args, progress};

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

/// The four steps of one run, with the flags of the e2e pipeline.
pub(crate) fn steps(sim: &Sim, display_name: &str) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            "entra-app-create",
            vec![
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--display-name".into(),
                display_name.into(),
            ],
        ),
        (
            "consent-link",
            vec![
                "--registry-tenant".into(),
                sim.var("REGISTRY_TENANT_ID"),
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--create".into(),
            ],
        ),
        (
            "acr-grant",
            vec![
                "--registry-tenant".into(),
                sim.var("REGISTRY_TENANT_ID"),
                "--registry".into(),
                sim.var("REGISTRY_ID"),
                "--verify".into(),
                "--image".into(),
                sim.var("REGISTRY_IMAGE"),
            ],
        ),
        (
            "aks-sp-update",
            vec![
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--cluster".into(),
                sim.var("CLUSTER_ID"),
            ],
        ),
    ]
}

fn ok(bin: &str, r: &Run) -> anyhow::Result<()> {
    if r.code != 0 {
        bail!(
            "{bin} exited {}:\n{}\n{}",
            r.code,
            r.stderr.trim(),
            r.stdout.trim()
        );
    }
    Ok(())
}

/// Request kinds in order of first appearance, with counts.
type Counts = Vec<(String, usize)>;

fn counts(reqs: &[Req], a: &str, b: &str) -> Counts {
    let mut out: Counts = Vec::new();
    for r in reqs {
        let l = r.label(a, b);
        match out.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    out
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
        let sim = Sim::start(
            bin_dir,
            &SimFlags {
                latency_ms: lat,
                ..SimFlags::default()
            },
            None,
        )?;
        let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
        let tools = Tools {
            bin_dir: bin_dir.to_path_buf(),
            sim: &sim,
        };
        for rep in 0..args.reps {
            progress(&format!(
                "  latency {lat} ms, repetition {}/{}",
                rep + 1,
                args.reps
            ));
            let name = format!("xtenant-bench-{lat}ms-{rep}");
            let mut input = String::new();
            for (bin, a_) in steps(&sim, &name) {
                sim.clear_requests()?;
                let r = tools.run(bin, &a_, &input)?;
                ok(bin, &r)?;
                let reqs = log::parse(&sim.requests()?);
                if bin == "aks-sp-update" {
                    cluster_writes.push(reqs.iter().filter(|q| q.is_cluster_write()).count());
                }
                rows.entry((lat, bin.to_owned()))
                    .or_default()
                    .add(r.wall.as_secs_f64() * 1000.0, &reqs);
                if lat == 0 && rep == 0 {
                    sequences.insert(bin.to_owned(), counts(&reqs, &a, &b));
                }
                // The same command on its own output: a no-op.
                sim.clear_requests()?;
                let again = tools.run(bin, &a_, &r.stdout)?;
                ok(bin, &again)?;
                if !again.stderr.contains("(unchanged)") {
                    bail!("{bin} rerun changed something:\n{}", again.stderr);
                }
                let rerun_reqs = log::parse(&sim.requests()?);
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
                input = r.stdout;
            }
            sim.clear_requests()?;
            let p = tools.pipeline(&steps(&sim, &format!("{name}-piped")))?;
            ok("the pipeline", &p)?;
            let reqs = log::parse(&sim.requests()?);
            rows.entry((lat, "pipeline".to_owned()))
                .or_default()
                .add(p.wall.as_secs_f64() * 1000.0, &reqs);
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
         runs with `--latency {} ms` and with `0`, no replication delay and `--lro-duration 0`, so the \
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

/// The procedure's minimal request count for the four steps with these flags.
const MINIMAL_TOTAL: usize = 16;

/// One kind of request: how many the procedure needs at least, and why we send more.
struct Need {
    label: &'static str,
    minimal: usize,
    why: &'static str,
}

const fn need(label: &'static str, minimal: usize, why: &'static str) -> Need {
    Need {
        label,
        minimal,
        why,
    }
}

/// The minimal sequence per tool (one object, nothing made yet), and the reason for each extra.
fn model(tool: &str) -> (&'static str, Vec<Need>) {
    match tool {
        "entra-app-create" => (
            "token (A, Graph) → `PATCH /applications(uniqueName=…)` with `Prefer: create-if-missing` → \
             `PATCH /servicePrincipals(appId=…)` create-if-missing → `POST /applications/{id}/addPassword`: 4",
            vec![
                need("POST Entra token (tenant A)", 1, ""),
                need(
                    "GET Graph application by uniqueName (tenant A)",
                    0,
                    "find before write: a rerun finds the app and sends only reads; an existing app is checked (multitenant, redirect URI) before it is used",
                ),
                need("PATCH Graph application by uniqueName (tenant A)", 1, ""),
                need(
                    "GET Graph service principal by appId (tenant A)",
                    0,
                    "find before write, for an app that already existed (a rerun writes nothing)",
                ),
                need(
                    "PATCH Graph service principal by appId (tenant A)",
                    1,
                    "more than one: the new app is not replicated yet (NoBackingApplicationObject), waited out",
                ),
                need("POST Graph application addPassword (tenant A)", 1, ""),
            ],
        ),
        "consent-link" => (
            "none for the link itself (built locally); with `--create`: token (B, Graph) → \
             `PATCH /servicePrincipals(appId=…)` create-if-missing: 2",
            vec![
                need(
                    "POST Entra token (tenant A)",
                    0,
                    "a token for tenant A, to read the app in its home tenant",
                ),
                need(
                    "GET Graph application by appId (tenant A)",
                    0,
                    "checks that the app is multitenant and has the redirect URI, which the consent page would otherwise fail on (AADSTS700016, AADSTS50011)",
                ),
                need("POST Entra token (tenant B)", 1, ""),
                need(
                    "GET Graph service principal by appId (tenant B)",
                    0,
                    "a service principal that exists (consent already given) is taken as is: a rerun writes nothing",
                ),
                need("PATCH Graph service principal by appId (tenant B)", 1, ""),
            ],
        ),
        "acr-grant" => (
            "token (B, Graph) → `GET /servicePrincipals(appId=…)` (the role goes to tenant B's object id) → \
             token (B, ARM) → `GET` registry (login server; permission mode decides the role) → `PUT` role \
             assignment → with `--verify --image`: registry `GET /oauth2/token` (Basic app id:secret) → \
             `HEAD` manifest: 7",
            vec![
                need("POST Entra token (tenant B)", 2, ""),
                need("GET Graph service principal by appId (tenant B)", 1, ""),
                need("GET ARM registry (tenant B)", 1, ""),
                need(
                    "GET ARM role definitions by roleName (list) (tenant B)",
                    0,
                    "resolves the role by name at the registry, so a role missing there (a custom --role, a cloud without it) fails before any write; the built-in GUID would save it for --role auto",
                ),
                need(
                    "GET ARM role assignment (deterministic name) (tenant B)",
                    0,
                    "GET before PUT: a rerun writes nothing, and a read spends ARM's read bucket (25/s), not the write bucket (10/s)",
                ),
                need(
                    "PUT ARM role assignment (deterministic name) (tenant B)",
                    1,
                    "",
                ),
                need(
                    "GET registry /oauth2/token (app's Basic credential)",
                    1,
                    "more than one: polls while the role reaches the registry",
                ),
                need("HEAD registry manifest", 1, ""),
            ],
        ),
        "aks-sp-update" => (
            "token (A, ARM) → `POST …/resetServicePrincipalProfile` → `GET` the `Azure-AsyncOperation` URL \
             until it ends: 3",
            vec![
                need(
                    "POST Entra token (tenant A)",
                    1,
                    "the second: a Graph token in tenant A, for the role comparison",
                ),
                need(
                    "GET ARM cluster (tenant A)",
                    0,
                    "before: refuses a managed-identity cluster and skips a cluster already on the app (a rerun writes nothing); after: confirms the new client id and state Succeeded",
                ),
                need(
                    "GET registry /oauth2/token (app's Basic credential)",
                    0,
                    "pull check with the new credential before the disruptive reset",
                ),
                need(
                    "HEAD registry manifest",
                    0,
                    "pull check of the image acr-grant verified",
                ),
                need(
                    "GET Graph service principal by appId (tenant A)",
                    0,
                    "the old app's service principal in tenant A, whose role assignments (load balancers, subnet) the new one needs",
                ),
                need(
                    "GET ARM role assignments of a principal (list) (tenant A)",
                    0,
                    "the old and the new service principal's assignments in the cluster's subscription, to find what the new one lacks",
                ),
                need(
                    "GET ARM role definition by id (tenant A)",
                    0,
                    "the lacking role's name, for the warning and the summary",
                ),
                need(
                    "GET ARM role assignment (deterministic name) (tenant A)",
                    0,
                    "GET before PUT of the copied assignment: a rerun writes nothing",
                ),
                need(
                    "PUT ARM role assignment (deterministic name) (tenant A)",
                    0,
                    "copied by default: the old identity's Network Contributor on the cluster's subnet, which the procedure leaves to luck",
                ),
                need(
                    "GET Graph application by appId (tenant A)",
                    0,
                    "the record on the app of which key each cluster holds (Azure never shows a cluster's secret): a rerun and --prune-secrets read it; each write is read back (another process may have replaced it)",
                ),
                need(
                    "PATCH Graph application by appId (tenant A)",
                    0,
                    "the cluster's entry in that record: the key pending before the reset, the reset's operation beside the wait for it, confirmed after it (not on the cluster: a tag write there is a managed-cluster update)",
                ),
                need("POST ARM resetServicePrincipalProfile (tenant A)", 1, ""),
                need(
                    "GET ARM reset operation status (tenant A)",
                    1,
                    "more than one: polls at the server's Retry-After until the operation ends",
                ),
            ],
        ),
        _ => ("", Vec::new()),
    }
}

fn sequences_md(
    seqs: &BTreeMap<String, Counts>,
    reruns: &BTreeMap<String, Counts>,
) -> (String, Vec<String>) {
    let mut md = String::from(
        "\n## 2. Requests: the minimal sequence beside ours\n\n\
         The minimal sequence is what the procedure needs for one object when nothing exists yet, with \
         the flags above (`--create`, `--verify --image`). *Ours* is counted from the simulator's log of \
         the first run at 0 ms latency; every request beyond the minimal one is listed with its reason.\n\n",
    );
    let mut unexplained = Vec::new();
    for tool in TOOLS {
        let (minimal, needs) = model(tool);
        let seen = seqs.get(tool).cloned().unwrap_or_default();
        let _ = writeln!(md, "### {tool}\n\nMinimal: {minimal}.\n");
        let mut rows = Vec::new();
        let mut labels: Vec<String> = seen.iter().map(|(l, _)| l.clone()).collect();
        for n in &needs {
            if !labels.iter().any(|l| l == n.label) {
                labels.push(n.label.to_owned());
            }
        }
        let (mut tot_min, mut tot_ours) = (0, 0);
        for l in labels {
            let ours = seen.iter().find(|(k, _)| *k == l).map_or(0, |(_, n)| *n);
            let n = needs.iter().find(|n| n.label == l);
            let minimal = n.map_or(0, |n| n.minimal);
            tot_min += minimal;
            tot_ours += ours;
            let why = match n {
                _ if ours <= minimal => String::new(),
                Some(n) if !n.why.is_empty() => n.why.to_owned(),
                _ => {
                    unexplained.push(format!("{tool}: {l}"));
                    "**unexplained**".to_owned()
                }
            };
            rows.push(vec![
                format!("`{l}`"),
                minimal.to_string(),
                ours.to_string(),
                why,
            ]);
        }
        rows.push(vec![
            "**total**".into(),
            format!("**{tot_min}**"),
            format!("**{tot_ours}**"),
            String::new(),
        ]);
        md.push_str(&table(
            &["request", "minimal", "ours", "why the extra ones"],
            &rows,
        ));
        if let Some(r) = reruns.get(tool) {
            let list: Vec<String> = r.iter().map(|(l, n)| format!("{n}× `{l}`")).collect();
            let _ = writeln!(
                md,
                "\nRerun on its own output (no-op): {} requests, reads only: {}.\n",
                r.iter().map(|(_, n)| n).sum::<usize>(),
                list.join(", ")
            );
        }
    }
    (md, unexplained)
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
