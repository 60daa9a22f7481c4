//! The entries step 4 makes: no key another entry named is dropped.

use super::claim::{confirmed, names_pending_reset};
use super::*;
use common::record::{AppKeys, operation_key};

const K1: &str = "11111111-2222-3333-4444-555555555555";
const K2: &str = "66666666-2222-3333-4444-555555555555";
const K3: &str = "77777777-2222-3333-4444-555555555555";

fn claim(switch: bool, read: Option<Entry>) -> Claim {
    Claim {
        key_id: Some(K2.into()),
        switch,
        read,
        run: "0000000a".into(),
    }
}

fn pending(k: &str, switch: bool) -> Entry {
    Entry {
        pending: Some(k.into()),
        switch,
        ..Entry::default()
    }
}

#[test]
fn the_pending_entry_keeps_another_runs_pending_key_as_displaced() {
    // Another run's switch to K3, its reset landed: the cluster runs as the app.
    let other = Entry {
        key: Some(K1.into()),
        ..pending(K3, true)
    };
    let c = claim(false, Some(other.clone()));
    let made = c.pending(Some(&other), &AppKeys::default());
    assert_eq!(
        made,
        Entry {
            key: Some(K1.into()),
            pending: Some(K2.into()),
            run: Some("0000000a".into()),
            was: vec![K3.into()],
            ..Entry::default()
        }
    );
    // Made again over itself (a read-back, an operation bound), it keeps what it kept.
    assert_eq!(c.pending(Some(&made), &AppKeys::default()), made);
    let bound = Entry {
        operation: Some(K1.into()),
        ..made.clone()
    };
    assert_eq!(c.pending(Some(&bound), &AppKeys::default()), made);
    // A third run displaces both.
    let c3 = Claim {
        key_id: Some(K1.into()),
        switch: false,
        read: Some(made.clone()),
        run: "0000000b".into(),
    };
    let third = c3.pending(Some(&made), &AppKeys::default());
    assert_eq!(third.was, vec![K2.to_owned(), K3.to_owned()]);
    let tag = third.tag("0123abcd-0000-4000-8000-000000000000");
    assert_eq!(Entry::parse(&tag).map(|(_, e)| e), Some(third));
}

#[test]
fn a_confirmation_keeps_another_runs_pending_reset() {
    let other = Entry {
        key: Some(K1.into()),
        operation: Some(K1.into()),
        was: vec![K1.into()],
        ..pending(K3, true)
    };
    // Kept whole, with the keys it kept (`was`), even after this run's own reset.
    let after_own_reset = confirmed(Some(K2), Some(&other), false).unwrap();
    assert_eq!(
        after_own_reset,
        Entry {
            key: Some(K2.into()),
            ..other.clone()
        }
    );
    // This run's own pending entry: confirmed alone; a found switch keeps displaced keys.
    let ours = Entry {
        was: vec![K3.into()],
        ..pending(K2, true)
    };
    assert_eq!(
        confirmed(Some(K2), Some(&ours), false),
        Some(Entry {
            key: Some(K2.into()),
            ..Entry::default()
        })
    );
    assert_eq!(
        confirmed(Some(K2), Some(&ours), true).unwrap().was,
        vec![K3]
    );
    assert_eq!(confirmed(None, Some(&ours), true), None);
}

#[test]
fn an_entry_read_before_a_switch_is_no_evidence() {
    let read = Entry {
        key: Some(K2.into()),
        ..Entry::default()
    };
    let switching = claim(true, Some(read.clone()));
    let ours = switching.ours(&AppKeys::default());
    assert_eq!(switching.judged(ours.as_ref(), &AppKeys::default()), None);
    let on_the_app = claim(false, Some(read.clone()));
    let ours = on_the_app.ours(&AppKeys::default());
    assert_eq!(
        on_the_app.judged(ours.as_ref(), &AppKeys::default()),
        Some(read)
    );
}

const K4: &str = "88888888-2222-3333-4444-555555555555";

fn keyed(k: &str, c: Option<Entry>) -> Claim {
    Claim {
        key_id: Some(k.into()),
        switch: false,
        read: c,
        run: format!("{:08x}", k.len() + k.as_bytes()[0] as usize),
    }
}

/// A confirmation keeps another run's newer pending entry whole: run C's pending entry kept
/// K2 and K3 (`was`); B's confirmation of K2 read it and must not drop K3 (a prune would then
/// remove a key C's displaced run may have set on the cluster).
#[test]
fn a_confirmation_keeps_the_keys_another_runs_newer_entry_kept() {
    let b_pending = Entry {
        key: Some(K1.into()),
        pending: Some(K2.into()),
        was: vec![K3.into()],
        ..Entry::default()
    };
    let c = keyed(K4, Some(b_pending.clone()));
    let c_pending = c.pending(Some(&b_pending), &AppKeys::default());
    assert_eq!(c_pending.was, vec![K2.to_owned(), K3.to_owned()]);
    let b_confirmed = confirmed(Some(K2), Some(&c_pending), false).unwrap();
    assert!(
        b_confirmed.keys().any(|k| k == K3),
        "K3, kept by C's entry, dropped by B's confirmation: {b_confirmed:?}"
    );
    assert_eq!(b_confirmed.pending.as_deref(), Some(K4));
}

/// An operation URL is followed as this entry's pending reset only for the object's key: its
/// own operation, or a switch claim with no displaced key (with `was`, another run's reset may
/// have switched the cluster to one of those keys).
#[test]
fn a_switch_claim_with_displaced_keys_is_no_pending_reset_to_follow() {
    let op = "0123abcd-0000-5000-8000-00000000000f";
    let switch = pending(K2, true);
    assert!(names_pending_reset(Some(K2), Some(&switch), op));
    assert!(!names_pending_reset(Some(K3), Some(&switch), op));
    let displaced = Entry {
        was: vec![K3.into()],
        ..switch.clone()
    };
    assert!(!names_pending_reset(Some(K2), Some(&displaced), op));
    let own_op = Entry {
        operation: Some(op.into()),
        ..displaced
    };
    assert!(names_pending_reset(Some(K2), Some(&own_op), op));
    assert!(!names_pending_reset(None, Some(&switch), op));
}

/// Keys the app no longer has leave the pending entry (no prune can delete them, none is the
/// one the cluster authenticates with), but one stays while no other `was` key keeps the
/// entry unconfirmed: the cluster may hold a removed key, and {key K2, pending K2} alone would
/// say "nothing to do" to K2's envelope. Keys the app has all stay.
#[test]
fn keys_the_app_no_longer_has_leave_the_pending_entry_which_stays_unconfirmed() {
    let gone = [
        "aaaaaaaa-0000-4000-8000-000000000001",
        "bbbbbbbb-0000-4000-8000-000000000001",
    ];
    let keys = AppKeys::known([K1, K2, K3]);
    let read = Entry {
        key: Some(K2.into()),
        was: gone.iter().map(|&k| k.to_owned()).collect(),
        ..pending("cccccccc-0000-4000-8000-000000000001", false)
    };
    let made = claim(false, Some(read.clone())).pending(Some(&read), &keys);
    assert_eq!(
        made,
        Entry {
            key: Some(K2.into()),
            run: Some("0000000a".into()),
            was: vec![gone[0].into()],
            ..pending(K2, false)
        },
        "one removed key stays: the entry is never trusted as held"
    );
    let live = Entry {
        was: vec![K3.into(), gone[1].into()],
        ..read
    };
    let made = claim(false, Some(live.clone())).pending(Some(&live), &keys);
    assert_eq!(made.was, [K3], "K3 keeps it unconfirmed");
    let forged = Entry {
        was: vec![K1.into(), K3.into()],
        ..pending(K1, true)
    };
    let made = claim(true, Some(forged.clone())).pending(Some(&forged), &keys);
    assert_eq!(made.was, [K1, K3], "keys the app has all stay");
}

/// The operation is noted only when the entry still fits in a tag with it; else the pending
/// entry is written without it (never refused: another writer may have replaced it).
#[test]
fn an_operation_that_does_not_fit_is_left_out_of_the_pending_entry() {
    let op = Url::parse("https://arm.test/subscriptions/s/providers/Microsoft.ContainerService/locations/l/operations/o").unwrap();
    let keys = AppKeys::default();
    let short = pending(K1, false);
    let c = claim(false, Some(short.clone()));
    let bound = c.bound(&op).unwrap().of(Some(&short), &keys).unwrap();
    assert_eq!(bound.operation, Some(operation_key(&op)), "{bound:?}");
    let long = Entry {
        key: Some(K1.into()),
        was: vec![K3.into()],
        ..pending("cccccccc-0000-4000-8000-000000000001", false)
    };
    let c = claim(false, Some(long.clone()));
    let bound = c.bound(&op).unwrap().of(Some(&long), &keys).unwrap();
    assert!(bound.fits(), "{bound:?}");
    assert_eq!(bound, c.pending(Some(&long), &keys));
}

/// Two processes with the same object read the same entry and make the same pending entry but
/// for their marks: one's put-back (its reset refused, or its 409 wait ended) leaves the
/// other's, whose reset may have been accepted; over its own it puts back the entry read.
#[test]
fn a_put_back_leaves_another_processs_identical_claim() {
    let read = Entry {
        key: Some(K1.into()),
        ..Entry::default()
    };
    let (a, b) = (
        claim(false, Some(read.clone())),
        Claim {
            run: "0000000b".into(),
            ..claim(false, Some(read.clone()))
        },
    );
    let keys = AppKeys::default();
    let b_pending = b.pending(Some(&read), &keys);
    assert_eq!(
        a.put_back().of(Some(&b_pending), &keys),
        Some(b_pending.clone())
    );
    let a_pending = a.pending(Some(&read), &keys);
    assert_ne!(a_pending, b_pending);
    assert_eq!(a.put_back().of(Some(&a_pending), &keys), Some(read.clone()));
    assert_eq!(
        a.judged(Some(&b_pending), &keys),
        Some(read),
        "another process's identical claim is judged as this run's own (attack11, finding 1)"
    );
}

/// attack11, finding 1. Two processes with the same object switch the cluster from another
/// app: B's pending entry is made over A's, identical but for B's mark. A's reset is refused
/// (409) while an operation runs: a reset by hand to the app with another key K3. When it
/// ends the cluster runs as the app, Succeeded, and the record shows B's claim: judged as
/// "another run's write, landed since", it is a switch to the object's key with no `was`, which
/// `Held::of` takes for `Switched` ("nothing to do", confirmed), though nothing says B's reset
/// was the one that switched the cluster. Before marks it was taken for A's own, made from a
/// read while the cluster ran as another app: no evidence, a reset.
#[test]
fn another_processs_identical_switch_claim_is_no_evidence_after_a_409() {
    let keys = AppKeys::default();
    let a = claim(true, None);
    let b = Claim {
        run: "0000000b".into(),
        ..claim(true, None)
    };
    let a_pending = a.pending(None, &keys);
    let b_pending = b.pending(Some(&a_pending), &keys);
    assert_eq!(
        b_pending,
        Entry {
            run: Some("0000000b".into()),
            ..a_pending.clone()
        },
        "identical but for the mark"
    );
    let judged = a.judged(Some(&b_pending), &keys);
    assert!(
        !judged
            .as_ref()
            .is_some_and(|e| e.switch && e.pending_is(K2) && e.was.is_empty()),
        "another process's switch claim judged as a switch to the object's key, which Held::of trusts as Switched: {judged:?}"
    );
}

/// attack11, finding 2. A switches the cluster (it read no entry) and writes {pending K2,
/// switch=1, run A}; B reads that and writes its own over it (the same object, or another key).
/// Both resets are refused until their waits end (409, --timeout or Ctrl-C): nothing was posted.
/// A's put-back leaves B's entry (not A's own); B's puts back the entry B read — A's switch
/// claim, whose run ended without posting. The record then says a switch to K2 was posted:
/// once anyone resets the cluster to the app with another key, step 4 on K2's envelope says
/// "nothing to do" and records K2.
#[test]
fn a_put_back_does_not_bring_back_another_runs_withdrawn_switch_claim() {
    let keys = AppKeys::default();
    let a = claim(true, None);
    let a_pending = a.pending(None, &keys);
    for (b_key, b_run) in [(K2, "0000000b"), (K3, "0000000c")] {
        let b = Claim {
            key_id: Some(b_key.into()),
            run: b_run.into(),
            ..claim(true, Some(a_pending.clone()))
        };
        let b_pending = b.pending(Some(&a_pending), &keys);
        let after_a = a.put_back().of(Some(&b_pending), &keys);
        assert_eq!(after_a, Some(b_pending.clone()), "A leaves B's entry");
        let after_b = b.put_back().of(after_a.as_ref(), &keys);
        assert!(
            !after_b.as_ref().is_some_and(|e| e.switch),
            "B (key {b_key}) brought back A's switch claim, though neither reset was posted: {after_b:?}"
        );
    }
}

/// attack12 (review of 5ae17b8: the reasoning of its finding 2 applied to `judged`). Run P
/// switched the cluster to the app with K2 and lost its answer: the record shows its switch
/// claim {pending K2, switch=1}. The cluster runs as the app but in state `Failed`, so run A
/// (the same object) resets (`NotSucceeded`) and, not being a switch itself, writes
/// {pending K2} over that claim. A's reset is refused with 409 (an operation started since,
/// e.g. a reset by hand with K3) and waited out. After the wait `judged` gives back the entry
/// read — P's switch claim, unchanged — which `Held::of` takes for `Switched` ("nothing to
/// do", K2 confirmed, and a prune then removes K3 from a cluster that holds it). A switch
/// claim read before a 409 wait says nothing of what the awaited operation did: `put_back`
/// already drops it; the entry `judged` answers should too.
#[test]
fn a_switch_claim_read_before_a_409_is_no_evidence_after_it() {
    let keys = AppKeys::default();
    let p = Entry {
        run: Some("0000000p".into()),
        ..pending(K2, true)
    };
    let a = claim(false, Some(p));
    let a_pending = a.ours(&keys).expect("A's pending entry");
    let judged = a.judged(Some(&a_pending), &keys);
    assert!(
        !judged
            .as_ref()
            .is_some_and(|e| e.switch && e.pending_is(K2) && e.was.is_empty()),
        "the switch claim read before the wait judged as a switch Held::of trusts as Switched: {judged:?}"
    );
}
