//! Sign-in failures, explained: each azure_identity failure becomes one of our codes, a
//! one-line message with Entra's own code (`AADSTS…`), and a hint with the command that fixes
//! it — the `az login --tenant … --scope …` the Azure CLI itself suggests, where it does.
//!
//! The SDK's text (its troubleshooting link, reqwest's chain, the Azure CLI's stderr with its
//! trace ids) is never printed raw: the message takes one line of it, the rest is the
//! error's detail, shown at `-v`.

use azure_core::error::ErrorKind as K;

use super::said::{aadsts_code, az_said, chain, first_line, host_in, one_line, root_cause};
use crate::error::{Error, codes};

/// Turns an azure_identity failure for `scope` in `tenant`, signing in as `who`, into a
/// credential error with a code and a hint.
pub fn classify(err: &azure_core::Error, tenant: &str, scope: &str, who: &str) -> Error {
    let mut inner: &azure_core::Error = err;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(a) = e.downcast_ref::<azure_core::Error>() {
            inner = a;
            if matches!(a.kind(), K::HttpResponse { .. } | K::Io | K::Connection) {
                break;
            }
        }
        cur = e.source();
    }
    let text = chain(err);
    let e = if !matches!(inner.kind(), K::HttpResponse { .. }) && super::is_certificate_error(&text)
    {
        untrusted(&text, tenant)
    } else {
        match inner.kind() {
            K::HttpResponse {
                status, error_code, ..
            } => refused(
                u16::from(*status),
                error_code.as_deref().unwrap_or_default(),
                tenant,
                who,
            ),
            K::Io | K::Connection => {
                let host = host_in(&text).unwrap_or_else(|| "the sign-in endpoint".to_owned());
                Error::credential(
                    codes::CREDENTIAL_NETWORK_ERROR,
                    format!(
                        "could not reach the sign-in endpoint {host} for tenant {tenant}: {}",
                        root_cause(&text)
                    ),
                )
                .with_hint("check the network, proxy settings and --cloud")
            }
            _ => cli(&text, tenant, scope),
        }
    };
    e.with_detail(one_line(&text))
}

/// A certificate the client does not trust (the sign-in endpoint's, or an interceptor's).
fn untrusted(text: &str, tenant: &str) -> Error {
    let host = host_in(text).unwrap_or_else(|| "the sign-in endpoint".to_owned());
    let why = text
        .find("invalid peer certificate")
        .map_or(text, |i| &text[i..]);
    Error::credential(
        codes::UNTRUSTED_CERTIFICATE,
        format!(
            "the TLS certificate of {host} (the sign-in endpoint for tenant {tenant}) is not trusted: {}",
            first_line(why)
        ),
    )
    .with_hint("for a private or simulated cloud, trust its CA with --ca-file (or the cloud file's ca_file); elsewhere, something is intercepting TLS")
}

/// Entra's token endpoint refused: its `error_codes` (comma-separated) decide.
fn refused(status: u16, codes_: &str, tenant: &str, who: &str) -> Error {
    let has = |c: u32| codes_.split(',').any(|x| x.trim() == c.to_string());
    let aadsts = codes_
        .split(',')
        .next()
        .filter(|c| !c.is_empty())
        .map_or_else(|| format!("HTTP {status}"), |c| format!("AADSTS{c}"));
    let (code, msg, hint) = if has(7_000_215) || has(7_000_222) {
        (
            codes::INVALID_CLIENT_SECRET,
            format!(
                "{who} was refused by tenant {tenant}: the client secret is wrong or expired ({aadsts})"
            ),
            "check AZURE_CLIENT_SECRET, or create a new secret for that app".to_owned(),
        )
    } else if matches!(status, 408 | 429 | 500..=599) {
        // The endpoint failed, not the credential: say so, or the user checks the wrong thing.
        (
            codes::SIGN_IN_UNAVAILABLE,
            format!(
                "the sign-in endpoint for tenant {tenant} failed (HTTP {status}) after retries; the credential itself was not judged"
            ),
            "Microsoft Entra ID is unavailable or throttling: rerun later (the step is safe to rerun)".to_owned(),
        )
    } else if has(700_016) {
        (
            codes::UNKNOWN_APPLICATION,
            format!("{who} is not known in tenant {tenant} ({aadsts})"),
            "the identity must exist in that tenant: for the registry's tenant, an identity of it, or a multitenant app consented there".to_owned(),
        )
    } else if has(90_002) || has(90_023) {
        (
            codes::UNKNOWN_TENANT,
            format!("tenant {tenant} was not found ({aadsts})"),
            "check the tenant id or domain".to_owned(),
        )
    } else if let Some(c) = MFA.iter().find(|c| has(**c)) {
        (
            codes::MFA_REQUIRED,
            format!("tenant {tenant} requires MFA (AADSTS{c}), which a client secret cannot give"),
            format!(
                "sign in as a person (az login --tenant {tenant}, then --auth cli), or have the policy exclude this app"
            ),
        )
    } else if let Some(c) = BLOCKED.iter().find(|c| has(**c)) {
        (
            codes::BLOCKED_BY_CONDITIONAL_ACCESS,
            format!("Conditional Access in tenant {tenant} blocked this sign-in (AADSTS{c})"),
            "the tenant's sign-in logs name the policy: exclude this app from it, or run where it allows".to_owned(),
        )
    } else {
        (
            codes::CREDENTIAL_REJECTED,
            format!("{who} could not get a token in tenant {tenant} ({aadsts})"),
            "check the identity's credentials and that it exists in that tenant".to_owned(),
        )
    };
    Error::credential(code, msg).with_hint(hint)
}

/// Entra's codes for a sign-in that needs multi-factor authentication.
const MFA: [u32; 4] = [50_076, 50_079, 50_074, 50_072];

/// Entra's codes for a sign-in Conditional Access blocked (a policy's block, an unmet device
/// or app requirement).
const BLOCKED: [u32; 6] = [53_003, 53_000, 53_001, 53_002, 53_004, 530_032];

/// The Azure CLI's failure (`az account get-access-token` exited with an error): its stderr
/// says why, and usually which `az login` fixes it.
fn cli(text: &str, tenant: &str, scope: &str) -> Error {
    let aadsts = aadsts_code(text);
    let suggested = text
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("az login"))
        .map(str::to_owned);
    let login = suggested.unwrap_or_else(|| format!("az login --tenant {tenant} --scope {scope}"));
    let said = az_said(text);
    let is = |codes_: &[u32]| aadsts.is_some_and(|c| codes_.contains(&c));
    if is(&MFA) {
        return Error::credential(
            codes::MFA_REQUIRED,
            format!(
                "the Azure CLI's login needs multi-factor authentication for tenant {tenant} (AADSTS{})",
                aadsts.unwrap_or_default()
            ),
        )
        .with_hint(login);
    }
    if is(&BLOCKED) {
        return Error::credential(
            codes::BLOCKED_BY_CONDITIONAL_ACCESS,
            format!(
                "Conditional Access in tenant {tenant} blocked the Azure CLI's sign-in (AADSTS{})",
                aadsts.unwrap_or_default()
            ),
        )
        .with_hint(format!(
            "sign in where the policy allows (a compliant device, an allowed network), then {login}"
        ));
    }
    if is(&[50_020, 50_034, 500_200]) || text.contains("does not exist in tenant") {
        return Error::credential(
            codes::NOT_LOGGED_IN,
            format!(
                "the Azure CLI's account is not in tenant {tenant} (AADSTS{})",
                aadsts.unwrap_or_default()
            ),
        )
        .with_hint(format!(
            "az login --tenant {tenant} with an account of that tenant (a member or a guest)"
        ));
    }
    if text.contains("az login") || text.contains("Please run") {
        return Error::credential(
            codes::NOT_LOGGED_IN,
            format!("the Azure CLI is not logged in to tenant {tenant}: {said}"),
        )
        .with_hint(login);
    }
    if text.contains("not found on PATH") || text.contains("wasn't found on PATH") {
        return Error::credential(
            codes::CREDENTIAL_UNAVAILABLE,
            "--auth cli: the Azure CLI (az) is not on PATH",
        )
        .with_hint(
            "install the Azure CLI, or use --auth env with AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
        );
    }
    Error::credential(
        codes::CREDENTIAL_UNAVAILABLE,
        format!("no token for tenant {tenant}: {said}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    const SCOPE: &str = "https://graph.microsoft.com/.default";

    fn http(status: azure_core::http::StatusCode, code: Option<&str>) -> azure_core::Error {
        azure_core::Error::with_message(
            K::HttpResponse {
                status,
                error_code: code.map(str::to_owned),
                raw_response: None,
            },
            "answer",
        )
    }

    #[test]
    fn sign_in_failures_are_classified() {
        use azure_core::http::StatusCode;
        let io = azure_core::Error::with_message(
            K::Io,
            "error sending request for url (https://login.example/t/oauth2/v2.0/token): invalid peer certificate: UnknownIssuer",
        );
        let e = classify(&io, "t", SCOPE, "me");
        assert_eq!(
            (e.code(), e.exit_code()),
            ("UntrustedCertificate", ExitCode::Credential)
        );
        assert!(
            e.message().contains("login.example") && e.message().contains("UnknownIssuer"),
            "{e}"
        );
        let down = azure_core::Error::with_message(K::Io, "connection refused");
        assert_eq!(
            classify(&down, "t", SCOPE, "me").code(),
            "CredentialNetworkError"
        );
        let outage = classify(
            &http(StatusCode::ServiceUnavailable, None),
            "t",
            SCOPE,
            "me",
        );
        assert_eq!(
            (outage.code(), outage.exit_code()),
            ("SignInUnavailable", ExitCode::Credential)
        );
        assert!(outage.hint().unwrap().contains("rerun later"));
        let throttled = classify(&http(StatusCode::TooManyRequests, None), "t", SCOPE, "me");
        assert_eq!(throttled.code(), "SignInUnavailable");
        let wrong = classify(
            &http(StatusCode::Unauthorized, Some("7000215")),
            "t",
            SCOPE,
            "me",
        );
        assert_eq!(wrong.code(), "InvalidClientSecret");
        assert!(wrong.message().contains("AADSTS7000215"), "{wrong}");
        let mfa = classify(
            &http(StatusCode::BadRequest, Some("50076")),
            "t",
            SCOPE,
            "me",
        );
        assert_eq!(
            (mfa.code(), mfa.exit_code()),
            ("MfaRequired", ExitCode::Credential)
        );
        assert!(mfa.message().contains("AADSTS50076"), "{mfa}");
        assert!(
            mfa.hint().unwrap().contains("az login --tenant t"),
            "{mfa:?}"
        );
        let ca = classify(
            &http(StatusCode::BadRequest, Some("53003")),
            "t",
            SCOPE,
            "me",
        );
        assert_eq!(ca.code(), "BlockedByConditionalAccess");
        assert!(ca.message().contains("AADSTS53003"), "{ca}");
    }

    /// The SDK's chain for a refused connection: one line, the host and the cause, no literal
    /// line break, no "`reqwest`"; the whole text kept as the detail.
    #[test]
    fn an_sdk_transport_failure_is_one_line() {
        let text = "ClientSecretCredential authentication failed. retry policy expired and the request will no longer be retried\nTo troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot#client-secret: failed to execute `reqwest` request: error sending request for url (https://127.0.0.1:1/t/oauth2/v2.0/token): client error (Connect): tcp connect error: Connection refused (os error 111)";
        let e = classify(
            &azure_core::Error::with_message(K::Io, text),
            "t",
            SCOPE,
            "me",
        );
        assert_eq!(e.code(), "CredentialNetworkError");
        assert_eq!(
            e.message(),
            "could not reach the sign-in endpoint 127.0.0.1:1 for tenant t: Connection refused (os error 111)"
        );
        assert!(!e.detail().unwrap().contains('\n'));
    }

    #[test]
    fn the_azure_clis_refusals_carry_the_login_it_suggests() {
        let cli = |stderr: &str| {
            classify(
                &azure_core::Error::with_message(
                    K::Credential,
                    format!(
                        "AzureCliCredential authentication failed. {stderr}\nTo troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot#azure-cli"
                    ),
                ),
                "tenant-a",
                SCOPE,
                "Azure CLI login",
            )
        };
        let mfa = cli(
            "ERROR: AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'. Trace ID: x Correlation ID: y Timestamp: 2026-01-01 00:00:00Z\nRun the command below to authenticate interactively; additional arguments may be added as needed:\naz logout\naz login --tenant \"tenant-a\" --scope \"https://graph.microsoft.com//.default\"\n",
        );
        assert_eq!(
            (mfa.code(), mfa.exit_code()),
            ("MfaRequired", ExitCode::Credential)
        );
        assert_eq!(
            mfa.hint(),
            Some(
                "az login --tenant \"tenant-a\" --scope \"https://graph.microsoft.com//.default\""
            )
        );
        let out = cli("ERROR: Please run 'az login' to setup account.");
        assert_eq!(out.code(), "NotLoggedIn");
        assert!(
            out.hint()
                .unwrap()
                .starts_with(&format!("az login --tenant tenant-a --scope {SCOPE}")),
            "{out:?}"
        );
        assert!(!out.message().contains('\n') && !out.message().contains("troubleshoot"));
        let other = cli(
            "ERROR: AADSTS50020: User account 'a@b.example' from identity provider 'live.com' does not exist in tenant 'Fabrikam' and cannot access the application '04b07795-8ddb-461a-bbee-02f9e1bf7b46'(Microsoft Azure CLI) in that tenant.",
        );
        assert_eq!(other.code(), "NotLoggedIn");
        assert!(
            other.message().contains("not in tenant tenant-a"),
            "{other}"
        );
        let blocked = cli(
            "ERROR: AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
        );
        assert_eq!(blocked.code(), "BlockedByConditionalAccess");
        let missing = cli("az not found on PATH");
        assert_eq!(missing.code(), "CredentialUnavailable");
    }
}
