//! Role assignments and role definitions (Microsoft.Authorization): the deterministic
//! assignment of a role to a principal at a scope, found, made, or waited for.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::Result;
use crate::http::{Api, Sent};
use crate::wait::{Poll, poll_until};

/// The api-version used for role assignments and role definitions.
pub const AUTHORIZATION_API: &str = "2022-04-01";

/// A role assignment as ARM lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// Full id.
    pub id: String,
    /// The scope it applies at.
    pub scope: String,
    /// The role definition id.
    pub role_definition_id: String,
    /// The principal (object id).
    pub principal_id: String,
    /// Its `description`: free text whoever made it wrote (a claim, never a fact).
    pub description: Option<String>,
}

impl RoleAssignment {
    /// Reads one from an ARM body.
    pub fn from_value(v: &Value) -> Option<Self> {
        let p = v.get("properties")?;
        Some(Self {
            id: v.get("id")?.as_str()?.to_owned(),
            scope: p.get("scope")?.as_str()?.to_owned(),
            role_definition_id: p.get("roleDefinitionId")?.as_str()?.to_owned(),
            principal_id: p.get("principalId")?.as_str()?.to_owned(),
            description: p
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// The role definition's GUID (last segment), lower case.
    pub fn role_guid(&self) -> String {
        guid_of(&self.role_definition_id)
    }
}

/// The last segment of a role definition id, lower case.
pub fn guid_of(role_definition_id: &str) -> String {
    role_definition_id
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

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
    assign_role_after(api, scope, role_definition_id, principal_id, true, None).await
}

/// [`assign_role`]; `read_first: false` when the principal's assignments were just listed
/// and this one is not among them: the GET would only repeat what the list said.
async fn assign_role_after(
    api: &Api<'_>,
    scope: &str,
    role_definition_id: &str,
    principal_id: &str,
    read_first: bool,
    description: Option<&str>,
) -> Result<Assigned> {
    // A GET first: a rerun then writes nothing.
    if read_first
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
        Ok(Sent::Done(r)) => {
            let id = r.body.get("id").and_then(Value::as_str).map_or_else(
                || format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                str::to_owned,
            );
            Ok(Assigned {
                id,
                created: r.status == 201,
            })
        }
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
    let id = r.body.get("id").and_then(Value::as_str).map_or_else(
        || format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
        str::to_owned,
    );
    Ok(Some(Assigned { id, created: false }))
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
    ensure_with(api, target, label, None, true, None).await
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
    ensure_with(api, target, label, Some(read), true, None).await
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
    ensure_with(api, target, label, Some(Ok(None)), false, description).await
}

/// The wait the three `ensure_*` share: the first look from `first` when given (an earlier
/// GET's answer: found, absent, or its error), then [`assign_role`]'s looks (with a GET
/// before the PUT when `read_first`) while ARM answers `PrincipalNotFound`.
async fn ensure_with(
    api: &Api<'_>,
    (scope, role_definition_id, principal_id): (&str, &str, &str),
    label: &str,
    first: Option<Result<Option<Assigned>>>,
    read_first: bool,
    description: Option<&str>,
) -> Result<Assigned> {
    let mut first = first;
    poll_until(label, api.deadline(), || {
        let earlier = first.take();
        async move {
            let looked = match earlier {
                Some(Ok(Some(found))) => Ok(found),
                Some(Ok(None)) => {
                    assign_role_after(
                        api,
                        scope,
                        role_definition_id,
                        principal_id,
                        false,
                        description,
                    )
                    .await
                }
                Some(Err(e)) => Err(e),
                None => {
                    assign_role_after(
                        api,
                        scope,
                        role_definition_id,
                        principal_id,
                        read_first,
                        description,
                    )
                    .await
                }
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
    Ok(api
        .list(&path)
        .await?
        .iter()
        .filter_map(RoleAssignment::from_value)
        .collect())
}

/// A role definition found by name.
#[derive(Debug, Clone)]
pub struct RoleDefinition {
    /// Its id at the scope it was looked up at.
    pub id: String,
    /// Its name, e.g. `AcrPull`.
    pub role_name: String,
    /// Its `properties.permissions` as the listing gave them (`actions`, `notActions`,
    /// `dataActions`, `notDataActions` per entry); `None` when the listing had none.
    pub permissions: Option<Value>,
}

/// Finds the role definition called `role_name` at `scope`.
pub async fn find_role(
    api: &Api<'_>,
    scope: &str,
    role_name: &str,
) -> Result<Option<RoleDefinition>> {
    let mut url = api.url(&format!(
        "{scope}/providers/Microsoft.Authorization/roleDefinitions"
    ))?;
    url.query_pairs_mut()
        .append_pair("$filter", &crate::odata::eq("roleName", role_name))
        .append_pair("api-version", AUTHORIZATION_API);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    let found = api.list(&path).await?;
    Ok(found.iter().find_map(|v| {
        let name = v.pointer("/properties/roleName")?.as_str()?;
        let id = v.get("id")?.as_str()?.to_owned();
        name.eq_ignore_ascii_case(role_name)
            .then(|| RoleDefinition {
                id,
                role_name: name.to_owned(),
                permissions: v.pointer("/properties/permissions").cloned(),
            })
    }))
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

    #[test]
    fn reads_recorded_role_assignment() {
        let v = serde_json::json!({"properties":{"roleDefinitionId":"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d","principalId":"p","principalType":"ServicePrincipal","scope":"/subscriptions/s/resourceGroups/g"},"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/roleAssignments/n","type":"Microsoft.Authorization/roleAssignments","name":"n"});
        let a = RoleAssignment::from_value(&v).unwrap();
        assert_eq!(a.role_guid(), "7f951dda-4ed3-4680-a7ca-43fe172d538d");
        assert_eq!(a.scope, "/subscriptions/s/resourceGroups/g");
    }
}
