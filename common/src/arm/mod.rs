//! Azure Resource Manager, used by more than one step: resource ids (`resource_id`), role
//! assignments and definitions (`roles`), clusters, subscriptions, and long-running
//! operations (`operation`).

use serde_json::Value;

use crate::error::{Result, codes};

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
pub(crate) fn arm_typed<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T> {
    crate::json::read(
        v,
        codes::UNEXPECTED_ARM_ANSWER,
        &format!("ARM's answer for {what}"),
    )
}
