//! How to run the simulator: [`SimConfig`] (Azure's realistic durations by default, one time
//! scale compressing them all), the leniencies a test opts into by name, and the flag parsers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// How long a new application or service principal takes to be seen beyond Graph's front end
/// (ARM's `PrincipalNotFound`, `NoBackingApplicationObject`, AADSTS700016 at the token endpoint
/// and a consent page, AKS's `ServicePrincipalValidationClientError`, a registry's "Application
/// not registered with AAD"), in Azure's time: the simulator's estimate of Entra's replication
/// ("a few seconds to minutes": aka.ms/aks-sp-help, MicrosoftDocs/azure-docs#4701).
pub const REPLICATION_DELAY: Duration = Duration::from_secs(30);

/// How long a new role assignment takes to reach a registry's and a key vault's data plane, in
/// Azure's time: the documented worst case, "it can take up to 10 minutes for changes to take
/// effect" (learn.microsoft.com/azure/role-based-access-control/troubleshooting, "Role
/// assignment changes are not being detected").
pub const ROLE_PROPAGATION: Duration = Duration::from_secs(10 * 60);

/// How long AKS takes to reimage one node in a reset's node image upgrade, in Azure's time.
pub const NODE_REIMAGE_TIME: Duration = Duration::from_secs(5 * 60);

/// How long AKS takes to reconcile a cluster after an update that changes no node (a tag
/// update), in Azure's time: minutes (the simulator's estimate; AKS publishes none).
pub const CLUSTER_UPDATE_TIME: Duration = Duration::from_secs(3 * 60);

/// How to run the simulator.
///
/// Every duration is Azure's own (realistic by default); `time_scale` says how fast Azure's
/// clock runs against the real one.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where `ca.pem`, `cloud.json` and `sim.env` are written (created if missing).
    pub dir: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// A scenario in the `GET /_sim/state` format, instead of the built-in default.
    pub scenario: Option<Value>,
    /// Real seconds per second of Azure's time: 1 is Azure's pace, 0.001 runs every one of
    /// Azure's durations a thousand times faster.
    pub time_scale: f64,
    /// How long new directory objects take to be seen beyond Graph ([`REPLICATION_DELAY`]).
    pub replication_delay: Duration,
    /// How long new role assignments take to reach a registry or a key vault
    /// ([`ROLE_PROPAGATION`]).
    pub role_propagation: Duration,
    /// How long a reset takes per node of the cluster ([`NODE_REIMAGE_TIME`]).
    pub node_reimage_time: Duration,
    /// A fixed duration for every reset instead of nodes × `node_reimage_time`.
    pub lro_duration: Option<Duration>,
    /// How long a cluster update (a tag update) reconciles ([`CLUSTER_UPDATE_TIME`]).
    pub cluster_update_time: Duration,
    /// Latency added before every Azure response (real time: the network's, not Azure's).
    pub latency: Duration,
    /// ARM write throttling per calling principal, if any.
    pub arm_write_limit: Option<WriteLimit>,
    /// ARM read throttling (GET, HEAD) per calling principal, if any (the same bucket shape:
    /// ARM refills reads at 25 per second into a bucket of 250).
    pub arm_read_limit: Option<WriteLimit>,
    /// Switches merged over the scenario's `behaviour` object (same fields, e.g.
    /// `{"graph_read_lag_ms": 2000, "unique_name_key": false}`); `None` keeps the scenario's.
    pub behaviour: Option<Value>,
    /// Where this simulator is kinder than Azure, by name (none by default).
    pub lenient: BTreeSet<Leniency>,
}

/// A token bucket for ARM writes (PUT, POST, PATCH, DELETE) per calling principal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteLimit {
    /// Tokens added per second of Azure's time.
    pub per_second: f64,
    /// Bucket size (and the number of writes allowed at once after a pause).
    pub burst: u32,
}

/// A way the simulator may be kinder than Azure, for a test or demo about something else
/// (`--lenient NAME,…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Leniency {
    /// `api-versions`: any `api-version` is accepted.
    ApiVersions,
    /// `consent`: the consent page accepts an app that requests no permission.
    Consent,
    /// `graph-lag`: a new object is readable and writable on Graph at once.
    GraphLag,
    /// `secret-propagation`: a new secret signs in at once.
    SecretPropagation,
    /// `replication`: new objects and role assignments are seen everywhere at once (no
    /// replication delay, no role propagation).
    Replication,
    /// `cluster-updates`: a cluster's tag update is answered at once (200), as a plain write.
    ClusterUpdates,
}

impl Leniency {
    /// Every leniency with its name, as `--lenient` takes it.
    pub const ALL: &[(&str, Leniency)] = &[
        ("api-versions", Leniency::ApiVersions),
        ("consent", Leniency::Consent),
        ("graph-lag", Leniency::GraphLag),
        ("secret-propagation", Leniency::SecretPropagation),
        ("replication", Leniency::Replication),
        ("cluster-updates", Leniency::ClusterUpdates),
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, l)| *l == self)
            .map_or("?", |(n, _)| n)
    }

    /// Parses a comma-separated list of names (`api-versions,consent`).
    pub fn parse_list(s: &str) -> Result<BTreeSet<Leniency>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                Self::ALL
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(n))
                    .map(|(_, l)| *l)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                        format!("unknown leniency '{n}': one of {}", names.join(", "))
                    })
            })
            .collect()
    }
}

impl SimConfig {
    /// Azure as documented, at Azure's pace: `127.0.0.1:0`, the default scenario, the
    /// realistic durations above, no leniency, no latency, no throttling.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            scenario: None,
            time_scale: 1.0,
            replication_delay: REPLICATION_DELAY,
            role_propagation: ROLE_PROPAGATION,
            node_reimage_time: NODE_REIMAGE_TIME,
            lro_duration: None,
            cluster_update_time: CLUSTER_UPDATE_TIME,
            latency: Duration::ZERO,
            arm_write_limit: None,
            arm_read_limit: None,
            behaviour: None,
            lenient: BTreeSet::new(),
        }
    }

    /// Azure's time that passes in `real` at this config's time scale (what a test that needs
    /// something to last a given real time sets).
    pub fn azure_time(&self, real: Duration) -> Duration {
        real.div_f64(self.time_scale)
    }
}

impl std::str::FromStr for WriteLimit {
    type Err = String;

    /// Parse `RATE/BURST`, e.g. `10/20` or `0.5/3`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (rate, burst) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}' is not RATE/BURST (e.g. 10/20)"))?;
        let per_second: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| format!("'{rate}' is not a positive rate per second"))?;
        let burst: u32 = burst
            .trim()
            .parse()
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("'{burst}' is not a positive burst size"))?;
        Ok(Self { per_second, burst })
    }
}

/// Parse a duration like `500ms`, `2s`, `1.5s`, `1m`, `1h`, or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{s}' has no unit: use ms, s, m or h (e.g. 500ms, 2s, 1m)"))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("'{s}' does not start with a number"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{s}': use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("'{s}': {e}"))
}

/// Parse a time scale: a positive number within [`crate::TIME_SCALE_RANGE`] (`0.001`, `1`).
pub fn parse_time_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| {
        format!("'{s}' is not a number (e.g. 0.01: Azure's durations 100 times faster)")
    })?;
    if crate::clock::valid_scale(v) {
        Ok(v)
    } else {
        let (lo, hi) = crate::TIME_SCALE_RANGE;
        Err(format!("the time scale {v} is outside {lo}..={hi}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Leniency, WriteLimit, parse_duration, parse_time_scale};
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn write_limits() {
        assert_eq!(
            "10/20".parse::<WriteLimit>().unwrap(),
            WriteLimit {
                per_second: 10.0,
                burst: 20
            }
        );
        assert!("10".parse::<WriteLimit>().is_err());
        assert!("0/1".parse::<WriteLimit>().is_err());
    }

    #[test]
    fn time_scales_and_leniencies() {
        assert!((parse_time_scale("0.01").unwrap() - 0.01).abs() < f64::EPSILON);
        assert!(parse_time_scale("0").is_err() && parse_time_scale("x").is_err());
        let l = Leniency::parse_list("replication").unwrap();
        assert!(l.contains(&Leniency::Replication));
        assert!(Leniency::parse_list("").unwrap().is_empty());
        let e = Leniency::parse_list("replication,speed").unwrap_err();
        assert!(e.contains("speed") && e.contains("replication"), "{e}");
        assert_eq!(Leniency::Replication.name(), "replication");
    }
}
