//! Every error code the tools make (Azure's own codes pass through as Azure sent them):
//! the one list, with exit code and whether a rerun on the failed object may complete it.
//! docs/errors.md's "Error codes" table lists exactly these, and README.md's Troubleshooting
//! says what to run after each (tests in common/tests/it/readme.rs check both).

use crate::exit::{ExitCode, Signal};

/// An error code of the tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The code, as written in `error.code`.
    pub name: &'static str,
    /// The process exit code it leads to.
    pub exit: ExitCode,
    /// Whether a rerun on the failed output, unchanged, may complete it (a wait that
    /// ran out, a transient failure); otherwise something must be fixed first.
    pub resumable: bool,
}

const fn c(name: &'static str, exit: ExitCode, resumable: bool) -> Code {
    Code {
        name,
        exit,
        resumable,
    }
}

/// Bad flags, or input that is not JSON objects.
pub const USAGE_ERROR: Code = c("UsageError", ExitCode::Usage, false);
/// A field is missing or malformed (`error.message` names it and the fix).
pub const INVALID_INPUT: Code = c("InvalidInput", ExitCode::Failure, false);
/// The client secret is longer than AKS accepts.
pub const SECRET_TOO_LONG: Code = c("SecretTooLong", ExitCode::Failure, false);
/// The secret in hand is not the key of `app_id` the object names (`error.message` names
/// the field: `app_id`, `client_secret_key_id`, `client_secret_ref`): nothing was written.
pub const SECRET_NOT_BOUND: Code = c("SecretNotBound", ExitCode::Failure, false);
/// `--timeout` passed.
pub const TIMEOUT: Code = c("Timeout", ExitCode::Failure, true);
/// A local file could not be read or written.
pub const IO_ERROR: Code = c("IoError", ExitCode::Failure, false);
/// The connection could not be made.
pub const CONNECT_FAILED: Code = c("ConnectFailed", ExitCode::Failure, true);
/// The connection failed during a request.
pub const CONNECTION_ERROR: Code = c("ConnectionError", ExitCode::Failure, true);
/// A certificate the cloud file does not trust.
pub const UNTRUSTED_CERTIFICATE: Code = c("UntrustedCertificate", ExitCode::Credential, false);
/// No credential source is configured.
pub const CREDENTIAL_UNAVAILABLE: Code = c("CredentialUnavailable", ExitCode::Credential, false);
/// The Azure CLI is not logged in.
pub const NOT_LOGGED_IN: Code = c("NotLoggedIn", ExitCode::Credential, false);
/// The sign-in endpoint could not be reached.
pub const CREDENTIAL_NETWORK_ERROR: Code = c("CredentialNetworkError", ExitCode::Credential, true);
/// The sign-in endpoint answered with a server error or throttling.
pub const SIGN_IN_UNAVAILABLE: Code = c("SignInUnavailable", ExitCode::Credential, true);
/// The operator's client secret is wrong.
pub const INVALID_CLIENT_SECRET: Code = c("InvalidClientSecret", ExitCode::Credential, false);
/// The operator's client id is unknown in the tenant.
pub const UNKNOWN_APPLICATION: Code = c("UnknownApplication", ExitCode::Credential, false);
/// The tenant is unknown.
pub const UNKNOWN_TENANT: Code = c("UnknownTenant", ExitCode::Credential, false);
/// Sign-in refused for another reason.
pub const CREDENTIAL_REJECTED: Code = c("CredentialRejected", ExitCode::Credential, false);
/// The tenant requires multi-factor authentication of the identity (AADSTS50076).
pub const MFA_REQUIRED: Code = c("MfaRequired", ExitCode::Credential, false);
/// Conditional Access blocked the sign-in (AADSTS53003).
pub const BLOCKED_BY_CONDITIONAL_ACCESS: Code =
    c("BlockedByConditionalAccess", ExitCode::Credential, false);
/// Azure answered in a shape the tool does not understand.
pub const UNEXPECTED_RESPONSE: Code = c("UnexpectedResponse", ExitCode::Failure, false);
/// Microsoft Graph answered without a field it always sends.
pub const UNEXPECTED_GRAPH_ANSWER: Code = c("UnexpectedGraphAnswer", ExitCode::Failure, false);
/// ARM answered without a field it always sends.
pub const UNEXPECTED_ARM_ANSWER: Code = c("UnexpectedArmAnswer", ExitCode::Failure, false);
/// A registry answered in an unexpected shape.
pub const UNEXPECTED_REGISTRY_ANSWER: Code =
    c("UnexpectedRegistryAnswer", ExitCode::Failure, false);
/// A next-page link that is not a URL.
pub const BAD_NEXT_LINK: Code = c("BadNextLink", ExitCode::Failure, false);
/// A URL from an answer or an input on another origin than the service's: not followed, no token sent.
pub const UNTRUSTED_ORIGIN: Code = c("UntrustedOrigin", ExitCode::Failure, false);
/// A registry login server that does not make a URL.
pub const BAD_LOGIN_SERVER: Code = c("BadLoginServer", ExitCode::Failure, false);
/// Key Vault answered in a shape the tool does not understand.
pub const KEY_VAULT_BAD_ANSWER: Code = c("KeyVaultBadAnswer", ExitCode::Failure, false);
/// Key Vault's sign-in challenge names no tenant or another audience.
pub const KEY_VAULT_BAD_CHALLENGE: Code = c("KeyVaultBadChallenge", ExitCode::Failure, false);
/// Key Vault refused without a code of its own (its status and message say what).
pub const KEY_VAULT_ERROR: Code = c("KeyVaultError", ExitCode::Failure, false);
/// The cloud's ARM has no api-version of a resource type that the tool can use.
pub const API_VERSION_UNSUPPORTED: Code = c("ApiVersionUnsupported", ExitCode::Failure, false);
/// A registry's firewall refuses this machine's address: the pull could not be checked from here.
pub const REGISTRY_NETWORK_DENIED: Code = c("RegistryNetworkDenied", ExitCode::Failure, false);
/// `--auth cli`: the Azure CLI's active cloud is not `--cloud`.
pub const CLI_CLOUD_MISMATCH: Code = c("CliCloudMismatch", ExitCode::Credential, false);
/// The app requests no permission: the consent page would fail (AADSTS650056).
pub const APP_REQUESTS_NO_PERMISSION: Code = c("AppRequestsNoPermission", ExitCode::Failure, false);
/// A listing longer than the page cap.
pub const TOO_MANY_PAGES: Code = c("TooManyPages", ExitCode::Failure, false);
/// Azure's long-running operation ended Failed or Canceled without a code of its own.
pub const OPERATION_FAILED: Code = c("OperationFailed", ExitCode::Failure, false);
/// An operation URL answered without a status: the operation is not known to have succeeded.
pub const OPERATION_STATUS_UNKNOWN: Code = c("OperationStatusUnknown", ExitCode::Failure, false);
/// The app id names no app (step 1, 2).
pub const APP_NOT_FOUND: Code = c("AppNotFound", ExitCode::Failure, false);
/// The app is not multitenant (`signInAudience` other than `AzureADMultipleOrgs`).
pub const APP_NOT_MULTITENANT: Code = c("AppNotMultitenant", ExitCode::Failure, false);
/// The app lacks the redirect URI (step 1, on an app it did not make).
pub const APP_REDIRECT_URI_MISSING: Code = c("AppRedirectUriMissing", ExitCode::Failure, false);
/// The app was not created by entra-app-create, and not adopted with `--app-id … --adopt`.
pub const APP_NOT_MANAGED: Code = c("AppNotManaged", ExitCode::Failure, false);
/// The app's unique name belongs to another app id.
pub const APP_ID_MISMATCH: Code = c("AppIdMismatch", ExitCode::Failure, false);
/// The app has no web redirect URI.
pub const NO_REDIRECT_URI: Code = c("NoRedirectUri", ExitCode::Failure, false);
/// The app's redirect URIs do not include the one asked for.
pub const REDIRECT_URI_MISMATCH: Code = c("RedirectUriMismatch", ExitCode::Failure, false);
/// `--prune-secrets` would leave the app without a secret the output holds.
pub const NO_SECRET_TO_KEEP: Code = c("NoSecretToKeep", ExitCode::Failure, false);
/// `--prune-secrets` cannot list the clusters that may use the app's secrets (step 1).
pub const CLUSTERS_NOT_LISTED: Code = c("ClustersNotListed", ExitCode::Failure, false);
/// `--prune-secrets`: a cluster uses the app and no record says which secret (step 1).
pub const CLUSTER_SECRET_UNKNOWN: Code = c("ClusterSecretUnknown", ExitCode::Failure, false);
/// An offboarding step (`--revoke`, `--remove`, `--delete`) while a cluster of tenant A
/// still runs as the app, or without knowing whether one does (no `--force`).
pub const APP_IN_USE: Code = c("AppInUse", ExitCode::Failure, false);
/// The record on the app was replaced by another writer's each time it was written (step 4).
pub const RECORD_NOT_KEPT: Code = c("RecordNotKept", ExitCode::Failure, true);
/// Step 1's update of an existing app (`--adopt`, a rename, a missing permission) was taken
/// away by another writer's write each time it was written.
pub const APP_UPDATE_NOT_KEPT: Code = c("AppUpdateNotKept", ExitCode::Failure, true);
/// The record on the app already names the most clusters the tools keep on one app (step 4).
pub const RECORD_FULL: Code = c("RecordFull", ExitCode::Failure, false);
/// A multi-object run stopped starting new objects after `--max-failures` failures: this
/// one was not started; a rerun of the same command on the output starts it.
pub const NOT_STARTED: Code = c("NotStarted", ExitCode::Failure, true);
/// The app's service principal vanished while being read.
pub const SERVICE_PRINCIPAL_MISSING: Code = c("ServicePrincipalMissing", ExitCode::Failure, true);
/// No administrator consented before `--timeout` (step 2 `--wait`).
pub const CONSENT_TIMEOUT: Code = c("ConsentTimeout", ExitCode::Failure, true);
/// The app has no service principal in tenant B (step 3).
pub const SERVICE_PRINCIPAL_NOT_IN_REGISTRY_TENANT: Code = c(
    "ServicePrincipalNotInRegistryTenant",
    ExitCode::Failure,
    false,
);
/// The app has no service principal in tenant A (step 4).
pub const SERVICE_PRINCIPAL_NOT_IN_CLUSTER_TENANT: Code = c(
    "ServicePrincipalNotInClusterTenant",
    ExitCode::Failure,
    false,
);
/// No registry of that name.
pub const REGISTRY_NOT_FOUND: Code = c("RegistryNotFound", ExitCode::Failure, false);
/// More than one registry of that name.
pub const AMBIGUOUS_REGISTRY_NAME: Code = c("AmbiguousRegistryName", ExitCode::Failure, false);
/// No cluster of that resource group and name in the subscriptions seen (`-g`/`-n`).
pub const CLUSTER_NOT_FOUND: Code = c("ClusterNotFound", ExitCode::Failure, false);
/// A cluster of that resource group and name in more than one subscription (`-g`/`-n`).
pub const AMBIGUOUS_CLUSTER_NAME: Code = c("AmbiguousClusterName", ExitCode::Failure, false);
/// No role of that name.
pub const ROLE_NOT_FOUND: Code = c("RoleNotFound", ExitCode::Failure, false);
/// An image reference the registry cannot serve.
pub const BAD_IMAGE: Code = c("BadImage", ExitCode::Failure, false);
/// The app's credential cannot pull from the registry (steps 3 and 4).
pub const PULL_VERIFICATION_FAILED: Code = c("PullVerificationFailed", ExitCode::Failure, true);
/// Step 4 without a registry to check the pull on, and without `--force`.
pub const PULL_NOT_VERIFIED: Code = c("PullNotVerified", ExitCode::Failure, false);
/// Step 4 may not give the new service principal the old one's roles in tenant A.
pub const ROLE_COPY_NOT_ALLOWED: Code = c("RoleCopyNotAllowed", ExitCode::Failure, false);
/// The cluster uses a managed identity.
pub const MANAGED_IDENTITY_CLUSTER: Code = c("ManagedIdentityCluster", ExitCode::Failure, false);
/// Another operation runs on the cluster past `--timeout`, or it changed 5 times while the
/// old record's tags were being removed.
pub const CLUSTER_BUSY: Code = c("ClusterBusy", ExitCode::Failure, true);
/// `--remove-legacy-tags` in a cloud whose managed-cluster api-versions all predate
/// 2024-09-01: the cluster has no `eTag`, so the old tags cannot be removed safely (by hand).
pub const CLUSTER_ETAG_UNSUPPORTED: Code = c("ClusterEtagUnsupported", ExitCode::Failure, false);
/// The reset was posted and still runs: a rerun follows `cluster_operation_url`.
pub const OPERATION_STILL_RUNNING: Code = c("OperationStillRunning", ExitCode::Failure, true);
/// After the reset the cluster does not run as the app.
pub const RESET_NOT_APPLIED: Code = c("ResetNotApplied", ExitCode::Failure, true);
/// The kubelet could not pull the probe's image inside the cluster (`--probe-image`).
pub const CLUSTER_PULL_FAILED: Code = c("ClusterPullFailed", ExitCode::Failure, false);
/// The probe's pod got no verdict from the kubelet in time.
pub const CLUSTER_PULL_UNDECIDED: Code = c("ClusterPullUndecided", ExitCode::Failure, true);
/// AKS would not run the probe (run command disabled, no right, no cluster token), or its
/// pod could not be made.
pub const RUN_COMMAND_REFUSED: Code = c("RunCommandRefused", ExitCode::Failure, false);
/// Tenant B is tenant A: refused where a step first knows both, unless `--same-tenant`.
pub const SAME_TENANT: Code = c("SameTenant", ExitCode::Failure, false);
/// SIGINT (exit 130) or SIGTERM (exit 143) stopped the step; the object carries what
/// the run made, and a rerun of the same command on it completes it.
pub const INTERRUPTED: Code = c("Interrupted", ExitCode::Stopped(Signal::Int), true);

/// Every code, in the order of docs/errors.md's table.
pub const ALL: &[Code] = &[
    USAGE_ERROR,
    INVALID_INPUT,
    SECRET_TOO_LONG,
    SECRET_NOT_BOUND,
    TIMEOUT,
    IO_ERROR,
    CONNECT_FAILED,
    CONNECTION_ERROR,
    UNTRUSTED_CERTIFICATE,
    CREDENTIAL_UNAVAILABLE,
    NOT_LOGGED_IN,
    CREDENTIAL_NETWORK_ERROR,
    SIGN_IN_UNAVAILABLE,
    INVALID_CLIENT_SECRET,
    UNKNOWN_APPLICATION,
    UNKNOWN_TENANT,
    CREDENTIAL_REJECTED,
    MFA_REQUIRED,
    BLOCKED_BY_CONDITIONAL_ACCESS,
    UNEXPECTED_RESPONSE,
    UNEXPECTED_GRAPH_ANSWER,
    UNEXPECTED_ARM_ANSWER,
    UNEXPECTED_REGISTRY_ANSWER,
    BAD_NEXT_LINK,
    UNTRUSTED_ORIGIN,
    BAD_LOGIN_SERVER,
    KEY_VAULT_BAD_ANSWER,
    KEY_VAULT_BAD_CHALLENGE,
    KEY_VAULT_ERROR,
    API_VERSION_UNSUPPORTED,
    REGISTRY_NETWORK_DENIED,
    CLI_CLOUD_MISMATCH,
    APP_REQUESTS_NO_PERMISSION,
    TOO_MANY_PAGES,
    OPERATION_FAILED,
    OPERATION_STATUS_UNKNOWN,
    APP_NOT_FOUND,
    APP_NOT_MULTITENANT,
    APP_REDIRECT_URI_MISSING,
    APP_NOT_MANAGED,
    APP_ID_MISMATCH,
    NO_REDIRECT_URI,
    REDIRECT_URI_MISMATCH,
    NO_SECRET_TO_KEEP,
    CLUSTERS_NOT_LISTED,
    CLUSTER_SECRET_UNKNOWN,
    APP_IN_USE,
    RECORD_NOT_KEPT,
    APP_UPDATE_NOT_KEPT,
    RECORD_FULL,
    SERVICE_PRINCIPAL_MISSING,
    CONSENT_TIMEOUT,
    SERVICE_PRINCIPAL_NOT_IN_REGISTRY_TENANT,
    SERVICE_PRINCIPAL_NOT_IN_CLUSTER_TENANT,
    REGISTRY_NOT_FOUND,
    AMBIGUOUS_REGISTRY_NAME,
    CLUSTER_NOT_FOUND,
    AMBIGUOUS_CLUSTER_NAME,
    ROLE_NOT_FOUND,
    BAD_IMAGE,
    PULL_VERIFICATION_FAILED,
    PULL_NOT_VERIFIED,
    ROLE_COPY_NOT_ALLOWED,
    MANAGED_IDENTITY_CLUSTER,
    CLUSTER_BUSY,
    CLUSTER_ETAG_UNSUPPORTED,
    OPERATION_STILL_RUNNING,
    RESET_NOT_APPLIED,
    CLUSTER_PULL_FAILED,
    CLUSTER_PULL_UNDECIDED,
    RUN_COMMAND_REFUSED,
    SAME_TENANT,
    NOT_STARTED,
    INTERRUPTED,
];

/// The entry of `name`, if it is one of ours.
pub fn find(name: &str) -> Option<Code> {
    ALL.iter().copied().find(|c| c.name == name)
}
