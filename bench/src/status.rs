//! A fleet's status: `aks-sp-update --status --all` on many clusters with `--jobs`, against
//! a simulator that throttles ARM reads as ARM does; how close it runs to the read limit.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use xtenant_tests::world::add_cluster;

use crate::log::{self, Req};
use crate::run::Tools;
use crate::section::{Goal, Section, table};
use crate::sim::{Sim, SimFlags};
use crate::{Args, progress};

/// The read limit the status runs against: ARM's refill rate (25 reads/s per principal and
/// subscription), the bucket shrunk from 250 so that the rate, not the burst, decides.
const READ_LIMIT: (u32, u32) = (25, 25);

/// The default scenario with `clusters` service-principal clusters, all switched to one app
/// the tools made (steps 1–4 run on each): the state to load.
fn fleet_on_one_app(bin_dir: &Path, clusters: usize) -> anyhow::Result<Value> {
    let base = Sim::start(bin_dir, &SimFlags::default(), None)?;
    let mut state = base.state()?;
    let first = base.var("CLUSTER_ID");
    drop(base);
    let prefix = first.rsplit_once('/').context("cluster id")?.0.to_owned();
    let ids: Vec<String> = std::iter::once(first)
        .chain((1..clusters).map(|i| format!("{prefix}/aks-status{i:03}")))
        .collect();
    for id in &ids[1..] {
        add_cluster(&mut state, id);
    }
    let flags = SimFlags {
        lro_ms: 50,
        ..SimFlags::default()
    };
    let sim = Sim::start(bin_dir, &flags, Some(&state))?;
    let tools = Tools::new(bin_dir, &sim);
    let (a, b) = sim.tenants();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let app = tools.run(
        "entra-app-create",
        &s(&[
            "--cluster-tenant",
            &a,
            "--display-name",
            "xtenant-bench-status",
        ]),
        "",
    )?;
    let consent = tools.run(
        "consent-link",
        &s(&["--registry-tenant", &b, "--create"]),
        &app.stdout,
    )?;
    let granted = tools.run(
        "acr-grant",
        &s(&["--registry", &sim.var("REGISTRY_ID"), "--verify"]),
        &consent.stdout,
    )?;
    if granted.code != 0 {
        bail!(
            "setting up the status fleet's app failed:\n{}",
            granted.stderr
        );
    }
    let one: Value = serde_json::from_str(granted.stdout.trim())?;
    let stream = ids.iter().fold(String::new(), |mut s, id| {
        let mut o = one.clone();
        o["cluster_id"] = json!(id);
        let _ = writeln!(s, "{o}");
        s
    });
    let reset = tools.run(
        "aks-sp-update",
        &s(&["--targets-from-input", "--jobs", "32"]),
        &stream,
    )?;
    if reset.code != 0 {
        bail!(
            "setting up the status fleet's clusters failed:\n{}",
            reset.stderr
        );
    }
    sim.state()
}

/// Runs `aks-sp-update --status --all` at each `--jobs` of the fleet runs.
pub(crate) fn measure(args: &Args, bin_dir: &Path) -> anyhow::Result<Section> {
    let clusters = args.status_clusters;
    progress(&format!(
        "  status: setting up {clusters} clusters on one app"
    ));
    let state = fleet_on_one_app(bin_dir, clusters)?;
    let (rate, burst) = READ_LIMIT;
    let mut rows = Vec::new();
    let mut worst = f64::INFINITY;
    let mut throttled_total = 0;
    let mut reads_total = 0;
    let mut healthy_all = true;
    for &jobs in &args.fleet_jobs {
        progress(&format!("  aks-sp-update --status --all, --jobs {jobs}"));
        let flags = SimFlags {
            latency_ms: args.latency_ms,
            read_limit: Some(READ_LIMIT),
            ..SimFlags::default()
        };
        let sim = Sim::start(bin_dir, &flags, Some(&state))?;
        let tools = Tools::new(bin_dir, &sim);
        sim.clear_requests()?;
        let run = tools.run(
            "aks-sp-update",
            &[
                "--status".into(),
                "--all".into(),
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--registry-tenant".into(),
                sim.var("REGISTRY_TENANT_ID"),
                "--registry".into(),
                sim.var("REGISTRY_ID"),
                "--jobs".into(),
                jobs.to_string(),
            ],
            "",
        )?;
        let reqs = log::parse(&sim.requests()?);
        let sub_a = sim.var("CLUSTER_SUBSCRIPTION_ID");
        let reads: Vec<&Req> = reqs
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with(&format!("/subscriptions/{sub_a}")))
            .collect();
        let ok: Vec<&&Req> = reads.iter().filter(|r| r.status == 200).collect();
        let throttled = reads.iter().filter(|r| r.status == 429).count();
        let first = ok.iter().map(|r| r.end).fold(f64::INFINITY, f64::min);
        let last = ok.iter().map(|r| r.end).fold(f64::NEG_INFINITY, f64::max);
        let span = if ok.len() > 1 { last - first } else { 0.0 };
        let beyond = ok.len() as f64 - f64::from(burst);
        let per_s = if beyond > 0.0 && span > 0.0 {
            beyond / span
        } else {
            f64::from(rate)
        };
        let objects = run.objects();
        let healthy = objects
            .iter()
            .filter(|o| o["status"]["health"] == "healthy")
            .count();
        healthy_all &= healthy == clusters;
        worst = worst.min(per_s / f64::from(rate));
        throttled_total += throttled;
        reads_total += ok.len();
        rows.push(vec![
            format!("`--jobs {jobs}`"),
            objects.len().to_string(),
            healthy.to_string(),
            run.code.to_string(),
            format!("{:.1}", run.wall.as_secs_f64()),
            reqs.len().to_string(),
            ok.len().to_string(),
            throttled.to_string(),
            format!("{span:.1}"),
            format!("{per_s:.2}"),
            format!("{:.0} %", per_s / f64::from(rate) * 100.0),
        ]);
    }
    let mut md = String::from("## 6. Fleet status\n\n");
    let _ = writeln!(
        md,
        "`aks-sp-update --status --all --registry-tenant B --registry …` on {clusters} clusters that run as one app \
         these tools made (set up by steps 1–4), with {}, each against a fresh `azure-sim --latency {} ms \
         --arm-read-limit {rate}/{burst}`: ARM's refill rate for reads (25/s per principal and subscription), \
         the bucket shrunk from 250 so that the rate, not the first burst, decides. Each cluster is one GET \
         in subscription A; the app (Graph) and tenant B's principal and role are read once for all. \
         *Reads/s* = (accepted reads in subscription A − bucket) ÷ (last − first) — what the tool got \
         through after the burst, as a share of the limit.\n",
        args.fleet_jobs
            .iter()
            .map(|j| format!("`--jobs {j}`"))
            .collect::<Vec<_>>()
            .join(" and "),
        args.latency_ms
    );
    md.push_str(&table(
        &[
            "run",
            "objects",
            "healthy",
            "exit",
            "wall s",
            "HTTP requests",
            "ARM reads in sub A accepted",
            "429 answers",
            "read span s",
            "reads/s",
            "of the limit",
        ],
        &rows,
    ));
    Ok(Section {
        md,
        goals: vec![
            Goal {
                name: format!("fleet status: {clusters} clusters at ≥ 90 % of ARM's read limit"),
                result: format!("worst {:.0} %", worst * 100.0),
                met: worst >= 0.9,
            },
            Goal {
                name: "fleet status: throttled reads ≤ 10 % (reads paced from ARM's counts), every cluster healthy".into(),
                result: format!("{throttled_total} 429s for {reads_total} reads; all healthy: {healthy_all}"),
                met: throttled_total as f64 <= 0.1 * reads_total as f64 && healthy_all,
            },
        ],
    })
}
