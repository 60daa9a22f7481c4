//! `--status`: a read-only report on each cluster, for a person or a cron job.
//!
//! For one cluster it reads, and writes nothing: the cluster (ARM, tenant A: the app it runs
//! as, its state, its node pools), the app it runs as (Microsoft Graph, tenant A: its keys and
//! their end dates, whether these tools made it, the record of which key the cluster holds),
//! and, when tenant B is named and an identity for it is at hand, the app's service principal
//! there and its role assignments on the registry. The verdict: *broken* (the key the record
//! names is gone or expired, the principal or its pull role is gone, the cluster runs as
//! another app than the object's, or no record says which key it holds), *expiring* (the key
//! ends within `--warn-within`), or *healthy*.
//!
//! Layout: `inputs.rs` (flags and envelope), `app.rs` (the app and the key, tenant A),
//! `tenant_b.rs` (principal and role), `all.rs` (`--all`: which clusters), `report.rs` (the
//! object's `status`, the stderr lines, the summary).
//!
//! With `--probe-image` the cluster itself pulls an image (see `crate::probe`): the kubelet's
//! verdict goes to [`Report::probe`], and a failed pull (or a probe that could not run) is a
//! broken [`report::Problem`] carrying the probe's hint. Its short-lived pod is the one thing
//! a report makes (and deletes) in Azure's resources.

mod all;
mod app;
mod inputs;
mod report;
mod tenant_b;

use std::time::Instant;

use common::arm::{ResourceId, clusters};
use common::driver::{Ctx, Done, Named};
use common::{Error, Result};

use crate::Cli;
use crate::probe::Probe;
use common::arm::clusters::ManagedCluster;

pub(crate) use all::objects;
pub(crate) use inputs::Inputs;
pub(crate) use report::Report;
use report::{Health, Problem, Tally};

/// Runs the report on one cluster: `Ok` with the report (whatever its verdict), or the
/// cluster's error when it cannot be reported on (not found, a managed identity, no right to
/// read it or its app).
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Report>> {
    let result = report(inputs, ctx).await;
    let tally = ctx.state::<Tally>();
    match &result {
        Ok(r) => tally.count(r.health),
        Err(_) => tally.failed(),
    }
    result.map(|r| Done {
        summary: r.line(&inputs.cluster.name),
        changed: false,
        output: r,
    })
}

async fn report(inputs: &Inputs, ctx: &Ctx) -> Result<Report> {
    let arm = ctx.arm(&inputs.tenant);
    let cluster = read_cluster(&arm, &inputs.cluster).await?;
    if let Some(why) = cluster.managed_identity() {
        return Err(Error::step(
            common::error::codes::MANAGED_IDENTITY_CLUSTER,
            format!(
                "cluster {} {why}: it does not run as an app, so there is no key to report on",
                inputs.cluster.name
            ),
        ));
    }
    let app_id = cluster.client_id().unwrap_or_default().to_owned();
    let mut r = Report::new(&cluster, &app_id);
    if let Some(want) = &inputs.app_id
        && !want.eq_ignore_ascii_case(&app_id)
    {
        r.problem(Problem::broken(
            "ClusterOnAnotherApp",
            format!("the cluster runs as app {app_id}, not the object's app {want}"),
        ));
    }
    if !cluster.succeeded() && !cluster.in_progress() {
        r.problem(Problem::broken(
            "ClusterNotSucceeded",
            format!(
                "the cluster's state is {}: its last operation did not succeed",
                cluster.provisioning_state()
            ),
        ));
    }

    // Tenant A's app, tenant B's principal, and the pull from inside, at once.
    let graph = ctx.graph(&inputs.tenant);
    let (found, b, probed) = tokio::join!(
        app::read(ctx, &graph, &app_id),
        tenant_b::check(ctx, inputs, &app_id),
        probe(inputs, ctx)
    );
    match found? {
        Some(app) => app::judge(&mut r, &app, &cluster, &inputs.cluster, inputs.warn_within),
        None => r.problem(Problem::broken(
            "AppNotFound",
            format!(
                "app {app_id} is not registered in tenant {}: the cluster's credential cannot sign in (deleted, or another tenant's app)",
                inputs.tenant
            ),
        )),
    }
    b.apply(&mut r);
    probed.apply(&mut r, &inputs.cluster.name);
    Ok(r)
}

/// What `--probe-image` found: nothing asked (or a dry run), the kubelet's verdict, or why
/// the probe could not run.
enum Probed {
    NotAsked,
    Verdict(Probe),
    Refused(Error),
}

impl Probed {
    /// Into the report: a pull that failed, or a probe that could not run, breaks the
    /// cluster (the report was asked to prove the pull and does not say healthy without it).
    fn apply(self, r: &mut Report, name: &str) {
        match self {
            Self::NotAsked => {}
            Self::Verdict(p) => {
                if !p.pulled {
                    r.problem(Problem::from_error(&crate::probe::refused_pull(&p, name)));
                }
                r.probe = Some(p);
            }
            Self::Refused(e) => r.problem(Problem::from_error(&e)),
        }
    }
}

/// `--probe-image`: the cluster pulls the image in a short-lived pod (a run command), the only
/// thing a report makes in Azure, and deletes it.
async fn probe(inputs: &Inputs, ctx: &Ctx) -> Probed {
    let Some(image) = &inputs.probe_image else {
        return Probed::NotAsked;
    };
    match crate::probe::pull(&inputs.cluster, &inputs.tenant, image, ctx).await {
        Ok(None) => Probed::NotAsked,
        Ok(Some(p)) => Probed::Verdict(p),
        Err(e) => Probed::Refused(e),
    }
}

/// GETs the cluster: a missing cluster or a refusal is this cluster's error.
async fn read_cluster(arm: &common::http::Api<'_>, id: &ResourceId) -> Result<ManagedCluster> {
    let started = Instant::now();
    let cluster = clusters::get(arm, id)
        .await
        .map_err(|e| match e.status() {
            Some(404) => e.with_hint(
                "check the cluster id, and that --cluster-tenant is the cluster's tenant",
            ),
            Some(403) => e.with_hint(format!(
                "reading cluster {} needs Reader (Microsoft.ContainerService/managedClusters/read) on it, in tenant {}",
                id.name,
                arm.tenant()
            )),
            _ => e,
        })?;
    common::ui::trace(&format!(
        "read cluster {} in {} ms",
        id.name,
        started.elapsed().as_millis()
    ));
    Ok(cluster)
}

/// The objects `--all` names (see [`all::objects`]), for the driver.
pub(crate) fn all_objects<'a>(
    cli: &'a Cli,
    ctx: &'a Ctx,
) -> Option<futures::future::LocalBoxFuture<'a, Vec<Named>>> {
    cli.status.all.then(|| {
        let f: futures::future::LocalBoxFuture<'a, Vec<Named>> = Box::pin(objects(cli, ctx));
        f
    })
}

/// The summary line at the end of a `--status` run.
pub(crate) fn finish(ctx: &Ctx) {
    ctx.state::<Tally>().report();
}

/// Whether a report's health needs a person: for the exit code.
impl Health {
    pub(crate) fn verdict(self) -> common::driver::Verdict {
        match self {
            Self::Healthy => common::driver::Verdict::Fine,
            Self::Expiring => common::driver::Verdict::Soon,
            Self::Broken => common::driver::Verdict::Broken,
        }
    }
}
