//! The record earlier versions kept in a cluster's ARM tags (`xtenant-*`), read as a
//! fallback that may only make the tools more careful, and removed only when asked.
//!
//! Anyone who may write the cluster's tags could have written them, so they never cause a
//! skipped reset and never let `--prune-secrets` go on: a key they name for the app is only
//! kept. Removing them is a cluster write (`ManagedClusters_UpdateTags`, a managed-cluster
//! update on AKS), made only on `aks-sp-update --remove-legacy-tags`, and only over the
//! cluster as it was read (`If-Match` on its `eTag`): the other tags are sent back as read.

use reqwest::Method;
use serde_json::json;

use crate::arm::ResourceId;
use crate::arm::clusters::{MANAGED_CLUSTER_ETAG_API, ManagedCluster, Tags};
use crate::arm::{follow_operation, operation_url};
use crate::error::{Error, Result, codes};
use crate::http::{Api, Response, Sent};
use crate::ui;
use crate::validate::is_guid;

/// The tags of the old record: the app id, its key id, the previous app and its service
/// principal, and a pending key id.
pub const LEGACY_TAGS: [&str; 5] = [
    "xtenant-client-id",
    "xtenant-client-secret-key-id",
    "xtenant-previous-client-id",
    "xtenant-previous-sp-object-id",
    "xtenant-pending-client-secret-key-id",
];

fn is_legacy(name: &str) -> bool {
    LEGACY_TAGS.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// Whether a cluster's tags carry any of the old record's.
pub fn has_legacy_tags(tags: &Tags) -> bool {
    tags.keys().any(|k| is_legacy(k))
}

/// The old record's key and pending key (GUIDs, lower case) when its app id tag is `app_id`:
/// the one reader of the tags' values.
fn entry(tags: &Tags, app_id: &str) -> Option<(Option<String>, Option<String>)> {
    let tag = |name: &str| {
        tags.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| is_guid(v))
            .map(str::to_ascii_lowercase)
    };
    let [app_tag, key_tag, _, _, pending_tag] = LEGACY_TAGS;
    tag(app_tag).filter(|a| a.eq_ignore_ascii_case(app_id))?;
    Some((tag(key_tag), tag(pending_tag)))
}

/// The key ids the old record names for `app_id` (its key and pending key, when its app id
/// tag is `app_id`): keys a prune keeps, nothing more.
pub fn legacy_keys(tags: &Tags, app_id: &str) -> Vec<String> {
    entry(tags, app_id)
        .map(|(key, pending)| [key, pending].into_iter().flatten().collect())
        .unwrap_or_default()
}

/// The key the old record says the cluster holds for `app_id`: its key tag, when its app tag
/// is `app_id` and no other key is pending (reported, never trusted for a verdict).
pub fn legacy_key(tags: &Tags, app_id: &str) -> Option<String> {
    let (key, pending) = entry(tags, app_id)?;
    let key = key?;
    match pending {
        Some(p) if p != key => None,
        _ => Some(key),
    }
}

/// How many times the removal reads the cluster again after AKS refused a write made from an
/// older read (412: someone changed the cluster in between).
const REMOVAL_ATTEMPTS: u32 = 5;

/// What to do when the tags cannot be removed safely: by hand, since a rerun cannot either.
const BY_HAND: &str = "remove the xtenant-* tags by hand (az aks update --tags with the others); a rerun with --remove-legacy-tags refuses again until the cluster's api-version has eTags (2024-09-01 and later)";

/// Removes the old record's tags from the cluster `id`, as a read at an api-version with its
/// `eTag` shows it (`ManagedClusters_UpdateTags` replaces every tag: the others are sent back), following the
/// update when AKS answers it as a long-running operation. The write is conditional on the
/// `eTag` of the read it was made from (`If-Match`): when another writer changed the cluster
/// in between, AKS refuses it (412) and the cluster is read again and the write made again
/// from that read, so a tag written meanwhile is never put back to an older value. `false`:
/// there were none (or none left after such a read), or a dry run.
/// In a cloud whose api-versions all predate the `eTag` (2024-09-01): `ClusterEtagUnsupported`,
/// nothing written.
pub async fn remove_legacy_tags(arm: &Api<'_>, id: &ResourceId) -> Result<bool> {
    let mut cluster = read(arm, id).await?;
    for attempt in 1..=REMOVAL_ATTEMPTS {
        if !has_legacy_tags(&cluster.tags) {
            return Ok(false);
        }
        let Some(etag) = cluster.etag.clone().filter(|e| !e.trim().is_empty()) else {
            return Err(Error::step(
                codes::UNEXPECTED_ARM_ANSWER,
                format!(
                    "cluster {} shows no eTag at an api-version that has it: the old record's xtenant-* tags cannot be removed without risking a tag someone else writes meanwhile",
                    id.name
                ),
            )
            .with_hint(BY_HAND));
        };
        let Some(r) = patch_tags(arm, id, &cluster.tags, &etag).await? else {
            return Ok(false);
        };
        if r.status != 412 {
            if r.status == 202
                && let Some((op, kind)) = operation_url(&r)
            {
                follow_operation(
                    arm,
                    &op,
                    kind,
                    "removing the old record's tags from the cluster (a cluster update)",
                )
                .await?;
            }
            return Ok(true);
        }
        ui::info(&format!(
            "cluster {} changed since it was read (eTag {etag}): reading it again before removing the old xtenant-* tags (attempt {attempt} of {REMOVAL_ATTEMPTS})",
            id.name
        ));
        cluster = read(arm, id).await?;
    }
    Err(Error::step(
        codes::CLUSTER_BUSY,
        format!(
            "cluster {} changed {REMOVAL_ATTEMPTS} times while the old record's xtenant-* tags were being removed: they are still there, and no tag was overwritten",
            id.name
        ),
    )
    .with_hint("rerun with --remove-legacy-tags once nothing else is updating the cluster"))
}

/// The cluster at an api-version that shows its `eTag`; `ClusterEtagUnsupported` when this
/// cloud has none.
async fn read(arm: &Api<'_>, id: &ResourceId) -> Result<ManagedCluster> {
    crate::arm::clusters::get_with_etag(arm, id)
        .await
        .map_err(|e| {
            if !e.is(codes::API_VERSION_UNSUPPORTED) {
                return e;
            }
            Error::step(
                codes::CLUSTER_ETAG_UNSUPPORTED,
                format!(
                    "cluster {} has no eTag in this cloud: its managed-cluster api-versions all predate {}, the first whose cluster shows one, so the old record's xtenant-* tags cannot be removed without risking a tag someone else writes meanwhile ({})",
                    id.name,
                    MANAGED_CLUSTER_ETAG_API.oldest,
                    e.message()
                ),
            )
            .with_hint(BY_HAND)
        })
}

/// `PATCH`es the cluster's tags to `tags` without the old record's, if its `eTag` is still
/// `etag`: AKS's answer (412 when it is not), `None` on a dry run.
async fn patch_tags(
    arm: &Api<'_>,
    id: &ResourceId,
    tags: &Tags,
    etag: &str,
) -> Result<Option<Response>> {
    let kept: Tags = tags
        .iter()
        .filter(|(k, _)| !is_legacy(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = json!({ "tags": kept });
    let cluster_id = id.id();
    let sent = arm
        .with_api_version(&MANAGED_CLUSTER_ETAG_API, |v| {
            let (body, cluster_id) = (body.clone(), &cluster_id);
            async move {
                let url = arm.url(&format!("{cluster_id}?api-version={v}"))?;
                let req = arm
                    .request(Method::PATCH, url)
                    .header("If-Match", etag)
                    .accept(&[412])
                    .json(body);
                arm.write(req).await
            }
        })
        .await
        .map_err(|e| e.context("removing the old record's xtenant-* tags from the cluster"))?;
    Ok(match sent {
        Sent::Done(r) => Some(r),
        Sent::Skipped => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP: &str = "11111111-2222-3333-4444-555555555555";
    const KEY: &str = "66666666-2222-3333-4444-555555555555";
    const PENDING: &str = "77777777-2222-3333-4444-555555555555";

    #[test]
    fn legacy_tags_name_keys_only_for_their_app() {
        let tags: &Tags = &[
            ("XTENANT-CLIENT-ID", APP.to_uppercase().as_str()),
            ("xtenant-client-secret-key-id", KEY),
            ("xtenant-pending-client-secret-key-id", PENDING),
            ("xtenant-previous-client-id", "not a guid"),
            ("team", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(has_legacy_tags(tags));
        assert_eq!(
            legacy_keys(tags, APP),
            vec![KEY.to_owned(), PENDING.to_owned()]
        );
        assert!(legacy_keys(tags, PENDING).is_empty());
        assert!(!has_legacy_tags(&Tags::from([("team".into(), "a".into())])));
    }

    #[test]
    fn the_legacy_tags_name_a_held_key_only_for_their_app_and_with_nothing_else_pending() {
        let tags = |v: serde_json::Value| -> Tags { serde_json::from_value(v).unwrap() };
        let t = tags(
            json!({"XTENANT-CLIENT-ID": APP.to_uppercase(), "xtenant-client-secret-key-id": KEY.to_uppercase()}),
        );
        assert_eq!(legacy_key(&t, APP).as_deref(), Some(KEY));
        assert_eq!(legacy_key(&t, KEY), None, "another app's");
        let t = tags(
            json!({"xtenant-client-id": APP, "xtenant-client-secret-key-id": KEY,
            "xtenant-pending-client-secret-key-id": PENDING}),
        );
        assert_eq!(legacy_key(&t, APP), None, "another key pending");
        assert_eq!(legacy_keys(&t, APP), [KEY, PENDING], "both kept by a prune");
        let t = tags(json!({"xtenant-client-id": APP, "xtenant-client-secret-key-id": "x"}));
        assert_eq!(legacy_key(&t, APP), None, "not a key id");
        assert_eq!(legacy_key(&tags(json!({})), APP), None);
    }
}
