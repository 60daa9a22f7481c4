//! Role assignments and role definitions as ARM shows them (the shapes of the recorded
//! `az role assignment` answers), and the reads of role definitions: lenient to the fields
//! they do not name, strict about those the tools decide on.

use serde::Deserialize;
use serde_json::Value;

use super::AUTHORIZATION_API;
use crate::arm::arm_typed;
use crate::error::Result;
use crate::http::Api;
use crate::json::null_as_default;

/// A role assignment as ARM lists it (the shape of the recorded `az role assignment`
/// answers): lenient to the fields it does not name, strict about those it does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "AssignmentBody")]
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
    /// Its ABAC `condition`, when it has one: the role holds only where the condition does.
    pub condition: Option<String>,
}

/// A role assignment's body, as ARM nests it.
#[derive(Deserialize)]
struct AssignmentBody {
    id: String,
    properties: AssignmentProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentProperties {
    scope: String,
    role_definition_id: String,
    principal_id: String,
    description: Option<String>,
    condition: Option<String>,
}

impl From<AssignmentBody> for RoleAssignment {
    fn from(b: AssignmentBody) -> Self {
        let p = b.properties;
        Self {
            id: b.id,
            scope: p.scope,
            role_definition_id: p.role_definition_id,
            principal_id: p.principal_id,
            description: p.description,
            condition: p.condition.filter(|c| !c.trim().is_empty()),
        }
    }
}

impl RoleAssignment {
    /// Reads one from an ARM body; `what` names it in the error.
    pub fn from_value(v: &Value, what: &str) -> Result<Self> {
        arm_typed(v, what)
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

/// One entry of a role definition's `permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// The control-plane actions it grants (`*` wildcards).
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<String>,
    /// The actions it takes back from `actions`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub not_actions: Vec<String>,
    /// The data actions it grants.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data_actions: Vec<String>,
    /// The data actions it takes back.
    #[serde(default, deserialize_with = "null_as_default")]
    pub not_data_actions: Vec<String>,
}

/// A role definition, as ARM shows it (listed by name, or read by id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "DefinitionBody")]
pub struct RoleDefinition {
    /// Its id at the scope it was looked up at.
    pub id: String,
    /// Its name, e.g. `AcrPull`.
    pub role_name: String,
    /// Its `properties.permissions`; `None` when ARM showed none.
    pub permissions: Option<Vec<Permission>>,
}

#[derive(Deserialize)]
struct DefinitionBody {
    id: String,
    properties: DefinitionProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionProperties {
    role_name: String,
    permissions: Option<Vec<Permission>>,
}

impl From<DefinitionBody> for RoleDefinition {
    fn from(b: DefinitionBody) -> Self {
        Self {
            id: b.id,
            role_name: b.properties.role_name,
            permissions: b.properties.permissions,
        }
    }
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
    let what = format!("role definition {role_name:?} at {scope}");
    for v in api.list(&path).await? {
        let def: RoleDefinition = arm_typed(&v, &what)?;
        if def.role_name.eq_ignore_ascii_case(role_name) {
            return Ok(Some(def));
        }
    }
    Ok(None)
}

/// Reads the role definition `id` (`/subscriptions/…/roleDefinitions/{guid}`, or a scope's):
/// `None` when ARM has none.
pub async fn role_definition(api: &Api<'_>, id: &str) -> Result<Option<RoleDefinition>> {
    let found = api
        .get_opt(&format!("{id}?api-version={AUTHORIZATION_API}"))
        .await?;
    found
        .map(|v| arm_typed(&v, &format!("role definition {id}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_recorded_role_assignment() {
        let v = serde_json::json!({"properties":{"roleDefinitionId":"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d","principalId":"p","principalType":"ServicePrincipal","scope":"/subscriptions/s/resourceGroups/g"},"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/roleAssignments/n","type":"Microsoft.Authorization/roleAssignments","name":"n"});
        let a = RoleAssignment::from_value(&v, "a").unwrap();
        assert_eq!(a.role_guid(), "7f951dda-4ed3-4680-a7ca-43fe172d538d");
        assert_eq!(a.scope, "/subscriptions/s/resourceGroups/g");
        assert_eq!((a.description, a.condition), (None, None));
    }

    /// The role assignments `az role assignment create` and `list` received (the recorded
    /// `test_role_assignment_at_scope` cassette: one created, then listed at two scopes).
    fn recorded_assignments() -> Vec<Value> {
        let cassette =
            include_str!("../../../tests/fixtures/recordings/test_role_assignment_at_scope.yaml");
        cassette
            .lines()
            .filter_map(|l| l.trim().strip_prefix("string: '"))
            .filter_map(|l| l.strip_suffix('\''))
            .filter(|l| l.contains("Microsoft.Authorization/roleAssignments"))
            .map(|l| serde_json::from_str::<Value>(&l.replace("''", "'")).unwrap())
            .flat_map(|v| match v.get("value") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![v],
            })
            .collect()
    }

    #[test]
    fn reads_the_recorded_role_assignments() {
        let all = recorded_assignments();
        assert_eq!(all.len(), 3, "{all:?}");
        for v in &all {
            let a = RoleAssignment::from_value(v, "recorded").unwrap();
            assert_eq!(a.role_guid(), "acdd72a7-3385-48ef-bd42-f606fba81ae7");
            assert_eq!(a.principal_id, "88c53162-584e-4c98-984b-62149c2e9bca");
            assert!(a.scope.ends_with("/resourceGroups/cli_role_assign000001"));
            assert!(a.id.starts_with(&a.scope), "{a:?}");
            assert_eq!((&a.description, &a.condition), (&None, &None));
        }
    }

    #[test]
    fn an_assignment_or_definition_that_does_not_fit_names_the_field() {
        let mut v = recorded_assignments().remove(0);
        v["properties"]["principalId"] = json!(7);
        let e = RoleAssignment::from_value(&v, "a").unwrap_err();
        assert_eq!(e.code(), "UnexpectedArmAnswer");
        assert!(
            e.message().contains("at `properties.principalId`: "),
            "{}",
            e.message()
        );
        v["properties"]
            .as_object_mut()
            .unwrap()
            .remove("principalId");
        let e = RoleAssignment::from_value(&v, "a").unwrap_err();
        assert!(
            e.message().contains("missing field `principalId`"),
            "{}",
            e.message()
        );
        v["properties"]["principalId"] = json!("p");
        v["properties"]["condition"] = json!("@Resource[x] StringEquals 'y'");
        let a = RoleAssignment::from_value(&v, "a").unwrap();
        assert_eq!(
            a.condition.as_deref(),
            Some("@Resource[x] StringEquals 'y'")
        );

        let def = json!({"id": "/d", "properties": {"roleName": "AcrPull", "permissions": [
            {"actions": ["Microsoft.ContainerRegistry/registries/pull/read"], "notActions": [], "dataActions": null}]}});
        let d: RoleDefinition = arm_typed(&def, "d").unwrap();
        assert_eq!(d.permissions.unwrap()[0].actions.len(), 1);
        let bad =
            json!({"id": "/d", "properties": {"roleName": "x", "permissions": [{"actions": "*"}]}});
        let e = arm_typed::<RoleDefinition>(&bad, "d").unwrap_err();
        assert!(
            e.message()
                .contains("at `properties.permissions[0].actions`: "),
            "{}",
            e.message()
        );
    }
}
