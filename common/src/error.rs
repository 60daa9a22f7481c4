//! The one error type of the tools, and its mapping to exit codes.
//!
//! Kinds are deliberately coarse, as in the Azure SDK: what matters to a user is the
//! `code` (Azure's own error code when Azure answered, else one of ours), a message
//! that says what happened, and a hint that says what to do. The exit code is derived
//! from the kind in one place, [`Error::exit_code`].
//!
//! Length: over 400 lines because it holds the registry of every error code (`codes`), one
//! documented constant each: the one list docs/errors.md and the README are checked against.

use std::fmt;

use crate::exit::{ExitCode, Signal};

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of a failure; decides the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags or input that is not JSON objects: the run stops, exit 2.
    Usage,
    /// A field of one object is missing or malformed; nothing was sent for it.
    Input {
        /// The envelope field at fault.
        field: String,
    },
    /// No usable credential: exit 3.
    Credential,
    /// Azure answered with an error status.
    Http {
        /// The HTTP status.
        status: u16,
    },
    /// The connection failed (refused, reset, TLS, DNS) after the retries.
    Transport,
    /// The `--timeout` passed before the step could finish.
    Timeout,
    /// A local file could not be read or written.
    Io,
    /// Azure's long-running operation ended `Failed` or `Canceled` (Azure's code, or ours).
    OperationFailed,
    /// The step refused, or found Azure in a state it cannot go on from (the step sets the code).
    Step,
    /// SIGINT or SIGTERM stopped the step; a rerun of the same command completes it.
    Interrupted {
        /// The signal (its exit: 130 for SIGINT, 143 for SIGTERM).
        signal: Signal,
    },
}

/// A failure with an Azure or xtenant error code, a message and an optional hint.
///
/// Boxed inside, so a `Result` stays small on the happy path.
#[derive(Debug, Clone)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    code: String,
    message: String,
    hint: Option<String>,
    request_id: Option<String>,
    detail: Option<String>,
    /// A write was sent and its answer never came: whether it took effect is unknown.
    outcome_unknown: bool,
}

impl Error {
    /// A new error of `kind` with `code` and `message`.
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            code: code.into(),
            message: message.into(),
            hint: None,
            request_id: None,
            detail: None,
            outcome_unknown: false,
        }))
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, "UsageError", message)
    }

    /// A missing or malformed field: the message names the field and the fix.
    pub fn input(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Input {
                field: field.to_owned(),
            },
            "InvalidInput",
            message,
        )
    }

    /// A credential failure (exit 3).
    pub fn credential(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Credential, code, message)
    }

    /// A step-specific failure with its own code.
    pub fn step(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Step, code, message)
    }

    /// The deadline passed.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, "Timeout", message)
    }

    /// Whether the deadline passed (the kind, never the code text).
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// SIGINT or SIGTERM stopped the step (code `Interrupted`).
    pub fn interrupted(signal: Signal, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            ErrorKind::Interrupted { signal },
            codes::INTERRUPTED.name,
            format!("interrupted by {}: {message}", signal.name()),
        )
    }

    /// Whether an interrupt stopped the step (the kind, never the code text).
    pub fn is_interrupted(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Interrupted { .. })
    }

    /// Marks a write whose answer never came: whether it took effect is unknown.
    #[must_use]
    pub fn outcome_unknown(mut self) -> Self {
        self.0.outcome_unknown = true;
        self
    }

    /// Whether a write was sent and whether it took effect is unknown.
    pub fn is_outcome_unknown(&self) -> bool {
        self.0.outcome_unknown
    }

    /// A local I/O failure about `what`.
    pub fn io(what: &str, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, "IoError", format!("{what}: {err}"))
    }

    /// Adds a hint: what the user can do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// Replaces the code (a step that knows better what a failure means).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.0.code = code.into();
        self
    }

    /// Replaces the message, keeping kind, code and request id.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    /// Puts context in front of the message: `"{context}: {message}"`.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.0.message = format!("{context}: {}", self.0.message);
        self
    }

    /// Records the service's request id (for support cases).
    #[must_use]
    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.0.request_id = id;
        self
    }

    /// Keeps Azure's full text (the message holds a short form of it): shown at `-v`.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Azure's full text, when the message shortened it.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// The kind.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The error code: Azure's when Azure answered, else ours.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The message, without the hint.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// The request id Azure gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The HTTP status when Azure answered.
    pub fn status(&self) -> Option<u16> {
        match self.0.kind {
            ErrorKind::Http { status } => Some(status),
            _ => None,
        }
    }

    /// Whether Azure answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        self.0.code.eq_ignore_ascii_case(code)
    }

    /// Whether this failure has the registered code `code` (exactly: ours are never
    /// spelled another way).
    pub fn is(&self, code: codes::Code) -> bool {
        self.0.code == code.name
    }

    /// The process exit code this failure leads to (see docs/errors.md): the registry's
    /// for one of our codes (wherever it was made), else by kind for Azure's own codes.
    pub fn exit_code(&self) -> ExitCode {
        // The signal decides an interrupt's exit (130 or 143; the registry lists SIGINT's).
        if let ErrorKind::Interrupted { signal } = self.0.kind {
            return ExitCode::Stopped(signal);
        }
        if let Some(c) = codes::find(&self.0.code) {
            return c.exit;
        }
        match self.0.kind {
            ErrorKind::Usage => ExitCode::Usage,
            ErrorKind::Credential => ExitCode::Credential,
            _ => ExitCode::Failure,
        }
    }

    /// The message with the hint, as written into the envelope's `error.message`.
    pub fn full_message(&self) -> String {
        let mut m = self.0.message.clone();
        if let Some(h) = &self.0.hint {
            m.push_str(" Hint: ");
            m.push_str(h);
        }
        if let Some(r) = &self.0.request_id {
            m.push_str(" (request id ");
            m.push_str(r);
            m.push(')');
        }
        m
    }
}

/// `text` in at most about `max` characters: whole when it fits, else its first sentence
/// when that fits, else cut at a word and ended with `…`. A trailing `[Code]` (a precise
/// cause appended to Azure's message) is kept.
pub fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let (body, tail) = match text.rfind(" [") {
        Some(i) if text.ends_with(']') && text.len() - i < 60 => (&text[..i], &text[i..]),
        _ => (text, ""),
    };
    let room = max.saturating_sub(tail.chars().count()).max(20);
    if let Some(end) = body.find(". ").map(|i| i + 1)
        && body[..end].chars().count() <= room
    {
        return format!("{}{tail}", &body[..end]);
    }
    let cut: String = body.chars().take(room.saturating_sub(1)).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…{tail}", cut.trim_end_matches([' ', ',', ';', ':']))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0.message, self.0.code)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_table() {
        assert_eq!(Error::usage("x").exit_code(), ExitCode::Usage);
        assert_eq!(
            Error::credential("C", "x").exit_code(),
            ExitCode::Credential
        );
        assert_eq!(Error::input("app_id", "x").exit_code(), ExitCode::Failure);
        assert_eq!(
            Error::new(ErrorKind::Http { status: 403 }, "AuthorizationFailed", "x").exit_code(),
            ExitCode::Failure
        );
        assert_eq!(Error::timeout("x").exit_code(), ExitCode::Failure);
        // Azure's own code on a credential failure: by kind.
        assert_eq!(
            Error::credential("AADSTS90002", "x").exit_code(),
            ExitCode::Credential
        );
    }

    /// One of our codes exits as the registry says, whatever kind of failure carried it
    /// (an untrusted certificate met by a request exits 3, as one met by the sign-in).
    #[test]
    fn a_registered_code_exits_as_the_registry_says_from_any_kind() {
        let kinds = [
            ErrorKind::Transport,
            ErrorKind::Credential,
            ErrorKind::Step,
            ErrorKind::Http { status: 400 },
            ErrorKind::OperationFailed,
        ];
        for c in codes::ALL {
            for k in &kinds {
                let e = Error::new(k.clone(), c.name, "x");
                assert_eq!(e.exit_code(), c.exit, "{} as {k:?}", c.name);
                assert!(e.is(*c));
            }
        }
        let e = Error::new(ErrorKind::Transport, codes::UNTRUSTED_CERTIFICATE.name, "x");
        assert_eq!(e.exit_code(), ExitCode::Credential);
        assert!(!e.is(codes::CONNECT_FAILED));
        // An interrupt exits as its signal says (the registry lists SIGINT's 130).
        let term = Error::interrupted(Signal::Term, "x");
        assert_eq!((term.code(), term.exit_code().code()), ("Interrupted", 143));
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text() {
        assert_eq!(clip("short.", 20), "short.");
        assert_eq!(
            clip(
                "First sentence here. Then a very long second sentence follows it.",
                30
            ),
            "First sentence here."
        );
        let long = "word ".repeat(60);
        let c = clip(&long, 50);
        assert!(c.chars().count() <= 50 && c.ends_with('…'), "{c}");
        let with_code = format!("{} [NoBackingApplicationObject]", "x ".repeat(100));
        let c = clip(&with_code, 80);
        assert!(
            c.ends_with("… [NoBackingApplicationObject]") && c.chars().count() <= 80,
            "{c}"
        );
    }

    #[test]
    fn full_message_carries_hint_and_request_id() {
        let e = Error::step("X", "it broke.")
            .with_hint("do this")
            .with_request_id(Some("rid".into()));
        assert_eq!(e.full_message(), "it broke. Hint: do this (request id rid)");
        assert!(e.is_code("x"));
    }
}

/// Every error code the tools make (Azure's own codes pass through as Azure sent them):
/// the one list, with exit code and whether a rerun on the failed object may complete it.
/// docs/errors.md's "Error codes" table lists exactly these, and README.md's Troubleshooting
/// says what to run after each (tests in common/tests/readme.rs check both).
pub mod codes {
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
    pub const CREDENTIAL_UNAVAILABLE: Code =
        c("CredentialUnavailable", ExitCode::Credential, false);
    /// The Azure CLI is not logged in.
    pub const NOT_LOGGED_IN: Code = c("NotLoggedIn", ExitCode::Credential, false);
    /// The sign-in endpoint could not be reached.
    pub const CREDENTIAL_NETWORK_ERROR: Code =
        c("CredentialNetworkError", ExitCode::Credential, true);
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
    /// The cloud's ARM has no api-version of a resource type that the tool can use.
    pub const API_VERSION_UNSUPPORTED: Code = c("ApiVersionUnsupported", ExitCode::Failure, false);
    /// A registry's firewall refuses this machine's address: the pull could not be checked from here.
    pub const REGISTRY_NETWORK_DENIED: Code = c("RegistryNetworkDenied", ExitCode::Failure, false);
    /// `--auth cli`: the Azure CLI's active cloud is not `--cloud`.
    pub const CLI_CLOUD_MISMATCH: Code = c("CliCloudMismatch", ExitCode::Credential, false);
    /// The app requests no permission: the consent page would fail (AADSTS650056).
    pub const APP_REQUESTS_NO_PERMISSION: Code =
        c("AppRequestsNoPermission", ExitCode::Failure, false);
    /// A listing longer than the page cap.
    pub const TOO_MANY_PAGES: Code = c("TooManyPages", ExitCode::Failure, false);
    /// Azure's long-running operation ended Failed or Canceled without a code of its own.
    pub const OPERATION_FAILED: Code = c("OperationFailed", ExitCode::Failure, false);
    /// An operation URL answered without a status: the operation is not known to have succeeded.
    pub const OPERATION_STATUS_UNKNOWN: Code =
        c("OperationStatusUnknown", ExitCode::Failure, false);
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
    /// The record on the app already names the most clusters the tools keep on one app (step 4).
    pub const RECORD_FULL: Code = c("RecordFull", ExitCode::Failure, false);
    /// A multi-object run stopped starting new objects after `--max-failures` failures: this
    /// one was not started; a rerun of the same command on the output starts it.
    pub const NOT_STARTED: Code = c("NotStarted", ExitCode::Failure, true);
    /// The app's service principal vanished while being read.
    pub const SERVICE_PRINCIPAL_MISSING: Code =
        c("ServicePrincipalMissing", ExitCode::Failure, true);
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
    pub const MANAGED_IDENTITY_CLUSTER: Code =
        c("ManagedIdentityCluster", ExitCode::Failure, false);
    /// Another operation runs on the cluster past `--timeout`.
    pub const CLUSTER_BUSY: Code = c("ClusterBusy", ExitCode::Failure, true);
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
}
