//! Where roles may be copied: the cluster's own resources, as ARM shows the cluster (and its
//! subnets show what is attached to them), and the scopes the person names with
//! `--copy-role-scope`.

use common::arm::clusters::{ManagedCluster, SubResource};
use common::http::Api;
use common::json::{null_as_default, typed};
use common::{Error, Result, ui};
use serde::Deserialize;

use common::validate::is_guid;

/// The flag that names more scopes.
pub(crate) const FLAG: &str = "--copy-role-scope";

/// The scopes of a cluster's own resources, from its GET body: its agent pools' node and pod
/// subnets and their virtual networks, the API server's subnet and virtual network, its
/// private DNS zone (a resource id; not `system` or `none`), its load balancer's outbound
/// public IPs and prefixes, and its node resource group. Only well-formed ARM ids are kept.
pub(crate) fn of_cluster(c: &ManagedCluster) -> Vec<String> {
    let p = &c.properties;
    let mut found: Vec<String> = Vec::new();
    let subnet = |id: Option<&String>, found: &mut Vec<String>| {
        if let Some(id) = id {
            if let Some(i) = id.to_ascii_lowercase().find("/subnets/") {
                found.push(id[..i].to_owned());
            }
            found.push(id.clone());
        }
    };
    for pool in &p.agent_pool_profiles {
        subnet(pool.vnet_subnet_id.as_ref(), &mut found);
        subnet(pool.pod_subnet_id.as_ref(), &mut found);
    }
    if let Some(api) = &p.api_server_access_profile {
        subnet(api.subnet_id.as_ref(), &mut found);
        found.extend(api.private_dns_zone.clone());
    }
    if let Some(lb) = p
        .network_profile
        .as_ref()
        .and_then(|n| n.load_balancer_profile.as_ref())
    {
        let ips = lb.outbound_ips.iter().flat_map(|o| &o.public_ips);
        let prefixes = lb
            .outbound_ip_prefixes
            .iter()
            .flat_map(|o| &o.public_ip_prefixes);
        found.extend(ips.chain(prefixes).map(|r| r.id.clone()));
    }
    if let (Some(sub), Some(rg)) = (subscription_of(&c.id), &p.node_resource_group) {
        found.push(format!("/subscriptions/{sub}/resourceGroups/{rg}"));
    }
    let mut out: Vec<String> = Vec::new();
    for id in found {
        let id = id.trim_end_matches('/').to_owned();
        if well_formed(&id) && !out.iter().any(|o| o.eq_ignore_ascii_case(&id)) {
            out.push(id);
        }
    }
    out
}

/// The subscription of an ARM id under `/subscriptions/{guid}`.
pub(crate) fn subscription_of(id: &str) -> Option<&str> {
    let mut parts = id.strip_prefix('/')?.split('/');
    let (first, sub) = (parts.next()?, parts.next()?);
    (first.eq_ignore_ascii_case("subscriptions") && is_guid(sub)).then_some(sub)
}

/// Whether `id` is a subscription or a resource (group) under one, safe to put in a path:
/// `/subscriptions/{guid}` then non-empty segments of letters, digits and `-_.()`, none of
/// them `.` or `..`.
pub(crate) fn well_formed(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    subscription_of(id).is_some()
        && segments.iter().all(|seg| {
            !seg.is_empty()
                && *seg != "."
                && *seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
        })
}

/// One `--copy-role-scope` value, checked as the flags are parsed (before any request): a
/// subscription or a resource under one, as `az role assignment create --scope` takes it.
pub(crate) fn flag_value(v: &str) -> std::result::Result<String, String> {
    let id = v.trim().trim_end_matches('/');
    if well_formed(id) {
        Ok(id.to_owned())
    } else {
        Err(format!(
            "{FLAG} takes an ARM id under a subscription, as az role assignment create --scope takes it, e.g. /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>; got {}",
            common::validate::shown(v)
        ))
    }
}

/// The `--copy-role-scope` values, each checked ([`flag_value`]), without duplicates.
pub(crate) fn from_flags(values: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let id = flag_value(v).map_err(Error::usage)?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&id)) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Whether a role assignment at `outer` applies at `inner` (the same scope or below it).
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    let o = outer.trim_end_matches('/').to_ascii_lowercase();
    let i = inner.trim_end_matches('/').to_ascii_lowercase();
    o.is_empty() || i == o || i.strip_prefix(&o).is_some_and(|rest| rest.starts_with('/'))
}

/// Microsoft.Network's version for reading a subnet.
const NETWORK_API: &str = "2024-05-01";

/// A subnet, as far as [`with_attached`] reads it.
#[derive(Deserialize)]
struct Subnet {
    #[serde(default, deserialize_with = "null_as_default")]
    properties: SubnetProperties,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubnetProperties {
    route_table: Option<SubResource>,
    network_security_group: Option<SubResource>,
}

/// `own` and what is attached to the cluster's subnets in it: each subnet's route table and
/// network security group (`properties.routeTable.id`, `properties.networkSecurityGroup.id`),
/// read from the subnet. They are the cluster's resources too: a kubenet cluster's identity
/// needs Network Contributor on its own route table ("Use kubenet networking with your own
/// IP address ranges in AKS", learn.microsoft.com/azure/aks/configure-kubenet). A subnet that
/// cannot be read adds nothing (a role there is then named in the warning, not copied).
pub(crate) async fn with_attached(arm: &Api<'_>, own: &[String]) -> Vec<String> {
    let subnets = own
        .iter()
        .filter(|s| s.to_ascii_lowercase().contains("/subnets/"));
    let reads = subnets.map(|s| async move {
        match arm.get_opt(&format!("{s}?api-version={NETWORK_API}")).await {
            Ok(Some(v)) => match typed::<Subnet>(&v) {
                Ok(s) => [s.properties.route_table, s.properties.network_security_group]
                    .into_iter()
                    .flatten()
                    .map(|r| r.id.trim_end_matches('/').to_owned())
                    .filter(|id| well_formed(id))
                    .collect(),
                Err(m) => {
                    ui::debug(&format!(
                        "subnet {} has an unexpected `{m}`: its route table and network security group are not known",
                        short(s)
                    ));
                    Vec::new()
                }
            },
            Ok(None) => Vec::new(),
            Err(e) => {
                ui::debug(&format!(
                    "subnet {} could not be read ({}): its route table and network security group are not known",
                    short(s),
                    e.code()
                ));
                Vec::new()
            }
        }
    });
    let mut out = own.to_vec();
    for id in futures::future::join_all(reads).await.concat() {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&id)) {
            out.push(id);
        }
    }
    out
}

/// Whether two scopes overlap (one at or below the other).
pub(crate) fn overlap(a: &str, b: &str) -> bool {
    covers(a, b) || covers(b, a)
}

/// Where this object may copy roles: at or below one of the cluster's own resources, or one
/// of the scopes the flags name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowed {
    /// The cluster's own resources.
    pub own: Vec<String>,
    /// `--copy-role-scope`.
    pub named: Vec<String>,
}

impl Allowed {
    /// Whether `scope` is at or below one of them.
    pub(crate) fn allows(&self, scope: &str) -> bool {
        self.own.iter().chain(&self.named).any(|a| covers(a, scope))
    }

    /// The subscriptions to list role assignments in: the cluster's, and those of the scopes.
    pub(crate) fn subscriptions(&self, cluster_subscription: &str) -> Vec<String> {
        let mut out = vec![cluster_subscription.to_ascii_lowercase()];
        for s in self.own.iter().chain(&self.named) {
            if let Some(sub) = subscription_of(s).map(str::to_ascii_lowercase)
                && !out.contains(&sub)
            {
                out.push(sub);
            }
        }
        out
    }
}

/// A scope in a few words for a message, its last `type/name` pair: `subnet snet-nodes`,
/// `resourceGroup MC_rg` (the whole id goes in the plan and at `-v`).
pub(crate) fn short(scope: &str) -> String {
    let segs: Vec<&str> = scope.trim_end_matches('/').split('/').collect();
    let [.., kind, name] = segs.as_slice() else {
        return scope.to_owned();
    };
    let kind = if kind.ends_with("sses") || kind.ends_with("xes") {
        &kind[..kind.len() - 2]
    } else {
        kind.strip_suffix('s').unwrap_or(kind)
    };
    format!("{kind} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SUB: &str = "00000000-0000-0000-0000-00000000000a";

    #[test]
    fn the_recorded_cluster_has_its_node_resource_group() {
        let v: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/recordings/ManagedClustersGet.json"
        ))
        .unwrap();
        let body = &v["responses"]["200"]["body"];
        let scopes = of_cluster(&ManagedCluster::from_value(body, "recorded").unwrap());
        let rg = body["properties"]["nodeResourceGroup"].as_str().unwrap();
        assert!(
            scopes
                .iter()
                .any(|s| s.ends_with(&format!("/resourceGroups/{rg}"))),
            "{scopes:?}"
        );
    }

    #[test]
    fn subnets_vnets_dns_zone_and_outbound_ips_are_the_clusters() {
        let net = format!("/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network");
        let body = json!({
            "id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"),
            "properties": {
                "agentPoolProfiles": [
                    {"vnetSubnetID": format!("{net}/virtualNetworks/v/subnets/nodes"), "podSubnetID": format!("{net}/virtualNetworks/v/subnets/pods")},
                    {"vnetSubnetID": format!("{net}/virtualNetworks/v/subnets/nodes")},
                    {"vnetSubnetID": "/subscriptions/x/../../evil"}
                ],
                "apiServerAccessProfile": {"privateDNSZone": format!("{net}/privateDnsZones/privatelink.eastus.azmk8s.io")},
                "networkProfile": {"loadBalancerProfile": {"outboundIPs": {"publicIPs": [{"id": format!("{net}/publicIPAddresses/ip1")}]}}},
                "nodeResourceGroup": "MC_rg_c_eastus",
            }
        });
        let got = of_cluster(&ManagedCluster::from_value(&body, "c").unwrap());
        let want = [
            format!("{net}/virtualNetworks/v"),
            format!("{net}/virtualNetworks/v/subnets/nodes"),
            format!("{net}/virtualNetworks/v/subnets/pods"),
            format!("{net}/privateDnsZones/privatelink.eastus.azmk8s.io"),
            format!("{net}/publicIPAddresses/ip1"),
            format!("/subscriptions/{SUB}/resourceGroups/MC_rg_c_eastus"),
        ];
        assert_eq!(got, want);
        let system = json!({"id": "/c", "properties": {"apiServerAccessProfile": {"privateDNSZone": "system"}}});
        assert!(of_cluster(&ManagedCluster::from_value(&system, "c").unwrap()).is_empty());
    }

    #[test]
    fn flags_take_subscriptions_and_resources_under_them_only() {
        let ok = from_flags(&[
            format!("/subscriptions/{SUB}"),
            format!("/subscriptions/{SUB}/resourceGroups/net/"),
            format!("/SUBSCRIPTIONS/{SUB}/resourceGroups/net"),
        ])
        .unwrap();
        assert_eq!(ok.len(), 2, "{ok:?}");
        for bad in [
            "/",
            "",
            "/providers/Microsoft.Management/managementGroups/mg",
            "/subscriptions/not-a-guid",
            "subscriptions/00000000-0000-0000-0000-00000000000a",
            "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/a b",
            "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/..",
            "/subscriptions/00000000-0000-0000-0000-00000000000a//x",
            "/subscriptions/00000000-0000-0000-0000-00000000000a/x?y",
            "/subscriptions/00000000-0000-0000-0000-00000000000a/x%2f",
        ] {
            let e = from_flags(&[bad.to_owned()]).unwrap_err();
            assert!(e.message().contains(FLAG), "{bad}: {e}");
        }
    }

    #[test]
    fn allowed_scopes_are_at_or_below_the_clusters_or_the_named_ones() {
        let a = Allowed {
            own: vec!["/subscriptions/s/resourceGroups/net/providers/N/v/subnets/a".into()],
            named: vec!["/subscriptions/t/resourceGroups/kv".into()],
        };
        assert!(a.allows("/subscriptions/S/resourceGroups/net/providers/N/v/subnets/a"));
        assert!(!a.allows("/subscriptions/s/resourceGroups/net/providers/N/v"));
        assert!(!a.allows("/subscriptions/s/resourceGroups/net/providers/N/v/subnets/ab"));
        assert!(a.allows("/subscriptions/t/resourceGroups/kv/providers/K/vaults/x"));
        assert!(!a.allows("/subscriptions/t"));
        assert!(covers(
            "/subscriptions/S",
            "/subscriptions/s/resourceGroups/g"
        ));
        assert!(covers("/subscriptions/s/", "/subscriptions/s"));
        assert!(!covers("/subscriptions/s", "/subscriptions/s2"));
        assert!(overlap(
            "/subscriptions/s/resourceGroups/g",
            "/subscriptions/s"
        ));
    }

    #[test]
    fn scopes_are_shown_short() {
        let sub = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";
        assert_eq!(
            short(&format!("{sub}/virtualNetworks/v/subnets/a")),
            "subnet a"
        );
        assert_eq!(
            short(&format!("{sub}/publicIPAddresses/ip")),
            "publicIPAddress ip"
        );
        assert_eq!(
            short(&format!("{sub}/publicIPPrefixes/p")),
            "publicIPPrefix p"
        );
        assert_eq!(
            short("/subscriptions/s/resourceGroups/MC_rg"),
            "resourceGroup MC_rg"
        );
        assert_eq!(short("/subscriptions/s"), "subscription s");
    }
}
