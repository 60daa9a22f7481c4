//! Azure RBAC: the built-in role definitions and permission evaluation over role assignments.
//!
//! Control-plane checks match an action against a role's `actions` minus `notActions`, with
//! `*` wildcards, over every assignment at the scope or above. Registry data-plane checks follow
//! the registry's mode: legacy registries honour roles whose actions name the registry's
//! `pull/read` (or `*`, not the generic `*/read`); ABAC registries honour only `dataActions`
//! on repositories, optionally narrowed by a repository-name condition.

use time::OffsetDateTime;

use crate::model::{Registry, RoleAssignment, RoleDefinition, State};

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
    // Key Vault's data-plane roles live beside its data plane.
    roles.extend(crate::keyvault::builtin_roles());
    roles
}

/// Case-insensitive glob match where `*` matches any run of characters.
pub(crate) fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let v = value.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == v;
    }
    let mut rest = v.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// Normalise a scope: leading `/`, no trailing `/` (the root stays `/`).
pub(crate) fn normalize_scope(scope: &str) -> String {
    let t = scope.trim().trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else if t.starts_with('/') {
        t.into()
    } else {
        format!("/{t}")
    }
}

/// Whether `outer` is `inner` or one of its ancestors (case-insensitive).
pub(crate) fn scope_covers(outer: &str, inner: &str) -> bool {
    let o = normalize_scope(outer).to_ascii_lowercase();
    let i = normalize_scope(inner).to_ascii_lowercase();
    o == "/" || o == i || i.starts_with(&format!("{o}/"))
}

fn role_allows(rd: &RoleDefinition, action: &str) -> bool {
    rd.actions.iter().any(|p| wildcard_match(p, action))
        && !rd.not_actions.iter().any(|p| wildcard_match(p, action))
}

/// Whether `principal_id` may perform `action` at `scope` through any assignment there or above.
pub(crate) fn allows(state: &State, principal_id: &str, scope: &str, action: &str) -> bool {
    state.role_assignments.iter().any(|ra| {
        ra.principal_id.eq_ignore_ascii_case(principal_id)
            && scope_covers(&ra.scope, scope)
            && state
                .role_definition(&ra.role_definition_id)
                .is_some_and(|rd| role_allows(rd, action))
    })
}

/// Whether the principal holds any assignment at, above or below `scope`.
pub(crate) fn has_any_role_near(state: &State, principal_id: &str, scope: &str) -> bool {
    state.role_assignments.iter().any(|ra| {
        ra.principal_id.eq_ignore_ascii_case(principal_id)
            && (scope_covers(&ra.scope, scope) || scope_covers(scope, &ra.scope))
    })
}

/// The registry data-plane action a token scope asks for, as a role action (legacy) and
/// data action (ABAC).
fn data_plane_actions(action: &str) -> Option<(&'static str, &'static str)> {
    match action {
        "pull" => Some((
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/repositories/content/read",
        )),
        "push" => Some((
            "Microsoft.ContainerRegistry/registries/push/write",
            "Microsoft.ContainerRegistry/registries/repositories/content/write",
        )),
        "delete" => Some((
            "Microsoft.ContainerRegistry/registries/artifacts/delete",
            "Microsoft.ContainerRegistry/registries/repositories/content/delete",
        )),
        _ => None,
    }
}

fn legacy_role_allows(rd: &RoleDefinition, action: &str) -> bool {
    // The generic `*/read` of Reader-like roles does not reach the registry's data plane.
    rd.actions
        .iter()
        .any(|p| !p.starts_with("*/") && wildcard_match(p, action))
        && !rd.not_actions.iter().any(|p| wildcard_match(p, action))
}

fn abac_role_allows(rd: &RoleDefinition, data_action: &str) -> bool {
    rd.data_actions
        .iter()
        .any(|p| wildcard_match(p, data_action))
        && !rd
            .not_data_actions
            .iter()
            .any(|p| wildcard_match(p, data_action))
}

/// Whether an ABAC condition lets the assignment apply to `repo`.
///
/// Understands clauses `@Request[...repositories:name] <op> 'value'` (or `@Resource[...]`) with
/// `StringEquals`, `StringStartsWith`, `StringLike` and their `IgnoreCase` forms; any matching
/// clause allows. A condition with no such clause allows nothing.
pub(crate) fn condition_allows_repo(condition: Option<&str>, repo: &str) -> bool {
    let Some(cond) = condition.filter(|c| !c.trim().is_empty()) else {
        return true;
    };
    let mut rest = cond;
    while let Some(pos) = rest.find("repositories:name]") {
        rest = &rest[pos + "repositories:name]".len()..];
        let after = rest.trim_start();
        let op_end = after.find(char::is_whitespace).unwrap_or(after.len());
        let op = &after[..op_end];
        let Some(q1) = after.find('\'') else { break };
        let Some(q2) = after[q1 + 1..].find('\'') else {
            break;
        };
        let value = &after[q1 + 1..q1 + 1 + q2];
        let ci = op.ends_with("IgnoreCase");
        let (r, v) = if ci {
            (repo.to_ascii_lowercase(), value.to_ascii_lowercase())
        } else {
            (repo.to_string(), value.to_string())
        };
        let hit = if op.starts_with("StringEquals") {
            r == v
        } else if op.starts_with("StringStartsWith") {
            r.starts_with(&v)
        } else if op.starts_with("StringLike") {
            wildcard_match(&v, &r)
        } else {
            false
        };
        if hit {
            return true;
        }
    }
    false
}

/// The data-plane actions (`pull`, `push`, `delete`) `principal_id` holds on `repo` of `reg`,
/// counting only assignments older than `delay` (propagated).
pub(crate) fn registry_grants(
    state: &State,
    reg: &Registry,
    principal_id: &str,
    repo: &str,
    requested: &[String],
    at: OffsetDateTime,
    delay: time::Duration,
) -> Vec<String> {
    let effective: Vec<&RoleAssignment> = state
        .role_assignments
        .iter()
        .filter(|ra| {
            ra.principal_id.eq_ignore_ascii_case(principal_id)
                && scope_covers(&ra.scope, &reg.id)
                && ra.created_at.saturating_add(delay) <= at
        })
        .collect();
    let mut out = Vec::new();
    for want in requested {
        let names: Vec<&str> = if want == "*" {
            vec!["pull", "push", "delete"]
        } else {
            vec![want.as_str()]
        };
        for name in names {
            let Some((legacy, abac)) = data_plane_actions(name) else {
                continue;
            };
            let ok = effective.iter().any(|ra| {
                state
                    .role_definition(&ra.role_definition_id)
                    .is_some_and(|rd| {
                        if reg.is_abac() {
                            abac_role_allows(rd, abac)
                                && condition_allows_repo(ra.condition.as_deref(), repo)
                        } else {
                            legacy_role_allows(rd, legacy)
                        }
                    })
            });
            if ok && !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{condition_allows_repo, normalize_scope, scope_covers, wildcard_match};

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "Microsoft.X/y/write"));
        assert!(wildcard_match("*/read", "Microsoft.X/y/read"));
        assert!(!wildcard_match("*/read", "Microsoft.X/y/write"));
        assert!(wildcard_match(
            "Microsoft.Authorization/*/Write",
            "microsoft.authorization/roleAssignments/write"
        ));
        assert!(wildcard_match(
            "Microsoft.Network/*",
            "Microsoft.Network/virtualNetworks/subnets/join/action"
        ));
        assert!(!wildcard_match(
            "Microsoft.Network/*",
            "Microsoft.Compute/x"
        ));
    }

    #[test]
    fn scopes() {
        assert!(scope_covers(
            "/subscriptions/A",
            "/subscriptions/a/resourceGroups/x"
        ));
        assert!(!scope_covers("/subscriptions/A", "/subscriptions/AB"));
        assert!(scope_covers("/", "/subscriptions/a"));
        assert_eq!(normalize_scope("subscriptions/a/"), "/subscriptions/a");
    }

    #[test]
    fn conditions() {
        let c = "((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'})) OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'samples/'))";
        assert!(condition_allows_repo(Some(c), "Samples/hello"));
        assert!(!condition_allows_repo(Some(c), "other"));
        assert!(condition_allows_repo(None, "x"));
        assert!(!condition_allows_repo(Some("garbage"), "x"));
    }
}
