//! The refusals of a record write: a record or an entry Entra cannot hold, a write Graph
//! refused.

use super::update::Wanted;
use super::{Entry, MAX_ENTRIES, Record, TAG_PREFIX};
use crate::error::{Error, Result, codes};

/// Refuses `next` (made from `current`) before it is sent when it records more than
/// [`MAX_ENTRIES`] clusters (and more than `current`); an entry longer than a tag is refused
/// alone ([`too_long`]).
pub(super) fn fits(app_id: &str, current: &Record, next: &Record) -> Result<()> {
    if next.len() > MAX_ENTRIES && next.len() > current.len() {
        return Err(full(app_id, current.len()));
    }
    Ok(())
}

/// The clusters whose entry a write would change to one longer than a tag, each with its
/// refusal: refused alone, never the other writes of its batch.
pub(super) fn too_long(app_id: &str, wants: &[Wanted]) -> Vec<(String, Error)> {
    wants
        .iter()
        .filter(|w| w.now != w.want)
        .filter(|w| {
            w.want
                .as_ref()
                .is_some_and(|e| e.tag(&w.cluster).len() > MAX_TAG)
        })
        .map(|w| (w.cluster.clone(), too_long_entry(app_id, &w.cluster)))
        .collect()
}

/// Entra's longest tag.
const MAX_TAG: usize = 256;

impl Entry {
    /// Whether it fits in one tag, for any cluster (a cluster's id in the record is a GUID: every
    /// cluster's tag of one entry is as long).
    pub fn fits(&self) -> bool {
        self.tag(&uuid::Uuid::nil().to_string()).len() <= MAX_TAG
    }
}

/// Whether `entry` of the cluster with the ARM id `cluster_id` fits in one tag; if not, the
/// refusal a write of it gets (`RecordFull`), for a step to give before anything is written.
pub fn entry_fits(app_id: &str, cluster_id: &str, entry: &Entry) -> Result<()> {
    let cluster = super::cluster_key(cluster_id);
    if entry.tag(&cluster).len() > MAX_TAG {
        return Err(too_long_entry(app_id, &cluster));
    }
    Ok(())
}

/// The refusal of an entry longer than a tag may be: it names the keys of too many resets
/// that were never confirmed (`was`), none of which may be dropped while the app has it.
fn too_long_entry(app_id: &str, cluster: &str) -> Error {
    Error::step(
        codes::RECORD_FULL,
        format!("the entry {TAG_PREFIX}{cluster} on app {app_id} would name more keys of unconfirmed resets than one tag holds ({MAX_TAG} characters); nothing was written"),
    )
    .with_hint("each key it names that the app still has may be the one the cluster holds: once you know which (the app's sign-ins show the key id the cluster uses), remove the others from the app (az ad app credential delete): keys the app no longer has leave the entry")
}

/// The refusal of a record on an app that records [`MAX_ENTRIES`] clusters.
fn full(app_id: &str, n: usize) -> Error {
    Error::step(
        codes::RECORD_FULL,
        format!("the record on app {app_id} already names {n} clusters, the most the tools keep on one app (Entra caps an app's collections at 1200 entries in all)"),
    )
    .with_hint("use another app for more clusters, or remove the entries of clusters that no longer exist from the app's tags")
}

/// A write Graph refused: who may write the record, or the app's size limit.
pub(super) fn refused(e: Error, app_id: &str, tenant: &str) -> Error {
    match e.status() {
        Some(401 | 403) => e.with_hint(format!(
            "the record of which secret each cluster holds is kept in the tags of app {app_id} in tenant {tenant}: writing it needs an owner of the app, \
             or Application.ReadWrite.All (e.g. Cloud Application Administrator); nothing was reset"
        )),
        Some(400) if e.message().contains("manifest") => e.with_hint(format!(
            "app {app_id} reached Entra's limit of 1200 entries over all its collections (tags, redirect URIs, secrets, …): remove the entries of clusters that no longer exist from its tags"
        )),
        _ => e,
    }
}
