//! The report on one cluster: the object's `status` field, its line on stderr, and the
//! run's summary line.

use std::sync::Mutex;

use common::driver::{Fields, Verdict};
use common::envelope::{Envelope, fields};
use common::ui;
use serde::Serialize;

use super::tenant_b::Check;
use crate::probe::Probe;
use common::arm::clusters::ManagedCluster;

/// A cluster's health, worst first in what a person must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Nothing to do.
    Healthy,
    /// A key ends within `--warn-within`: renew it.
    Expiring,
    /// It does not (or soon will not) pull: act now.
    Broken,
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Problem {
    /// What (e.g. `KeyExpired`).
    pub code: String,
    /// The sentence for a person.
    pub message: String,
    /// What to do, when the finding says more than its message (a failed probe's cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// How bad.
    #[serde(skip)]
    pub health: Health,
}

impl Problem {
    /// A problem that breaks the cluster's pulls.
    pub(crate) fn broken(code: &'static str, message: String) -> Self {
        Self {
            code: code.to_owned(),
            message,
            hint: None,
            health: Health::Broken,
        }
    }

    /// A broken problem from an error of the tools (its code, message and hint).
    pub(crate) fn from_error(e: &common::Error) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.message().to_owned(),
            hint: e.hint().map(str::to_owned),
            health: Health::Broken,
        }
    }

    /// A problem that will break them soon.
    pub(crate) fn soon(code: &'static str, message: String) -> Self {
        Self {
            code: code.to_owned(),
            message,
            hint: None,
            health: Health::Expiring,
        }
    }
}

/// The key a cluster holds, as its record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct KeyReport {
    /// Its key id.
    pub id: String,
    /// Where the record naming it is.
    pub recorded_in: &'static str,
    /// Whether the app still has it.
    pub exists: bool,
    /// When it ends (RFC 3339), if it exists and says.
    pub expires_at: Option<String>,
    /// Whole days until then (negative: since then).
    pub expires_in_days: Option<i64>,
}

/// The report on one cluster (the object's `status`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The verdict.
    pub health: Health,
    /// What is wrong, if anything.
    pub(crate) problems: Vec<Problem>,
    /// The app ARM shows the cluster running as (`servicePrincipalProfile.clientId`).
    pub(crate) app_id: String,
    /// That app's display name, when it could be read.
    pub(crate) app_display_name: Option<String>,
    /// Whether these tools made that app (tag `xtenant:managed`).
    pub(crate) app_made_by_tools: Option<bool>,
    /// The key the cluster holds (none when no record names one).
    pub(crate) key: Option<KeyReport>,
    /// The app's service principal in tenant B.
    pub(crate) registry_principal: Option<Check>,
    /// Its pull role on the registry.
    pub(crate) registry_pull_role: Option<Check>,
    /// Whether the cluster carries the `xtenant-*` tags of earlier versions (a record read
    /// only as a fallback; `--remove-legacy-tags` removes them).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) legacy_tags: bool,
    /// The cluster's state.
    pub(crate) provisioning_state: String,
    /// The nodes the next reset reimages (the sum of its node pools' counts).
    pub(crate) nodes: u64,
    /// Its node pools.
    pub(crate) node_pools: usize,
    /// Entra's time when the keys were judged.
    pub(crate) checked_at: Option<String>,
    /// A pull from inside the cluster (`--probe-image`): the kubelet's verdict, when the probe
    /// ran; a failed pull, or a probe that could not run, adds a broken [`Problem`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) probe: Option<Probe>,
}

impl Report {
    /// A report on `cluster` (running as `app_id`) with nothing found yet.
    pub(crate) fn new(cluster: &ManagedCluster, app_id: &str) -> Self {
        let (nodes, node_pools) = cluster.nodes();
        Self {
            health: Health::Healthy,
            problems: Vec::new(),
            app_id: app_id.to_owned(),
            app_display_name: None,
            app_made_by_tools: None,
            key: None,
            registry_principal: None,
            registry_pull_role: None,
            legacy_tags: false,
            provisioning_state: cluster.provisioning_state().to_owned(),
            nodes,
            node_pools,
            checked_at: None,
            probe: None,
        }
    }

    /// Adds a problem; the health is the worst problem's.
    pub(crate) fn problem(&mut self, p: Problem) {
        self.health = self.health.max(p.health);
        self.problems.push(p);
    }

    /// The cluster's line on stderr.
    pub(crate) fn line(&self, name: &str) -> String {
        let app = self.app_display_name.as_deref().map_or_else(
            || format!("app {}", self.app_id),
            |n| format!("app {n} ({})", self.app_id),
        );
        let key = match &self.key {
            Some(k) => match (&k.expires_at, k.expires_in_days) {
                (Some(at), Some(d)) => format!(
                    "key {}{} ends {at} ({d} d)",
                    short(&k.id),
                    if k.recorded_in.contains("legacy") {
                        " (legacy tags)"
                    } else {
                        ""
                    }
                ),
                _ if !k.exists => format!("key {} gone", short(&k.id)),
                _ => format!("key {}", short(&k.id)),
            },
            None => "key unknown".into(),
        };
        let b = match (&self.registry_principal, &self.registry_pull_role) {
            (Some(Check::Present(_)), Some(Check::Present(_))) => {
                "tenant B: principal and pull role"
            }
            (Some(Check::Absent(_)), _) => "tenant B: no principal",
            (_, Some(Check::Absent(_))) => "tenant B: no pull role",
            _ => "tenant B: unknown",
        };
        let inside = match &self.probe {
            Some(p) if p.pulled => ", pulled from inside",
            Some(_) => ", no pull from inside",
            None => "",
        };
        let what = if self.health == Health::Healthy {
            "healthy".to_owned()
        } else {
            let codes: Vec<&str> = self.problems.iter().map(|p| p.code.as_str()).collect();
            format!(
                "{}: {}",
                format!("{:?}", self.health).to_lowercase(),
                codes.join(", ")
            )
        };
        format!(
            "cluster {name}: {what} — {app}, {key}, {b}{inside}; a reset reimages {} node(s) in {} pool(s)",
            self.nodes, self.node_pools
        )
    }
}

/// The first block of a GUID, enough for a person to tell keys apart in a line.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

impl Fields for Report {
    fn write_to(&self, object: &mut Envelope) {
        object.set(fields::STATUS.name, self);
    }

    fn verdict(&self) -> Verdict {
        self.health.verdict()
    }
}

/// What a `--status` run found, for its summary line.
#[derive(Default)]
pub(crate) struct Tally(Mutex<[usize; 4]>);

impl Tally {
    fn add(&self, i: usize) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[i] += 1;
    }

    /// A cluster reported on.
    pub(crate) fn count(&self, h: Health) {
        self.add(h as usize);
    }

    /// A cluster that could not be reported on.
    pub(crate) fn failed(&self) {
        self.add(3);
    }

    /// The summary line.
    pub(crate) fn report(&self) {
        let [healthy, expiring, broken, failed] = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let total = healthy + expiring + broken + failed;
        let line = format!(
            "status of {total} cluster(s): {healthy} healthy, {expiring} expiring, {broken} broken, {failed} not readable"
        );
        if broken + failed > 0 {
            ui::warn(&line);
        } else {
            ui::info(&line);
        }
    }
}
