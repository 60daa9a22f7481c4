//! What the flags alone determine, started before the first object arrives
//! ([`common::driver::Tool::prepare`]): the tokens of tenant A (ARM and Graph), the cluster
//! `--cluster` names, the service principal it runs as and its role assignments. Only reads.
//!
//! The cluster is read once early: the first object for it takes that answer, read while
//! the object was on its way, if it came within 30 s; later objects, and every read after
//! a wait, ask afresh. The previous service principal's assignments stand for 30 s: a fleet
//! of clusters leaving the same app lists them once, and no object copies roles the old
//! principal lost long ago.

use std::time::{Duration, Instant};

use common::Result;
use common::arm::{ResourceId, RoleAssignment, list_assignments};
use common::driver::{Ctx, Memo, Primed};
use common::envelope::fields;
use common::http::Api;
use common::validate::{self, is_guid};

use crate::cluster;
use common::arm::clusters::CLUSTER_TYPE;
use common::arm::clusters::ManagedCluster;

use crate::Cli;

/// The run's early answers.
#[derive(Default)]
pub(crate) struct Early {
    /// (tenant, cluster id) → the cluster, read before its first object arrived, and when.
    clusters: Primed<(String, String), (Instant, ManagedCluster)>,
    /// (tenant, scope, principal) → a previous service principal's role assignments there,
    /// and when they were listed.
    previous: Memo<(String, String, String), (Instant, Vec<RoleAssignment>)>,
}

fn cluster_key(tenant: &str, id: &ResourceId) -> (String, String) {
    (tenant.to_ascii_lowercase(), id.id().to_ascii_lowercase())
}

/// How long an early read of the cluster stands for the object's own: the cluster's state
/// and principal decide the step, so an object that came much later (step 2 waited for a
/// consent) reads it afresh.
const CLUSTER_FRESH_FOR: Duration = Duration::from_secs(30);

/// The cluster: read before the object arrived if this is the first object asking for it
/// and that read is at most [`CLUSTER_FRESH_FOR`] old, else read now.
pub(crate) async fn cluster(ctx: &Ctx, arm: &Api<'_>, id: &ResourceId) -> Result<ManagedCluster> {
    let early = ctx
        .state::<Early>()
        .clusters
        .take_or(&cluster_key(arm.tenant(), id), || async {
            Ok((Instant::now(), cluster::get(arm, id).await?))
        })
        .await;
    match early {
        Ok((at, found)) if at.elapsed() <= CLUSTER_FRESH_FOR => Ok(found),
        // Too old, or it failed (perhaps a moment's fault long before the object came):
        // the object's own read decides.
        _ => cluster::get(arm, id).await,
    }
}

/// How long a list of a previous principal's assignments stands for later objects: what is
/// copied to the new principal is what the old one holds now, not what it held long ago.
const LIST_FRESH_FOR: Duration = Duration::from_secs(30);

/// The role assignments of the previous service principal `principal` at or below `scope`:
/// listed once for the objects of the next [`LIST_FRESH_FOR`] (a fleet of clusters leaving
/// the same app), afresh after that.
pub(crate) async fn previous_assignments(
    ctx: &Ctx,
    arm: &Api<'_>,
    scope: &str,
    principal: &str,
) -> Result<Vec<RoleAssignment>> {
    let key = (
        arm.tenant().to_ascii_lowercase(),
        scope.to_ascii_lowercase(),
        principal.to_ascii_lowercase(),
    );
    let listed = ctx
        .state::<Early>()
        .previous
        .get_or(key, || async {
            let listed = list_assignments(arm, scope, principal).await?;
            Ok(Some((Instant::now(), listed)))
        })
        .await?;
    match listed {
        Some((at, listed)) if at.elapsed() <= LIST_FRESH_FOR => Ok(listed),
        _ => list_assignments(arm, scope, principal).await,
    }
}

/// The app whose service principal an object will compare: the one the cluster runs as
/// (the source of a switch's roles, or the new one of a rerun or a new secret), with its
/// assignments. Never one a record names: a record is not a source of roles.
fn candidates(c: &ManagedCluster) -> Vec<(String, bool)> {
    c.client_id()
        .filter(|id| is_guid(id))
        .map(|current| vec![(current.to_owned(), true)])
        .unwrap_or_default()
}

/// Starts what `--cluster-tenant` and `--cluster` determine (nothing without both).
pub(crate) fn prepare(cli: &Cli, ctx: &Ctx) {
    let Some(tenant) = cli
        .cluster_tenant
        .as_deref()
        .and_then(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, t).ok())
    else {
        return;
    };
    ctx.sign_in_early(&tenant, common::driver::EarlyTokens::GraphAndArm);
    let Some(id) = cli
        .cluster_id()
        .ok()
        .flatten()
        .and_then(|id| ResourceId::parse(fields::CLUSTER_ID.name, &id, CLUSTER_TYPE).ok())
    else {
        return;
    };
    let run = ctx.next_object();
    ctx.state::<Early>()
        .clusters
        .start(cluster_key(&tenant, &id), async move {
            let found = cluster::get(&run.arm(&tenant), &id).await?;
            let at = Instant::now();
            // Then, beside the wait for the object, the principals it will compare.
            if found.managed_identity().is_none() {
                for (app, list) in candidates(&found) {
                    let (roles, tenant) = (run.next_object(), tenant.clone());
                    let scope = format!("/subscriptions/{}", id.subscription);
                    run.spawn(async move {
                        let graph = roles.graph(&tenant);
                        if let Some(sp) = roles.service_principal_id(&graph, &app).await?
                            && list
                        {
                            previous_assignments(&roles, &roles.arm(&tenant), &scope, &sp).await?;
                        }
                        Ok(())
                    });
                }
            }
            Ok((at, found))
        });
}
