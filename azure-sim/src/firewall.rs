//! A registry's firewall (ACR "networkRuleSet"): with `default_action` `Deny`, only the listed
//! client addresses reach its data plane; the others get 403 `DENIED` on every request (the
//! token endpoints and `/v2/…` alike), as ACR answers a denied client.
//!
//! The truth endpoint (and a run-command pod's pull) meets the firewall with the cluster's
//! egress address (`clusters[].egress_ip`); a cluster without one reaches registries over a
//! private path (a private endpoint) the firewall admits.

use std::net::IpAddr;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::json;

/// The registry's network rules (ARM `properties.networkRuleSet`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct NetworkRules {
    /// `Allow` (no firewall) or `Deny`.
    pub default_action: String,
    /// Allowed client addresses or IPv4 CIDR ranges (`203.0.113.7`, `10.0.0.0/8`).
    pub ip_rules: Vec<String>,
}

impl Default for NetworkRules {
    fn default() -> Self {
        Self {
            default_action: "Allow".into(),
            ip_rules: Vec::new(),
        }
    }
}

impl NetworkRules {
    /// Whether a client at `ip` is let through.
    pub(crate) fn allows(&self, ip: IpAddr) -> bool {
        !self.default_action.eq_ignore_ascii_case("deny")
            || self.ip_rules.iter().any(|rule| matches(rule, ip))
    }

    /// The rules as ARM shows them in `properties.networkRuleSet`.
    pub(crate) fn arm_json(&self) -> serde_json::Value {
        let action = if self.default_action.eq_ignore_ascii_case("deny") {
            "Deny"
        } else {
            "Allow"
        };
        json!({
            "defaultAction": action,
            "ipRules": self.ip_rules.iter().map(|v| json!({"action": "Allow", "value": v})).collect::<Vec<_>>(),
        })
    }
}

/// Whether `rule` (an address or an IPv4 CIDR range) covers `ip`.
fn matches(rule: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match rule.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (rule, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    match (net, ip, bits) {
        (_, _, None) => net == ip,
        (IpAddr::V4(n), IpAddr::V4(i), Some(b)) if b <= 32 => {
            let mask = u32::MAX.checked_shl(32 - b).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        _ => false,
    }
}

/// ACR's answer to a client its firewall denies.
pub(crate) fn denied(ip: IpAddr) -> Response {
    json(
        StatusCode::FORBIDDEN,
        &json!({"errors": [{
            "code": "DENIED",
            "message": format!("client with IP '{ip}' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."),
        }]}),
    )
}

#[cfg(test)]
mod tests {
    use super::NetworkRules;

    #[test]
    fn rules() {
        let open = NetworkRules::default();
        assert!(open.allows("127.0.0.1".parse().unwrap()));
        let closed = NetworkRules {
            default_action: "Deny".into(),
            ip_rules: vec!["10.0.0.0/8".into(), "203.0.113.7".into(), "bad/99".into()],
        };
        assert!(!closed.allows("127.0.0.1".parse().unwrap()));
        assert!(closed.allows("10.1.2.3".parse().unwrap()));
        assert!(closed.allows("203.0.113.7".parse().unwrap()));
        assert!(!closed.allows("203.0.113.8".parse().unwrap()));
        assert!(!closed.allows("::1".parse().unwrap()));
    }
}
