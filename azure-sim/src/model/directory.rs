//! Entra's directory: tenants, applications and their credentials, service principals.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::default_now;

fn default_true() -> bool {
    true
}
fn default_my_org() -> String {
    "AzureADMyOrg".into()
}
fn default_sp_type() -> String {
    "Application".into()
}

/// An Entra tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tenant {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// Verified domains; the first is the initial `*.onmicrosoft.com` domain.
    pub domains: Vec<String>,
    /// Password lifetime policy (`passwordLifetime` restriction), in days.
    #[serde(default)]
    pub max_password_lifetime_days: Option<u32>,
    /// Conditional Access policies a sign-in meets (none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditional_access: Vec<crate::sign_in_policy::SignInPolicy>,
}

/// An application object (its home tenant is `tenant_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Application {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub display_name: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default = "default_my_org")]
    pub sign_in_audience: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Its certificates (`keyCredentials`): a scenario's (Graph's PATCH of them is refused here).
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    /// Other Graph properties a client set (`description`, `tags`, `notes`, ...), echoed back.
    #[serde(default)]
    pub properties: Map<String, Value>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
    /// The object ids of its owners (service principals here): with
    /// `Application.ReadWrite.OwnedBy` a caller may change only the apps it owns.
    #[serde(default)]
    pub owners: Vec<String>,
}

impl Application {
    /// Whether `oid` is one of its owners.
    pub(crate) fn owned_by(&self, oid: &str) -> bool {
        self.owners.iter().any(|o| o.eq_ignore_ascii_case(oid))
    }

    /// Whether service principals of this app may exist outside its home tenant.
    pub(crate) fn is_multitenant(&self) -> bool {
        self.sign_in_audience == "AzureADMultipleOrgs"
            || self.sign_in_audience == "AzureADandPersonalMicrosoftAccount"
    }
}

/// A client secret; only its SHA-256 is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PasswordCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub hint: String,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    #[serde(default)]
    pub secret_sha256: String,
    /// When `addPassword` made it (`None`: a scenario's, long known everywhere): Entra refuses
    /// a secret for a while after it was added (see `Behaviour::secret_propagation_ms`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub minted: Option<OffsetDateTime>,
    /// Scenario convenience: a plain secret, hashed on load and never written back.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
}

impl PasswordCredential {
    /// Whether Entra has not yet spread this secret at `t` (it is refused as invalid then).
    pub(crate) fn propagating(&self, t: OffsetDateTime, propagation: time::Duration) -> bool {
        self.minted
            .is_some_and(|m| t < m.saturating_add(propagation))
    }

    /// Whether the secret signs in at `t`: within its dates and spread through Entra.
    pub(crate) fn usable(&self, t: OffsetDateTime, propagation: time::Duration) -> bool {
        self.start <= t && t < self.end && !self.propagating(t, propagation)
    }
}

/// A certificate credential (`keyCredential`): only its metadata (Graph never returns `key`
/// in a read of the application).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyCredential {
    #[serde(default = "new_id")]
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `AsymmetricX509Cert` (or `X509CertAndPassword`).
    #[serde(default = "default_key_type", rename = "type")]
    pub key_type: String,
    /// `Verify` (or `Sign`).
    #[serde(default = "default_key_usage")]
    pub usage: String,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
fn default_key_type() -> String {
    "AsymmetricX509Cert".into()
}
fn default_key_usage() -> String {
    "Verify".into()
}

/// A federated identity credential (workload identity): assertions from `issuer` about `subject`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FederatedCredential {
    #[serde(default = "new_id")]
    pub id: String,
    /// Its `name` (unique on the app).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub issuer: String,
    pub subject: String,
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".into()]
}

/// A service principal: an app's (or managed identity's) presence in one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    /// For principals without an application object (managed identities).
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default = "default_sp_type")]
    #[allow(clippy::struct_field_names, reason = "Graph's property name")]
    pub service_principal_type: String,
    /// Microsoft Graph application permissions granted to it, e.g. `Application.ReadWrite.All`.
    #[serde(default)]
    pub graph_app_roles: Vec<String>,
    #[serde(default = "default_true")]
    pub account_enabled: bool,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub properties: Map<String, Value>,
}
