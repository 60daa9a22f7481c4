//! Azure Resource Manager, used by more than one step: resource ids (`resource_id`), role
//! assignments and definitions (`roles`), clusters, subscriptions, and long-running
//! operations (`operation`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Result, codes};
use crate::http::{Api, ApiVersions};

pub mod clusters;
pub mod operation;
mod resource_id;
mod roles;
pub mod subscriptions;

pub use operation::{OperationDone, OperationKind, follow_operation, operation_url};
pub use resource_id::ResourceId;
pub use roles::{
    AUTHORIZATION_API, Assigned, Permission, RoleAssignment, RoleDefinition, assign_role,
    assignment_name, ensure_listed_role_assignment, ensure_role_assignment,
    ensure_role_assignment_after, find_role, find_role_assignment, guid_of, list_assignments,
    role_definition,
};

/// The states in which a long-running operation, or a resource's `provisioningState`, has
/// ended: the one list every step polls against.
pub const TERMINAL_STATES: &[&str] = &["Succeeded", "Failed", "Canceled", "Cancelled"];

/// Whether `state` is one of [`TERMINAL_STATES`] (case-insensitively).
pub fn is_terminal(state: &str) -> bool {
    TERMINAL_STATES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(state))
}

/// An ARM answer read as a `T`, or `UnexpectedArmAnswer` naming the field that does not fit
/// (`what` names the answer: "role assignment …", "managed cluster …").
pub(crate) fn arm_typed<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T> {
    crate::json::read(
        v,
        codes::UNEXPECTED_ARM_ANSWER,
        &format!("ARM's answer for {what}"),
    )
}

/// GETs the resource `id` (of `versions`' type) as a `T`; `noun` names it in an error
/// ("managed cluster"). A 404 is Azure's error.
pub(crate) async fn get_typed<T: DeserializeOwned>(
    api: &Api<'_>,
    versions: &ApiVersions,
    id: &ResourceId,
    noun: &str,
) -> Result<T> {
    let body = api
        .with_api_version(versions, |v| {
            let path = format!("{}?api-version={v}", id.id());
            async move { api.get(&path).await }
        })
        .await?;
    arm_typed(&body, &format!("{noun} {}", id.id()))
}

/// [`get_typed`], `None` when there is none (404).
pub(crate) async fn get_opt_typed<T: DeserializeOwned>(
    api: &Api<'_>,
    versions: &ApiVersions,
    id: &ResourceId,
    noun: &str,
) -> Result<Option<T>> {
    let body = api
        .with_api_version(versions, |v| {
            let path = format!("{}?api-version={v}", id.id());
            async move { api.get_opt(&path).await }
        })
        .await?;
    body.map(|b| arm_typed(&b, &format!("{noun} {}", id.id())))
        .transpose()
}

/// The resources of `versions`' type in subscription `sub`, each a `T`: one that does not fit
/// is an error naming the field.
pub(crate) async fn list_typed<T: DeserializeOwned>(
    api: &Api<'_>,
    versions: &ApiVersions,
    sub: &str,
    noun: &str,
) -> Result<Vec<T>> {
    let listed = api
        .with_api_version(versions, |v| {
            let path = format!(
                "/subscriptions/{sub}/providers/{}?api-version={v}",
                versions.resource_type
            );
            async move { api.list(&path).await }
        })
        .await?;
    let what = format!("{noun} listed in subscription {sub}");
    listed.iter().map(|v| arm_typed(v, &what)).collect()
}
