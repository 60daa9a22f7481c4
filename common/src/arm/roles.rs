//! Role assignments and role definitions (Microsoft.Authorization): the deterministic
//! assignment of a role to a principal at a scope, found, made, or waited for.

use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::error::Result;
use crate::http::{Api, Sent};
use crate::wait::{Poll, poll_until};

/// The api-version used for role assignments and role definitions.
pub const AUTHORIZATION_API: &str = "2022-04-01";

mod model;

pub use model::{Permission, RoleAssignment, RoleDefinition, find_role, guid_of, role_definition};

/// The deterministic name of the assignment of `role_guid` to `principal` at `scope` (UUID v5).
pub fn assignment_name(scope: &str, role_guid: &str, principal: &str) -> Uuid {
    // A fixed namespace of our own; the inputs are normalised so ARM's case-insensitivity cannot make two names.
    const NS: Uuid = Uuid::from_u128(0x6f1d_2b1e_8c4a_4f0e_9a57_5c3e_7b21_d0a4);
    let key = format!(
        "{}|{}|{}",
        scope.to_ascii_lowercase(),
        role_guid.to_ascii_lowercase(),
        principal.to_ascii_lowercase()
    );
    Uuid::new_v5(&NS, key.as_bytes())
}

/// The result of [`assign_role`].
#[derive(Debug, Clone)]
pub struct Assigned {
    /// The assignment's id.
    pub id: String,
    /// Whether this call created it.
    pub created: bool,
}

/// Assigns `role_definition_id` to the service principal `principal_id` at `scope`.
///
/// Idempotent: the name is derived from the three inputs; `RoleAssignmentExists`
/// (the same assignment under another name) counts as done and its id is looked up.
/// Other errors — including `PrincipalNotFound` — go to the caller, who knows whether to wait.
pub async fn assign_role(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
) -> Result<Assigned> {
    let target = (scope, role_definition_id, principal_id);
    assign_role_after(api, target, Before::Read, None).await
}

/// What [`assign_role`] knows before its PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// Nothing: a GET first (a rerun then writes nothing).
    Read,
    /// The principal's assignments were just listed without this one: the GET would only
    /// repeat what the list said.
    Listed,
}

/// [`assign_role`] of `target` (scope, role definition, principal), after `before`.
async fn assign_role_after(
    api: &Api<'_>,
    (scope, role_definition_id, principal_id): (&str, &str, &str),
    before: Before,
    description: Option<&str>,
) -> Result<Assigned> {
    if before == Before::Read
        && let Some(found) =
            find_role_assignment(api, scope, role_definition_id, principal_id).await?
    {
        return Ok(found);
    }
    let (name, url) = assignment_url(api, scope, role_definition_id, principal_id)?;
    let mut body = json!({"properties": {
        "roleDefinitionId": role_definition_id,
        "principalId": principal_id,
        "principalType": "ServicePrincipal",
    }});
    if let Some(d) = description {
        body["properties"]["description"] = json!(d);
    }
    match api.write(api.request(Method::PUT, url).json(body)).await {
        Ok(Sent::Skipped) => Ok(Assigned {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
            created: true,
        }),
        Ok(Sent::Done(r)) => Ok(Assigned {
            id: RoleAssignment::from_value(&r.body, &format!("role assignment {name}"))?.id,
            created: r.status == 201,
        }),
        Err(e) if e.is_code("RoleAssignmentExists") => {
            let found = list_assignments(api, scope, principal_id)
                .await?
                .into_iter()
                .find(|a| {
                    a.scope.eq_ignore_ascii_case(scope)
                        && a.role_guid() == guid_of(role_definition_id)
                });
            match found {
                Some(a) => Ok(Assigned {
                    id: a.id,
                    created: false,
                }),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The name and URL of the deterministic assignment of `role_definition_id` to `principal_id` at `scope`.
fn assignment_url(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
) -> Result<(Uuid, url::Url)> {
    let name = assignment_name(scope, &guid_of(role_definition_id), principal_id);
    let path = format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version={AUTHORIZATION_API}"
    );
    Ok((name, api.url(&path)?))
}

/// The deterministic assignment [`assign_role`] would make, if it exists (one GET; 404 is `None`).
///
/// On its own for a principal not yet confirmed: the read can go out beside the lookup that
/// confirms it, and [`ensure_role_assignment_after`] then goes on without reading again.
pub async fn find_role_assignment(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
) -> Result<Option<Assigned>> {
    let (name, url) = assignment_url(api, scope, role_definition_id, principal_id)?;
    let r = api
        .read(api.request(Method::GET, url).accept(&[404]))
        .await?;
    if r.status != 200 {
        return Ok(None);
    }
    let found = RoleAssignment::from_value(&r.body, &format!("role assignment {name}"))?;
    Ok(Some(Assigned {
        id: found.id,
        created: false,
    }))
}

/// [`assign_role`], waiting (until `api`'s deadline, saying `label`) while ARM does not know
/// the principal yet: a new service principal takes a while to reach ARM (`PrincipalNotFound`).
pub async fn ensure_role_assignment(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
    label: &str,
) -> Result<Assigned> {
    let target = (scope, role_definition_id, principal_id);
    ensure_with(api, target, label, None, Before::Read, None).await
}

/// [`ensure_role_assignment`] whose first GET was [`find_role_assignment`] for the same
/// assignment, sent earlier: `read` is its answer. Found: done, nothing written. Not found:
/// the PUT, without a second GET. Failed: the wait ends with that error, as if the GET had
/// failed here.
/// Later looks (after `PrincipalNotFound`) are [`assign_role`]'s, a GET then a PUT.
pub async fn ensure_role_assignment_after(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
    label: &str,
    read: Result<Option<Assigned>>,
) -> Result<Assigned> {
    let target = (scope, role_definition_id, principal_id);
    ensure_with(api, target, label, Some(read), Before::Read, None).await
}

/// [`ensure_role_assignment`] for a principal whose assignments at `scope` were just listed
/// without this one: the PUT is sent without a GET first (and again without one after a
/// `PrincipalNotFound`, which made nothing). A new assignment gets `description`.
pub async fn ensure_listed_role_assignment(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
    label: &str,
    description: Option<&str>,
) -> Result<Assigned> {
    let target = (scope, role_definition_id, principal_id);
    ensure_with(
        api,
        target,
        label,
        Some(Ok(None)),
        Before::Listed,
        description,
    )
    .await
}

/// The wait the three `ensure_*` share: the first look from `first` when given (an earlier
/// GET's answer: found, absent, or its error), then [`assign_role`]'s looks (after `before`)
/// while ARM answers `PrincipalNotFound`.
async fn ensure_with(
    api: &Api<'_>,
    target: (&str, &str, &str),
    label: &str,
    first: Option<Result<Option<Assigned>>>,
    before: Before,
    description: Option<&str>,
) -> Result<Assigned> {
    let mut first = first;
    poll_until(label, api.deadline(), || {
        let earlier = first.take();
        async move {
            let looked = match earlier {
                Some(Ok(Some(found))) => Ok(found),
                Some(Ok(None)) => assign_role_after(api, target, Before::Listed, description).await,
                Some(Err(e)) => Err(e),
                None => assign_role_after(api, target, before, description).await,
            };
            match looked {
                Ok(a) => Ok(Poll::Ready(a)),
                Err(e) if e.is_code("PrincipalNotFound") => {
                    Ok(Poll::Pending("PrincipalNotFound".into(), None))
                }
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// The role assignments of `principal_id` visible at `scope` (including inherited ones).
pub async fn list_assignments(
    api: &Api<'_>,
    scope: &str,
    principal_id: &str,
) -> Result<Vec<RoleAssignment>> {
    let mut url = api.url(&format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments"
    ))?;
    url.query_pairs_mut()
        .append_pair("$filter", &crate::odata::eq("principalId", principal_id))
        .append_pair("api-version", AUTHORIZATION_API);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    let what = format!("a role assignment of {principal_id} at {scope}");
    api.list(&path)
        .await?
        .iter()
        .map(|v| RoleAssignment::from_value(v, &what))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_names_are_deterministic_and_case_insensitive() {
        let a = assignment_name(
            "/subscriptions/X/rg",
            "7F951DDA-4ED3-4680-A7CA-43FE172D538D",
            "P",
        );
        let b = assignment_name(
            "/subscriptions/x/RG",
            "7f951dda-4ed3-4680-a7ca-43fe172d538d",
            "p",
        );
        assert_eq!(a, b);
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(
            a,
            assignment_name(
                "/subscriptions/x/rg",
                "7f951dda-4ed3-4680-a7ca-43fe172d538d",
                "q"
            )
        );
    }
}
