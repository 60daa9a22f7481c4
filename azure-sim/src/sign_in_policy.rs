//! Conditional Access, as a client-credentials sign-in meets it: a tenant's policies name apps
//! (by app id; none named: every app) and either block the sign-in (AADSTS53003) or require
//! multi-factor authentication (AADSTS50076), which an app's secret cannot give. Entra applies
//! them after the credential was verified (a wrong secret is still AADSTS7000215), and the
//! answer is its JSON error, as azure_identity parses it.

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::http::{Req, entra_err};

/// One policy of a tenant (`tenants[].conditional_access[]` in a scenario).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SignInPolicy {
    /// The app ids it applies to; empty: every app.
    #[serde(default)]
    pub apps: Vec<String>,
    /// What it asks of the sign-in.
    pub grant: Grant,
}

/// What a policy asks of a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Grant {
    /// Blocked (AADSTS53003).
    Block,
    /// Multi-factor authentication required (AADSTS50076).
    Mfa,
}

/// The first of a tenant's `policies` that refuses `app_id`'s sign-in for `resource`, as Entra
/// answers it.
pub(crate) fn check(
    req: &Req,
    policies: &[SignInPolicy],
    app_id: &str,
    resource: &str,
) -> Result<(), Response> {
    let applies = |p: &&SignInPolicy| {
        p.apps.is_empty() || p.apps.iter().any(|a| a.eq_ignore_ascii_case(app_id))
    };
    match policies.iter().find(applies).map(|p| p.grant) {
        None => Ok(()),
        Some(Grant::Block) => Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            53_003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        )),
        Some(Grant::Mfa) => Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "interaction_required",
            50_076,
            &format!(
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
            ),
        )),
    }
}
