//! A matrix's shared setup made once and loaded into each case's own simulator, instead of
//! being run again for every case: the state the setup left (`GET /_sim/state`, Azure's time
//! of the dump included) and the envelope it wrote.
//!
//! A loaded simulator holds what the setup made (apps with their secrets' hashes, service
//! principals, role assignments, clusters, operations, the record on the app) with the times
//! Azure made them, and its clock starts at the dump's time: what had replicated or
//! propagated at the end of the setup has, what had not has not, as when the case ran right
//! after the setup on the same simulator. It starts with no request log and no fault rules,
//! new operator secrets and a new port; the envelope is [`moved`] to that port, and a pull
//! check it records (`pull_proof`, which binds the image and so the registry's address) is
//! made again for the moved image, with the same app, secret and time (a case run when that
//! proof is within a minute of its freshness fails, rather than take another path). Key Vault secret
//! values are not in a dump: a setup that writes one cannot be loaded.

use std::sync::OnceLock;

use common::Secret;
use common::registry::proof;
use serde_json::Value;

use crate::world::moved;
use crate::{Leniency, SimConfig, TestSim};

/// What a setup left: the simulator's state and the envelope it wrote.
pub struct Setup {
    state: Value,
    envelope: String,
    image: String,
    /// The setup's leniencies and behaviour switches: they are in the state a case loads, so
    /// a case must ask for the same ones.
    lenient: std::collections::BTreeSet<Leniency>,
    behaviour: Option<Value>,
}

impl Setup {
    /// Runs `setup` on a new simulator configured by `config` (as each case's is, but for
    /// what is not kept in the state: delays, faults, durations); what it left.
    ///
    /// # Panics
    /// When the setup wrote a Key Vault secret (its value would be lost).
    pub fn make(
        config: impl FnOnce(&mut SimConfig),
        setup: impl FnOnce(&TestSim) -> String,
    ) -> Self {
        let mut asked = None;
        let sim = TestSim::start_with(|c| {
            config(c);
            asked = Some((c.lenient.clone(), c.behaviour.clone()));
        });
        let (lenient, behaviour) = asked.expect("the config ran");
        let envelope = setup(&sim);
        let state = sim.state();
        let vault_secrets = state["vaults"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["secrets"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(
            !vault_secrets,
            "the setup wrote a Key Vault secret: a dump holds no secret's value"
        );
        Self {
            state,
            envelope,
            image: sim.var("REGISTRY_IMAGE"),
            lenient,
            behaviour,
        }
    }

    /// A new simulator configured by `config`, loaded with the setup's state, and the
    /// setup's envelope as it reads there.
    ///
    /// # Panics
    /// When `config` asks for other leniencies or behaviour switches than the setup's, or
    /// for a scenario of its own.
    #[track_caller]
    pub fn start(&self, config: impl FnOnce(&mut SimConfig)) -> (TestSim, String) {
        let mut wanted = None;
        let sim = TestSim::start_with(|c| {
            config(c);
            wanted = Some((c.lenient.clone(), c.behaviour.clone(), c.scenario.is_some()));
            c.scenario = Some(self.state.clone());
        });
        let (lenient, behaviour, own_scenario) = wanted.expect("the config ran");
        assert!(!own_scenario, "a case on a setup loads the setup's state");
        assert_eq!(
            (&lenient, &behaviour),
            (&self.lenient, &self.behaviour),
            "a case's leniencies and behaviour are the setup's (they are in its state)"
        );
        let envelope = self
            .envelope
            .split_inclusive('\n')
            .map(|line| {
                let there = moved(line, &self.image, &sim);
                reproved(line, &there)
            })
            .collect();
        (sim, envelope)
    }

    /// The state the setup left (`GET /_sim/state`).
    pub fn state(&self) -> &Value {
        &self.state
    }

    /// The envelope the setup wrote, as it reads on the setup's own simulator.
    pub fn envelope(&self) -> &str {
        &self.envelope
    }
}

/// `there` (the object `here` moved to another simulator) with `here`'s pull check made
/// again for its moved image: only a proof that held for `here` (its own app id, secret,
/// image and time) is made again, so one that did not still does not.
fn reproved(here: &str, there: &str) -> String {
    let (Ok(old), Ok(new)) = (
        serde_json::from_str::<Value>(here),
        serde_json::from_str::<Value>(there),
    ) else {
        return there.to_owned();
    };
    let field = |o: &Value, k: &str| o[k].as_str().map(str::to_owned);
    let (Some(secret), Some(app), Some(at), Some(was), Some(image), Some(moved_image)) = (
        field(&old, "client_secret"),
        field(&old, "app_id"),
        field(&old, "pull_verified_at"),
        field(&old, "pull_proof"),
        field(&old, "registry_image"),
        field(&new, "registry_image"),
    ) else {
        return there.to_owned();
    };
    let secret = Secret::new(secret);
    if proof::make(&secret, &app, &image, &at) != was {
        return there.to_owned();
    }
    // A proof ages from the setup, not from the case: one near the end of its freshness would
    // send step 4 on another path (checking the pull itself) than the case was made for.
    let made = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
        .expect("pull_verified_at is an RFC 3339 time");
    let age = time::OffsetDateTime::now_utc() - made;
    let margin = proof::FRESH_FOR.saturating_sub(std::time::Duration::from_secs(60));
    assert!(
        age < margin,
        "the setup's pull proof is {age} old, near its {}s freshness: a case would not take the path its setup made; make the setup nearer its cases",
        proof::FRESH_FOR.as_secs()
    );
    there.replace(&was, &proof::make(&secret, &app, &moved_image, &at))
}

/// Setups keyed by what makes them differ (a step, a delay), each made once, by the first
/// case that needs it (the others wait for it), for a matrix whose cases run at once. A
/// setup is a [`Setup`], or one with what else its cases need (`V`).
pub struct Setups<K, V = Setup> {
    made: Vec<(K, OnceLock<V>)>,
}

impl<K: PartialEq, V> Setups<K, V> {
    /// One setup for each distinct key of `keys`, none made yet.
    pub fn new(keys: impl IntoIterator<Item = K>) -> Self {
        let mut made: Vec<(K, OnceLock<V>)> = Vec::new();
        for k in keys {
            if !made.iter().any(|(m, _)| *m == k) {
                made.push((k, OnceLock::new()));
            }
        }
        Self { made }
    }

    /// The setup of `key`, made by `make` if no case made it yet.
    ///
    /// # Panics
    /// When `key` was not one of the keys given to [`Setups::new`].
    #[track_caller]
    pub fn get(&self, key: &K, make: impl FnOnce() -> V) -> &V {
        self.made
            .iter()
            .find(|(k, _)| k == key)
            .expect("a setup for every key")
            .1
            .get_or_init(make)
    }
}
