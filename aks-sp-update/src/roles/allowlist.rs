//! Which roles step 4 may copy to the app's service principal, and which it never copies.
//!
//! The allowlist is the AKS documentation's list of what a cluster's service principal is
//! given on other resources, matched by the built-in role definitions' GUIDs (fixed across
//! Azure; a custom role may carry any name, never a built-in's GUID):
//!
//! - "Use a service principal with AKS", *Delegate access to other Azure resources*
//!   (<https://learn.microsoft.com/azure/aks/kubernetes-service-principal#delegate-access-to-other-azure-resources>):
//!   Network Contributor on a subnet or virtual network (*Networking*), Virtual Machine
//!   Contributor for disks in another resource group (*Storage*), AcrPull for a registry
//!   (*Azure Container Registry*), Key Vault Secrets User (its example);
//! - "Create a private AKS cluster", custom private DNS zone
//!   (<https://learn.microsoft.com/azure/aks/private-clusters>): Private DNS Zone Contributor
//!   (and Network Contributor on the virtual network);
//! - "AKS service permissions reference"
//!   (<https://learn.microsoft.com/azure/aks/aks-service-permissions>): the node identity's
//!   pull from a registry in ABAC mode, Container Registry Repository Reader.
//!
//! The same page's Contributor (for Azure Container Instances in another resource group) is
//! privileged and left out: Owner, Contributor, User Access Administrator, Role Based Access
//! Control Administrator, and any role whose actions include `*`,
//! `Microsoft.Authorization/*/write` or `Microsoft.Authorization/roleAssignments/write`
//! (wildcards read as ARM reads them) are never copied.

use common::arm::{Permission, role_definition};
use common::driver::{Ctx, Memo};
use common::http::Api;
use common::validate::is_guid;

/// A built-in role the tool knows by its GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    /// The role definition's GUID (lower case).
    pub guid: &'static str,
    /// Its name, for messages.
    pub name: &'static str,
    /// What it is to the copy.
    pub kind: Kind,
}

/// What a role is to the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// On the allowlist: copied at the cluster's resources and at scopes the flags name.
    Needed,
    /// Never copied.
    Privileged,
    /// Not a role the cluster's identity needs: not copied.
    Other,
}

/// Network Contributor.
pub(crate) const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";

/// The built-in roles the tool knows without reading their definitions.
pub(crate) const KNOWN: &[Known] = &[
    Known {
        guid: NETWORK_CONTRIBUTOR,
        name: "Network Contributor",
        kind: Kind::Needed,
    },
    Known {
        guid: "b12aa53e-6015-4669-85d0-8515ebb3ae7f",
        name: "Private DNS Zone Contributor",
        kind: Kind::Needed,
    },
    Known {
        guid: "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        name: "Virtual Machine Contributor",
        kind: Kind::Needed,
    },
    Known {
        guid: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        name: "AcrPull",
        kind: Kind::Needed,
    },
    Known {
        guid: "b93aa761-3e63-49ed-ac28-beffa264f7ac",
        name: "Container Registry Repository Reader",
        kind: Kind::Needed,
    },
    Known {
        guid: "4633458b-17de-408a-b874-0445c86b69e6",
        name: "Key Vault Secrets User",
        kind: Kind::Needed,
    },
    Known {
        guid: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        name: "Owner",
        kind: Kind::Privileged,
    },
    Known {
        guid: "b24988ac-6180-42a0-ab88-20f7382dd24c",
        name: "Contributor",
        kind: Kind::Privileged,
    },
    Known {
        guid: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        name: "User Access Administrator",
        kind: Kind::Privileged,
    },
    Known {
        guid: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        name: "Role Based Access Control Administrator",
        kind: Kind::Privileged,
    },
    Known {
        guid: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        name: "Reader",
        kind: Kind::Other,
    },
];

/// The known built-in role with this GUID.
pub(crate) fn known(guid: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.guid.eq_ignore_ascii_case(guid))
}

/// Whether the role with this GUID is on the allowlist.
pub(crate) fn needed(guid: &str) -> bool {
    known(guid).is_some_and(|k| k.kind == Kind::Needed)
}

/// The actions that make a role privileged: assigning roles, or defining them.
const GUARDED: [&str; 2] = [
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
];

/// Whether a role definition's `properties.permissions` make it privileged: an action of
/// `*`, or one whose wildcards cover assigning or defining roles (`Microsoft.Authorization/*`,
/// `*/write`, …). `notActions` are not subtracted: a role granting `*` is privileged whatever
/// it excludes (Contributor). Unreadable permissions count as privileged.
pub(crate) fn privileged(permissions: Option<&[Permission]>) -> bool {
    let Some(entries) = permissions else {
        return true;
    };
    entries
        .iter()
        .flat_map(|e| &e.actions)
        .any(|a| a.trim() == "*" || GUARDED.iter().any(|g| wildcard_match(a.trim(), g)))
}

/// ARM's action match: case-insensitive, `*` matching any run of characters.
fn wildcard_match(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let mut parts = p.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = a.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// A role the tool does not know by its GUID, read once per run: its name, and whether its
/// permissions are privileged ([`allowlist::privileged`]).
#[derive(Default)]
struct Definitions(Memo<(String, String), (String, bool)>);

/// The name and kind of the role `guid` (read from its definition when not a known
/// built-in; one that cannot be read counts as privileged).
pub(crate) async fn classify(
    ctx: &Ctx,
    arm: &Api<'_>,
    subscription: &str,
    guid: &str,
) -> (String, Kind) {
    if let Some(k) = known(guid) {
        return (k.name.to_owned(), k.kind);
    }
    if !is_guid(guid) {
        return (guid.to_owned(), Kind::Privileged);
    }
    let key = (arm.tenant().to_ascii_lowercase(), guid.to_ascii_lowercase());
    let read = ctx
        .state::<Definitions>()
        .0
        .get_or(key, || async {
            let id = format!(
                "/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
            );
            let def = role_definition(arm, &id).await?;
            Ok(def.map(|d| {
                let privileged = privileged(d.permissions.as_deref());
                (d.role_name, privileged)
            }))
        })
        .await;
    match read {
        Ok(Some((name, true))) => (name, Kind::Privileged),
        Ok(Some((name, false))) => (name, Kind::Other),
        _ => (guid.to_owned(), Kind::Privileged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_allowlist_is_never_privileged_and_the_privileged_are_known() {
        for k in KNOWN {
            assert_eq!(k.guid, k.guid.to_ascii_lowercase(), "{}", k.name);
        }
        for name in [
            "Owner",
            "Contributor",
            "User Access Administrator",
            "Role Based Access Control Administrator",
        ] {
            let k = KNOWN.iter().find(|k| k.name == name).unwrap();
            assert_eq!(k.kind, Kind::Privileged, "{name}");
            assert!(!needed(k.guid));
        }
        assert!(needed("4D97B98B-1D4F-4787-A291-C67834D212E7"));
        assert!(!needed("00000000-0000-0000-0000-000000000000"));
    }

    #[test]
    fn roles_that_may_assign_roles_or_do_anything_are_privileged() {
        let p = |actions: &[&str]| {
            let perms: Vec<Permission> =
                serde_json::from_value(json!([{"actions": actions, "notActions": []}])).unwrap();
            privileged(Some(&perms))
        };
        assert!(p(&["*"]));
        assert!(p(&[
            "Microsoft.Network/*",
            "Microsoft.Authorization/*/write"
        ]));
        assert!(p(&["microsoft.authorization/roleassignments/write"]));
        assert!(p(&["Microsoft.Authorization/*"]));
        assert!(p(&["*/write"]));
        assert!(p(&["Microsoft.Authorization/roleDefinitions/*"]));
        assert!(!p(&[
            "Microsoft.Network/*",
            "Microsoft.Authorization/*/read",
            "*/read"
        ]));
        assert!(!p(&["Microsoft.Compute/disks/write"]));
        assert!(!p(&[]));
        assert!(privileged(None), "unreadable permissions are privileged");
        // Permissions that are not a list do not make a definition: `classify` counts a role
        // whose definition cannot be read as privileged.
        let unreadable =
            json!({"id": "/d", "properties": {"roleName": "x", "permissions": {"actions": ["x"]}}});
        assert!(serde_json::from_value::<common::arm::RoleDefinition>(unreadable).is_err());
    }

    #[test]
    fn wildcards_match_as_arm_matches_them() {
        assert!(wildcard_match("a/*/c", "a/b/c"));
        assert!(wildcard_match("A/*", "a/b/c"));
        assert!(!wildcard_match("a/*/d", "a/b/c"));
        assert!(wildcard_match("*b*", "abc"));
        assert!(!wildcard_match("abc", "abcd"));
        assert!(wildcard_match("abc", "ABC"));
    }
}
