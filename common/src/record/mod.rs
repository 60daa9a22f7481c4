//! The record of which client secret each cluster holds, kept on the app registration in
//! tenant A: one entry per cluster in the application's `tags` (Microsoft Graph).
//!
//! Azure never shows a cluster's client secret, so step 4 notes which key it reset a
//! cluster to, and reruns and step 1's `--prune-secrets` read it. It lives on the app, not
//! on the cluster: on AKS every tag write is a managed-cluster update (a long-running
//! operation that reconciles the node resource group and that a tag policy may refuse), and
//! whoever may write a cluster's tags could forge it. An application's `tags` may be written
//! only by its owners and by directory administrators (or apps holding
//! `Application.ReadWrite.All`) — the same people who may add or remove the app's secrets —
//! so trusting the record for which secrets to keep grants no one anything new.
//!
//! # Claims
//! An entry is still a claim, by whoever wrote it: it may cause a read, a check or a reset;
//! on its own it never skips a reset, prunes a key, or writes another entry.
//! - Step 4 skips the reset ("nothing to do") only when ARM shows the cluster running as the
//!   app in state `Succeeded` *and* the entry names the envelope's key.
//! - A pending entry becomes a confirmed one only when the cluster is then seen running as
//!   the app and the pending key is the envelope's: after a switch from another app (only a
//!   reset switches it), or at the end of the very operation the entry names.
//! - `--prune-secrets` keeps every key any entry names (confirmed or pending), and refuses
//!   when a cluster that ARM shows running as the app has no entry.
//!
//! # Format
//! `xtenant-cluster:<cluster>;key=<key id>;pending=<key id>;switch=1;op=<operation>;run=<mark>;was=<key id>…`, where
//! `<cluster>` is the UUID v5 of the cluster's lower-cased ARM id (the id itself is up to
//! ~300 characters), `<operation>` the UUID v5 of a reset's operation path, `<mark>` the
//! pending entry's writer ([`run_mark`]: 8 hex digits), and every part
//! after the cluster is optional. `was` (none or more) names the keys of other runs' resets
//! that this entry's pending reset displaced from the entry (another run's pending key: its
//! reset may have landed, or land yet): kept so that no key an entry named is lost while the
//! app has it ([`AppKeys`]: one the app no longer has may go), and never trusted as held (a
//! reset follows). Earlier versions ignore the part and their prunes
//! keep its keys ([`Record::keys`]). Without `was`, at most ~190 characters: Entra's limits for an
//! application's tags are 1–256 characters each, no whitespace, no duplicates, and 1200
//! entries over all of an application's collections ("Understand the app manifest
//! (Microsoft Graph format)", tags attribute and "Manifest limits",
//! learn.microsoft.com/entra/identity-platform/reference-microsoft-graph-app-manifest); the
//! tools keep at most [`MAX_ENTRIES`] clusters per app. An app's tags also show on its
//! service principals: the entries name no cluster, only a hash of its id, and key ids,
//! which are no secrets.
//!
//! # Concurrency
//! Graph replaces the whole collection on `PATCH` and has no `If-Match` for applications.
//! Writers for one app are serialised inside a process ([`write`]: one batch at a time, a
//! group commit), and across processes each writer reads back what it wrote and writes a
//! lost entry again ([`MAX_ATTEMPTS`], after a jittered pause as long as its run's reads and
//! writes take: `write.rs` says why that is long enough). An entry lost anyway only
//! makes the tools more careful (the next run resets, `--prune-secrets` refuses). What
//! remains: a write held in flight longer than the other writer's pause can put back an
//! older entry (see docs/DESIGN.md, "Records and claims").

mod fields;
mod keys;
mod legacy;
mod pause;
mod refusals;
mod update;
mod write;

use std::collections::BTreeSet;

use serde_json::Value;
use url::Url;
use uuid::Uuid;

use crate::error::Result;
use crate::graph::{Tags, alt_key};
use crate::http::Api;
use crate::json::object;
use crate::validate::is_guid;

pub use fields::{Updated, update_app};
pub use keys::AppKeys;
pub use legacy::{LEGACY_TAGS, has_legacy_tags, legacy_key, legacy_keys, remove_legacy_tags};
pub use pause::ReadBack;
pub use refusals::entry_fits;
pub use update::Update;
pub use write::{MAX_ATTEMPTS, Written, update, update_in_grace, write};

/// The prefix of every entry.
pub const TAG_PREFIX: &str = "xtenant-cluster:";

/// The most clusters the tools record on one app (Entra caps an app's collections at 1200
/// entries in all; the rest is left for its redirect URIs, secrets and other tags).
pub const MAX_ENTRIES: usize = 1000;

/// The namespace of the UUID v5 ids in entries (itself the UUID v5 of this URL).
fn namespace() -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        b"https://xtenant.invalid/cluster-record",
    )
}

/// A new run mark for a pending entry: 8 random hex digits (two runs writing one cluster's
/// entry at once share one in 4 billion times; then a put-back takes the other's for its own,
/// as before marks).
pub fn run_mark() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// Whether `v` is a run mark.
fn is_mark(v: &str) -> bool {
    v.len() == 8 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The short stable id of a cluster in the record: the UUID v5 of its lower-cased ARM id.
pub fn cluster_key(cluster_id: &str) -> String {
    Uuid::new_v5(
        &namespace(),
        cluster_id
            .trim_end_matches('/')
            .to_ascii_lowercase()
            .as_bytes(),
    )
    .to_string()
}

/// The id of a reset's operation in the record: the UUID v5 of its lower-cased path (the
/// query carries signatures that may differ between answers).
pub fn operation_key(url: &Url) -> String {
    Uuid::new_v5(&namespace(), url.path().to_ascii_lowercase().as_bytes()).to_string()
}

/// One cluster's entry (every key id a lower-case GUID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The key id of the secret the cluster was reset to, confirmed.
    pub key: Option<String>,
    /// A reset posted with this key id and not confirmed yet.
    pub pending: Option<String>,
    /// Whether that reset was posted while the cluster ran as another app (then a cluster
    /// found running as the app can only have been switched by it).
    pub switch: bool,
    /// That reset's operation ([`operation_key`]), once a run left it running: a rerun's
    /// `cluster_operation_url` stands for the reset only if it is this operation.
    pub operation: Option<String>,
    /// The mark of the run that wrote the pending entry ([`run_mark`]): a run puts back the
    /// entry it read only over its own pending entry, never over another run's identical one.
    pub run: Option<String>,
    /// Keys of other runs' resets this entry's pending reset displaced (never confirmed:
    /// the cluster may hold one of them), sorted.
    pub was: Vec<String>,
}

impl Entry {
    /// The tag for `cluster` (a [`cluster_key`]).
    pub fn tag(&self, cluster: &str) -> String {
        let part = |name: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| format!(";{name}={v}"))
                .unwrap_or_default()
        };
        let switch = if self.switch && self.pending.is_some() {
            ";switch=1"
        } else {
            ""
        };
        let was = self.was.iter().fold(String::new(), |mut s, k| {
            s.push_str(";was=");
            s.push_str(k);
            s
        });
        format!(
            "{TAG_PREFIX}{cluster}{}{}{switch}{}{}{was}",
            part("key", &self.key),
            part("pending", &self.pending),
            part("op", &self.operation),
            part("run", &self.run)
        )
    }

    /// Reads a tag: the cluster it is for, and its entry (`None`: not an entry).
    pub fn parse(tag: &str) -> Option<(String, Self)> {
        let rest = tag.strip_prefix(TAG_PREFIX)?;
        let mut parts = rest.split(';');
        let cluster = parts.next().filter(|c| is_guid(c))?.to_ascii_lowercase();
        let mut e = Self::default();
        for part in parts {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let guid = is_guid(value).then(|| value.to_ascii_lowercase());
            match name {
                "key" => e.key = guid,
                "pending" => e.pending = guid,
                "op" => e.operation = guid,
                "switch" => e.switch = value == "1",
                "run" => e.run = is_mark(value).then(|| value.to_ascii_lowercase()),
                "was" => e.was.extend(guid),
                _ => {}
            }
        }
        Some((cluster, e.normalized()))
    }

    /// The same entry as it reads back: key ids in lower case, `switch` and `run` only with a
    /// pending key, `was` sorted without the keys the entry names otherwise.
    #[must_use]
    pub fn normalized(mut self) -> Self {
        for v in [
            &mut self.key,
            &mut self.pending,
            &mut self.operation,
            &mut self.run,
        ] {
            *v = v.take().map(|s| s.to_ascii_lowercase());
        }
        self.switch &= self.pending.is_some();
        self.run = self.run.filter(|_| self.pending.is_some());
        for k in &mut self.was {
            k.make_ascii_lowercase();
        }
        self.was.sort();
        self.was.dedup();
        let (key, pending) = (self.key.clone(), self.pending.clone());
        self.was
            .retain(|k| Some(k) != key.as_ref() && Some(k) != pending.as_ref());
        self
    }

    /// Whether it names nothing (then it is left out of the record).
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.pending.is_none() && self.was.is_empty()
    }

    /// Every key id it names: confirmed, pending and displaced (what a prune keeps).
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.key.iter().chain(&self.pending).chain(&self.was)
    }

    /// Whether it names `key` as the confirmed key.
    pub fn holds(&self, key: &str) -> bool {
        self.key
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(key))
    }

    /// Whether a reset with `key` is pending.
    pub fn pending_is(&self, key: &str) -> bool {
        self.pending
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(key))
    }
}

/// An app's record, as Microsoft Graph showed its `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The application's tags, all of them (others' included: a write sends them back).
    pub tags: Vec<String>,
    /// The app's keys, as the same read showed them (unknown when it did not ask).
    pub app_keys: AppKeys,
}

impl Record {
    /// The record in an application's body.
    pub fn from_app(body: &Value) -> Self {
        let tags = object::<Tags>(body).unwrap_or_default().tags;
        let app_keys = AppKeys::from_app(body);
        Self { tags, app_keys }
    }

    /// The entry for the cluster `cluster_id` (an ARM id), if any names a key.
    pub fn entry(&self, cluster_id: &str) -> Option<Entry> {
        self.entry_by_key(&cluster_key(cluster_id))
    }

    fn entry_by_key(&self, cluster: &str) -> Option<Entry> {
        self.tags
            .iter()
            .filter_map(|t| Entry::parse(t))
            .find(|(c, e)| c == cluster && !e.is_empty())
            .map(|(_, e)| e)
    }

    /// Every key id any entry names, confirmed or pending (lower case): what a prune keeps.
    /// A tag with the entries' prefix that does not parse keeps the key ids it names too.
    pub fn keys(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for t in self.tags.iter().filter(|t| t.starts_with(TAG_PREFIX)) {
            for part in t.split(';').skip(1) {
                if let Some((_, v)) = part.split_once('=')
                    && is_guid(v)
                    && !part.starts_with("op=")
                {
                    out.insert(v.to_ascii_lowercase());
                }
            }
        }
        out
    }

    /// How many clusters it records.
    pub fn len(&self) -> usize {
        self.tags
            .iter()
            .filter(|t| Entry::parse(t).is_some())
            .count()
    }

    /// Whether it records no cluster.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tags with `cluster`'s entry replaced by `entry` (removed when `None` or empty),
    /// every other tag kept in its place; a new entry goes last.
    pub(crate) fn with(&self, cluster: &str, entry: Option<&Entry>) -> Vec<String> {
        let new = entry.filter(|e| !e.is_empty()).map(|e| e.tag(cluster));
        let mut out = Vec::with_capacity(self.tags.len() + 1);
        let mut placed = false;
        for t in &self.tags {
            if Entry::parse(t).is_some_and(|(c, _)| c == cluster) {
                if let (Some(n), false) = (&new, placed) {
                    out.push(n.clone());
                    placed = true;
                }
            } else {
                out.push(t.clone());
            }
        }
        if let (Some(n), false) = (new, placed) {
            out.push(n);
        }
        out
    }
}

/// Graph's path of the app `app_id` (its alternate key: no object id needed).
pub(crate) fn app_path(app_id: &str) -> String {
    alt_key("applications", "appId", app_id)
}

/// Reads the record on the app `app_id` in `graph`'s tenant, with the app's keys
/// ([`Record::app_keys`]). An app id that is no GUID (a
/// dry run's planned app) has an empty record, read from nowhere; so has an app that is not
/// registered in this tenant (another tenant's app: nothing there may be trusted, and the
/// proof of the secret in hand refuses it before any write).
pub async fn read(graph: &Api<'_>, app_id: &str) -> Result<Record> {
    if !is_guid(app_id) {
        return Ok(Record::default());
    }
    let path = format!(
        "{}?$select=id,appId,tags,passwordCredentials",
        app_path(app_id)
    );
    Ok(graph
        .get_opt(&path)
        .await?
        .map(|body| Record::from_app(&body))
        .unwrap_or_default())
}

#[cfg(test)]
mod tests;

/// Key ids and entries the record's unit tests share.
#[cfg(test)]
mod test_keys {
    use super::Entry;

    pub(super) const K1: &str = "11111111-2222-3333-4444-555555555555";
    pub(super) const K2: &str = "66666666-2222-3333-4444-555555555555";

    /// An entry confirming `k`.
    pub(super) fn key(k: &str) -> Entry {
        Entry {
            key: Some(k.into()),
            ..Entry::default()
        }
    }
}
