//! Writing entries: one batch per app at a time inside a process (a group commit), read back
//! and written again when another process's write replaced them.
//!
//! Microsoft Graph's `PATCH /applications(appId='…')` with `tags` replaces the whole
//! collection, and applications take no `If-Match`. Two writers that read the same tags and
//! each send back theirs plus one entry lose one of the two. Inside a process, every writer
//! of an app queues its entry and whoever holds the app's turn sends all queued entries in
//! one read and one write, so `--jobs 32` on 32 clusters of one app loses nothing and writes
//! a few times, not 32. Across processes, the writer reads the tags back after a pause as
//! long as its own read-and-write took (two round trips: longer than another writer's window
//! between its read and its write), and writes again every entry of its batch that is not there, up to [`MAX_ATTEMPTS`] times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::sync::oneshot;

use super::{Entry, MAX_ENTRIES, Record, app_path, cluster_key, read};
use crate::context::Ctx;
use crate::error::{Error, Result, codes};
use crate::http::{Api, Sent};
use crate::ui;

/// How many times a batch is written before it is given up as lost to other writers.
pub const MAX_ATTEMPTS: u32 = 5;

/// The shortest pause before the read-back.
const MIN_PAUSE: Duration = Duration::from_millis(100);
/// The longest.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The record already said so: nothing was sent.
    Unchanged,
    /// Written, and read back.
    Written,
    /// A dry run: the write is in the plan, not sent.
    DryRun,
}

/// One entry waiting for its app's turn.
struct Queued {
    cluster: String,
    entry: Option<Entry>,
    done: oneshot::Sender<Result<Written>>,
}

/// One app's writers in this process.
#[derive(Default)]
struct AppWriter {
    queue: Mutex<Vec<Queued>>,
    turn: tokio::sync::Mutex<()>,
}

/// Every app's writers in this run (a [`Ctx::state`]).
#[derive(Default)]
struct Writers {
    apps: Mutex<HashMap<(String, String), Arc<AppWriter>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets the entry of the cluster `cluster_id` (an ARM id) on the app `app_id` in `graph`'s
/// tenant to `entry` (`None`: removes it), keeping every other tag and entry.
///
/// Writers of one app in this run are served one batch at a time; the batch is read back
/// and what another process replaced is written again. Fails with `RecordNotKept` when the
/// entries are still lost after [`MAX_ATTEMPTS`] writes, `RecordFull` past [`MAX_ENTRIES`].
pub async fn write(
    ctx: &Ctx,
    graph: &Api<'_>,
    app_id: &str,
    cluster_id: &str,
    entry: Option<Entry>,
) -> Result<Written> {
    let cluster = cluster_key(cluster_id);
    let entry = entry.map(Entry::normalized);
    let writer = {
        let writers = ctx.state::<Writers>();
        let mut apps = lock(&writers.apps);
        apps.entry((
            graph.tenant().to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
        ))
        .or_default()
        .clone()
    };
    let (tx, mut rx) = oneshot::channel();
    lock(&writer.queue).push(Queued {
        cluster: cluster.clone(),
        entry: entry.clone(),
        done: tx,
    });
    let _turn = writer.turn.lock().await;
    // Written by the batch of an earlier turn; else still queued (this turn writes it with
    // the others queued), or taken by a batch abandoned on the way (written again here).
    if let Ok(result) = rx.try_recv() {
        return result;
    }
    let batch = std::mem::take(&mut *lock(&writer.queue));
    let mut changes: Vec<(String, Option<Entry>)> = batch
        .iter()
        .map(|q| (q.cluster.clone(), q.entry.clone()))
        .collect();
    if !batch.iter().any(|q| q.cluster == cluster) {
        changes.push((cluster, entry));
    }
    let result = apply(graph, app_id, &changes).await;
    for q in batch {
        // A waiter that gave up is gone: nothing to tell.
        let _ = q.done.send(result.clone());
    }
    result
}

/// Whether `record` shows every change (the last one per cluster).
fn shows(record: &Record, changes: &[(String, Option<Entry>)]) -> bool {
    changes.iter().enumerate().all(|(i, (c, e))| {
        changes[i + 1..].iter().any(|(later, _)| later == c)
            || record.entry_by_key(c) == e.clone().filter(|e| !e.is_empty())
    })
}

/// Reads, writes the changes over what it read, reads back; again while another writer's
/// replaced them.
async fn apply(
    graph: &Api<'_>,
    app_id: &str,
    changes: &[(String, Option<Entry>)],
) -> Result<Written> {
    let mut current = read(graph, app_id).await?;
    let mut wrote = false;
    for attempt in 1..=MAX_ATTEMPTS {
        if shows(&current, changes) {
            return Ok(if wrote {
                Written::Written
            } else {
                Written::Unchanged
            });
        }
        if wrote {
            ui::debug(&format!(
                "the record on app {app_id} lost an entry to another writer (Graph replaces an app's tags as a whole): writing it again"
            ));
        }
        let mut next = current.clone();
        for (c, e) in changes {
            next.tags = next.with(c, e.as_ref());
        }
        if next.len() > MAX_ENTRIES && next.len() > current.len() {
            return Err(full(app_id, current.len()));
        }
        let started = Instant::now();
        let url = graph.url(&app_path(app_id))?;
        let req = graph
            .request(Method::PATCH, url)
            .json(json!({ "tags": next.tags }));
        match graph
            .write(req)
            .await
            .map_err(|e| refused(e, app_id, graph.tenant()))?
        {
            Sent::Skipped => return Ok(Written::DryRun),
            Sent::Done(_) => wrote = true,
        }
        pause(graph, started.elapsed(), attempt).await;
        current = read(graph, app_id).await?;
    }
    if shows(&current, changes) {
        return Ok(Written::Written);
    }
    Err(Error::step(
        codes::RECORD_NOT_KEPT,
        format!(
            "the record on app {app_id} was written {MAX_ATTEMPTS} times and each time replaced by another writer's"
        ),
    )
    .with_hint("another run writes the same app's record at the same time; rerun when it has ended"))
}

/// The pause before a read-back: what this read-and-write took (two round trips; another
/// process's window between its read and its write is one, plus its own work), jittered,
/// growing with the attempt; never past the deadline, and cut short by an interrupt.
async fn pause(graph: &Api<'_>, took: Duration, attempt: u32) {
    let base = took
        .max(MIN_PAUSE)
        .saturating_mul(1 << attempt.saturating_sub(1).min(4))
        .min(MAX_PAUSE);
    // Up to half as long again, at random (as the retries' jitter): two writers that met
    // do not read back in step.
    let wait = (base + base.mul_f64(fastrand::f64() / 2.0)).min(graph.deadline().remaining());
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = graph.deadline().interrupt().wait() => {}
    }
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
fn refused(e: Error, app_id: &str, tenant: &str) -> Error {
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
