//! The public cloud's api-versions of every resource type the tools call, as ARM lists them
//! when it refuses one (the crate README, "Clouds and rough edges", cites each list).

/// The public cloud's `Microsoft.ContainerService/managedClusters` versions: the stable ones
/// ARM printed in Azure/azure-cli#28368 (through 2023-11-01) and azure-rest-api-specs
/// `specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable/*`
/// since (2024-01-01 … 2026-10-01; there is no 2024-03, 2024-04, 2024-06, 2025-11, 2025-12 or
/// 2026-09), and the previews that folder's `readme.md` tags list (through 2024-06-02-preview).
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
    "2024-01-01",
    "2024-02-01",
    "2024-05-01",
    "2024-07-01",
    "2024-08-01",
    "2024-09-01",
    "2024-10-01",
    "2025-01-01",
    "2025-02-01",
    "2025-03-01",
    "2025-04-01",
    "2025-05-01",
    "2025-06-01",
    "2025-07-01",
    "2025-08-01",
    "2025-09-01",
    "2025-10-01",
    "2026-01-01",
    "2026-02-01",
    "2026-03-01",
    "2026-04-01",
    "2026-05-01",
    "2026-06-01",
    "2026-07-01",
    "2026-08-01",
    "2026-10-01",
    "2021-11-01-preview",
    "2022-01-02-preview",
    "2022-02-02-preview",
    "2022-03-02-preview",
    "2022-04-02-preview",
    "2022-05-02-preview",
    "2022-06-02-preview",
    "2022-07-02-preview",
    "2022-08-02-preview",
    "2022-08-03-preview",
    "2022-09-02-preview",
    "2022-10-02-preview",
    "2022-11-02-preview",
    "2023-01-02-preview",
    "2023-02-02-preview",
    "2023-03-02-preview",
    "2023-04-02-preview",
    "2023-05-02-preview",
    "2023-06-02-preview",
    "2023-07-02-preview",
    "2023-08-02-preview",
    "2023-09-02-preview",
    "2023-10-02-preview",
    "2023-11-02-preview",
    "2024-01-02-preview",
    "2024-02-02-preview",
    "2024-03-02-preview",
    "2024-04-02-preview",
    "2024-05-02-preview",
    "2024-06-02-preview",
];

/// The public cloud's `Microsoft.ContainerRegistry/registries` versions: the `readme.md` tags of
/// azure-rest-api-specs `specification/containerregistry/resource-manager/
/// Microsoft.ContainerRegistry/Registry` (stable 2017-03-01 … 2025-04-01 and previews through
/// 2025-05-01-preview) and its `stable/2025-11-01`.
const ACR_VERSIONS: &[&str] = &[
    "2017-03-01",
    "2017-10-01",
    "2019-05-01",
    "2021-09-01",
    "2022-12-01",
    "2023-07-01",
    "2025-04-01",
    "2025-11-01",
    "2019-05-01-preview",
    "2019-12-01-preview",
    "2020-11-01-preview",
    "2021-06-01-preview",
    "2021-08-01-preview",
    "2021-12-01-preview",
    "2022-02-01-preview",
    "2023-01-01-preview",
    "2023-06-01-preview",
    "2023-08-01-preview",
    "2023-11-01-preview",
    "2024-11-01-preview",
    "2025-03-01-preview",
    "2025-05-01-preview",
];

/// ARM's own types (`Microsoft.Resources`: subscriptions, tenants, resource groups): the list
/// ARM printed in pulumi/pulumi-azure-native#3637 (2024, through 2024-08-01), its tail as printed
/// in Azure/azure-cli#10641.
const RESOURCES_VERSIONS: &[&str] = &[
    "2014-04",
    "2014-02-26",
    "2013-03-01",
    "2014-01-01",
    "2014-04-01",
    "2014-04-01-preview",
    "2015-01-01",
    "2015-11-01",
    "2016-02-01",
    "2016-06-01",
    "2016-07-01",
    "2016-09-01",
    "2017-03-01",
    "2017-05-01",
    "2017-05-10",
    "2017-06-01",
    "2017-08-01",
    "2017-12-01",
    "2018-01-01",
    "2018-02-01",
    "2018-05-01",
    "2018-06-01",
    "2018-07-01",
    "2018-08-01",
    "2018-09-01",
    "2018-11-01",
    "2019-03-01",
    "2019-05-01",
    "2019-05-10",
    "2019-06-01",
    "2019-07-01",
    "2019-08-01",
    "2019-09-01",
    "2019-10-01",
    "2019-11-01",
    "2020-01-01",
    "2020-05-01",
    "2020-06-01",
    "2020-07-01",
    "2020-08-01",
    "2020-09-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-01-01",
    "2022-03-01-preview",
    "2022-05-01",
    "2022-06-01",
    "2022-09-01",
    "2022-11-01-preview",
    "2022-12-01",
    "2023-03-01-preview",
    "2023-07-01",
    "2023-07-01-preview",
    "2024-03-01",
    "2024-06-01-preview",
    "2024-08-01",
];

/// `Microsoft.Authorization` role assignments and definitions: the list ARM printed for
/// `roleAssignments?api-version=dummyapi` in December 2024 (with Get-AzResourceProvider's
/// identical list), which Azure/azure-sdk-for-java#28334 (2022) shows through
/// 2022-01-01-preview; it has 2020-10-01-preview, which Azure/bicep#3543's 2021 list lacked.
const AUTHORIZATION_VERSIONS: &[&str] = &[
    "2014-04-01-preview",
    "2014-07-01-preview",
    "2014-10-01-preview",
    "2015-05-01-preview",
    "2015-06-01",
    "2015-07-01",
    "2016-07-01",
    "2017-05-01",
    "2017-09-01",
    "2017-10-01-preview",
    "2018-01-01-preview",
    "2018-07-01",
    "2018-09-01-preview",
    "2018-12-01-preview",
    "2019-04-01-preview",
    "2020-03-01-preview",
    "2020-04-01-preview",
    "2020-08-01-preview",
    "2020-10-01-preview",
    "2021-04-01-preview",
    "2022-01-01-preview",
    "2022-04-01",
];

/// Key Vault's secrets data plane's api-versions, oldest first: the stable ones of
/// azure-rest-api-specs `specification/keyvault/data-plane` (the swagger's 2016-10-01 and 7.0–7.4, the TypeSpec
/// `Secrets/main.tsp` `Versions`: 7.5, 7.6, 2025-07-01, 2026-04-01) and that enum's previews.
pub(crate) const KEY_VAULT_SECRETS: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6-preview.2",
    "7.6",
    "2025-06-01-preview",
    "2025-07-01",
    "2026-01-01-preview",
    "2026-03-01-preview",
    "2026-04-01",
    "2026-05-01-preview",
    "2026-07-01-preview",
];

/// Key Vault's newest stable version, which its refusal recommends.
pub(crate) const KEY_VAULT_LATEST: &str = "2026-04-01";
/// The regional resource types whose versions are checked, as ARM spells them in its message.
/// The first `managedClusters` api-version whose cluster (and agent pools) has an `eTag`:
/// azure-rest-api-specs `…/aks/stable/2024-09-01/examples/ManagedClustersGet.json` shows
/// `"eTag": "beywbwei"` (its pool `"nvewbvoi"`); `stable/2024-08-01`'s shows none. Before it,
/// a read shows no `eTag` and `If-Match` is no condition.
pub(crate) const CLUSTER_ETAG_SINCE: &str = "2024-09-01";

/// Whether a `managedClusters` request at `api_version` has the cluster's `eTag`.
pub(crate) fn has_cluster_etag(api_version: Option<&str>) -> bool {
    api_version.is_some_and(|v| v.get(..10).unwrap_or(v) >= CLUSTER_ETAG_SINCE)
}

pub(crate) const MANAGED_CLUSTERS: &str = "Microsoft.ContainerService/managedClusters";
/// The registry resource type.
pub(crate) const REGISTRIES: &str = "Microsoft.ContainerRegistry/registries";

/// The public cloud's versions of `resource_type` (`Namespace/type`, case-insensitive), if
/// the tools call it.
pub(crate) fn public(resource_type: &str) -> Option<&'static [&'static str]> {
    let t = resource_type.to_ascii_lowercase();
    Some(match t.as_str() {
        "microsoft.containerservice/managedclusters" => AKS_VERSIONS,
        "microsoft.containerregistry/registries" => ACR_VERSIONS,
        "microsoft.resources/subscriptions"
        | "microsoft.resources/tenants"
        | "microsoft.resources/resourcegroups" => RESOURCES_VERSIONS,
        "microsoft.authorization/roleassignments" | "microsoft.authorization/roledefinitions" => {
            AUTHORIZATION_VERSIONS
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::public;

    #[test]
    fn every_type_the_tools_call_has_the_version_they_send() {
        for (ty, v) in [
            ("Microsoft.ContainerService/managedClusters", "2025-10-01"),
            ("Microsoft.ContainerRegistry/registries", "2025-11-01"),
            ("Microsoft.Resources/subscriptions", "2022-12-01"),
            ("Microsoft.Resources/tenants", "2022-12-01"),
            ("Microsoft.Authorization/roleAssignments", "2022-04-01"),
            ("Microsoft.Authorization/roleDefinitions", "2022-04-01"),
        ] {
            assert!(public(ty).unwrap().contains(&v), "{ty} {v}");
            assert!(!public(ty).unwrap().contains(&"1"), "{ty}");
        }
        assert!(public("Microsoft.Nope/things").is_none());
    }
}
