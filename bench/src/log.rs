//! Reading the simulator's request log: what was sent, how long the simulator spent on it.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One logged request.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) status: u16,
    /// Seconds since the epoch when the simulator began handling it.
    pub(crate) start: f64,
    /// Seconds since the epoch when it answered.
    pub(crate) end: f64,
    pub(crate) caller_tenant: String,
}

/// Seconds since the epoch of an RFC 3339 time.
pub(crate) fn epoch(s: &str) -> Option<f64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

/// Seconds since the epoch of a `SystemTime`.
pub(crate) fn epoch_of(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The log's entries (control requests are not logged by the simulator).
pub(crate) fn parse(log: &[Value]) -> Vec<Req> {
    log.iter()
        .filter_map(|r| {
            let end = epoch(r["time"].as_str()?)?;
            let dur = r["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
            let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            Some(Req {
                method: s("method"),
                host: s("host"),
                path: s("path"),
                status: r["status"]
                    .as_u64()
                    .and_then(|v| u16::try_from(v).ok())
                    .unwrap_or(0),
                start: end - dur,
                end,
                caller_tenant: s("caller_tenant_id"),
            })
        })
        .collect()
}

impl Req {
    /// A request to a registry's data plane.
    pub(crate) fn is_registry(&self) -> bool {
        self.host.contains(".azurecr.")
    }

    /// A request to the Entra token endpoint (not a registry's).
    pub(crate) fn is_entra_token(&self) -> bool {
        !self.is_registry()
            && (self.path.ends_with("/oauth2/v2.0/token") || self.path.ends_with("/oauth2/token"))
    }

    /// An ARM write (what `--arm-write-limit` counts).
    pub(crate) fn is_arm_write(&self) -> bool {
        !self.is_registry()
            && self.path.starts_with("/subscriptions")
            && matches!(self.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE")
    }

    /// A write to a managed cluster: the reset, or any other update of it (its tags). On AKS
    /// each is a managed-cluster operation; step 4 should make one per run, the reset.
    pub(crate) fn is_cluster_write(&self) -> bool {
        self.is_arm_write()
            && self
                .path
                .to_ascii_lowercase()
                .contains("/providers/microsoft.containerservice/managedclusters/")
    }

    /// A label naming the kind of request (ids left out), with the tenant it acted in.
    pub(crate) fn label(&self, tenant_a: &str, tenant_b: &str) -> String {
        let which = |t: &str| {
            if t.eq_ignore_ascii_case(tenant_a) {
                "A"
            } else if t.eq_ignore_ascii_case(tenant_b) {
                "B"
            } else {
                "?"
            }
        };
        let m = self.method.as_str();
        let p = self.path.as_str();
        if self.is_entra_token() {
            let t = p.trim_start_matches('/').split('/').next().unwrap_or("");
            return format!("POST Entra token (tenant {})", which(t));
        }
        if self.is_registry() {
            return if p == "/oauth2/token" {
                format!("{m} registry /oauth2/token (app's Basic credential)")
            } else if p.contains("/manifests/") {
                format!("{m} registry manifest")
            } else {
                format!("{m} registry {p}")
            };
        }
        let t = which(&self.caller_tenant);
        if p.starts_with("/v1.0/") || p.starts_with("/beta/") {
            let what = if p.contains("/applications(uniqueName=") {
                "application by uniqueName"
            } else if p.contains("/applications(appId=") {
                "application by appId"
            } else if p.contains("/servicePrincipals(appId=") {
                "service principal by appId"
            } else if p.ends_with("/addPassword") {
                "application addPassword"
            } else if p.ends_with("/removePassword") {
                "application removePassword"
            } else if p.contains("/applications/") {
                "application by id"
            } else {
                p
            };
            return format!("{m} Graph {what} (tenant {t})");
        }
        let lp = p.to_ascii_lowercase();
        let what = if lp.ends_with("/resetserviceprincipalprofile") {
            "resetServicePrincipalProfile"
        } else if lp.contains("/operations/") || lp.contains("/operationresults/") {
            "reset operation status"
        } else if lp.contains("/roleassignments/") {
            "role assignment (deterministic name)"
        } else if lp.ends_with("/roleassignments") {
            "role assignments of a principal (list)"
        } else if lp.ends_with("/roledefinitions") {
            "role definitions by roleName (list)"
        } else if lp.contains("/roledefinitions/") {
            "role definition by id"
        } else if lp.contains("/managedclusters/") {
            "cluster"
        } else if lp.ends_with("/microsoft.containerregistry/registries") {
            "registries of a subscription (list)"
        } else if lp.contains("/registries/") {
            "registry"
        } else if lp == "/subscriptions" {
            "subscriptions (list)"
        } else if lp.contains("/subnets/") {
            "subnet"
        } else {
            p
        };
        format!("{m} ARM {what} (tenant {t})")
    }
}

/// Total time covered by at least one request (concurrent requests counted once), in ms.
pub(crate) fn busy_ms(reqs: &[Req]) -> f64 {
    let mut iv: Vec<(f64, f64)> = reqs.iter().map(|r| (r.start, r.end)).collect();
    iv.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for (s, e) in iv {
        match cur {
            Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                cur = Some((s, e));
            }
            None => cur = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = cur {
        total += ce - cs;
    }
    total * 1000.0
}

/// The critical path of a log: the longest chain of requests (by the simulator's time spent
/// on them) each of which was sent after the previous one had been answered, and its length
/// in ms. No schedule of these requests ends sooner than that chain takes.
pub(crate) fn critical_path(reqs: &[Req]) -> (f64, Vec<usize>) {
    let mut order: Vec<usize> = (0..reqs.len()).collect();
    order.sort_by(|&a, &b| reqs[a].start.total_cmp(&reqs[b].start));
    // best[i]: the longest chain ending with request i; prev[i]: the request before it.
    let mut best = vec![0.0f64; reqs.len()];
    let mut prev: Vec<Option<usize>> = vec![None; reqs.len()];
    for (k, &i) in order.iter().enumerate() {
        let dur = (reqs[i].end - reqs[i].start) * 1000.0;
        let mut from = None;
        let mut longest = 0.0;
        for &j in &order[..k] {
            if reqs[j].end <= reqs[i].start && best[j] > longest {
                longest = best[j];
                from = Some(j);
            }
        }
        best[i] = longest + dur;
        prev[i] = from;
    }
    let Some(last) = (0..reqs.len()).max_by(|&a, &b| best[a].total_cmp(&best[b])) else {
        return (0.0, Vec::new());
    };
    let mut chain = vec![last];
    while let Some(p) = prev[*chain.last().unwrap_or(&last)] {
        chain.push(p);
    }
    chain.reverse();
    (best[last], chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: f64, end: f64) -> Req {
        Req {
            method: "GET".into(),
            host: "127.0.0.1:1".into(),
            path: "/x".into(),
            status: 200,
            start,
            end,
            caller_tenant: String::new(),
        }
    }

    #[test]
    fn overlapping_requests_count_once() {
        let v = [r(0.0, 1.0), r(0.5, 1.5), r(3.0, 4.0)];
        assert!((busy_ms(&v) - 2500.0).abs() < 1e-6);
        assert!(busy_ms(&[]).abs() < 1e-9);
    }

    #[test]
    fn cluster_writes_are_the_reset_and_any_update_of_the_cluster() {
        let cluster = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c";
        let w = |m: &str, path: &str| Req {
            method: m.into(),
            path: path.into(),
            ..r(0.0, 1.0)
        };
        assert!(w("POST", &format!("{cluster}/resetServicePrincipalProfile")).is_cluster_write());
        assert!(w("PATCH", cluster).is_cluster_write());
        assert!(!w("GET", cluster).is_cluster_write());
        assert!(!w("PATCH", "/v1.0/applications(appId='a')").is_cluster_write());
        assert!(
            !w(
                "PUT",
                "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/x"
            )
            .is_cluster_write()
        );
    }

    #[test]
    fn times_parse_with_ticks() {
        let t = epoch("2025-04-14T08:54:25.8958593Z").unwrap();
        assert!((t - 1_744_620_865.895_859_3).abs() < 1e-6, "{t}");
    }
    fn req(start: f64, end: f64) -> Req {
        Req {
            method: "GET".into(),
            host: "h".into(),
            path: "/p".into(),
            status: 200,
            start,
            end,
            caller_tenant: String::new(),
        }
    }

    #[test]
    fn the_critical_path_chains_requests_sent_after_an_answer() {
        // 0: 0–1, 1: 0–2 (concurrent with 0), 2: 2.5–3 (after both), 3: 1.5–1.8 (after 0).
        let reqs = [req(0.0, 1.0), req(0.0, 2.0), req(2.5, 3.0), req(1.5, 1.8)];
        let (ms, chain) = critical_path(&reqs);
        assert_eq!(chain, vec![1, 2]);
        assert!((ms - 2500.0).abs() < 1e-6, "{ms}");
        assert_eq!(critical_path(&[]).1, Vec::<usize>::new());
    }
}
