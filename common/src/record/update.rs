//! What a write makes of a cluster's entry, from the entry each attempt reads.

use std::fmt;
use std::sync::Arc;

use super::{AppKeys, Entry, Record};

/// What a write makes of a cluster's entry: from the entry the record shows when the write
/// reads it (`None`: none) to the entry to leave there (`None`: none, an empty entry alike).
/// Made again from each attempt's read, so an entry another writer wrote between an earlier
/// read and this write is seen, never written over from what was read before; the same read's
/// keys of the app ([`AppKeys`]) are at hand ([`Update::with_keys`]). Giving back the entry it
/// was given writes nothing for the cluster.
#[derive(Clone)]
pub struct Update(Arc<Make>);

/// The function of an [`Update`].
type Make = dyn Fn(Option<&Entry>, &AppKeys) -> Option<Entry> + Send + Sync;

impl Update {
    /// The entry `entry` whatever the record shows (`None`: removes it).
    pub fn set(entry: Option<Entry>) -> Self {
        Self(Arc::new(move |_, _| entry.clone()))
    }

    /// The entry `f` makes of the one the record shows.
    pub fn with(f: impl Fn(Option<&Entry>) -> Option<Entry> + Send + Sync + 'static) -> Self {
        Self(Arc::new(move |now, _| f(now)))
    }

    /// The entry `f` makes of the one the record shows and the app's keys the same read showed.
    pub fn with_keys(
        f: impl Fn(Option<&Entry>, &AppKeys) -> Option<Entry> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }

    /// What it leaves of `now`, as it reads back, the app's keys being `keys`.
    pub fn of(&self, now: Option<&Entry>, keys: &AppKeys) -> Option<Entry> {
        says((self.0)(now, keys).map(Entry::normalized))
    }
}

impl fmt::Debug for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Update(..)")
    }
}

/// What a change leaves in the record: an empty entry is none.
fn says(e: Option<Entry>) -> Option<Entry> {
    e.filter(|e| !e.is_empty())
}

/// One cluster's entry in a batch: as the record shows it, and as the batch's writes make it.
pub(super) struct Wanted {
    pub(super) cluster: String,
    pub(super) now: Option<Entry>,
    pub(super) want: Option<Entry>,
}

/// What `changes` make of each cluster's entry in `record` (the writes for one cluster in
/// the order they were queued, each from what the one before made), by cluster.
pub(super) fn wanted(record: &Record, changes: &[(String, Update)]) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = Vec::new();
    for (c, u) in changes {
        if let Some(w) = out.iter_mut().find(|w| w.cluster == *c) {
            w.want = u.of(w.want.as_ref(), &record.app_keys);
        } else {
            let now = record.entry_by_key(c);
            let want = u.of(now.as_ref(), &record.app_keys);
            out.push(Wanted {
                cluster: c.clone(),
                now,
                want,
            });
        }
    }
    out
}

/// Whether the record already shows what the writes make of it.
pub(super) fn shows(wanted: &[Wanted]) -> bool {
    wanted.iter().all(|w| w.now == w.want)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::record::test_keys::{K1, K2, key};

    #[test]
    fn each_attempt_makes_the_entries_from_what_it_read_in_the_order_queued() {
        let c = "0123abcd-0000-4000-8000-000000000000".to_owned();
        let pend = Update::with(|now| {
            Some(Entry {
                pending: Some(K2.into()),
                ..now.cloned().unwrap_or_default()
            })
        });
        let record = |e: &Entry| Record {
            tags: vec!["team".into(), e.tag(&c)],
            ..Record::default()
        };
        let changes = vec![(c.clone(), pend.clone())];
        let w = wanted(&record(&key(K1)), &changes);
        let made = Entry {
            pending: Some(K2.into()),
            ..key(K1)
        };
        assert_eq!(w[0].want, Some(made.clone()), "made from the entry read");
        assert!(!shows(&w) && shows(&wanted(&record(&made), &changes)));
        let then_set = vec![(c.clone(), pend), (c.clone(), Update::set(None))];
        assert_eq!(
            wanted(&record(&key(K1)), &then_set)[0].want,
            None,
            "in order"
        );
    }
}
