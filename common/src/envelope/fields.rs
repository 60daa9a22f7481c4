//! The envelope fields of DESIGN.md: each one's name, the flag that sets it and the step
//! that writes it.

use super::Field;

const fn f(name: &'static str, flag: Option<&'static str>, from: Option<&'static str>) -> Field {
    Field { name, flag, from }
}
/// The cloud the envelope was made in.
pub const CLOUD: Field = f("cloud", Some("--cloud"), None);
/// Tenant A.
pub const CLUSTER_TENANT_ID: Field = f("cluster_tenant_id", Some("--cluster-tenant"), None);
/// Tenant B.
pub const REGISTRY_TENANT_ID: Field = f("registry_tenant_id", Some("--registry-tenant"), None);
/// The app's display name.
pub const APP_DISPLAY_NAME: Field = f(
    "app_display_name",
    Some("--display-name"),
    Some("entra-app-create"),
);
/// The app's unique name.
pub const APP_UNIQUE_NAME: Field = f(
    "app_unique_name",
    Some("--unique-name"),
    Some("entra-app-create"),
);
/// The app's web redirect URI (where the admin-consent page returns).
pub const REDIRECT_URI: Field = f(
    "redirect_uri",
    Some("--redirect-uri"),
    Some("entra-app-create"),
);
/// The app's client id.
pub const APP_ID: Field = f("app_id", Some("--app-id"), Some("entra-app-create"));
/// The app's object id in tenant A.
pub const APP_OBJECT_ID: Field = f("app_object_id", None, Some("entra-app-create"));
/// The app's service principal in tenant A.
pub const CLUSTER_SP_OBJECT_ID: Field = f("cluster_sp_object_id", None, Some("entra-app-create"));
/// The client secret.
pub const CLIENT_SECRET: Field = f(
    "client_secret",
    Some("--client-secret-file"),
    Some("entra-app-create"),
);
/// The secret's key id.
pub const CLIENT_SECRET_KEY_ID: Field = f("client_secret_key_id", None, Some("entra-app-create"));
/// The secret's expiry.
pub const CLIENT_SECRET_EXPIRES_AT: Field =
    f("client_secret_expires_at", None, Some("entra-app-create"));
/// The Key Vault secret holding the client secret (its identifier, with its version),
/// written instead of `client_secret` by `entra-app-create --secret-keyvault`.
pub const CLIENT_SECRET_REF: Field = f(
    "client_secret_ref",
    Some("--client-secret-ref"),
    Some("entra-app-create --secret-keyvault"),
);
/// The admin-consent URL.
pub const CONSENT_URL: Field = f("consent_url", None, Some("consent-link"));
/// The app's service principal in tenant B.
pub const REGISTRY_SP_OBJECT_ID: Field =
    f("registry_sp_object_id", None, Some("consent-link --wait"));
/// The registry's ARM id.
pub const REGISTRY_ID: Field = f("registry_id", Some("--registry"), Some("acr-grant"));
/// The registry's login server.
pub const REGISTRY_LOGIN_SERVER: Field = f("registry_login_server", None, Some("acr-grant"));
/// The image the pull was verified with, `<login server>/<repository>:<tag>`.
pub const REGISTRY_IMAGE: Field = f(
    "registry_image",
    Some("--image"),
    Some("acr-grant --verify --image"),
);
/// The pull role.
pub const ROLE_NAME: Field = f("role_name", Some("--role"), Some("acr-grant"));
/// The role assignment's id.
pub const ROLE_ASSIGNMENT_ID: Field = f("role_assignment_id", None, Some("acr-grant"));
/// When the pull was verified.
pub const PULL_VERIFIED_AT: Field = f("pull_verified_at", None, Some("acr-grant --verify"));
/// The proof of that check, bound to the secret (see [`crate::registry::proof`]).
pub const PULL_PROOF: Field = f("pull_proof", None, Some("acr-grant --verify"));
/// The cluster's ARM id.
pub const CLUSTER_ID: Field = f("cluster_id", Some("--cluster"), None);
/// The cluster's provisioning state.
pub const CLUSTER_PROVISIONING_STATE: Field =
    f("cluster_provisioning_state", None, Some("aks-sp-update"));
/// The reset's operation URL while unfinished.
pub const CLUSTER_OPERATION_URL: Field = f("cluster_operation_url", None, Some("aks-sp-update"));
/// The kubelet's verdict on a pull from inside the cluster (`aks-sp-update --probe-image`):
/// `{image, pulled, node, at, message}`.
pub const CLUSTER_PULL_PROBE: Field = f(
    "cluster_pull_probe",
    Some("--probe-image"),
    Some("aks-sp-update"),
);
/// Which image the cluster can now pull, as step 4 checked it with the secret the cluster
/// now holds, and when: `{image, at}` (gone when a run did not check one).
pub const CLUSTER_PULL_VERIFIED: Field = f("cluster_pull_verified", None, Some("aks-sp-update"));
/// `true` on every object a `--dry-run` wrote: it describes writes never made, and a
/// tool not in `--dry-run` refuses it.
pub const DRY_RUN: Field = f("dry_run", Some("--dry-run"), None);
/// A read-only report on the object's cluster (`aks-sp-update --status`).
pub const STATUS: Field = f("status", Some("--status"), Some("aks-sp-update --status"));
/// The writes the `--dry-run` steps planned, one JSON object each, in order.
pub const PLAN: Field = f("plan", Some("--dry-run"), None);
/// The error of a failed step.
pub const ERROR: Field = f("error", None, None);

/// Every field, in the order of docs/envelope.md's table.
pub const ALL: &[Field] = &[
    CLOUD,
    CLUSTER_TENANT_ID,
    REGISTRY_TENANT_ID,
    APP_DISPLAY_NAME,
    APP_UNIQUE_NAME,
    APP_ID,
    APP_OBJECT_ID,
    REDIRECT_URI,
    CLUSTER_SP_OBJECT_ID,
    CLIENT_SECRET,
    CLIENT_SECRET_KEY_ID,
    CLIENT_SECRET_EXPIRES_AT,
    CLIENT_SECRET_REF,
    CONSENT_URL,
    REGISTRY_SP_OBJECT_ID,
    REGISTRY_ID,
    REGISTRY_LOGIN_SERVER,
    ROLE_NAME,
    ROLE_ASSIGNMENT_ID,
    PULL_VERIFIED_AT,
    PULL_PROOF,
    REGISTRY_IMAGE,
    CLUSTER_ID,
    CLUSTER_PROVISIONING_STATE,
    CLUSTER_OPERATION_URL,
    CLUSTER_PULL_VERIFIED,
    CLUSTER_PULL_PROBE,
    STATUS,
    DRY_RUN,
    PLAN,
    ERROR,
];
