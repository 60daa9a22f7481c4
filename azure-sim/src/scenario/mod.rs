//! The built-in default scenario (fixed ids) and the secrets minted at start; the Entra
//! objects are in [`directory`], the `sim.env` and cloud file the simulator writes in [`env`].

mod directory;
mod env;

use std::collections::BTreeMap;

use crate::cloud::CloudName;
use crate::crypto::{new_client_secret, sha256_hex};
use crate::model::kube::ClusterKube;
use crate::model::roles;
use crate::model::vault::Vault;
use crate::model::{
    Cluster, ClusterIdentity, GenericResource, MSI, PasswordCredential, Registry, ResourceGroup,
    RoleAssignment, State, Subscription,
};

pub(crate) use env::{cloud_json, env_line, env_pairs, mint_env_secrets};

/// The scenario is built at start, when Azure's clock and the real one agree.
use crate::clock::wall as now;

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
        env_template: env::env_template(&ids),
        tenants: directory::tenants(),
        subscriptions: subscriptions(),
        applications: directory::applications(),
        deleted_applications: Vec::new(),
        service_principals: directory::service_principals(),
        role_definitions: Vec::new(),
        role_assignments: role_assignments(&ids),
        registries: registries(&ids),
        clusters: vec![
            cluster(cluster_id, OLD_APP_ID, None, CLUSTER_EGRESS_IP),
            cluster(
                msi_id,
                MSI,
                Some(ClusterIdentity {
                    kind: "SystemAssigned".into(),
                    principal_id: MSI_SP_A.into(),
                    tenant_id: TENANT_A.into(),
                }),
                MSI_CLUSTER_EGRESS_IP,
            ),
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

/// A cluster of the default scenario: one system pool, nothing yet derived.
fn cluster(
    id: String,
    client_id: &str,
    identity: Option<ClusterIdentity>,
    egress_ip: &str,
) -> Cluster {
    Cluster {
        id,
        location: "eastus".into(),
        service_principal_client_id: client_id.into(),
        secret_sha256: None,
        secret: None,
        identity,
        provisioning_state: "Succeeded".into(),
        kubernetes_version: "1.31.2".into(),
        tags: BTreeMap::new(),
        kube: ClusterKube {
            egress_ip: Some(egress_ip.into()),
            ..ClusterKube::default()
        },
        agent_pools: crate::nodes::default_pools(),
        node_resource_tags: BTreeMap::new(),
        revision: 0,
        name: String::new(),
        subscription_id: String::new(),
        resource_group: String::new(),
        tenant_id: String::new(),
    }
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

/// The old principal's Network Contributor on the subnet; the operator's, reader's and
/// cluster writer's roles.
fn role_assignments(ids: &Ids) -> Vec<RoleAssignment> {
    vec![
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000001",
            &ids.subnet,
            roles::NETWORK_CONTRIBUTOR,
            OLD_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000002",
            &format!("/subscriptions/{SUB_A}"),
            roles::CONTRIBUTOR,
            OPERATOR_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000003",
            &format!("/subscriptions/{SUB_A}"),
            roles::USER_ACCESS_ADMIN,
            OPERATOR_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000004",
            &format!("/subscriptions/{SUB_A}"),
            roles::READER,
            READER_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000005",
            &ids.vault,
            roles::SECRETS_OFFICER,
            OPERATOR_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000006",
            &ids.vault,
            roles::SECRETS_USER,
            READER_SP_A,
        ),
        ra(
            "a1a1a1a1-7a00-4000-8000-000000000007",
            &ids.cluster,
            roles::AKS_CONTRIBUTOR,
            CLUSTER_WRITER_SP_A,
        ),
        ra(
            "b2b2b2b2-7a00-4000-8000-000000000001",
            &format!("/subscriptions/{SUB_B}"),
            roles::OWNER,
            OPERATOR_SP_B,
        ),
        ra(
            "b2b2b2b2-7a00-4000-8000-000000000002",
            &format!("/subscriptions/{SUB_B}"),
            roles::READER,
            READER_SP_B,
        ),
    ]
}

/// A legacy-mode Standard registry and an ABAC-mode Premium one, with `samples/hello`.
fn registries(ids: &Ids) -> Vec<Registry> {
    vec![
        registry(
            &ids.acr,
            "LegacyRegistryPermissions",
            "Standard",
            &["1.0", "latest"],
        ),
        registry(&ids.abac, "AbacRepositoryPermissions", "Premium", &["1.0"]),
    ]
}

/// A registry of the default scenario holding `samples/hello` with `tags`, its firewall open.
fn registry(id: &str, mode: &str, sku: &str, tags: &[&str]) -> Registry {
    let mut images = BTreeMap::new();
    images.insert(
        "samples/hello".to_string(),
        tags.iter().map(ToString::to_string).collect(),
    );
    Registry {
        id: id.into(),
        location: "eastus".into(),
        role_assignment_mode: mode.into(),
        sku: sku.into(),
        images,
        created_at: now() - time::Duration::days(30),
        network_rules: crate::firewall::NetworkRules::default(),
        name: String::new(),
        subscription_id: String::new(),
        resource_group: String::new(),
        tenant_id: String::new(),
    }
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
