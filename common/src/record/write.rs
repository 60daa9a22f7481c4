//! Writing entries: one batch per app at a time inside a process (a group commit), read back
//! and written again when another process's write replaced them.
//!
//! Microsoft Graph's `PATCH /applications(appId='…')` with `tags` replaces the whole
//! collection, and applications take no `If-Match`. Two writers that read the same tags and
//! each send back theirs plus one entry lose one of the two. Inside a process, every writer
//! of an app queues its entry and whoever holds the app's turn sends all queued entries in
//! one read and one write, so `--jobs 32` on 32 clusters of one app loses nothing and writes
//! a few times, not 32. Across processes, the writer reads the tags back after a pause
//! ([`super::pause`]: how long, and why) and writes again every entry of its batch that is
//! not there, up to [`MAX_ATTEMPTS`] times.
//!
//! A batch holds only the writes one interrupt stops alike: a write under a deadline the
//! signal does not end (step 4's in their grace) is never batched with one it does end, so
//! a Ctrl-C does not stop another cluster's write that must land. It runs until the latest
//! deadline among its writers: a writer near its `--timeout` does not fail the others'
//! entries (its own is written a little past it). A cluster's writes land in the order they
//! were queued (see `next_batch`).
//!
//! # A pause another write of the same entries makes moot
//! A batch whose every entry is queued again behind it, saying something else, ends its
//! pause at once and is not read back: the next batch reads the tags after this write
//! landed, writes its entries over them (whether or not another writer's write took this
//! batch's away meanwhile), and is read back after its own pause. Step 4 notes the reset's
//! operation beside the wait for it; when the reset ends first (the simulator, a short
//! operation), the confirmed entry is queued behind that write and ends its pause. A queued
//! entry that says the same does not count: it may find itself already there and be written
//! (and read back) by no one. An entry lost all the same (the later batch abandoned with its
//! process) is one the later write was to replace, and only makes the tools more careful
//! (see [`super`]'s *Claims*).
//!
//! Only a write that asks for it ([`ReadBack::Supersedable`]) leaves its read-back so: a
//! batch with any other entry in it is read back by itself.
//!
//! # A second look
//! A [`ReadBack::Measured`] batch (step 4's confirmed entries) written and read back is read
//! once more ([`super::pause`]'s *A second look*), and written again if an entry is gone.
//!
//! # Pauses step 4 still waits for
//! The pending entry is read back before the reset is posted, not beside it, and after at
//! least [`GUARDED_PAUSE`](super::pause) whatever this run measures ([`ReadBack::Guarded`]):
//! a run killed just after the post must leave an entry that names the new key, or a prune
//! could remove the secret the cluster now holds; another writer on a slower link than this
//! run's (a person's laptop beside a CI runner in Azure's region) may have a window several
//! times this run's round trips, and before a reset that takes minutes 100 ms cost nothing.
//! The confirmed entry is read back before the step ends ([`ReadBack::Measured`]): if
//! another writer took it away, the next run would see only the pending entry and reset the
//! cluster again (every node reimaged). No read-back state proves that no other write is
//! still on its way, so none is skipped on what it shows.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::sync::oneshot::{self, error::TryRecvError};

use super::pause::{Measure, Paused, ReadBack, pause, second_look};
use super::refusals::{fits, refused, too_long};
use super::update::{Update, Wanted, shows, wanted};
use super::{Entry, app_path, cluster_key, read};
use crate::context::Ctx;
use crate::error::{Error, Result, codes};
use crate::http::{Api, Sent};
use crate::ui;
use crate::wait::Deadline;

/// How many times a batch is written before it is given up as lost to other writers.
pub const MAX_ATTEMPTS: u32 = 5;

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
    update: Update,
    read_back: ReadBack,
    /// The writer's deadline, and the interrupt it observes.
    deadline: Deadline,
    /// A write in a grace of its own: this long from the moment its batch starts (not from
    /// when it was queued: waiting behind other batches does not use it up).
    grace: Option<Duration>,
    done: oneshot::Sender<Result<Written>>,
}

/// One app's writers in this process.
#[derive(Default)]
struct AppWriter {
    queue: Mutex<Vec<Queued>>,
    /// Told of every entry queued: a batch in its pause may be superseded.
    queued: tokio::sync::Notify,
    turn: tokio::sync::Mutex<()>,
}

impl AppWriter {
    /// Whether the writes queued for every cluster the batch wrote change what it wrote.
    fn supersedes(&self, wrote: &[Wanted], keys: &super::AppKeys) -> bool {
        let queue = lock(&self.queue);
        wrote.iter().all(|w| {
            let mut later = queue.iter().filter(|q| q.cluster == w.cluster).peekable();
            later.peek().is_some()
                && later.fold(w.want.clone(), |e, q| q.update.of(e.as_ref(), keys)) != w.want
        })
    }
}

/// Every app's writers in this run (a [`Ctx::state`]).
#[derive(Default)]
struct Writers {
    apps: Mutex<HashMap<(String, String), Arc<AppWriter>>>,
    /// What this run's reads-and-writes took (see [`super::pause`]).
    measure: Measure,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets the entry of the cluster `cluster_id` (an ARM id) on the app `app_id` in `graph`'s
/// tenant to `entry` (`None`: removes it), keeping every other tag and entry.
///
/// Writers of one app in this run are served one batch at a time; the batch is read back
/// (as `read_back` says, the strictest of a batch's entries for the batch) and what another
/// process replaced is written again. Fails with `RecordNotKept` when the entries are still
/// lost after [`MAX_ATTEMPTS`] writes, `RecordFull` past [`MAX_ENTRIES`](super::MAX_ENTRIES).
pub async fn write(
    ctx: &Ctx,
    graph: &Api<'_>,
    app_id: &str,
    cluster_id: &str,
    entry: Option<Entry>,
    read_back: ReadBack,
) -> Result<Written> {
    let update = Update::set(entry);
    self::update(ctx, graph, app_id, cluster_id, update, read_back).await
}

/// As [`write`], the entry made by `update` from the one each attempt reads.
pub async fn update(
    ctx: &Ctx,
    graph: &Api<'_>,
    app_id: &str,
    cluster_id: &str,
    update: Update,
    read_back: ReadBack,
) -> Result<Written> {
    queue_and_write(ctx, graph, (app_id, cluster_id), update, read_back, None).await
}

/// As [`update`], in a grace of its own that a signal does not end: `grace` from the moment
/// its batch starts (`graph`'s deadline, which must not observe the run's interrupt, is
/// replaced by it). Waiting behind another batch of the app does not use it up.
pub async fn update_in_grace(
    ctx: &Ctx,
    graph: &Api<'_>,
    (app_id, cluster_id): (&str, &str),
    update: Update,
    read_back: ReadBack,
    grace: Duration,
) -> Result<Written> {
    let (ids, grace) = ((app_id, cluster_id), Some(grace));
    queue_and_write(ctx, graph, ids, update, read_back, grace).await
}

/// Queues the write for its app's turn, and writes batches until it was written.
async fn queue_and_write(
    ctx: &Ctx,
    graph: &Api<'_>,
    (app_id, cluster_id): (&str, &str),
    update: Update,
    read_back: ReadBack,
    grace: Option<Duration>,
) -> Result<Written> {
    let cluster = cluster_key(cluster_id);
    let writers = ctx.state::<Writers>();
    let writer = {
        let mut apps = lock(&writers.apps);
        apps.entry((
            graph.tenant().to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
        ))
        .or_default()
        .clone()
    };
    let queued = |done| Queued {
        cluster: cluster.clone(),
        update: update.clone(),
        read_back,
        deadline: graph.deadline(),
        grace,
        done,
    };
    let (tx, mut rx) = oneshot::channel();
    lock(&writer.queue).push(queued(tx));
    writer.queued.notify_waiters();
    let _turn = writer.turn.lock().await;
    loop {
        match rx.try_recv() {
            // Written by the batch of an earlier turn, or of this one.
            Ok(result) => return result,
            // Still queued: this turn writes the next batch, and again until it wrote this one.
            Err(TryRecvError::Empty) if !lock(&writer.queue).is_empty() => {}
            // Taken by a batch abandoned on the way: queued again, first (whatever is queued
            // came after it).
            Err(_) => {
                let (tx, again) = oneshot::channel();
                rx = again;
                lock(&writer.queue).insert(0, queued(tx));
            }
        }
        let batch = next_batch(&mut lock(&writer.queue));
        let Some(deadline) = batch_deadline(&batch) else {
            continue;
        };
        let mut changes: Vec<(String, Update)> = batch
            .iter()
            .map(|q| (q.cluster.clone(), q.update.clone()))
            .collect();
        let read_back = batch
            .iter()
            .map(|q| q.read_back)
            .fold(read_back, ReadBack::max);
        let graph = graph.until(deadline);
        let mut alone = HashMap::new();
        let result = apply(
            &writers,
            &writer,
            &graph,
            app_id,
            (&mut changes, &mut alone),
            read_back,
        )
        .await;
        for q in batch {
            // A waiter that gave up is gone: nothing to tell. A write refused alone (its entry
            // too long) is told its refusal; the others, the batch's result.
            let told = alone
                .get(&q.cluster)
                .map_or_else(|| result.clone(), |e: &Error| Err(e.clone()));
            let _ = q.done.send(told);
        }
    }
}

/// What the changes make of `current`, after taking out each change whose entry would be
/// longer than a tag: refused alone (`alone`), the batch's other writes go on without it.
fn wanted_alone(
    app_id: &str,
    current: &super::Record,
    changes: &mut Vec<(String, Update)>,
    alone: &mut HashMap<String, Error>,
) -> Vec<Wanted> {
    let long = too_long(app_id, &wanted(current, changes));
    for (cluster, e) in long {
        changes.retain(|(c, _)| *c != cluster);
        alone.insert(cluster, e);
    }
    wanted(current, changes)
}

/// The deadline a batch is made under, as it starts: the latest among its writes (a grace
/// counted from now).
fn batch_deadline(batch: &[Queued]) -> Option<Deadline> {
    let started = |q: &Queued| {
        q.grace
            .map_or(q.deadline, |g| Deadline::watched(g, q.deadline.interrupt()))
    };
    batch.iter().map(started).max_by_key(Deadline::remaining)
}

/// Takes the next batch from `queue`: the writes under the same interrupt as the first one
/// queued, in the order queued, but none of a cluster an earlier write left queued is for
/// (a cluster's writes land in the order they were queued). Its writes are made under the
/// latest deadline among them: none fails for another's `--timeout`, and an interrupt stops
/// them all alike, or none (a write in its grace, which the signal does not stop, is never
/// batched with one the signal stops).
fn next_batch(queue: &mut Vec<Queued>) -> Vec<Queued> {
    let Some(interrupt) = queue.first().map(|q| q.deadline.interrupt()) else {
        return Vec::new();
    };
    let mut left_for = HashSet::new();
    let (batch, left) = std::mem::take(queue).into_iter().partition(|q| {
        let taken =
            std::ptr::eq(q.deadline.interrupt(), interrupt) && !left_for.contains(&q.cluster);
        if !taken {
            left_for.insert(q.cluster.clone());
        }
        taken
    });
    *queue = left;
    batch
}

/// Reads, writes the changes over what it read, reads back; again while another writer's
/// replaced them.
async fn apply(
    writers: &Writers,
    writer: &AppWriter,
    graph: &Api<'_>,
    app_id: &str,
    (changes, alone): (&mut Vec<(String, Update)>, &mut HashMap<String, Error>),
    read_back: ReadBack,
) -> Result<Written> {
    let mut read_at = Instant::now();
    let mut current = read(graph, app_id).await?;
    let mut wrote = false;
    // Writes that failed on the way (throttled, unavailable, no answer): each is made again
    // from a fresh read, up to the retry policy's tries.
    let mut resends = 0;
    // What the last read-and-write took, and whether its entries were looked at again.
    let mut took = None;
    let mut looked_again = false;
    for attempt in 1..=MAX_ATTEMPTS {
        // Made again from this read: what another writer wrote since is seen.
        let wants = wanted_alone(app_id, &current, changes, alone);
        if shows(&wants) {
            // A confirmation is looked at once more, after a pause twice as long: another
            // process's write from an older read, held up longer than the first pause, is seen
            // and written over (see the module's *A second look*).
            if let (Some(took), false, ReadBack::Measured) = (took, looked_again, read_back) {
                looked_again = true;
                read_at = Instant::now();
                match second_look(graph, &writer.queued, app_id, changes, took).await {
                    Some(now) => {
                        current = now;
                        continue;
                    }
                    None => return Ok(Written::Written),
                }
            }
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
        for w in &wants {
            next.tags = next.with(&w.cluster, w.want.as_ref());
        }
        fits(app_id, &current, &next)?;
        let url = graph.url(&app_path(app_id))?;
        // Never resent as it is: a resend seconds later (a 429's Retry-After, a backoff) would
        // put back the tags read before it, over what another writer wrote meanwhile.
        let req = graph
            .request(Method::PATCH, url)
            .json(json!({ "tags": next.tags }))
            .never_resent();
        match graph.write(req).await {
            Ok(Sent::Skipped) => return Ok(Written::DryRun),
            Ok(Sent::Done(_)) => wrote = true,
            Err(e) => {
                resends += 1;
                let wait = crate::http::resend_wait(&e, resends)
                    .filter(|w| *w < graph.deadline().remaining())
                    .ok_or_else(|| refused(e.clone(), app_id, graph.tenant()))?;
                ui::debug(&format!(
                    "the record on app {app_id}: {}; read again and written again in {:.1}s",
                    e.message(),
                    wait.as_secs_f64()
                ));
                let what = format!("the write of the record on app {app_id}");
                graph.deadline().interrupt().sleep(wait, &what).await?;
                // The write may have landed (an answer lost): the read says, and a write that
                // shows counts as made.
                wrote |= e.status().is_none_or(|s| !matches!(s, 429 | 503));
                read_at = Instant::now();
                current = read(graph, app_id).await?;
                continue;
            }
        }
        let measured = writers.measure.took(read_at.elapsed());
        took = Some(measured);
        let superseded =
            || read_back == ReadBack::Supersedable && writer.supersedes(&wants, &current.app_keys);
        let paused = pause(
            graph,
            &writer.queued,
            superseded,
            measured,
            read_back,
            attempt,
        )
        .await;
        if paused == Paused::Superseded {
            ui::debug(&format!(
                "the record on app {app_id}: every entry just written is queued again, read back after that write"
            ));
            return Ok(Written::Written);
        }
        read_at = Instant::now();
        current = read(graph, app_id).await?;
    }
    if shows(&wanted(&current, changes)) {
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

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
