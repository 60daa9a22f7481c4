//! How this cloud differs: the switches a scenario's `behaviour` object sets (API versions per
//! resource type, Graph read lag, the `uniqueName` key, the AKS error shape, consent rules).
//!
//! Every switch follows a cited source (the crate README, "Clouds and rough edges"); the
//! defaults are the public cloud as the tools' tests expect it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The public cloud's stable `Microsoft.ContainerService/managedClusters` versions: the list
/// ARM printed in Azure/azure-cli#28368 (through 2023-11-01) and the spec's 2025-10-01.
const AKS_VERSIONS: &[&str] = &[
    "2017-08-31",
    "2018-03-31",
    "2019-02-01",
    "2019-04-01",
    "2019-06-01",
    "2019-08-01",
    "2019-10-01",
    "2019-11-01",
    "2020-01-01",
    "2020-02-01",
    "2020-03-01",
    "2020-04-01",
    "2020-06-01",
    "2020-07-01",
    "2020-09-01",
    "2020-11-01",
    "2020-12-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-07-01",
    "2021-08-01",
    "2021-09-01",
    "2021-10-01",
    "2022-01-01",
    "2022-02-01",
    "2022-03-01",
    "2022-04-01",
    "2022-06-01",
    "2022-07-01",
    "2022-08-01",
    "2022-09-01",
    "2022-11-01",
    "2023-01-01",
    "2023-02-01",
    "2023-03-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-07-01",
    "2023-08-01",
    "2023-09-01",
    "2023-10-01",
    "2023-11-01",
    "2025-10-01",
];

/// The public cloud's stable `Microsoft.ContainerRegistry/registries` versions (azure-rest-api-specs
/// `Microsoft.ContainerRegistry/stable/*`).
const ACR_VERSIONS: &[&str] = &[
    "2017-10-01",
    "2019-05-01",
    "2021-09-01",
    "2022-12-01",
    "2023-07-01",
    "2025-11-01",
];

/// The regional resource types whose versions are checked, as ARM spells them in its message.
pub(crate) const MANAGED_CLUSTERS: &str = "Microsoft.ContainerService/managedClusters";
/// The registry resource type.
pub(crate) const REGISTRIES: &str = "Microsoft.ContainerRegistry/registries";

/// The switches; every field has a default (the public cloud as the tools expect it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Behaviour {
    /// Accepted API versions per resource type (`Namespace/type`, case-insensitive). A type
    /// absent here accepts any value, or with `strict_api_versions` the public cloud's set
    /// (managed clusters, registries).
    pub api_versions: BTreeMap<String, Vec<String>>,
    /// Check managed-cluster and registry versions against the public cloud's sets even when
    /// `api_versions` does not list them (off by default: the tests send `api-version=1`).
    pub strict_api_versions: bool,
    /// How long a just-created application or service principal answers reads (by id, appId or
    /// uniqueName) with 404 `Request_ResourceNotFound`, in milliseconds.
    pub graph_read_lag_ms: u64,
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
            strict_api_versions: false,
            graph_read_lag_ms: 0,
            unique_name_key: true,
            aks_error_shape: AksErrorShape::Wrapped,
            consent_requires_permissions: false,
            secret_propagation_ms: 0,
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
            let builtin = if resource_type.eq_ignore_ascii_case(MANAGED_CLUSTERS) {
                AKS_VERSIONS
            } else if resource_type.eq_ignore_ascii_case(REGISTRIES) {
                ACR_VERSIONS
            } else {
                return None;
            };
            Some(builtin.iter().map(ToString::to_string).collect())
        })?;
        v.sort_unstable_by(|a, b| b.cmp(a));
        Some(v)
    }

    /// How long a new secret is refused, as a `time::Duration`.
    pub(crate) fn secret_propagation(&self) -> time::Duration {
        time::Duration::milliseconds(i64::try_from(self.secret_propagation_ms).unwrap_or(i64::MAX))
    }

    /// The read lag as a `time::Duration`.
    pub(crate) fn read_lag(&self) -> time::Duration {
        time::Duration::milliseconds(i64::try_from(self.graph_read_lag_ms).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::{Behaviour, MANAGED_CLUSTERS};

    #[test]
    fn versions_default_and_restricted() {
        assert!(Behaviour::default().versions(MANAGED_CLUSTERS).is_none());
        let b = Behaviour {
            strict_api_versions: true,
            ..Behaviour::default()
        };
        let aks = b.versions(MANAGED_CLUSTERS).unwrap();
        assert_eq!(aks[0], "2025-10-01");
        assert!(
            b.versions("Microsoft.Authorization/roleAssignments")
                .is_none()
        );
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
}
