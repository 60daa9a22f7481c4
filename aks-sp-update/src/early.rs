//! What the flags alone determine, started before the first object arrives
//! ([`common::driver::Tool::prepare`]): the tokens of tenant A, the cluster `--cluster`
//! names, and, from it, the old app's service principal and its role assignments. Only
//! reads; each answer is taken by the first object about that cluster and tenant (a later
//! object reads the cluster afresh: a reset changes it).

use common::Result;
use common::arm::{ResourceId, RoleAssignment, list_assignments};
use common::driver::{Ctx, Primed};
use common::envelope::fields;
use common::http::Api;
use common::validate::{self, is_guid};

use crate::cluster::{self, Cluster};
use crate::inputs::Inputs;
use crate::{CLUSTER_TYPE, Cli};

/// The run's early answers.
#[derive(Default)]
pub(crate) struct Early {
    /// (tenant, cluster id) → the cluster as read before the first object arrived.
    pub(crate) cluster: Primed<(String, String), Cluster>,
    /// (tenant, scope, principal) → the old service principal's role assignments there.
    pub(crate) assignments: Primed<(String, String, String), Vec<RoleAssignment>>,
}

/// The key of a cluster's early read.
pub(crate) fn cluster_key(tenant: &str, cluster: &ResourceId) -> (String, String) {
    (
        tenant.to_ascii_lowercase(),
        cluster.id().to_ascii_lowercase(),
    )
}

/// The cluster, as read before the object arrived when `--cluster` named it (taken once:
/// later objects read it afresh), else read now.
pub(crate) async fn cluster(ctx: &Ctx, arm: &Api<'_>, inputs: &Inputs) -> Result<Cluster> {
    ctx.state::<Early>()
        .cluster
        .take_or(&cluster_key(&inputs.tenant, &inputs.cluster), || {
            cluster::get(arm, &inputs.cluster)
        })
        .await
}

/// The key of a principal's early role assignments at `scope`.
pub(crate) fn assignments_key(
    tenant: &str,
    scope: &str,
    principal: &str,
) -> (String, String, String) {
    (
        tenant.to_ascii_lowercase(),
        scope.to_ascii_lowercase(),
        principal.to_ascii_lowercase(),
    )
}

/// Starts what `--cluster-tenant` and `--cluster` determine (nothing without them).
pub(crate) fn prepare(cli: &Cli, ctx: &Ctx) {
    let field = fields::CLUSTER_TENANT_ID.name;
    let Some(tenant) = cli
        .cluster_tenant
        .as_deref()
        .and_then(|t| validate::tenant(field, t).ok())
    else {
        return;
    };
    ctx.sign_in_early(&tenant, true, true);
    let Some(cluster) = cli
        .cluster_id()
        .ok()
        .flatten()
        .and_then(|id| ResourceId::parse(fields::CLUSTER_ID.name, &id, CLUSTER_TYPE).ok())
    else {
        return;
    };
    let early = ctx.state::<Early>();
    let run = ctx.next_object();
    early
        .cluster
        .start(cluster_key(&tenant, &cluster), async move {
            let c = cluster::get(&run.arm(&tenant), &cluster).await?;
            if let Some(old) = c.client_id.clone().filter(|id| is_guid(id)) {
                old_roles(&run, &tenant, &cluster.subscription, &old);
            }
            Ok(c)
        });
}

/// Starts the lookup of the old app's service principal (kept for the run) and of its
/// role assignments in the cluster's subscription (taken by the object that compares them).
fn old_roles(run: &Ctx, tenant: &str, subscription: &str, old_app: &str) {
    let scope = format!("/subscriptions/{subscription}");
    let (run, tenant, old_app) = (run.next_object(), tenant.to_owned(), old_app.to_owned());
    let early = run.state::<Early>();
    let ctx = run.next_object();
    ctx.spawn(async move {
        let Some(old_sp) = run
            .service_principal_id(&run.graph(&tenant), &old_app)
            .await?
        else {
            return Ok(());
        };
        let key = assignments_key(&tenant, &scope, &old_sp);
        early.assignments.start(key, async move {
            list_assignments(&run.arm(&tenant), &scope, &old_sp).await
        });
        Ok(())
    });
}
