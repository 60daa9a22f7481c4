//! Managed clusters as more than one step needs them: the clusters of tenant A that run as
//! an app. (Which secret each holds is recorded on the app: [`crate::record`].)

use crate::error::{Error, Result, codes};
use crate::http::Api;

use super::ResourceId;
use super::subscriptions::subscriptions;

mod model;

use model::CLUSTER_NOUN;

pub use model::{
    AadProfile, AgentPool, ApiServerAccessProfile, CLUSTER_TYPE, Identity, LoadBalancerProfile,
    MANAGED_CLUSTER_API, MANAGED_CLUSTER_ETAG_API, ManagedCluster, NetworkProfile,
    OutboundIpPrefixes, OutboundIps, PowerState, Properties, ServicePrincipalProfile, SubResource,
    Tags,
};

/// GETs the cluster `id`.
pub async fn get(api: &Api<'_>, id: &ResourceId) -> Result<ManagedCluster> {
    super::get_typed(api, &MANAGED_CLUSTER_API, id, CLUSTER_NOUN).await
}

/// GETs the cluster `id` at an api-version that shows its `eTag`
/// ([`MANAGED_CLUSTER_ETAG_API`]): `ApiVersionUnsupported` in a cloud that has none.
pub async fn get_with_etag(api: &Api<'_>, id: &ResourceId) -> Result<ManagedCluster> {
    super::get_typed(api, &MANAGED_CLUSTER_ETAG_API, id, CLUSTER_NOUN).await
}

/// GETs the cluster `id`, `None` when there is none.
pub async fn get_opt(api: &Api<'_>, id: &ResourceId) -> Result<Option<ManagedCluster>> {
    super::get_opt_typed(api, &MANAGED_CLUSTER_API, id, CLUSTER_NOUN).await
}

/// The managed clusters running as `app_id` in every subscription the caller sees in
/// `api`'s tenant. Refuses (`ClustersNotListed`, naming the right) when it sees no
/// subscription or may not list the clusters of one: then it cannot know.
pub async fn clusters_using(api: &Api<'_>, app_id: &str) -> Result<Vec<ManagedCluster>> {
    let cannot = |why: String| {
        Error::step(codes::CLUSTERS_NOT_LISTED, why).with_hint(format!(
            "give the identity Reader (Microsoft.ContainerService/managedClusters/read) on the subscriptions of tenant {}'s clusters, \
             or pass --force if you know no cluster uses the secrets to be removed",
            api.tenant()
        ))
    };
    let subs = subscriptions(api).await.map_err(|e| {
        cannot(format!(
            "cannot list the subscriptions of tenant {} to find the clusters that use app {app_id}: {}",
            api.tenant(),
            e.message()
        ))
    })?;
    if subs.is_empty() {
        return Err(cannot(format!(
            "the identity sees no subscription in tenant {}: it cannot tell which clusters use app {app_id}",
            api.tenant()
        )));
    }
    let mut out = Vec::new();
    for sub in subs {
        let listed = clusters_in(api, &sub).await.map_err(|e| {
            if e.status() == Some(403) {
                cannot(format!(
                    "may not list the clusters of subscription {sub} ({}): it cannot tell which use app {app_id}",
                    e.code()
                ))
            } else {
                e
            }
        })?;
        out.extend(listed.into_iter().filter(|c| c.uses(app_id)));
    }
    Ok(out)
}

/// Refuses `what` (an offboarding step: revoking the app's pull role, removing its service
/// principal in tenant B, deleting it) while a cluster of tenant A still runs as `app_id`,
/// naming the clusters, or when it cannot tell — no tenant A named (`arm` is `None`), no
/// identity there, no right to list its clusters. With `force`, says so and goes on.
pub async fn refuse_while_in_use(
    arm: Option<&Api<'_>>,
    app_id: &str,
    force: bool,
    what: &str,
) -> Result<()> {
    let found = match arm {
        Some(arm) => clusters_using(arm, app_id).await.map_err(|e| {
            if matches!(e.kind(), crate::error::ErrorKind::Credential) {
                Error::step(
                    codes::APP_IN_USE,
                    format!(
                        "no identity for tenant {} ({}): cannot tell whether a cluster still runs as app {app_id}",
                        arm.tenant(),
                        e.message()
                    ),
                )
            } else {
                e
            }
        }),
        None => Err(Error::step(
            codes::APP_IN_USE,
            format!(
                "tenant A (cluster_tenant_id) is not named: cannot tell whether a cluster still runs as app {app_id}"
            ),
        )),
    };
    let unsure = |e: Error| {
        let hint = "name tenant A (--cluster-tenant) with an identity that may read its clusters (Reader on their subscriptions), or pass --force if you know no cluster runs as the app";
        if force {
            crate::ui::warn(&format!("{}; --force: going on to {what}", e.message()));
            Ok(())
        } else {
            Err(Error::step(
                codes::APP_IN_USE,
                format!("{}; nothing was changed", e.message()),
            )
            .with_hint(hint))
        }
    };
    let clusters = match found {
        Ok(c) => c,
        Err(e) => return unsure(e),
    };
    if clusters.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = clusters.iter().map(|c| c.id.as_str()).collect();
    let msg = format!(
        "{} cluster(s) still run as app {app_id}: {}",
        names.len(),
        names.join(", ")
    );
    if force {
        crate::ui::warn(&format!(
            "{msg}; --force: going on to {what}, and they stop pulling"
        ));
        return Ok(());
    }
    Err(Error::step(
        codes::APP_IN_USE,
        format!("refusing to {what}: {msg}; nothing was changed"),
    )
    .with_hint("switch those clusters to another identity first (aks-sp-update to another app, or az aks update-credentials), or pass --force to cut them off"))
}

/// [`refuse_while_in_use`] in each tenant of `named` (the flag's or the object's tenant A) and
/// in the app's home tenant `home` (Graph's `appOwnerOrganizationId`): a tenant an object
/// names may add a tenant to look in, never move the look away from the app's home. With no
/// tenant named, refuses as [`refuse_while_in_use`] does.
pub async fn refuse_while_in_use_at_home(
    named: Option<&Api<'_>>,
    home: Option<&Api<'_>>,
    app_id: &str,
    force: bool,
    what: &str,
) -> Result<()> {
    refuse_while_in_use(named, app_id, force, what).await?;
    match (named, home) {
        (Some(n), Some(h)) if !n.tenant().eq_ignore_ascii_case(h.tenant()) => {
            crate::ui::debug(&format!(
                "app {app_id}'s home is tenant {}, not the named tenant {}: its clusters are looked for there too",
                h.tenant(),
                n.tenant()
            ));
            refuse_while_in_use(Some(h), app_id, force, what).await
        }
        _ => Ok(()),
    }
}

/// The managed clusters of subscription `sub`, as the listing shows them: one that does not
/// fit the model is an error, never skipped (it may be one that runs as the app).
pub async fn clusters_in(api: &Api<'_>, sub: &str) -> Result<Vec<ManagedCluster>> {
    super::list_typed(api, &MANAGED_CLUSTER_API, sub, CLUSTER_NOUN).await
}
