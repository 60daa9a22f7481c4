//! Managed clusters as more than one step needs them: the clusters of tenant A that run as
//! an app. (Which secret each holds is recorded on the app: [`crate::record`].)

use serde_json::{Map, Value};

use crate::error::{Error, Result, codes};
use crate::http::{Api, ApiVersions};

use super::subscriptions::subscriptions;

/// The api-versions of the managed-cluster calls here (the list and `UpdateTags`, both in
/// the stable specs long before 2020-01-01): the pinned one, else the newest a cloud has.
pub const MANAGED_CLUSTER_API: ApiVersions = ApiVersions {
    resource_type: "Microsoft.ContainerService/managedClusters",
    pinned: "2025-10-01",
    oldest: "2020-01-01",
};

/// A managed cluster as the listing and the GET show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedCluster {
    /// Its ARM id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `servicePrincipalProfile.clientId`: an app id, or `msi`.
    pub client_id: Option<String>,
    /// Its tags, as they are (the old record's among them, read only as a fallback).
    pub tags: Map<String, Value>,
}

impl ManagedCluster {
    /// Reads a cluster from an ARM body.
    pub fn from_value(v: &Value) -> Option<Self> {
        let tags = v
            .get("tags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Some(Self {
            id: v.get("id")?.as_str()?.to_owned(),
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            client_id: v
                .pointer("/properties/servicePrincipalProfile/clientId")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            tags,
        })
    }

    /// Whether the cluster runs as `app_id`.
    pub fn uses(&self, app_id: &str) -> bool {
        self.client_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(app_id))
    }
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

/// The managed clusters of subscription `sub`, as the listing shows them.
pub async fn clusters_in(api: &Api<'_>, sub: &str) -> Result<Vec<ManagedCluster>> {
    let listed = api
        .with_api_version(&MANAGED_CLUSTER_API, |v| {
            let path = format!(
                "/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters?api-version={v}"
            );
            async move { api.list(&path).await }
        })
        .await?;
    Ok(listed
        .iter()
        .filter_map(ManagedCluster::from_value)
        .collect())
}
