//! The built-in default scenario (fixed ids), secret minting at start, and `sim.env` rendering.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::cloud::{CloudName, Presented};
use crate::crypto::{new_client_secret, sha256_hex};
use crate::keyvault::{self, Vault};
use crate::model::{
    Application, Cluster, ClusterIdentity, FederatedCredential, GenericResource,
    PasswordCredential, Registry, ResourceGroup, RoleAssignment, ServicePrincipal, State,
    Subscription, Tenant,
};

/// The scenario is built at start, when Azure's clock and the real one agree.
use crate::clock::wall as now;
use crate::rbac;

/// Tenant A (the cluster's).
pub(crate) const TENANT_A: &str = "a1a1a1a1-0000-4000-8000-00000000000a";
/// Tenant B (the registry's).
pub(crate) const TENANT_B: &str = "b2b2b2b2-0000-4000-8000-00000000000b";
/// Subscription A.
pub(crate) const SUB_A: &str = "a1a1a1a1-5000-4000-8000-000000000001";
/// Subscription B.
pub(crate) const SUB_B: &str = "b2b2b2b2-5000-4000-8000-000000000002";
/// The operator app's client id.
pub(crate) const OPERATOR_APP_ID: &str = "a1a1a1a1-a100-4000-8000-000000000002";
/// The reader app's client id.
pub(crate) const READER_APP_ID: &str = "a1a1a1a1-a100-4000-8000-000000000003";
/// An identity with rights on the cluster only (Azure Kubernetes Service Contributor Role on
/// it): it may write the cluster and its tags, never a role assignment.
pub(crate) const CLUSTER_WRITER_APP_ID: &str = "a1a1a1a1-a100-4000-8000-000000000005";
/// The old (single-tenant) app the SP cluster uses at start.
pub(crate) const OLD_APP_ID: &str = "a1a1a1a1-a100-4000-8000-000000000001";

const OLD_APP_OBJ: &str = "a1a1a1a1-a000-4000-8000-000000000001";
const OPERATOR_APP_OBJ: &str = "a1a1a1a1-a000-4000-8000-000000000002";
const READER_APP_OBJ: &str = "a1a1a1a1-a000-4000-8000-000000000003";
const CLUSTER_WRITER_APP_OBJ: &str = "a1a1a1a1-a000-4000-8000-000000000005";
const OLD_SP_A: &str = "a1a1a1a1-5900-4000-8000-000000000001";
const OPERATOR_SP_A: &str = "a1a1a1a1-5900-4000-8000-000000000002";
const READER_SP_A: &str = "a1a1a1a1-5900-4000-8000-000000000003";
const CLUSTER_WRITER_SP_A: &str = "a1a1a1a1-5900-4000-8000-000000000005";
const MSI_SP_A: &str = "a1a1a1a1-5900-4000-8000-000000000004";
const MSI_CLIENT_ID: &str = "a1a1a1a1-a100-4000-8000-000000000004";
const OPERATOR_SP_B: &str = "b2b2b2b2-5900-4000-8000-000000000002";
const READER_SP_B: &str = "b2b2b2b2-5900-4000-8000-000000000003";

/// The default scenario's key vault (in tenant A, `rg-aks`).
pub(crate) const VAULT_NAME: &str = "contoso-kv";

/// The SP cluster's egress address (its load balancer's outbound IP; TEST-NET-2): what a
/// registry's firewall sees of its nodes.
pub(crate) const CLUSTER_EGRESS_IP: &str = "198.51.100.20";
/// The managed-identity cluster's egress address.
const MSI_CLUSTER_EGRESS_IP: &str = "198.51.100.21";

/// The name the simulator gives the secrets it mints for `sim.env`.
pub(crate) const SIM_SECRET_NAME: &str = "azure-sim";

fn rg_a() -> String {
    format!("/subscriptions/{SUB_A}/resourceGroups/rg-aks")
}
fn rg_b() -> String {
    format!("/subscriptions/{SUB_B}/resourceGroups/rg-acr")
}

fn app(id: &str, app_id: &str, name: &str, multi: bool) -> Application {
    Application {
        id: id.into(),
        app_id: app_id.into(),
        tenant_id: TENANT_A.into(),
        display_name: name.into(),
        unique_name: None,
        sign_in_audience: if multi {
            "AzureADMultipleOrgs"
        } else {
            "AzureADMyOrg"
        }
        .into(),
        redirect_uris: vec!["https://www.microsoft.com".into()],
        created_at: now() - time::Duration::days(30),
        password_credentials: Vec::new(),
        federated_credentials: Vec::new(),
        properties: Map::new(),
        deleted_at: None,
        owners: Vec::new(),
    }
}

fn sp(id: &str, app_id: &str, tenant: &str, roles: &[&str]) -> ServicePrincipal {
    ServicePrincipal {
        id: id.into(),
        app_id: app_id.into(),
        tenant_id: tenant.into(),
        display_name: None,
        service_principal_type: "Application".into(),
        graph_app_roles: roles.iter().map(ToString::to_string).collect(),
        account_enabled: true,
        created_at: now() - time::Duration::days(30),
        properties: Map::new(),
    }
}

fn ra(name: &str, scope: &str, role: &str, principal: &str) -> RoleAssignment {
    let t = now() - time::Duration::days(30);
    RoleAssignment {
        name: name.into(),
        scope: scope.into(),
        role_definition_id: role.into(),
        principal_id: principal.into(),
        principal_type: Some("ServicePrincipal".into()),
        condition: None,
        condition_version: None,
        description: None,
        created_at: t,
        updated_at: t,
        created_by: None,
        updated_by: None,
    }
}

/// The ARM ids of the default scenario's resources.
struct Ids {
    cluster: String,
    msi_cluster: String,
    vnet: String,
    subnet: String,
    vault: String,
    acr: String,
    abac: String,
}

impl Ids {
    fn new() -> Self {
        let vnet = format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet-aks",
            rg_a()
        );
        Self {
            cluster: format!(
                "{}/providers/Microsoft.ContainerService/managedClusters/aks-prod",
                rg_a()
            ),
            msi_cluster: format!(
                "{}/providers/Microsoft.ContainerService/managedClusters/aks-msi",
                rg_a()
            ),
            subnet: format!("{vnet}/subnets/snet-nodes"),
            vnet,
            vault: format!(
                "{}/providers/Microsoft.KeyVault/vaults/{VAULT_NAME}",
                rg_a()
            ),
            acr: format!(
                "{}/providers/Microsoft.ContainerRegistry/registries/fabrikamacr",
                rg_b()
            ),
            abac: format!(
                "{}/providers/Microsoft.ContainerRegistry/registries/fabrikamabac",
                rg_b()
            ),
        }
    }
}

/// The default scenario, before secrets are minted.
pub(crate) fn default_state() -> State {
    let ids = Ids::new();
    let (cluster_id, msi_id) = (ids.cluster.clone(), ids.msi_cluster.clone());
    State {
        base: None,
        cloud: CloudName::AzureSim,
        behaviour: crate::behaviour::Behaviour::default(),
        azure_time: None,
        env_template: env_template(&ids),
        tenants: tenants(),
        subscriptions: subscriptions(),
        applications: applications(),
        deleted_applications: Vec::new(),
        service_principals: service_principals(),
        role_definitions: Vec::new(),
        role_assignments: role_assignments(&ids),
        registries: registries(&ids),
        clusters: vec![
            Cluster {
                id: cluster_id,
                location: "eastus".into(),
                service_principal_client_id: OLD_APP_ID.into(),
                secret_sha256: None,
                secret: None,
                identity: None,
                provisioning_state: "Succeeded".into(),
                kubernetes_version: "1.31.2".into(),
                tags: BTreeMap::new(),
                kube: crate::kube::ClusterKube {
                    egress_ip: Some(CLUSTER_EGRESS_IP.into()),
                    ..crate::kube::ClusterKube::default()
                },
                agent_pools: crate::nodes::default_pools(),
                node_resource_tags: BTreeMap::new(),
                name: String::new(),
                subscription_id: String::new(),
                resource_group: String::new(),
                tenant_id: String::new(),
            },
            Cluster {
                id: msi_id,
                location: "eastus".into(),
                service_principal_client_id: "msi".into(),
                secret_sha256: None,
                secret: None,
                identity: Some(ClusterIdentity {
                    kind: "SystemAssigned".into(),
                    principal_id: MSI_SP_A.into(),
                    tenant_id: TENANT_A.into(),
                }),
                provisioning_state: "Succeeded".into(),
                kubernetes_version: "1.31.2".into(),
                tags: BTreeMap::new(),
                kube: crate::kube::ClusterKube {
                    egress_ip: Some(MSI_CLUSTER_EGRESS_IP.into()),
                    ..crate::kube::ClusterKube::default()
                },
                agent_pools: crate::nodes::default_pools(),
                node_resource_tags: BTreeMap::new(),
                name: String::new(),
                subscription_id: String::new(),
                resource_group: String::new(),
                tenant_id: String::new(),
            },
        ],
        vaults: vec![Vault {
            id: ids.vault,
            location: "eastus".into(),
            soft_delete_retention_days: 90,
            secrets: Vec::new(),
            name: String::new(),
            tenant_id: String::new(),
        }],
        resources: vec![
            GenericResource {
                id: ids.vnet,
                location: "eastus".into(),
                properties: None,
            },
            GenericResource {
                id: ids.subnet,
                location: "eastus".into(),
                properties: None,
            },
        ],
        operations: Vec::new(),
        policies: Vec::new(),
    }
}

/// The `sim.env` template: the ids and names the tests and examples use.
fn env_template(ids: &Ids) -> Map<String, Value> {
    let mut env = Map::new();
    for (k, v) in [
        ("AZURE_CLIENT_ID", OPERATOR_APP_ID.to_string()),
        ("READER_CLIENT_ID", READER_APP_ID.to_string()),
        (
            "CLUSTER_WRITER_CLIENT_ID",
            CLUSTER_WRITER_APP_ID.to_string(),
        ),
        ("CLUSTER_TENANT_ID", TENANT_A.to_string()),
        ("REGISTRY_TENANT_ID", TENANT_B.to_string()),
        (
            "CLUSTER_TENANT_DOMAIN",
            "contoso-aks.onmicrosoft.com".to_string(),
        ),
        (
            "REGISTRY_TENANT_DOMAIN",
            "fabrikam-acr.onmicrosoft.com".to_string(),
        ),
        ("CLUSTER_SUBSCRIPTION_ID", SUB_A.to_string()),
        ("REGISTRY_SUBSCRIPTION_ID", SUB_B.to_string()),
        ("CLUSTER_ID", ids.cluster.clone()),
        ("CLUSTER_NAME", "aks-prod".to_string()),
        ("CLUSTER_EGRESS_IP", CLUSTER_EGRESS_IP.to_string()),
        ("MSI_CLUSTER_ID", ids.msi_cluster.clone()),
        ("REGISTRY_ID", ids.acr.clone()),
        ("REGISTRY_NAME", "fabrikamacr".to_string()),
        (
            "REGISTRY_LOGIN_SERVER",
            "{login_server:fabrikamacr}".to_string(),
        ),
        ("ABAC_REGISTRY_ID", ids.abac.clone()),
        ("ABAC_REGISTRY_NAME", "fabrikamabac".to_string()),
        (
            "REGISTRY_IMAGE",
            "{login_server:fabrikamacr}/samples/hello:1.0".to_string(),
        ),
        ("SUBNET_ID", ids.subnet.clone()),
        ("KEYVAULT_ID", ids.vault.clone()),
        ("KEYVAULT_NAME", VAULT_NAME.to_string()),
        ("KEYVAULT_URL", format!("{{vault_url:{VAULT_NAME}}}")),
    ] {
        env.insert(k.into(), Value::String(v));
    }
    env
}

/// Tenant A (the cluster's, with a 730-day secret lifetime policy) and tenant B.
fn tenants() -> Vec<Tenant> {
    vec![
        Tenant {
            id: TENANT_A.into(),
            display_name: "Contoso AKS".into(),
            domains: vec!["contoso-aks.onmicrosoft.com".into()],
            max_password_lifetime_days: Some(730),
            conditional_access: Vec::new(),
        },
        Tenant {
            id: TENANT_B.into(),
            display_name: "Fabrikam ACR".into(),
            domains: vec!["fabrikam-acr.onmicrosoft.com".into()],
            max_password_lifetime_days: None,
            conditional_access: Vec::new(),
        },
    ]
}

/// One subscription per tenant, one resource group each.
fn subscriptions() -> Vec<Subscription> {
    vec![
        Subscription {
            id: SUB_A.into(),
            tenant_id: TENANT_A.into(),
            display_name: "Contoso AKS Production".into(),
            resource_groups: vec![ResourceGroup {
                name: "rg-aks".into(),
                location: "eastus".into(),
            }],
        },
        Subscription {
            id: SUB_B.into(),
            tenant_id: TENANT_B.into(),
            display_name: "Fabrikam Registry".into(),
            resource_groups: vec![ResourceGroup {
                name: "rg-acr".into(),
                location: "eastus".into(),
            }],
        },
    ]
}

/// The cluster's old app, the operator (with a federated credential), the reader and the
/// cluster-only writer.
fn applications() -> Vec<Application> {
    let mut operator = app(OPERATOR_APP_OBJ, OPERATOR_APP_ID, "xtenant-operator", true);
    operator.federated_credentials.push(FederatedCredential {
        issuer: "https://oidc.azure.sim/cluster-a".into(),
        subject: "system:serviceaccount:xtenant:operator".into(),
        audiences: vec!["api://AzureADTokenExchange".into()],
    });
    vec![
        app(OLD_APP_OBJ, OLD_APP_ID, "aks-prod-legacy-sp", false),
        operator,
        app(READER_APP_OBJ, READER_APP_ID, "xtenant-reader", true),
        app(
            CLUSTER_WRITER_APP_OBJ,
            CLUSTER_WRITER_APP_ID,
            "aks-prod-cluster-writer",
            false,
        ),
    ]
}

/// Their service principals, and the managed identity cluster's.
fn service_principals() -> Vec<ServicePrincipal> {
    vec![
        sp(OLD_SP_A, OLD_APP_ID, TENANT_A, &[]),
        sp(
            OPERATOR_SP_A,
            OPERATOR_APP_ID,
            TENANT_A,
            &["Application.ReadWrite.All"],
        ),
        sp(
            READER_SP_A,
            READER_APP_ID,
            TENANT_A,
            &["Application.Read.All"],
        ),
        sp(CLUSTER_WRITER_SP_A, CLUSTER_WRITER_APP_ID, TENANT_A, &[]),
        ServicePrincipal {
            display_name: Some("aks-msi".into()),
            service_principal_type: "ManagedIdentity".into(),
            ..sp(MSI_SP_A, MSI_CLIENT_ID, TENANT_A, &[])
        },
        sp(
            OPERATOR_SP_B,
            OPERATOR_APP_ID,
            TENANT_B,
            &["Application.ReadWrite.All"],
        ),
        sp(
            READER_SP_B,
            READER_APP_ID,
            TENANT_B,
            &["Application.Read.All"],
        ),
    ]
}

/// The old principal's Network Contributor on the subnet; the operator's, reader's and
/// cluster writer's roles.
fn role_assignments(ids: &Ids) -> Vec<RoleAssignment> {
    vec![
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000001",
            &ids.subnet,
            rbac::NETWORK_CONTRIBUTOR,
            OLD_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000002",
            &format!("/subscriptions/{SUB_A}"),
            rbac::CONTRIBUTOR,
            OPERATOR_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000003",
            &format!("/subscriptions/{SUB_A}"),
            rbac::USER_ACCESS_ADMIN,
            OPERATOR_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000004",
            &format!("/subscriptions/{SUB_A}"),
            rbac::READER,
            READER_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000005",
            &ids.vault,
            keyvault::SECRETS_OFFICER,
            OPERATOR_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000006",
            &ids.vault,
            keyvault::SECRETS_USER,
            READER_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000007",
            &ids.cluster,
            rbac::AKS_CONTRIBUTOR,
            CLUSTER_WRITER_SP_A,
        ),
        ra(
            "b2b2b2b2-7a00-4000-8000-000000000001",
            &format!("/subscriptions/{SUB_B}"),
            rbac::OWNER,
            OPERATOR_SP_B,
        ),
        ra(
            "b2b2b2b2-7a00-4000-8000-000000000002",
            &format!("/subscriptions/{SUB_B}"),
            rbac::READER,
            READER_SP_B,
        ),
    ]
}

/// A legacy-mode Standard registry and an ABAC-mode Premium one, with `samples/hello`.
fn registries(ids: &Ids) -> Vec<Registry> {
    let images = |tags: &[&str]| {
        let mut m = BTreeMap::new();
        m.insert(
            "samples/hello".to_string(),
            tags.iter().map(ToString::to_string).collect(),
        );
        m
    };
    vec![
        Registry {
            id: ids.acr.clone(),
            location: "eastus".into(),
            role_assignment_mode: "LegacyRegistryPermissions".into(),
            sku: "Standard".into(),
            images: images(&["1.0", "latest"]),
            created_at: now() - time::Duration::days(30),
            network_rules: crate::firewall::NetworkRules::default(),
            name: String::new(),
            subscription_id: String::new(),
            resource_group: String::new(),
            tenant_id: String::new(),
        },
        Registry {
            id: ids.abac.clone(),
            location: "eastus".into(),
            role_assignment_mode: "AbacRepositoryPermissions".into(),
            sku: "Premium".into(),
            images: images(&["1.0"]),
            created_at: now() - time::Duration::days(30),
            network_rules: crate::firewall::NetworkRules::default(),
            name: String::new(),
            subscription_id: String::new(),
            resource_group: String::new(),
            tenant_id: String::new(),
        },
    ]
}

/// Give the default scenario's SP cluster a working secret of its old app.
pub(crate) fn mint_cluster_secret(state: &mut State) {
    let (secret, hint) = new_client_secret();
    let h = sha256_hex(secret.as_bytes());
    if let Some(a) = state
        .applications
        .iter_mut()
        .find(|a| a.app_id == OLD_APP_ID)
    {
        a.password_credentials.push(PasswordCredential {
            key_id: "a1a1a1a1-4e70-4000-8000-000000000001".into(),
            display_name: Some("aks-prod".into()),
            hint,
            start: now() - time::Duration::days(30),
            end: now() + time::Duration::days(300),
            secret_sha256: h.clone(),
            minted: None,
            secret: None,
        });
    }
    if let Some(c) = state
        .clusters
        .iter_mut()
        .find(|c| c.service_principal_client_id == OLD_APP_ID)
    {
        c.secret_sha256 = Some(h);
    }
}

/// For every `X_CLIENT_ID` in the env template naming an app, replace that app's
/// `azure-sim` secret with a fresh one; returns `X_CLIENT_SECRET` → secret.
pub(crate) fn mint_env_secrets(state: &mut State) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let pairs: Vec<(String, String)> = state
        .env_template
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .filter(|(k, _)| k.ends_with("_CLIENT_ID"))
        .collect();
    for (key, app_id) in pairs {
        let Some(app) = state
            .applications
            .iter_mut()
            .find(|a| a.app_id.eq_ignore_ascii_case(&app_id))
        else {
            continue;
        };
        let (secret, hint) = new_client_secret();
        app.password_credentials
            .retain(|p| p.display_name.as_deref() != Some(SIM_SECRET_NAME));
        app.password_credentials.push(PasswordCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name: Some(SIM_SECRET_NAME.into()),
            hint,
            start: now() - time::Duration::minutes(5),
            end: now() + time::Duration::days(365),
            secret_sha256: sha256_hex(secret.as_bytes()),
            minted: None,
            secret: None,
        });
        out.insert(
            format!("{}_CLIENT_SECRET", key.trim_end_matches("_CLIENT_ID")),
            secret,
        );
    }
    out
}

/// Render one template value: `{url}`, `{port}`, `{dir}`, `{login_server:NAME}` and
/// `{vault_url:NAME}` as the presented cloud writes them.
fn render(v: &str, cloud: &Presented, dir: &str) -> String {
    let mut s = v
        .replace("{url}", &cloud.local_url())
        .replace("{port}", &cloud.port().to_string())
        .replace("{dir}", dir);
    for (tag, make) in [
        (
            "{login_server:",
            Presented::login_server as fn(&Presented, &str) -> String,
        ),
        ("{vault_url:", Presented::vault_url),
    ] {
        let mut from = 0;
        while let Some(start) = s[from..].find(tag).map(|i| i + from) {
            let Some(len) = s[start..].find('}') else {
                break;
            };
            let name = s[start + tag.len()..start + len].to_ascii_lowercase();
            let text = make(cloud, &name);
            s.replace_range(start..=start + len, &text);
            from = start + text.len();
        }
    }
    s
}

/// The `sim.env` pairs, in order. For the China cloud the tools take `--cloud AzureChinaCloud`
/// with `XTENANT_RESOLVE` (its hosts to the listening address `ip`) and `XTENANT_CA_FILE`.
pub(crate) fn env_pairs(
    state: &State,
    secrets: &BTreeMap<String, String>,
    cloud: &Presented,
    ip: std::net::IpAddr,
    dir: &str,
    cloud_file: &str,
    ca_file: &str,
) -> Vec<(String, String)> {
    let mut out = match cloud.resolve_rules(ip) {
        Some(rules) => vec![
            ("XTENANT_CLOUD".to_string(), "AzureChinaCloud".to_string()),
            ("XTENANT_RESOLVE".to_string(), rules),
            ("XTENANT_CA_FILE".to_string(), ca_file.to_string()),
        ],
        None => vec![("XTENANT_CLOUD".to_string(), cloud_file.to_string())],
    };
    out.push(("SIM_URL".to_string(), cloud.local_url()));
    out.push(("SIM_CA_FILE".to_string(), ca_file.to_string()));
    for (k, v) in &state.env_template {
        let text = match v {
            Value::String(s) => render(s, cloud, dir),
            other => other.to_string(),
        };
        out.push((k.clone(), text));
        if let Some(prefix) = k.strip_suffix("_CLIENT_ID")
            && let Some(s) = secrets.get(&format!("{prefix}_CLIENT_SECRET"))
        {
            out.push((format!("{prefix}_CLIENT_SECRET"), s.clone()));
        }
    }
    out
}

/// A `KEY=value` line, single-quoting the value when the shell would otherwise mangle it.
pub(crate) fn env_line(k: &str, v: &str) -> String {
    let safe = !v.is_empty()
        && !v.starts_with('~')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+,=~-".contains(c));
    if safe {
        format!("{k}={v}\n")
    } else {
        format!("{k}='{}'\n", v.replace('\'', "'\\''"))
    }
}

/// The custom cloud file: the local cloud at `url`, or China's real endpoints (usable with
/// the resolve override of `sim.env`, as `--cloud AzureChinaCloud` is).
pub(crate) fn cloud_json(url: &str, ca_file: &str, cloud: &Presented) -> Value {
    let local = cloud.name == CloudName::AzureSim;
    let mut v = json!({
        "name": if local { "AzureSim" } else { "AzureChinaSim" },
        "login_endpoint": cloud.login_url(),
        "graph_endpoint": cloud.graph_url(),
        "graph_audience": cloud.graph_audiences()[0],
        "arm_endpoint": cloud.arm_url(),
        "arm_audience": format!("{}/", cloud.arm_audiences()[0]),
        "registry_suffix": cloud.registry_suffix(),
        "ca_file": ca_file,
        "keyvault_suffix": cloud.keyvault_suffix(),
        "keyvault_audience": cloud.keyvault_audience(),
    });
    if local {
        // Registries and vaults are named hosts served at the one local address.
        v["registry_connect_addr"] = json!("127.0.0.1");
        v["keyvault_connect_addr"] = json!("127.0.0.1");
        debug_assert_eq!(cloud.login_url(), url);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::{env_line, render};
    use crate::cloud::{CloudName, Presented};

    #[test]
    fn env_quoting() {
        assert_eq!(env_line("A", "abc8Q~x-y_z."), "A=abc8Q~x-y_z.\n");
        assert_eq!(env_line("A", "a b"), "A='a b'\n");
        assert_eq!(env_line("A", "it's"), "A='it'\\''s'\n");
    }

    #[test]
    fn template() {
        let local = Presented::new(CloudName::AzureSim, "https://127.0.0.1:7", 7);
        assert_eq!(
            render("{login_server:FAB}/x {vault_url:kv} {url}", &local, "d"),
            "fab.azurecr.sim:7/x https://kv.vault.azure.sim:7 https://127.0.0.1:7"
        );
        let china = Presented::new(CloudName::AzureChinaCloud, "https://127.0.0.1:7", 7);
        assert_eq!(
            render("{login_server:fab}/x {login_server:b}", &china, "d"),
            "fab.azurecr.cn/x b.azurecr.cn"
        );
    }
}
