//! The write queue's batches: which writes go together, under which deadline.

use super::*;

use crate::record::AppKeys;
use crate::record::test_keys::{K1, K2, key};

fn queue(w: &AppWriter, cluster: &str, entry: Option<Entry>) {
    let (done, _) = oneshot::channel();
    lock(&w.queue).push(Queued {
        cluster: cluster.into(),
        update: Update::set(entry),
        read_back: ReadBack::Supersedable,
        deadline: Deadline::after(Duration::from_secs(1)),
        grace: None,
        done,
    });
}

#[test]
fn a_batch_is_superseded_only_when_each_entry_is_queued_again_saying_something_else() {
    let w = AppWriter::default();
    let wrote = |c: &str, e: Option<Entry>| Wanted {
        cluster: c.to_owned(),
        now: None,
        want: e,
    };
    let changes = vec![wrote("a", Some(key(K1))), wrote("b", Some(key(K1)))];
    assert!(!w.supersedes(&changes, &AppKeys::default()));
    queue(&w, "a", Some(key(K2)));
    assert!(
        !w.supersedes(&changes, &AppKeys::default()),
        "b is not queued again"
    );
    queue(&w, "b", Some(key(K1)));
    assert!(
        !w.supersedes(&changes, &AppKeys::default()),
        "b is queued saying the same"
    );
    queue(&w, "b", None);
    assert!(
        w.supersedes(&changes, &AppKeys::default()),
        "the last entry queued for b removes it"
    );
    let removal = vec![wrote("c", None)];
    queue(&w, "c", Some(Entry::default()));
    assert!(
        !w.supersedes(&removal, &AppKeys::default()),
        "an empty entry is a removal too"
    );
}

#[test]
fn a_batch_holds_the_writes_one_interrupt_stops_in_the_order_queued() {
    let w = AppWriter::default();
    let run = crate::interrupt::Interrupt::for_run();
    let watched = Deadline::watched(Duration::from_secs(1), run);
    for (cluster, watch) in [
        ("a", false),
        ("b", true),
        ("c", false),
        ("b", false),
        ("a", true),
    ] {
        queue(&w, cluster, Some(key(K1)));
        if watch {
            lock(&w.queue).last_mut().unwrap().deadline = watched;
        }
    }
    let clusters = |b: &[Queued]| b.iter().map(|q| q.cluster.clone()).collect::<Vec<_>>();
    let mut queue = lock(&w.queue);
    // b's second write waits for its first; a's second (another interrupt) for the next batch.
    assert_eq!(clusters(&next_batch(&mut queue)), ["a", "c"]);
    assert_eq!(clusters(&next_batch(&mut queue)), ["b", "a"]);
    assert_eq!(clusters(&next_batch(&mut queue)), ["b"]);
    assert!(next_batch(&mut queue).is_empty());
}

#[test]
fn a_grace_starts_when_its_batch_does() {
    let w = AppWriter::default();
    queue(&w, "a", Some(key(K1)));
    queue(&w, "b", Some(key(K1)));
    let mut queue = lock(&w.queue);
    // Queued long enough ago that a deadline set then has passed.
    for q in queue.iter_mut() {
        q.deadline = Deadline::after(Duration::ZERO);
    }
    assert!(batch_deadline(&queue).unwrap().passed());
    queue[1].grace = Some(Duration::from_secs(5));
    let d = batch_deadline(&queue).unwrap();
    assert!(d.remaining() > Duration::from_secs(4), "{d:?}");
    assert!(std::ptr::eq(d.interrupt(), queue[1].deadline.interrupt()));
    assert!(batch_deadline(&next_batch(&mut queue)).is_some());
}

/// One cluster's entry too long for a tag is refused alone: the other cluster's write in its
/// batch is not (it was refused with `RecordFull` naming the first cluster), and an entry
/// already as long, which the write does not change, refuses nothing.
#[test]
fn a_long_entry_is_refused_alone_not_with_its_batch() {
    let (x, y) = (
        "0123abcd-0000-4000-8000-000000000001".to_owned(),
        "0123abcd-0000-4000-8000-000000000002".to_owned(),
    );
    let current = super::super::Record::default();
    let long = Entry {
        key: Some(K1.into()),
        pending: Some(K2.into()),
        was: (0..3)
            .map(|i| format!("{i}aaaaaaa-2222-3333-4444-555555555555"))
            .collect(),
        ..Entry::default()
    };
    let changes = vec![
        (x.clone(), Update::set(Some(key(K1)))),
        (y.clone(), Update::set(Some(long.clone()))),
    ];
    let wants = wanted(&current, &changes);
    let refused = too_long("app", &wants);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, y);
    assert!(refused[0].1.is(codes::RECORD_FULL), "{:?}", refused[0].1);
    let mut next = current.clone();
    next.tags = next.with(&x, Some(&key(K1)));
    assert!(fits("app", &current, &next).is_ok());
    // Already there, unchanged: nothing to refuse.
    let mut has_it = current.clone();
    has_it.tags = has_it.with(&y, Some(&long));
    let unchanged = wanted(&has_it, &[(y.clone(), Update::set(Some(long)))]);
    assert!(too_long("app", &unchanged).is_empty());
}
