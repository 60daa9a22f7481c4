//! Managed clusters as more than one step needs them: the record the tools keep on a
//! cluster (ARM tags), and the clusters of tenant A that run as an app.
//!
//! Azure never returns a cluster's client secret, so after a reset step 4 writes what it did
//! where the next run (and step 1's `--prune-secrets`) can read it: tags on the cluster
//! naming the app id and the key id of the secret it was reset to, and the service principal
//! it replaced (whose roles in tenant A the new one should hold). A record is a claim by
//! whoever may write the cluster's tags; it is read only for GUIDs.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result, codes};
use crate::http::{Api, ApiVersions, Sent};
use crate::validate::is_guid;
use crate::wait::{follow_operation, operation_url};

use super::subscriptions::subscriptions;

/// The api-versions of the managed-cluster calls here (the list and `UpdateTags`, both in
/// the stable specs long before 2020-01-01): the pinned one, else the newest a cloud has.
pub const MANAGED_CLUSTER_API: ApiVersions = ApiVersions {
    resource_type: "Microsoft.ContainerService/managedClusters",
    pinned: "2025-10-01",
    oldest: "2020-01-01",
};

/// The tag naming the app id the tools last reset the cluster to.
pub const TAG_CLIENT_ID: &str = "xtenant-client-id";
/// The tag naming the key id of that app's secret the cluster holds.
pub const TAG_KEY_ID: &str = "xtenant-client-secret-key-id";
/// The tag naming the app id the cluster ran as before the tools switched it.
pub const TAG_PREVIOUS_CLIENT_ID: &str = "xtenant-previous-client-id";
/// The tag naming that app's service principal (object id) in tenant A.
pub const TAG_PREVIOUS_SP: &str = "xtenant-previous-sp-object-id";
/// The tag naming the key id of the secret a switch to [`TAG_CLIENT_ID`]'s app was posted
/// with, until the reset is confirmed (a run that lost the reset's answer leaves it).
pub const TAG_PENDING_KEY_ID: &str = "xtenant-pending-client-secret-key-id";

const TAGS: [&str; 5] = [
    TAG_CLIENT_ID,
    TAG_KEY_ID,
    TAG_PREVIOUS_CLIENT_ID,
    TAG_PREVIOUS_SP,
    TAG_PENDING_KEY_ID,
];

/// What the tools recorded on a cluster (every field a GUID, lower case, or absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterRecord {
    /// The app id the cluster was reset to.
    pub client_id: Option<String>,
    /// The key id of the secret it was reset to (absent: unknown, e.g. while a reset runs).
    pub key_id: Option<String>,
    /// The app id the cluster ran as before.
    pub previous_client_id: Option<String>,
    /// That app's service principal in tenant A.
    pub previous_sp_object_id: Option<String>,
    /// The key id a switch from another app to `client_id` was posted with, unconfirmed.
    pub pending_key_id: Option<String>,
}

impl ClusterRecord {
    /// Reads the record from a cluster's `tags` (names case-insensitively, as ARM compares them).
    pub fn from_tags(tags: &Map<String, Value>) -> Self {
        let get = |name: &str| {
            tags.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
                .map(str::trim)
                .filter(|v| is_guid(v))
                .map(str::to_ascii_lowercase)
        };
        Self {
            client_id: get(TAG_CLIENT_ID),
            key_id: get(TAG_KEY_ID),
            previous_client_id: get(TAG_PREVIOUS_CLIENT_ID),
            previous_sp_object_id: get(TAG_PREVIOUS_SP),
            pending_key_id: get(TAG_PENDING_KEY_ID),
        }
    }

    /// The key id of the secret a cluster running as `client_id` holds, if the record knows it.
    pub fn key_of(&self, client_id: &str) -> Option<&str> {
        match (&self.client_id, &self.key_id) {
            (Some(c), Some(k)) if c.eq_ignore_ascii_case(client_id) => Some(k),
            _ => None,
        }
    }

    /// The key id a switch to `client_id` was posted with and not yet confirmed, if any: a
    /// cluster found running as that app holds that secret (only such a reset switched it).
    pub fn pending_key_of(&self, client_id: &str) -> Option<&str> {
        match (&self.client_id, &self.key_id, &self.pending_key_id) {
            (Some(c), None, Some(k)) if c.eq_ignore_ascii_case(client_id) => Some(k),
            _ => None,
        }
    }

    /// `tags` with this record's tags in place of the old record's, every other tag kept.
    pub fn merged_into(&self, tags: &Map<String, Value>) -> Map<String, Value> {
        let mut out: Map<String, Value> = tags
            .iter()
            .filter(|(k, _)| !TAGS.iter().any(|t| t.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, value) in [
            (TAG_CLIENT_ID, &self.client_id),
            (TAG_KEY_ID, &self.key_id),
            (TAG_PREVIOUS_CLIENT_ID, &self.previous_client_id),
            (TAG_PREVIOUS_SP, &self.previous_sp_object_id),
            (TAG_PENDING_KEY_ID, &self.pending_key_id),
        ] {
            if let Some(v) = value {
                out.insert(name.to_owned(), json!(v));
            }
        }
        out
    }
}

/// A managed cluster as the listing and the GET show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedCluster {
    /// Its ARM id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `servicePrincipalProfile.clientId`: an app id, or `msi`.
    pub client_id: Option<String>,
    /// Its tags, as they are.
    pub tags: Map<String, Value>,
    /// What the tools recorded in them.
    pub record: ClusterRecord,
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
            record: ClusterRecord::from_tags(&tags),
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

/// Writes `record` on the cluster `cluster_id` whose tags are now `tags`
/// (`ManagedClusters_UpdateTags`: a PATCH replacing every tag, so the others are sent back).
/// Returns whether it was written (`false`: a dry run, or the record was already there).
pub async fn write_record(
    api: &Api<'_>,
    cluster_id: &str,
    tags: &Map<String, Value>,
    record: &ClusterRecord,
) -> Result<bool> {
    let merged = record.merged_into(tags);
    if &merged == tags {
        return Ok(false);
    }
    let body = json!({ "tags": merged });
    let sent = api
        .with_api_version(&MANAGED_CLUSTER_API, |v| {
            let body = body.clone();
            async move {
                let url = api.url(&format!("{cluster_id}?api-version={v}"))?;
                api.write(api.request(Method::PATCH, url).json(body)).await
            }
        })
        .await
        .map_err(|e| e.context("writing the record on the cluster (its tags)"))?;
    let Sent::Done(r) = sent else {
        return Ok(false);
    };
    // AKS may treat the tag update as a long-running operation.
    if r.status == 202
        && let Some((op, kind)) = operation_url(&r)
    {
        follow_operation(
            api,
            &op,
            kind,
            "recording the reset on the cluster (its tags)",
        )
        .await?;
    }
    Ok(true)
}

/// The managed clusters running as `app_id` in every subscription the caller sees in
/// `api`'s tenant. Refuses (`ClustersNotListed`, naming the right) when it sees no
/// subscription or may not list the clusters of one: then it cannot know.
pub async fn clusters_using(api: &Api<'_>, app_id: &str) -> Result<Vec<ManagedCluster>> {
    let cannot = |why: String| {
        Error::step(codes::CLUSTERS_NOT_LISTED.name, why).with_hint(format!(
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
                    codes::APP_IN_USE.name,
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
            codes::APP_IN_USE.name,
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
                codes::APP_IN_USE.name,
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
        codes::APP_IN_USE.name,
        format!("refusing to {what}: {msg}; nothing was changed"),
    )
    .with_hint("switch those clusters to another identity first (aks-sp-update to another app, or az aks update-credentials), or pass --force to cut them off"))
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

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "11111111-2222-3333-4444-555555555555";
    const KEY: &str = "66666666-2222-3333-4444-555555555555";

    #[test]
    fn a_record_is_read_case_insensitively_and_only_for_guids() {
        let tags = json!({"XTENANT-CLIENT-ID": APP.to_uppercase(), "xtenant-client-secret-key-id": KEY, "xtenant-previous-client-id": "not a guid", "team": "a"});
        let r = ClusterRecord::from_tags(tags.as_object().unwrap());
        assert_eq!(r.client_id.as_deref(), Some(APP));
        assert_eq!(r.key_of(APP), Some(KEY));
        assert_eq!(r.key_of("77777777-2222-3333-4444-555555555555"), None);
        assert_eq!(r.previous_client_id, None);
    }

    #[test]
    fn merging_replaces_the_record_and_keeps_other_tags() {
        let tags =
            json!({"Xtenant-Client-Id": "x", "xtenant-client-secret-key-id": KEY, "team": "a"});
        let r = ClusterRecord {
            client_id: Some(APP.into()),
            ..ClusterRecord::default()
        };
        let m = r.merged_into(tags.as_object().unwrap());
        assert_eq!(
            Value::Object(m),
            json!({"team": "a", "xtenant-client-id": APP}),
            "the old key id is gone: unknown until the reset is confirmed"
        );
    }
}
