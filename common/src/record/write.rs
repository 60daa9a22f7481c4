//! Writing entries: one batch per app at a time inside a process (a group commit), read back
//! and written again when another process's write replaced them.
//!
//! Microsoft Graph's `PATCH /applications(appId='…')` with `tags` replaces the whole
//! collection, and applications take no `If-Match`. Two writers that read the same tags and
//! each send back theirs plus one entry lose one of the two. Inside a process, every writer
//! of an app queues its entry and whoever holds the app's turn sends all queued entries in
//! one read and one write, so `--jobs 32` on 32 clusters of one app loses nothing and writes
//! a few times, not 32. Across processes, the writer reads the tags back after a pause and
//! writes again every entry of its batch that is not there, up to [`MAX_ATTEMPTS`] times.
//!
//! # How long the pause must be
//! Another writer Q loses this writer P's entry when Graph takes Q's read before P's write
//! lands and Q's write after it: Q sends back the tags it read, without P's entry. P sees that
//! only in a read Graph takes after Q's write. Q's window — from the moment Graph took its
//! read to the moment its write landed — lies within Q's own read-and-write as Q's clock sees
//! it (its read sent to its write answered), and P's write landed inside the window; so P's
//! read-back, sent a pause after P's write was answered, shows Q's write whenever the pause is
//! at least as long as Q's window. P cannot see Q, so it measures a like writer's window by
//! its own read-and-write: from its read sent to its write answered, two round trips and its
//! work between them, where Q's window holds about one round trip and that work (Graph takes a
//! read somewhere in its round trip, and applies a write somewhere in its). The pause is that
//! read-and-write, or the median of the run's last [`RECENT`] if longer (a slow link or a busy
//! machine that lasts shows in them, not only in this one; a single slow answer does not
//! lengthen the pauses after it), plus [`MARGIN`]; up to half as long again at random,
//! so that two writers that met do not read back in step, and doubled on each further
//! attempt, up to [`MAX_PAUSE`]. Between P's write landing and Graph taking P's read-back lie,
//! besides the pause, the way back of P's write's answer and the way out of its read-back,
//! about one more round trip; so the pause outlasts the window of a writer whose round trips
//! are up to about three times as long as P's (a pause of the write's round trip alone, as it
//! was sized before, about twice), and of one whose path is slower one way (its write held up
//! on its way) by up to about two of P's round trips.
//!
//! Against Graph (round trips of tens to hundreds of milliseconds) [`MARGIN`] adds little.
//! It is for what the measure may miss where round trips take a millisecond, the simulator on
//! the same machine: another writer held up between its read and its write longer than this
//! run's writes were. There it is most of the pause, twice over for the pending and confirmed
//! entries of a reset (the operation's note waits for neither, see below); the pause's floor
//! of 100 ms that it replaces made step 4 alone at 0 latency take 391 ms in a release build
//! (13.8 ms before its record moved to the app; 43 to 50 ms now). A
//! read-and-write there takes 2 to 10 ms in a debug build (one process at a time); on a
//! machine loaded 4 times over its cores (two runs of 8 clusters each at `--jobs 8` beside 19
//! other tests), a median 9 ms, 49 ms at the 90th percentile and up to 190 ms — and then a
//! run's own writes show a slowness that lasts, and its pauses with them. What the margin no
//! longer covers that the floor did: against the simulator, another writer held up 10 to
//! 100 ms longer than this run's writes show (its process descheduled while this one's was
//! not). Step 4's next write of the entry puts back a pending or bound entry lost so (unless
//! the process dies first); a confirmed entry lost so leaves the pending one, and the next run
//! resets again: more careful, never more generous (see [`super`]'s *Claims*). The tests of two
//! runs of 8 clusters of one app at once and of 32 clusters at `--jobs 32` (`record::` in
//! `tests/`) lost no entry in 15 runs, three at a time beside a release build (load 7 to 17
//! on 2 cores).
//! `record::two_writers_whose_windows_overlap_lose_no_entry` (in `tests/`) holds one writer's
//! write on its way so that another's lands inside its window, and fails when the pause is
//! sized from the write's round trip alone.
//!
//! What no pause covers: a write held in flight (a transport retry, a stalled connection)
//! longer than the other writer's pause, from a read made before it. See [`super`]'s
//! *Concurrency*.
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
//! # Pauses step 4 still waits for
//! The pending entry is read back before the reset is posted, not beside it: a run killed
//! just after the post must leave an entry that names the new key, or a prune could remove
//! the secret the cluster now holds. The confirmed entry is read back before the step ends:
//! if another writer took it away, the next run would see only the pending entry and reset
//! the cluster again (every node reimaged). No read-back state proves that no other write is
//! still on its way, so none is skipped on what it shows.

use std::collections::{HashMap, VecDeque};
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

/// What the pause before the read-back adds to this run's reads-and-writes (see the module's
/// *How long the pause must be*).
const MARGIN: Duration = Duration::from_millis(10);
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
    /// Told of every entry queued: a batch in its pause may be superseded.
    queued: tokio::sync::Notify,
    turn: tokio::sync::Mutex<()>,
}

impl AppWriter {
    /// Whether an entry other than the batch's own is queued for every cluster it changes.
    fn supersedes(&self, changes: &[(String, Option<Entry>)]) -> bool {
        let queue = lock(&self.queue);
        changes.iter().all(|(c, e)| {
            queue
                .iter()
                .rev()
                .find(|q| q.cluster == *c)
                .is_some_and(|q| says(q.entry.as_ref()) != says(e.as_ref()))
        })
    }
}

/// What a change leaves in the record: an empty entry is none.
fn says(e: Option<&Entry>) -> Option<&Entry> {
    e.filter(|e| !e.is_empty())
}

/// Every app's writers in this run (a [`Ctx::state`]).
#[derive(Default)]
struct Writers {
    apps: Mutex<HashMap<(String, String), Arc<AppWriter>>>,
    /// What this run's last [`RECENT`] reads-and-writes took (see [`pause`]).
    recent: Mutex<VecDeque<Duration>>,
}

/// How many of this run's reads-and-writes the pause looks back on.
const RECENT: usize = 8;

impl Writers {
    /// Notes what a read-and-write took; the longer of it and the median of the last
    /// [`RECENT`], this one's included (the lower of the two middle ones): a busy machine or a
    /// slow link that lasts shows in it, a single slow answer does not.
    fn took(&self, took: Duration) -> Duration {
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(took);
        let mut sorted: Vec<Duration> = recent.iter().copied().collect();
        sorted.sort_unstable();
        took.max(sorted[(sorted.len() - 1) / 2])
    }
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
    let (tx, mut rx) = oneshot::channel();
    lock(&writer.queue).push(Queued {
        cluster: cluster.clone(),
        entry: entry.clone(),
        done: tx,
    });
    writer.queued.notify_waiters();
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
    let result = apply(&writers, &writer, graph, app_id, &changes).await;
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
    writers: &Writers,
    writer: &AppWriter,
    graph: &Api<'_>,
    app_id: &str,
    changes: &[(String, Option<Entry>)],
) -> Result<Written> {
    let mut read_at = Instant::now();
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
        let took = writers.took(read_at.elapsed());
        if pause(writer, graph, changes, took, attempt).await == Paused::Superseded {
            ui::debug(&format!(
                "the record on app {app_id}: every entry just written is queued again, read back after that write"
            ));
            return Ok(Written::Written);
        }
        read_at = Instant::now();
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

/// How a pause before a read-back ended.
#[derive(Debug, PartialEq, Eq)]
enum Paused {
    /// Its time passed (or the deadline, or an interrupt, came).
    Over,
    /// Every entry of the batch is queued again behind it.
    Superseded,
}

/// The pause before a read-back: `took` (this read-and-write, from the read sent to the write
/// answered, or the median of the run's last ones if longer) plus [`MARGIN`], jittered, growing
/// with the attempt; never past the deadline, cut short by an interrupt, and ended when
/// `writer` queues another entry for every cluster in `changes` (see the module's doc comment).
async fn pause(
    writer: &AppWriter,
    graph: &Api<'_>,
    changes: &[(String, Option<Entry>)],
    took: Duration,
    attempt: u32,
) -> Paused {
    let base = (took + MARGIN)
        .saturating_mul(1 << attempt.saturating_sub(1).min(4))
        .min(MAX_PAUSE);
    // Up to half as long again, at random (as the retries' jitter): two writers that met
    // do not read back in step.
    let wait = (base + base.mul_f64(fastrand::f64() / 2.0)).min(graph.deadline().remaining());
    ui::trace(&format!(
        "the record: read back in {wait:?} (this run's reads-and-writes took up to {took:?})"
    ));
    let sleep = tokio::time::sleep(wait);
    tokio::pin!(sleep);
    loop {
        // Registered before the look at the queue: an entry queued after it still wakes.
        let queued = writer.queued.notified();
        if writer.supersedes(changes) {
            return Paused::Superseded;
        }
        tokio::select! {
            () = &mut sleep => return Paused::Over,
            _ = graph.deadline().interrupt().wait() => return Paused::Over,
            () = queued => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "11111111-2222-3333-4444-555555555555";
    const K2: &str = "66666666-2222-3333-4444-555555555555";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn key(k: &str) -> Entry {
        Entry {
            key: Some(k.into()),
            ..Entry::default()
        }
    }

    fn queue(w: &AppWriter, cluster: &str, entry: Option<Entry>) {
        let (done, _) = oneshot::channel();
        lock(&w.queue).push(Queued {
            cluster: cluster.into(),
            entry,
            done,
        });
    }

    #[test]
    fn the_pause_looks_back_on_the_runs_last_reads_and_writes() {
        let w = Writers::default();
        assert_eq!(w.took(ms(3)), ms(3));
        assert_eq!(w.took(ms(700)), ms(700), "this one's own");
        assert_eq!(
            w.took(ms(2)),
            ms(3),
            "a single slow answer is not the median"
        );
        for _ in 0..3 {
            w.took(ms(50));
        }
        assert_eq!(w.took(ms(1)), ms(50), "a slowness that lasts is");
        for _ in 0..RECENT {
            w.took(ms(1));
        }
        assert_eq!(w.took(ms(1)), ms(1), "and goes once it has");
    }

    #[test]
    fn a_batch_is_superseded_only_when_each_entry_is_queued_again_saying_something_else() {
        let w = AppWriter::default();
        let changes = vec![
            ("a".to_owned(), Some(key(K1))),
            ("b".to_owned(), Some(key(K1))),
        ];
        assert!(!w.supersedes(&changes));
        queue(&w, "a", Some(key(K2)));
        assert!(!w.supersedes(&changes), "b is not queued again");
        queue(&w, "b", Some(key(K1)));
        assert!(!w.supersedes(&changes), "b is queued saying the same");
        queue(&w, "b", None);
        assert!(
            w.supersedes(&changes),
            "the last entry queued for b removes it"
        );
        let removal = vec![("c".to_owned(), None)];
        queue(&w, "c", Some(Entry::default()));
        assert!(!w.supersedes(&removal), "an empty entry is a removal too");
    }
}
