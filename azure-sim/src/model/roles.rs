//! Azure's built-in role definitions the simulator knows, with their real GUIDs and
//! permissions: ARM's and the registries' (for `rbac.rs`), and Key Vault's secrets roles with
//! the data actions its data plane checks (for `keyvault/`).

use super::RoleDefinition;

/// Owner.
pub(crate) const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// Contributor.
pub(crate) const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
/// Reader.
pub(crate) const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// User Access Administrator.
pub(crate) const USER_ACCESS_ADMIN: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
/// Network Contributor.
pub(crate) const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
/// Azure Kubernetes Service Contributor Role: reads and writes clusters (their tags too), nothing else.
pub(crate) const AKS_CONTRIBUTOR: &str = "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8";
/// `AcrPull`.
pub(crate) const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

fn role(
    id: &str,
    name: &str,
    description: &str,
    actions: &[&str],
    not_actions: &[&str],
    data_actions: &[&str],
) -> RoleDefinition {
    let v = |xs: &[&str]| xs.iter().map(ToString::to_string).collect::<Vec<_>>();
    RoleDefinition {
        id: id.into(),
        role_name: name.into(),
        description: description.into(),
        role_type: "BuiltInRole".into(),
        actions: v(actions),
        not_actions: v(not_actions),
        data_actions: v(data_actions),
        not_data_actions: Vec::new(),
        assignable_scopes: vec!["/".into()],
    }
}

const REPO_READ: &[&str] = &[
    "Microsoft.ContainerRegistry/registries/repositories/metadata/read",
    "Microsoft.ContainerRegistry/registries/repositories/content/read",
];

/// The built-in roles the simulator knows, with their real GUIDs and permissions.
pub(crate) fn builtin_roles() -> Vec<RoleDefinition> {
    let write = [
        REPO_READ[0],
        REPO_READ[1],
        "Microsoft.ContainerRegistry/registries/repositories/metadata/write",
        "Microsoft.ContainerRegistry/registries/repositories/content/write",
    ];
    let contrib = [
        write[0],
        write[1],
        write[2],
        write[3],
        "Microsoft.ContainerRegistry/registries/repositories/metadata/delete",
        "Microsoft.ContainerRegistry/registries/repositories/content/delete",
    ];
    let mut roles = vec![
        role(
            OWNER,
            "Owner",
            "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
            &["*"],
            &[],
            &[],
        ),
        role(
            CONTRIBUTOR,
            "Contributor",
            "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
            &["*"],
            &[
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
                "Microsoft.Compute/galleries/share/action",
                "Microsoft.Purview/consents/write",
                "Microsoft.Purview/consents/delete",
                "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
                "Microsoft.Subscription/cancel/action",
                "Microsoft.Subscription/enable/action",
            ],
            &[],
        ),
        role(
            READER,
            "Reader",
            "View all resources, but does not allow you to make any changes.",
            &["*/read"],
            &[],
            &[],
        ),
        role(
            USER_ACCESS_ADMIN,
            "User Access Administrator",
            "Lets you manage user access to Azure resources.",
            &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
            &[],
            &[],
        ),
        role(
            "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
            "Role Based Access Control Administrator",
            "Manage access to Azure resources by assigning roles using Azure RBAC.",
            &[
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/delete",
                "*/read",
                "Microsoft.Support/*",
            ],
            &[],
            &[],
        ),
        role(
            NETWORK_CONTRIBUTOR,
            "Network Contributor",
            "Lets you manage networks, but not access to them.",
            &[
                "Microsoft.Authorization/*/read",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.Network/*",
                "Microsoft.ResourceHealth/availabilityStatuses/read",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Support/*",
            ],
            &[],
            &[],
        ),
        role(
            "b12aa53e-6015-4669-85d0-8515ebb3ae7f",
            "Private DNS Zone Contributor",
            "Lets you manage private DNS zone resources, but not the virtual networks they are linked to.",
            &[
                "Microsoft.Authorization/*/read",
                "Microsoft.Insights/alertRules/*",
                "Microsoft.Network/privateDnsZones/*",
                "Microsoft.Network/privateDnsOperationResults/*",
                "Microsoft.Network/privateDnsOperationStatuses/*",
                "Microsoft.Network/virtualNetworks/read",
                "Microsoft.Network/virtualNetworks/join/action",
                "Microsoft.Resources/deployments/*",
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "Microsoft.Support/*",
            ],
            &[],
            &[],
        ),
        role(
            AKS_CONTRIBUTOR,
            "Azure Kubernetes Service Contributor Role",
            "Grants access to read and write Azure Kubernetes Service clusters",
            &[
                "Microsoft.ContainerService/managedClusters/read",
                "Microsoft.ContainerService/managedClusters/write",
                "Microsoft.Resources/deployments/*",
            ],
            &[],
            &[],
        ),
        role(
            ACR_PULL,
            "AcrPull",
            "acr pull",
            &["Microsoft.ContainerRegistry/registries/pull/read"],
            &[],
            &[],
        ),
        role(
            "8311e382-0749-4cb8-b61a-304f252e45ec",
            "AcrPush",
            "acr push",
            &[
                "Microsoft.ContainerRegistry/registries/pull/read",
                "Microsoft.ContainerRegistry/registries/push/write",
            ],
            &[],
            &[],
        ),
        role(
            "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
            "AcrDelete",
            "acr delete",
            &["Microsoft.ContainerRegistry/registries/artifacts/delete"],
            &[],
            &[],
        ),
        role(
            "b93aa761-3e63-49ed-ac28-beffa264f7ac",
            "Container Registry Repository Reader",
            "Allows read access to Azure Container Registry repositories, but excluding catalog listing.",
            &[],
            &[],
            REPO_READ,
        ),
        role(
            "2a1e307c-b015-4ebd-883e-5b7698a07328",
            "Container Registry Repository Writer",
            "Allows read, write access to Azure Container Registry repositories, but excluding catalog listing.",
            &[],
            &[],
            &write,
        ),
        role(
            "2efddaa5-3f1f-4df3-97df-af3f13818f4c",
            "Container Registry Repository Contributor",
            "Allows read, write, and delete access to Azure Container Registry repositories, but excluding catalog listing.",
            &[],
            &[],
            &contrib,
        ),
        role(
            "bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7",
            "Container Registry Repository Catalog Lister",
            "Allows for listing all repositories in an Azure Container Registry.",
            &[],
            &[],
            &["Microsoft.ContainerRegistry/registries/catalog/read"],
        ),
        role(
            "577a9874-89fd-4f24-9dbd-b5034d0ad23a",
            "Container Registry Data Importer and Data Reader",
            "Allows for importing images into a registry and reading its content.",
            &[
                "Microsoft.ContainerRegistry/registries/read",
                "Microsoft.ContainerRegistry/registries/importImage/action",
            ],
            &[],
            REPO_READ,
        ),
    ];
    roles.extend(key_vault_roles());
    roles
}

/// Key Vault Administrator.
pub(crate) const ADMINISTRATOR: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
/// Key Vault Secrets Officer.
pub(crate) const SECRETS_OFFICER: &str = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
/// Key Vault Secrets User.
pub(crate) const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

/// Key Vault's data actions on secrets.
pub(crate) const GET_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/getSecret/action";
pub(crate) const SET_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/setSecret/action";
pub(crate) const READ_METADATA: &str = "Microsoft.KeyVault/vaults/secrets/readMetadata/action";
pub(crate) const DELETE_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/delete";
pub(crate) const UPDATE_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/update/action";

/// The three Key Vault data-plane roles for secrets, with their real GUIDs and permissions.
fn key_vault_roles() -> Vec<RoleDefinition> {
    let officer_actions = [
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
        "Microsoft.KeyVault/checkNameAvailability/read",
        "Microsoft.KeyVault/deletedVaults/read",
        "Microsoft.KeyVault/locations/*/read",
        "Microsoft.KeyVault/vaults/*/read",
        "Microsoft.KeyVault/operations/read",
    ];
    vec![
        role(
            ADMINISTRATOR,
            "Key Vault Administrator",
            "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
            &officer_actions,
            &[],
            &["Microsoft.KeyVault/vaults/*"],
        ),
        role(
            SECRETS_OFFICER,
            "Key Vault Secrets Officer",
            "Perform any action on the secrets of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
            &officer_actions,
            &[],
            &["Microsoft.KeyVault/vaults/secrets/*"],
        ),
        role(
            SECRETS_USER,
            "Key Vault Secrets User",
            "Read secret contents. Only works for key vaults that use the 'Azure role-based access control' permission model.",
            &[],
            &[],
            &[GET_SECRET, READ_METADATA],
        ),
    ]
}
