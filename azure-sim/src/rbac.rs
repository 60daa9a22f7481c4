//! Azure RBAC: permission evaluation over role assignments (the built-in role definitions are
//! in `model/roles.rs`).
//!
//! Control-plane checks match an action against a role's `actions` minus `notActions`, with
//! `*` wildcards, over every assignment at the scope or above. Registry data-plane checks follow
//! the registry's mode: legacy registries honour roles whose actions name the registry's
//! `pull/read` (or `*`, not the generic `*/read`); ABAC registries honour only `dataActions`
//! on repositories, optionally narrowed by a repository-name condition.

use time::OffsetDateTime;

use crate::model::{Registry, RoleAssignment, RoleDefinition, State};

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

/// Whether `action` matches one of `patterns` and none of `excluded`.
fn permitted<'p>(
    patterns: impl IntoIterator<Item = &'p String>,
    excluded: &[String],
    action: &str,
) -> bool {
    patterns.into_iter().any(|p| wildcard_match(p, action))
        && !excluded.iter().any(|p| wildcard_match(p, action))
}

fn role_allows(rd: &RoleDefinition, action: &str) -> bool {
    permitted(&rd.actions, &rd.not_actions, action)
}

/// Whether the role grants `data_action` (its `dataActions` minus `notDataActions`).
pub(crate) fn grants_data_action(rd: &RoleDefinition, data_action: &str) -> bool {
    permitted(&rd.data_actions, &rd.not_data_actions, data_action)
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
    let specific = rd.actions.iter().filter(|p| !p.starts_with("*/"));
    permitted(specific, &rd.not_actions, action)
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

/// The assignments of `principal_id` at `scope` or above it that have reached the data plane
/// by `at`: made `delay` (the role propagation) or more before it.
fn propagated<'s>(
    state: &'s State,
    principal_id: &'s str,
    scope: &'s str,
    at: OffsetDateTime,
    delay: time::Duration,
) -> impl Iterator<Item = &'s RoleAssignment> {
    state.role_assignments.iter().filter(move |ra| {
        ra.principal_id.eq_ignore_ascii_case(principal_id)
            && scope_covers(&ra.scope, scope)
            && ra.created_at.saturating_add(delay) <= at
    })
}

/// Whether `principal_id` holds `data_action` on `scope` through a propagated assignment (a
/// Key Vault's data plane).
pub(crate) fn data_action_allowed(
    state: &State,
    principal_id: &str,
    scope: &str,
    data_action: &str,
    at: OffsetDateTime,
    delay: time::Duration,
) -> bool {
    propagated(state, principal_id, scope, at, delay).any(|ra| {
        state
            .role_definition(&ra.role_definition_id)
            .is_some_and(|rd| grants_data_action(rd, data_action))
    })
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
    let effective: Vec<&RoleAssignment> =
        propagated(state, principal_id, &reg.id, at, delay).collect();
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
                            grants_data_action(rd, abac)
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
