//! The record earlier versions kept in a cluster's ARM tags (`xtenant-*`), read as a
//! fallback that may only make the tools more careful, and removed only when asked.
//!
//! Anyone who may write the cluster's tags could have written them, so they never cause a
//! skipped reset and never let `--prune-secrets` go on: a key they name for the app is only
//! kept. Removing them is a cluster write (`ManagedClusters_UpdateTags`, a managed-cluster
//! update on AKS), made only on `aks-sp-update --remove-legacy-tags`.

use reqwest::Method;
use serde_json::json;

use crate::arm::clusters::{MANAGED_CLUSTER_API, Tags};
use crate::arm::{follow_operation, operation_url};
use crate::error::Result;
use crate::http::{Api, Sent};
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

/// The key ids the old record names for `app_id` (its key and pending key, when its app id
/// tag is `app_id`): keys a prune keeps, nothing more.
pub fn legacy_keys(tags: &Tags, app_id: &str) -> Vec<String> {
    let get = |name: &str| {
        tags.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| is_guid(v))
            .map(str::to_ascii_lowercase)
    };
    if !get(LEGACY_TAGS[0]).is_some_and(|a| a.eq_ignore_ascii_case(app_id)) {
        return Vec::new();
    }
    [get(LEGACY_TAGS[1]), get(LEGACY_TAGS[4])]
        .into_iter()
        .flatten()
        .collect()
}

/// Removes the old record's tags from the cluster `cluster_id` whose tags are now `tags`
/// (`ManagedClusters_UpdateTags` replaces every tag: the others are sent back), following
/// the update when AKS answers it as a long-running operation. `false`: there were none,
/// or a dry run.
pub async fn remove_legacy_tags(arm: &Api<'_>, cluster_id: &str, tags: &Tags) -> Result<bool> {
    if !has_legacy_tags(tags) {
        return Ok(false);
    }
    let kept: Tags = tags
        .iter()
        .filter(|(k, _)| !is_legacy(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = json!({ "tags": kept });
    let sent = arm
        .with_api_version(&MANAGED_CLUSTER_API, |v| {
            let body = body.clone();
            async move {
                let url = arm.url(&format!("{cluster_id}?api-version={v}"))?;
                arm.write(arm.request(Method::PATCH, url).json(body)).await
            }
        })
        .await
        .map_err(|e| e.context("removing the old record's xtenant-* tags from the cluster"))?;
    let Sent::Done(r) = sent else {
        return Ok(false);
    };
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
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
