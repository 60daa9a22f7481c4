//! The fleet: one app granted on many registries and set on many clusters, one NDJSON stream
//! per step with `--jobs`, against a simulator that throttles ARM writes as ARM does.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use xtenant_tests::world::add_cluster;

use crate::log::{self, Req};
use crate::run::{Run, Tools};
use crate::section::{Goal, Section, table};
use crate::sim::{Sim, SimFlags};
use crate::{Args, progress};

/// The operation duration of the fleet's resets.
const LRO_MS: u64 = 2000;

struct Phase {
    name: String,
    objects: usize,
    failed: usize,
    wall_s: f64,
    requests: usize,
    tokens: usize,
    accepted: usize,
    throttled: usize,
    span_s: f64,
    rate: f64,
    burst: f64,
}

impl Phase {
    fn of(name: &str, run: &Run, objects: usize, reqs: &[Req], (rate, burst): (u32, u32)) -> Self {
        let writes: Vec<&Req> = reqs.iter().filter(|r| r.is_arm_write()).collect();
        let ok: Vec<&Req> = writes
            .iter()
            .copied()
            .filter(|r| (200..300).contains(&r.status))
            .collect();
        let first = ok.iter().map(|r| r.end).fold(f64::INFINITY, f64::min);
        let last = ok.iter().map(|r| r.end).fold(f64::NEG_INFINITY, f64::max);
        Self {
            name: name.to_owned(),
            objects,
            failed: run
                .objects()
                .iter()
                .filter(|o| o.get("error").is_some())
                .count()
                + objects.saturating_sub(run.objects().len()),
            wall_s: run.wall.as_secs_f64(),
            requests: reqs.len(),
            tokens: reqs.iter().filter(|r| r.is_entra_token()).count(),
            accepted: ok.len(),
            throttled: writes.iter().filter(|r| r.status == 429).count(),
            span_s: if ok.len() > 1 { last - first } else { 0.0 },
            rate: f64::from(rate),
            burst: f64::from(burst),
        }
    }

    /// Accepted writes per second after the burst, over the time from the first to the last.
    fn achieved(&self) -> f64 {
        let beyond = self.accepted as f64 - self.burst;
        if beyond <= 0.0 || self.span_s <= 0.0 {
            return self.rate;
        }
        beyond / self.span_s
    }

    fn fraction(&self) -> f64 {
        self.achieved() / self.rate
    }
}

/// The default scenario with `registries` registries and `clusters` service-principal clusters.
fn scenario(
    bin_dir: &Path,
    registries: usize,
    clusters: usize,
) -> anyhow::Result<(Value, Vec<String>, Vec<String>)> {
    let base = Sim::start(bin_dir, &SimFlags::default(), None)?;
    let mut state = base.state()?;
    let first_registry = base.var("REGISTRY_ID");
    let first_cluster = base.var("CLUSTER_ID");
    drop(base);
    let reg_prefix = first_registry
        .rsplit_once('/')
        .context("registry id")?
        .0
        .to_owned();
    let cl_prefix = first_cluster
        .rsplit_once('/')
        .context("cluster id")?
        .0
        .to_owned();
    let regs: Vec<String> = std::iter::once(first_registry)
        .chain((1..registries).map(|i| format!("{reg_prefix}/fleetacr{i:03}")))
        .collect();
    for id in &regs[1..] {
        state["registries"]
            .as_array_mut()
            .context("registries")?
            .push(json!({"id": id, "location": "westus", "role_assignment_mode": "LegacyRegistryPermissions", "images": {"samples/hello": ["1.0"]}}));
    }
    let cls: Vec<String> = std::iter::once(first_cluster)
        .chain((1..clusters).map(|i| format!("{cl_prefix}/aks-fleet{i:02}")))
        .collect();
    for id in &cls[1..] {
        add_cluster(&mut state, id);
    }
    Ok((state, regs, cls))
}

fn stream(obj: &Value, field: &str, ids: &[String]) -> String {
    ids.iter().fold(String::new(), |mut s, id| {
        let mut o = obj.clone();
        o[field] = json!(id);
        let _ = writeln!(s, "{o}");
        s
    })
}

/// One fleet run at `--jobs jobs`: the two phases, and how many clusters pull afterwards.
fn one_run(
    args: &Args,
    bin_dir: &Path,
    scenario: &Value,
    regs: &[String],
    cls: &[String],
    jobs: u16,
) -> anyhow::Result<(Vec<Phase>, usize, String)> {
    let flags = SimFlags {
        latency_ms: args.latency_ms,
        replication_ms: 0,
        lro_ms: LRO_MS,
        write_limit: Some(args.write_limit),
        read_limit: None,
    };
    let sim = Sim::start(bin_dir, &flags, Some(scenario))?;
    let tools = Tools::new(bin_dir, &sim);
    let (a, b) = sim.tenants();
    let jobs = jobs.to_string();

    // One app, consented (created) once in the registry tenant, as examples/fleet.sh does.
    let r1 = tools.run(
        "entra-app-create",
        &[
            "--cluster-tenant".into(),
            a,
            "--display-name".into(),
            "xtenant-bench-fleet".into(),
        ],
        "",
    )?;
    let r2 = tools.run(
        "consent-link",
        &["--registry-tenant".into(), b, "--create".into()],
        &r1.stdout,
    )?;
    if r2.code != 0 {
        bail!(
            "setting up the fleet's app failed:\n{}\n{}",
            r1.stderr,
            r2.stderr
        );
    }
    let app: Value = serde_json::from_str(r2.stdout.trim())?;

    progress(&format!(
        "  acr-grant on {} registries, --jobs {jobs}",
        regs.len()
    ));
    sim.clear_requests()?;
    let granted = tools.run(
        "acr-grant",
        &[
            "--targets-from-input".into(),
            "--jobs".into(),
            jobs.clone(),
            "--verify".into(),
        ],
        &stream(&app, "registry_id", regs),
    )?;
    let g_reqs = log::parse(&sim.requests()?);
    let grant = Phase::of(
        &format!("acr-grant --jobs {jobs}"),
        &granted,
        regs.len(),
        &g_reqs,
        args.write_limit,
    );
    let one = granted
        .objects()
        .into_iter()
        .find(|o| o.get("error").is_none())
        .with_context(|| {
            format!(
                "no registry was granted; the first answer: {}",
                granted.stderr.lines().next().unwrap_or_default()
            )
        })?;

    progress(&format!(
        "  aks-sp-update on {} clusters, --jobs {jobs}",
        cls.len()
    ));
    sim.clear_requests()?;
    let updated = tools.run(
        "aks-sp-update",
        &["--targets-from-input".into(), "--jobs".into(), jobs.clone()],
        &stream(&one, "cluster_id", cls),
    )?;
    let u_reqs = log::parse(&sim.requests()?);
    let update = Phase::of(
        &format!("aks-sp-update --jobs {jobs}"),
        &updated,
        cls.len(),
        &u_reqs,
        args.write_limit,
    );
    let image = sim.var("REGISTRY_IMAGE");
    let mut pulling = 0;
    for c in cls {
        let name = c.rsplit('/').next().unwrap_or(c);
        if sim.pulls(name, &image)? {
            pulling += 1;
        }
    }
    let image = image
        .split_once('/')
        .map_or(image.as_str(), |(_, r)| r)
        .to_owned();
    Ok((vec![grant, update], pulling, image))
}

/// Runs the fleet measurement at each `--jobs` asked for.
pub(crate) fn measure(args: &Args, bin_dir: &Path) -> anyhow::Result<Section> {
    let (rate, burst) = args.write_limit;
    let (state, regs, cls) = scenario(bin_dir, args.fleet_registries, args.fleet_clusters)?;
    let mut phases = Vec::new();
    let mut pulls = Vec::new();
    let mut image = String::new();
    for &jobs in &args.fleet_jobs {
        let (p, pulling, img) = one_run(args, bin_dir, &state, &regs, &cls, jobs)?;
        phases.extend(p);
        pulls.push((jobs, pulling));
        image = img;
    }

    let jobs_list = args
        .fleet_jobs
        .iter()
        .map(|j| format!("`--jobs {j}`"))
        .collect::<Vec<_>>()
        .join(" and ");
    let mut md = String::from("## 5. Fleet\n\n");
    let _ = writeln!(
        md,
        "One app granted on {} registries (`acr-grant --verify`, one NDJSON stream of {} objects) and \
         set on {} clusters (`aks-sp-update`, one stream of {} objects), as `examples/fleet.sh` does, \
         with {jobs_list}, each against a fresh `azure-sim --latency {} ms --lro-duration {} ms \
         --arm-write-limit {rate}/{burst}`.\n",
        regs.len(),
        regs.len(),
        cls.len(),
        cls.len(),
        args.latency_ms,
        LRO_MS
    );
    let _ = writeln!(
        md,
        "**The limit.** Since 2024 ARM throttles with a token bucket per principal and subscription: \
         writes refill at 10/s into a bucket of 200. The simulator keeps the real refill rate \
         ({rate}/s) and shrinks the bucket to {burst}, so that the refill rate decides the run — a \
         bucket of 200 would swallow the 200 role assignments in one go — as it does for a larger \
         fleet or for a principal that already spends writes elsewhere; the run then takes tens of \
         seconds. The registries (subscription B, the operator's principal in tenant B) and the \
         clusters (subscription A, its principal in tenant A) have a bucket each. *Throughput* = \
         (accepted writes − bucket) ÷ (last − first accepted write) ÷ rate: what the bucket let \
         through after its first burst, as a share of what it allows.\n"
    );
    let trs: Vec<Vec<String>> = phases
        .iter()
        .map(|p| {
            vec![
                format!("`{}`", p.name),
                p.objects.to_string(),
                p.failed.to_string(),
                format!("{:.1}", p.wall_s),
                p.requests.to_string(),
                format!(
                    "{:.1}",
                    (p.requests - p.throttled) as f64 / p.objects.max(1) as f64
                ),
                p.tokens.to_string(),
                p.accepted.to_string(),
                p.throttled.to_string(),
                format!("{:.2}", p.throttled as f64 / p.accepted.max(1) as f64),
                format!("{:.1}", p.span_s),
                format!("{:.2}", p.achieved()),
                format!("{:.0} %", p.fraction() * 100.0),
            ]
        })
        .collect();
    md.push_str(&table(
        &[
            "step",
            "objects",
            "failed",
            "wall s",
            "HTTP requests",
            "per object, 429s aside",
            "token requests",
            "ARM writes accepted",
            "429 answers",
            "429s per write",
            "write span s",
            "writes/s",
            "of the limit",
        ],
        &trs,
    ));
    let _ = writeln!(
        md,
        "\nAfterwards {} of {} clusters pull `{image}` (the simulator's truth endpoint).\n",
        pulls
            .iter()
            .map(|(j, n)| format!("{n} (`--jobs {j}`)"))
            .collect::<Vec<_>>()
            .join(", "),
        cls.len()
    );
    let _ = writeln!(
        md,
        "A reset holds its job while its operation runs ({} s here, minutes on AKS), so resets reach \
         the write limit only when `--jobs` ≥ rate × (operation + the object's requests), here about \
         {rate} × 2.4 s ≈ {:.0}; with fewer jobs the operations, not ARM, bound a fleet's resets.\n",
        LRO_MS / 1000,
        f64::from(rate) * 2.4
    );
    let failed: usize = phases.iter().map(|p| p.failed).sum();
    let all_pull = pulls.iter().all(|(_, n)| *n == cls.len());
    let worst = phases
        .iter()
        .filter(|p| p.accepted as f64 > p.burst)
        .map(Phase::fraction)
        .fold(f64::INFINITY, f64::min);
    Ok(Section {
        md,
        goals: vec![
            Goal {
                name: "fleet: ≥ 95 % of the ARM write limit".into(),
                result: phases
                    .iter()
                    .map(|p| format!("{} {:.0} %", p.name, p.fraction() * 100.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                met: worst >= 0.95,
            },
            Goal {
                name: "fleet: throttled answers ≤ 10 % of writes (writes paced from ARM's counts)"
                    .into(),
                result: phases
                    .iter()
                    .map(|p| format!("{} {} of {}", p.name, p.throttled, p.accepted))
                    .collect::<Vec<_>>()
                    .join(", "),
                met: phases
                    .iter()
                    .all(|p| p.throttled as f64 <= 0.1 * p.accepted as f64),
            },
            Goal {
                name: "fleet: no object failed".into(),
                result: format!(
                    "{failed} of {} failed; every cluster pulls afterwards: {}",
                    (regs.len() + cls.len()) * args.fleet_jobs.len(),
                    if all_pull { "yes" } else { "no" }
                ),
                met: failed == 0 && all_pull,
            },
        ],
    })
}
