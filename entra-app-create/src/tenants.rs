//! Tenant B and the cluster, when step 1 is told them: the tenants checked where they are
//! first known (`--registry-tenant`, `--same-tenant`, `--cluster`; issue 25).

use common::arm::ResourceId;
use common::driver::Ctx;
use common::envelope::{Envelope, fields};
use common::tenants::{Holder, Named, refuse_same, subscription_holder, tenant_id};
use common::{Result, ui, validate};

use crate::cli::Cli;

/// The cluster's resource type.
const CLUSTER_TYPE: &str = "Microsoft.ContainerService/managedClusters";

/// What step 1 knows of the other side, to check tenant A against.
#[derive(Debug, Clone, Default)]
pub(crate) struct Others {
    /// Tenant B (`--registry-tenant`, or the input's `registry_tenant_id`).
    registry_tenant: Option<String>,
    /// `--same-tenant`: tenant B may be tenant A.
    same_tenant: bool,
    /// The cluster (`--cluster`, or the input's `cluster_id`), to check tenant A holds it.
    cluster: Option<ResourceId>,
}

impl Others {
    /// Reads the flags (they win) and the input; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope) -> Result<Self> {
        let registry_tenant = env
            .flag_or_str(&fields::REGISTRY_TENANT_ID, cli.registry_tenant.as_deref())?
            .map(|t| validate::tenant(fields::REGISTRY_TENANT_ID.name, &t))
            .transpose()?;
        let cluster = env
            .flag_or_str(&fields::CLUSTER_ID, cli.cluster.as_deref())?
            .map(|c| ResourceId::parse(fields::CLUSTER_ID.name, &c, CLUSTER_TYPE))
            .transpose()?;
        Ok(Self {
            registry_tenant,
            same_tenant: cli.same_tenant,
            cluster,
        })
    }

    /// Refuses tenant B = tenant A, and warns when tenant A does not hold the cluster: reads
    /// only, before anything is written.
    pub(crate) async fn check(&self, tenant_a: &str, ctx: &Ctx) -> Result<()> {
        let a = Named {
            from: "--cluster-tenant",
            tenant: tenant_a,
        };
        if let Some(b) = &self.registry_tenant {
            let b = Named {
                from: "--registry-tenant",
                tenant: b,
            };
            refuse_same(ctx.http(), ctx.deadline(), a, b, self.same_tenant).await?;
        }
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        let arm = ctx.arm(tenant_a);
        match subscription_holder(&arm, &cluster.subscription).await {
            Holder::SignedIn => ui::debug(&format!(
                "cluster {}: its subscription is in tenant {tenant_a}",
                cluster.name
            )),
            Holder::Other(holder) => {
                let b = match &self.registry_tenant {
                    Some(b) => tenant_id(ctx.http(), b, ctx.deadline()).await?,
                    None => None,
                };
                let swapped = if b.as_deref() == Some(holder.as_str()) {
                    ": that is the registry's tenant (--registry-tenant); are the two swapped?"
                } else {
                    ""
                };
                ui::warn(&format!(
                    "cluster {} is not in tenant {tenant_a} (--cluster-tenant) but in tenant {holder}{swapped}; the app must be made in the cluster's tenant",
                    cluster.name
                ));
            }
            Holder::Unknown(why) => ui::debug(&format!(
                "cluster {}: which tenant holds it is not known ({why})",
                cluster.name
            )),
        }
        Ok(())
    }

    /// Whether a check needs ARM in tenant A (for signing in early).
    pub(crate) fn needs_arm(cli: &Cli) -> bool {
        cli.cluster.is_some()
    }
}
