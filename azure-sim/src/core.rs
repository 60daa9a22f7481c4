//! The running simulator's shared core: configuration, state, keys, logs, faults, throttles.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::WriteLimit;
use crate::clock::{Clock, wall};
use crate::cloud::Presented;
use crate::crypto::{JwtError, JwtKey, random_alnum};
use crate::faults::FaultRule;
use crate::http::Req;
use crate::model::State;
use crate::sync::lock;

/// Everything a handler needs.
pub(crate) struct Core {
    pub url: String,
    pub port: u16,
    /// The cloud presented: its hosts, audiences and suffixes.
    pub cloud: Presented,
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub cloud_file: PathBuf,
    pub env_file: PathBuf,
    /// Azure's time for new objects to replicate (see [`crate::SimConfig`]).
    pub replication_delay: time::Duration,
    /// Azure's time for new role assignments to reach a data plane.
    pub role_propagation: time::Duration,
    /// Azure's time per node of a reset.
    pub node_reimage_time: Duration,
    /// A fixed duration for every reset, if set.
    pub lro_duration: Option<Duration>,
    /// Azure's time a cluster update reconciles.
    pub cluster_update_time: Duration,
    /// A tag update is a plain write, answered at once (`--lenient cluster-updates`).
    pub lenient_cluster_updates: bool,
    pub latency: Duration,
    pub write_limit: Option<WriteLimit>,
    pub read_limit: Option<WriteLimit>,
    /// Azure's clock (compressed by the time scale, moved on by the control API).
    pub clock: Clock,
    pub state: Mutex<State>,
    pub log: Mutex<Vec<Value>>,
    pub seq: Mutex<u64>,
    pub faults: Mutex<Vec<FaultRule>>,
    pub buckets: Mutex<HashMap<String, Bucket>>,
    pub key: JwtKey,
    pub env: Vec<(String, String)>,
}

/// A token bucket for one principal's ARM writes, refilled on Azure's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub tokens: f64,
    pub at: time::OffsetDateTime,
}

/// A verified Entra access token's caller.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub app_id: String,
    pub tenant_id: String,
    pub oid: String,
    pub roles: Vec<String>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone)]
pub(crate) enum AuthFail {
    Missing,
    Malformed,
    BadSignature,
    Expired { exp: i64 },
    NotYetValid,
    WrongAudience { aud: String },
}

impl Core {
    /// The state, with finished operations applied.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        let mut s = lock(&self.state);
        s.settle(self.clock.now());
        s
    }

    /// Azure's now (see [`Clock`]).
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Whether an object made at `created_at` has replicated beyond Graph by now (the token
    /// endpoint, ARM's directory look-ups, AKS and the registries see it).
    pub(crate) fn replicated(&self, created_at: time::OffsetDateTime) -> bool {
        created_at.saturating_add(self.replication_delay) <= self.now()
    }

    /// The service principal of `app_id` in `tenant` as services beyond Graph see it (the token
    /// endpoint, AKS, a registry's token service): only once it replicated, the replication
    /// delay after its creation (aka.ms/aks-sp-help; MicrosoftDocs/azure-docs#4701).
    pub(crate) fn sp_replicated<'s>(
        &self,
        state: &'s State,
        app_id: &str,
        tenant: &str,
    ) -> Option<&'s crate::model::ServicePrincipal> {
        state
            .sp_in_tenant(app_id, tenant)
            .filter(|s| self.replicated(s.created_at))
    }

    /// A registry's login server (`name.azurecr.sim:PORT`, or `name.azurecr.cn` in China).
    pub(crate) fn login_server(&self, name: &str) -> String {
        self.cloud.login_server(name)
    }

    /// Issue an Entra access token.
    pub(crate) fn mint_entra_token(
        &self,
        tenant_id: &str,
        oid: &str,
        app_id: &str,
        aud: &str,
        roles: &[String],
        appidacr: &str,
    ) -> (String, i64) {
        // A token's lifetime is timed by its holder's own clock: the real one.
        let iat = wall().unix_timestamp();
        let exp = iat + 3599;
        let sts = self.cloud.sts();
        let mut claims = json!({
            "aud": aud,
            "iss": format!("{sts}/{tenant_id}/"),
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "appid": app_id,
            "appidacr": appidacr,
            "azp": app_id,
            "idp": format!("{sts}/{tenant_id}/"),
            "idtyp": "app",
            "oid": oid,
            "sub": oid,
            "tid": tenant_id,
            "uti": random_alnum(22),
            "ver": "1.0",
            "sim_kind": "entra",
        });
        if !roles.is_empty() {
            claims["roles"] = json!(roles);
        }
        (self.key.sign(&claims), exp)
    }

    /// Verify an Entra token string: signature, kind, time, and that its audience is allowed.
    pub(crate) fn verify_entra_token(
        &self,
        token: &str,
        audience_ok: &dyn Fn(&str) -> bool,
    ) -> Result<Principal, AuthFail> {
        let claims = self.key.verify(token).map_err(|e| match e {
            JwtError::Malformed => AuthFail::Malformed,
            JwtError::BadSignature => AuthFail::BadSignature,
        })?;
        principal_from_claims(&claims, wall().unix_timestamp(), audience_ok)
    }

    /// The bearer token of a request, verified.
    pub(crate) fn bearer(
        &self,
        req: &Req,
        audience_ok: &dyn Fn(&str) -> bool,
    ) -> Result<Principal, AuthFail> {
        let h = req.header("authorization").ok_or(AuthFail::Missing)?;
        let (scheme, token) = h.trim().split_once(' ').ok_or(AuthFail::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthFail::Malformed);
        }
        self.verify_entra_token(token.trim(), audience_ok)
    }
}

/// Whether `aud` equals one of `allowed`, ignoring case and one trailing slash.
pub(crate) fn audience_in(aud: &str, allowed: &[&str]) -> bool {
    let a = aud.trim_end_matches('/');
    allowed
        .iter()
        .any(|x| x.trim_end_matches('/').eq_ignore_ascii_case(a))
}

/// Check an Entra token's kind, lifetime and audience at time `t` (Unix seconds).
pub(crate) fn principal_from_claims(
    claims: &Value,
    t: i64,
    audience_ok: &dyn Fn(&str) -> bool,
) -> Result<Principal, AuthFail> {
    if claims["sim_kind"] != "entra" {
        return Err(AuthFail::BadSignature);
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= t {
        return Err(AuthFail::Expired { exp });
    }
    if claims["nbf"].as_i64().unwrap_or(0) > t + 300 {
        return Err(AuthFail::NotYetValid);
    }
    let aud = claims["aud"].as_str().unwrap_or_default().to_string();
    if !audience_ok(&aud) {
        return Err(AuthFail::WrongAudience { aud });
    }
    let s = |k: &str| claims[k].as_str().unwrap_or_default().to_string();
    Ok(Principal {
        app_id: s("appid"),
        tenant_id: s("tid"),
        oid: s("oid"),
        roles: claims["roles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::{AuthFail, audience_in, principal_from_claims};
    use serde_json::json;

    #[test]
    fn token_lifetime_and_audience() {
        let arm = |a: &str| audience_in(a, &["https://management.azure.com"]);
        let c = json!({"sim_kind": "entra", "aud": "https://management.azure.com/", "exp": 1000, "nbf": 0, "oid": "o", "tid": "t", "appid": "a"});
        assert_eq!(principal_from_claims(&c, 999, &arm).unwrap().oid, "o");
        assert!(matches!(
            principal_from_claims(&c, 1000, &arm),
            Err(AuthFail::Expired { exp: 1000 })
        ));
        let graph = |a: &str| audience_in(a, &["https://graph.microsoft.com"]);
        assert!(matches!(
            principal_from_claims(&c, 1, &graph),
            Err(AuthFail::WrongAudience { .. })
        ));
        let other = json!({"sim_kind": "acr_access", "exp": 1000});
        assert!(matches!(
            principal_from_claims(&other, 1, &arm),
            Err(AuthFail::BadSignature)
        ));
    }
}
