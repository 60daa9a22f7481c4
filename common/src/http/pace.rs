//! Pacing ARM requests: one gate per kind (reads, writes), principal (the run's credential
//! in a tenant) and subscription, shared by every job of the run, fed by what ARM says is left.
//!
//! Since 2024 ARM throttles with a token bucket per principal and subscription — writes:
//! 200 tokens, refilled at 10 per second; reads: 250, refilled at 25 per second — and one
//! per subscription for every principal together (15 times that). Each answer says what is
//! left: `x-ms-ratelimit-remaining-subscription-writes` (or `-reads`: the principal's bucket)
//! and `x-ms-ratelimit-remaining-subscription-global-writes` (or `-global-reads`: the
//! subscription's). A throttled request (429) says when to come back (`Retry-After`).
//! Sending 64 jobs' requests regardless and letting each retry on its own 429 makes five
//! throttled answers per request; instead a request waits at the gate until the last
//! answer's count, refilled at the documented rate since, covers it and those already in
//! flight, and after a 429 every job waits out its `Retry-After` once. Other automation
//! acting as the same principal spends the same bucket: the counts ARM returns include its
//! requests, so the gate follows them too. A fleet's status (`aks-sp-update --status
//! --jobs 32`, a cluster read each) runs at the read limit this way.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

/// What a gate paces: ARM's reads and writes have a bucket each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// GET and HEAD.
    Read,
    /// PUT, PATCH, POST, DELETE.
    Write,
}

impl Kind {
    /// The documented refill rate of a principal's bucket, per second.
    fn refill(self) -> f64 {
        match self {
            Self::Read => 25.0,
            Self::Write => 10.0,
        }
    }

    /// The headers with the principal's and the subscription's tokens left.
    fn headers(self) -> (&'static str, &'static str) {
        match self {
            Self::Read => (PRINCIPAL_READS_LEFT, GLOBAL_READS_LEFT),
            Self::Write => (PRINCIPAL_WRITES_LEFT, GLOBAL_WRITES_LEFT),
        }
    }
}
/// The shortest wait worth sleeping.
const MIN_WAIT: Duration = Duration::from_millis(5);

/// How often a write waiting for the first answer looks again.
const FIRST_ANSWER_POLL: Duration = Duration::from_millis(10);
/// Writes let through at once before any answer said what is left: enough for one
/// object's independent writes (step 4's role copies beside its record), few enough that a
/// bucket another principal's automation emptied costs at most that many 429s. A bucket
/// holds 200 writes.
const BEFORE_FIRST_ANSWER: u32 = 4;
/// Reads let through at once before any answer said what is left (a bucket holds 250, and
/// an ARM that sends no count — a cloud or a simulator without the headers — still gets
/// this many at a time).
const READS_BEFORE_FIRST_ANSWER: u32 = 32;

/// The header with the principal's writes left.
pub const PRINCIPAL_WRITES_LEFT: &str = "x-ms-ratelimit-remaining-subscription-writes";
/// The header with the subscription's writes left (every principal together).
pub const GLOBAL_WRITES_LEFT: &str = "x-ms-ratelimit-remaining-subscription-global-writes";
/// The header with the principal's reads left.
pub const PRINCIPAL_READS_LEFT: &str = "x-ms-ratelimit-remaining-subscription-reads";
/// The header with the subscription's reads left (every principal together).
pub const GLOBAL_READS_LEFT: &str = "x-ms-ratelimit-remaining-subscription-global-reads";

/// A gate's key: the kind, the tenant (the principal acting) and the subscription.
pub(crate) type Key = (Kind, String, String);

/// The gates of a run, by (kind, tenant, subscription).
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    gates: std::sync::Mutex<HashMap<Key, Gate>>,
    /// Woken whenever a write leaves a gate's queue: the next in line may go.
    turn: tokio::sync::Notify,
}

#[derive(Debug)]
struct Gate {
    /// Reads or writes.
    kind: Kind,
    /// Writes left at `at`, as the last answer said (`None`: no answer yet).
    left: Option<f64>,
    at: Instant,
    /// Writes sent and not answered yet.
    in_flight: u32,
    /// No write before this (a 429's `Retry-After`).
    until: Option<Instant>,
    /// The writes waiting, in the order they came: they go in that order, so that an
    /// object's later writes (a reset, then its record) are not overtaken by other objects'
    /// first ones, and the last operations of a fleet start as early as the bucket allows.
    queue: VecDeque<u64>,
    /// The next waiting write's number.
    next: u64,
}

impl Gate {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            left: None,
            at: Instant::now(),
            in_flight: 0,
            until: None,
            queue: VecDeque::new(),
            next: 0,
        }
    }
}

/// The gate's key for a request of `kind` to `path` acting in `tenant` (`None`: not a
/// subscription's request).
pub(crate) fn key(kind: Kind, tenant: &str, path: &str) -> Option<Key> {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next(), segs.next()) {
        (Some(s), Some(sub)) if s.eq_ignore_ascii_case("subscriptions") && !sub.is_empty() => {
            Some((kind, tenant.to_ascii_lowercase(), sub.to_ascii_lowercase()))
        }
        _ => None,
    }
}

impl Gate {
    /// How long to wait before a write may go (`None`: now; it is then counted in flight).
    fn admit(&mut self, now: Instant) -> Option<Duration> {
        if let Some(u) = self.until {
            if now < u {
                return Some(u - now);
            }
            self.until = None;
        }
        let Some(left) = self.left else {
            // Until an answer says what is left, a few writes at a time.
            let first = match self.kind {
                Kind::Read => READS_BEFORE_FIRST_ANSWER,
                Kind::Write => BEFORE_FIRST_ANSWER,
            };
            if self.in_flight >= first {
                return Some(FIRST_ANSWER_POLL);
            }
            self.in_flight += 1;
            return None;
        };
        let rate = self.kind.refill();
        let refilled = now.duration_since(self.at).as_secs_f64() * rate;
        let free = left + refilled - f64::from(self.in_flight);
        if free >= 1.0 {
            self.in_flight += 1;
            return None;
        }
        Some(Duration::from_secs_f64((1.0 - free) / rate).max(MIN_WAIT))
    }

    /// Takes in what an answer said.
    fn answered(&mut self, now: Instant, status: Option<u16>, headers: Option<&HeaderMap>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let count = |name: &str| {
            headers?
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
        };
        // The global bucket refills 15 times faster; while it has more left than the
        // principal's, the principal's decides.
        let (principal, global) = self.kind.headers();
        let left = match (count(principal), count(global)) {
            (Some(p), Some(g)) => Some(p.min(g)),
            (p, g) => p.or(g),
        };
        if let Some(l) = left {
            self.left = Some(l);
            self.at = now;
        }
        if status == Some(429) {
            self.left = Some(0.0);
            self.at = now;
            let retry = headers.and_then(super::retry_after);
            if let Some(d) = retry.filter(|d| !d.is_zero()) {
                self.until = Some(self.until.map_or(now + d, |u| u.max(now + d)));
            }
        }
    }
}

impl Pacer {
    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Gate>> {
        self.gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until a write under `key` may go: its turn (writes go in the order they came)
    /// and the bucket's (at most `limit`: past it the write goes and ARM's answer decides).
    pub(crate) async fn admit(&self, key: &Key, limit: Duration) {
        let give_up = Instant::now() + limit;
        let ticket = {
            let mut gates = self.gates();
            let gate = gates.entry(key.clone()).or_insert_with(|| Gate::new(key.0));
            let t = gate.next;
            gate.next += 1;
            gate.queue.push_back(t);
            t
        };
        // However the wait ends (admitted, or the write abandoned), the ticket leaves the line.
        let _leave = Leave {
            pacer: self,
            key,
            ticket,
        };
        loop {
            let turn = self.turn.notified();
            let wait = {
                let mut gates = self.gates();
                let gate = gates.entry(key.clone()).or_insert_with(|| Gate::new(key.0));
                let now = Instant::now();
                if now >= give_up {
                    gate.in_flight += 1;
                    return;
                }
                if gate.queue.front() == Some(&ticket) {
                    match gate.admit(now) {
                        None => return,
                        Some(w) => Some(w),
                    }
                } else {
                    None
                }
            };
            let cap = give_up
                .saturating_duration_since(Instant::now())
                .max(MIN_WAIT);
            match wait {
                // At the head: the bucket's wait.
                Some(w) => tokio::time::sleep(w.min(cap)).await,
                // In line: until the one ahead leaves.
                None => {
                    let _ = tokio::time::timeout(cap, turn).await;
                }
            }
        }
    }

    /// Takes in a write's answer (`None`: no answer, e.g. a connection error).
    pub(crate) fn answered(&self, key: &Key, status: Option<u16>, headers: Option<&HeaderMap>) {
        if let Some(gate) = self.gates().get_mut(key) {
            gate.answered(Instant::now(), status, headers);
        }
    }
}

/// A write's place in its gate's line, given up when it goes or is abandoned.
struct Leave<'a> {
    pacer: &'a Pacer,
    key: &'a Key,
    ticket: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.pacer.gates().get_mut(self.key) {
            gate.queue.retain(|t| *t != self.ticket);
        }
        self.pacer.turn.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn keys_are_per_tenant_and_subscription() {
        assert_eq!(
            key(Kind::Write, "T", "/subscriptions/S/resourceGroups/g"),
            Some((Kind::Write, "t".into(), "s".into()))
        );
        assert_eq!(
            key(Kind::Read, "t", "/providers/Microsoft.Authorization/x"),
            None
        );
    }

    #[test]
    fn a_gate_lets_writes_through_while_the_counts_cover_them() {
        let t0 = Instant::now();
        let mut g = Gate::new(Kind::Write);
        // No count yet: a few writes go, the next waits for an answer.
        for _ in 0..BEFORE_FIRST_ANSWER {
            assert_eq!(g.admit(t0), None);
        }
        assert_eq!(g.admit(t0), Some(FIRST_ANSWER_POLL));
        for _ in 0..BEFORE_FIRST_ANSWER {
            g.answered(
                t0,
                Some(201),
                Some(&headers(&[
                    (PRINCIPAL_WRITES_LEFT, "2"),
                    (GLOBAL_WRITES_LEFT, "2999"),
                ])),
            );
        }
        assert_eq!(g.admit(t0), None);
        assert_eq!(g.admit(t0), None);
        // Two in flight cover the two left: the third waits a refill (100 ms at 10/s).
        let w = g.admit(t0).unwrap();
        assert!(
            w > Duration::from_millis(90) && w <= Duration::from_millis(100),
            "{w:?}"
        );
        assert_eq!(g.admit(t0 + Duration::from_millis(100)), None);
        // A 429 closes the gate for its Retry-After, for every job.
        g.answered(
            t0,
            Some(429),
            Some(&headers(&[
                ("retry-after", "2"),
                (PRINCIPAL_WRITES_LEFT, "0"),
            ])),
        );
        assert!(g.admit(t0 + Duration::from_secs(1)).unwrap() >= Duration::from_millis(999));
        // After it, the refill since: 10 per second for 2 s, less the two still in flight.
        let after = t0 + Duration::from_secs(2);
        let mut went = 0;
        while g.admit(after).is_none() {
            went += 1;
        }
        assert_eq!(went, 18);
    }

    #[test]
    fn reads_have_a_gate_of_their_own_refilled_at_the_read_rate() {
        let t0 = Instant::now();
        let mut g = Gate::new(Kind::Read);
        // Before any count, many reads at once (a cluster read per job of a fleet's status).
        for _ in 0..READS_BEFORE_FIRST_ANSWER {
            assert_eq!(g.admit(t0), None);
        }
        assert!(g.admit(t0).is_some());
        for _ in 0..READS_BEFORE_FIRST_ANSWER {
            // A write's count says nothing about reads.
            g.answered(
                t0,
                Some(200),
                Some(&headers(&[(PRINCIPAL_WRITES_LEFT, "0")])),
            );
        }
        assert_eq!(g.admit(t0), None, "no read count yet");
        g.answered(
            t0,
            Some(200),
            Some(&headers(&[
                (PRINCIPAL_READS_LEFT, "0"),
                (GLOBAL_READS_LEFT, "9000"),
            ])),
        );
        // None left: the next read waits one refill, 40 ms at 25/s.
        let w = g.admit(t0).unwrap();
        assert!(
            w > Duration::from_millis(35) && w <= Duration::from_millis(40),
            "{w:?}"
        );
        assert_eq!(
            key(Kind::Read, "t", "/subscriptions/s/x").map(|k| k.0),
            Some(Kind::Read)
        );
    }

    #[test]
    fn the_global_count_decides_when_it_is_lower() {
        let t0 = Instant::now();
        let mut g = Gate::new(Kind::Write);
        assert_eq!(g.admit(t0), None);
        g.answered(
            t0,
            Some(200),
            Some(&headers(&[
                (PRINCIPAL_WRITES_LEFT, "150"),
                (GLOBAL_WRITES_LEFT, "0"),
            ])),
        );
        assert!(g.admit(t0).is_some());
    }

    #[tokio::test]
    async fn writes_go_in_the_order_they_came_and_an_abandoned_one_leaves_the_line() {
        let pacer = std::sync::Arc::new(Pacer::default());
        let key = (Kind::Write, "t".to_owned(), "s".to_owned());
        // An answer said nothing is left: each write waits 100 ms of refill.
        pacer.admit(&key, Duration::from_secs(5)).await;
        pacer.answered(
            &key,
            Some(201),
            Some(&headers(&[(PRINCIPAL_WRITES_LEFT, "0")])),
        );
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (pacer, key, order) = (pacer.clone(), key.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pacer.admit(&key, Duration::from_secs(5)).await;
                order.lock().unwrap().push(i);
            }));
            // Each comes after the one before it is in line.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The second in line gives up its place (its write is abandoned).
        tasks.remove(1).abort();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 2, 3]);
        assert!(pacer.gates().get(&key).unwrap().queue.is_empty());
    }
}
