//! How this cloud differs: the switches a scenario's `behaviour` object sets (API versions per
//! resource type, Graph's lags, a new secret's propagation, the `uniqueName` key, the AKS
//! error shape, consent rules).
//!
//! Every switch follows a cited source (the crate README, "Clouds and rough edges"); the
//! defaults are Azure as documented, and a run that needs Azure kinder names the leniency
//! (`--lenient`, [`Behaviour::lenient`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A just-created object stays unreadable this long on some of Graph's replicas (Azure's
/// time): "seconds" (devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-
/// microsoft-entra).
pub(crate) const GRAPH_READ_LAG_MS: u64 = 5_000;
/// A just-created app refuses writes addressed to it this long (msgraph-sdk-javascript#1999,
/// azure-cli#1332, KelvinTegelaar/CIPP-API#1955; terraform-provider-azuread#118 waits for it).
pub(crate) const GRAPH_WRITE_LAG_MS: u64 = 10_000;
/// A new secret is refused this long: the longest its source reports
/// (microsoftgraph/microsoft-graph-docs#17966: 4–18 s), as every lag here is the documented
/// worst case.
pub(crate) const SECRET_PROPAGATION_MS: u64 = 18_000;

/// The switches; every field has a default (Azure as documented).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Behaviour {
    /// Accepted API versions per resource type (`Namespace/type`, case-insensitive). A type
    /// absent here has the public cloud's set ([`crate::api_versions::public`]) while
    /// `strict_api_versions` holds, else accepts any value.
    pub api_versions: BTreeMap<String, Vec<String>>,
    /// Check every type the tools call against the public cloud's sets when `api_versions`
    /// does not list it (on: Azure refuses a version it does not have).
    pub strict_api_versions: bool,
    /// How long a just-created application or service principal answers reads (by id, appId or
    /// uniqueName) with 404 `Request_ResourceNotFound`, in milliseconds of Azure's time.
    pub graph_read_lag_ms: u64,
    /// How long a just-created application answers writes addressed to it (by object id or
    /// appId: `addPassword`, `removePassword`, PATCH, DELETE, its service principal's create in
    /// its home tenant) with 404 `Request_ResourceNotFound`, in milliseconds of Azure's time.
    pub graph_write_lag_ms: u64,
    /// Whether Graph has the `applications(uniqueName='…')` key (and upsert by it).
    pub unique_name_key: bool,
    /// AKS error bodies: `top_level` (`{"code","message"}`) or `wrapped` (`{"error":{…}}`).
    pub aks_error_shape: AksErrorShape,
    /// Whether the consent page refuses an app that requests no permission (AADSTS650056).
    pub consent_requires_permissions: bool,
    /// How long a secret `addPassword` just made is refused (`AADSTS7000215` at the token
    /// endpoint, by a registry's token service and by AKS's reset), in milliseconds:
    /// microsoftgraph/microsoft-graph-docs#17966 reports 4–18 s.
    pub secret_propagation_ms: u64,
}

/// The shape of the AKS resource provider's error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AksErrorShape {
    /// `{"code","message"}` at the top level, as the AKS RP answers.
    TopLevel,
    /// ARM's common `{"error":{"code","message"}}`.
    Wrapped,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            api_versions: BTreeMap::new(),
            strict_api_versions: true,
            graph_read_lag_ms: GRAPH_READ_LAG_MS,
            graph_write_lag_ms: GRAPH_WRITE_LAG_MS,
            unique_name_key: true,
            aks_error_shape: AksErrorShape::Wrapped,
            consent_requires_permissions: true,
            secret_propagation_ms: SECRET_PROPAGATION_MS,
        }
    }
}

impl Behaviour {
    /// The versions `resource_type` accepts, newest first, or `None` when any is accepted.
    pub(crate) fn versions(&self, resource_type: &str) -> Option<Vec<String>> {
        let listed = self
            .api_versions
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(resource_type))
            .map(|(_, v)| v.clone());
        let mut v = listed.or_else(|| {
            if !self.strict_api_versions {
                return None;
            }
            let builtin = crate::api_versions::public(resource_type)?;
            Some(builtin.iter().map(ToString::to_string).collect())
        })?;
        v.sort_unstable_by(|a, b| b.cmp(a));
        Some(v)
    }

    /// How long a new secret is refused, as a `time::Duration`.
    pub(crate) fn secret_propagation(&self) -> time::Duration {
        time::Duration::milliseconds(i64::try_from(self.secret_propagation_ms).unwrap_or(i64::MAX))
    }

    /// Where a run named Azure kinder: each leniency turns its behaviours off.
    pub(crate) fn lenient(&mut self, lenient: &std::collections::BTreeSet<crate::Leniency>) {
        use crate::Leniency;
        for l in lenient {
            match l {
                Leniency::ApiVersions => self.strict_api_versions = false,
                Leniency::Consent => self.consent_requires_permissions = false,
                Leniency::GraphLag => {
                    self.graph_read_lag_ms = 0;
                    self.graph_write_lag_ms = 0;
                }
                Leniency::SecretPropagation => self.secret_propagation_ms = 0,
                Leniency::Replication | Leniency::ClusterUpdates => {}
            }
        }
    }

    /// The write lag as a `time::Duration`.
    pub(crate) fn write_lag(&self) -> time::Duration {
        time::Duration::milliseconds(i64::try_from(self.graph_write_lag_ms).unwrap_or(i64::MAX))
    }

    /// The read lag as a `time::Duration`.
    pub(crate) fn read_lag(&self) -> time::Duration {
        time::Duration::milliseconds(i64::try_from(self.graph_read_lag_ms).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::Behaviour;
    use crate::Leniency;
    use crate::api_versions::MANAGED_CLUSTERS;

    #[test]
    fn versions_strict_by_default_and_lenient_by_name() {
        let b = Behaviour::default();
        let aks = b.versions(MANAGED_CLUSTERS).unwrap();
        assert_eq!(aks[0], "2026-10-01");
        let ra = b
            .versions("Microsoft.Authorization/roleAssignments")
            .unwrap();
        assert_eq!(ra[0], "2022-04-01");
        assert!(b.versions("Microsoft.Nope/things").is_none());
        let mut lenient = Behaviour::default();
        lenient.lenient(&[Leniency::ApiVersions].into_iter().collect());
        assert!(lenient.versions(MANAGED_CLUSTERS).is_none());
        let b: Behaviour = serde_json::from_value(serde_json::json!({
            "api_versions": {"microsoft.containerservice/managedclusters": ["2023-01-01", "2024-02-01"]}
        }))
        .unwrap();
        assert_eq!(
            b.versions(MANAGED_CLUSTERS).unwrap(),
            ["2024-02-01", "2023-01-01"]
        );
        assert!(b.unique_name_key);
    }

    #[test]
    fn leniencies_turn_their_behaviours_off_and_nothing_else() {
        let mut b = Behaviour::default();
        assert!(b.consent_requires_permissions && b.graph_write_lag_ms > 0);
        b.lenient(
            &[Leniency::Consent, Leniency::GraphLag]
                .into_iter()
                .collect(),
        );
        assert!(!b.consent_requires_permissions);
        assert_eq!((b.graph_read_lag_ms, b.graph_write_lag_ms), (0, 0));
        assert!(b.strict_api_versions && b.secret_propagation_ms > 0);
        b.lenient(&[Leniency::SecretPropagation].into_iter().collect());
        assert_eq!(b.secret_propagation_ms, 0);
    }
}
