//! Error answers turned into an [`Error`] with status, code, message and request id: the
//! body read by [`ErrorBody`] (`error_body`), the request id from the headers, and ARM's
//! refusal of a token from another tenant explained.

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::error_body::ErrorBody;
use super::{Response, Service};
use crate::error::{Error, ErrorKind};
use crate::validate::is_guid;

/// The request id Azure gave in the headers.
fn request_id(headers: &HeaderMap) -> Option<String> {
    [
        "x-ms-request-id",
        "request-id",
        "x-ms-correlation-request-id",
    ]
    .iter()
    .find_map(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// Turns an error answer into an [`Error`] of kind [`ErrorKind::Http`]: the body's code
/// and message in any known shape, else `Http<status>` and the start of the body.
pub fn error_from_response(service: Service, resp: &Response) -> Error {
    let parsed = ErrorBody::parse(&resp.body).unwrap_or_else(|| {
        let text = match &resp.body {
            Value::String(s) => s.chars().take(200).collect::<String>(),
            Value::Null => String::new(),
            other => other.to_string().chars().take(200).collect(),
        };
        let reason = reqwest::StatusCode::from_u16(resp.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        ErrorBody {
            code: format!("Http{}", resp.status),
            message: format!("HTTP {} {reason} {text}", resp.status)
                .trim()
                .to_owned(),
            request_id: None,
        }
    });
    let svc = match service {
        Service::Graph => "Microsoft Graph",
        Service::Arm => "Azure Resource Manager",
        Service::Registry => "the registry",
        Service::KeyVault => "Key Vault",
    };
    let short = summarize(&parsed.code, &parsed.message);
    let tenants = wrong_tenant(&parsed.code, &parsed.message);
    let mut e = Error::azure(
        ErrorKind::Http {
            status: resp.status,
        },
        parsed.code,
        format!("{svc} answered {}: {short}", resp.status),
    )
    .with_request_id(request_id(&resp.headers).or(parsed.request_id));
    if short != parsed.message {
        e = e.with_detail(parsed.message.clone());
    }
    if let Some((token, holder)) = tenants {
        // Both tenants, each on its own line: the one signed in to, and the one to name.
        e = e
            .with_detail(parsed.message.clone())
            .with_message(format!(
                "the token is for tenant {token}, but the subscription is in another tenant"
            ))
            .with_hint(format!(
                "the subscription is in tenant {holder}: pass it as --cluster-tenant (steps 1, 4) or --registry-tenant (2, 3)"
            ));
    }
    e
}

/// The two tenants of ARM's refusal of a token from another tenant than the subscription's.
fn wrong_tenant(code: &str, message: &str) -> Option<(String, String)> {
    if code != WRONG_ISSUER {
        return None;
    }
    wrong_issuer(message)
}

/// ARM's code for a token from another tenant than the subscription's.
pub const WRONG_ISSUER: &str = "InvalidAuthenticationTokenTenant";

/// The two tenants of ARM's `InvalidAuthenticationTokenTenant` message: the token's, then
/// the subscription's ("… wrong issuer 'https://sts.windows.net/X/'. It must match the tenant
/// 'https://sts.windows.net/Y/' associated with this subscription …").
pub fn wrong_issuer(message: &str) -> Option<(String, String)> {
    let mut ids = message
        .split(['/', '\''])
        .filter(|s| is_guid(s))
        .map(str::to_ascii_lowercase);
    let token = ids.next()?;
    let holder = ids.next()?;
    Some((token, holder))
}

/// The most Azure's message may take of one line on stderr (the rest is shown at `-v`).
const MESSAGE_ROOM: usize = 120;

/// Azure's message, short: ARM's `AuthorizationFailed` (which spells out the caller, its
/// object id and the whole scope) as the action refused, anything else clipped.
fn summarize(code: &str, message: &str) -> String {
    if code.eq_ignore_ascii_case("AuthorizationFailed")
        && let Some(start) = message.find("perform action '").map(|i| i + 16)
        && let Some(len) = message[start..].find('\'')
    {
        return format!("not authorized to perform {}", &message[start..start + len]);
    }
    // The code is shown beside the message: a trailing `[Code]` naming it again goes.
    let message = message
        .strip_suffix(&format!(" [{code}]"))
        .unwrap_or(message);
    crate::error::clip(message, MESSAGE_ROOM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_error_body;
    use serde_json::json;

    fn resp(status: u16, body: Value, headers: &[(&'static str, &str)]) -> Response {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        Response {
            status,
            headers: h,
            body,
        }
    }

    /// A recorded body from `common/tests/fixtures/error-bodies/` (compiled in: never skipped).
    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../tests/fixtures/error-bodies/",
                $name
            )))
            .unwrap()
        };
    }

    /// The `error` object's parts as written: Key Vault's outer code and inner cause apart.
    #[test]
    fn error_parts_keep_the_code_and_its_inner_cause_apart() {
        let kv = ErrorBody::parts(&fixture!("keyvault-403-forbidden-by-rbac.json")).unwrap();
        assert_eq!(
            (kv.code.as_str(), kv.inner_code.as_deref()),
            ("Forbidden", Some("ForbiddenByRbac"))
        );
        assert!(kv.message.starts_with("Caller is not authorized"), "{kv:?}");
        // Other shapes have no `error` object.
        assert_eq!(
            ErrorBody::parts(&fixture!("entra-401-invalid-client.json")),
            None
        );
        assert_eq!(
            ErrorBody::parts(&fixture!("aks-409-operation-not-allowed.json")),
            None
        );
        assert_eq!(ErrorBody::parts(&json!({"error": {"code": 5}})), None);
        let bare = ErrorBody::parts(&json!({"error": {"message": 7}})).unwrap();
        assert_eq!(bare, super::super::ErrorParts::default());
    }

    #[test]
    fn graph_403_recorded() {
        let body = fixture!("graph-403-authorization-request-denied.json");
        let e = error_from_response(Service::Graph, &resp(403, body, &[]));
        assert_eq!(e.code(), "Authorization_RequestDenied");
        assert_eq!(e.status(), Some(403));
        assert!(e.message().contains("Insufficient privileges"), "{e}");
        // No header: the request id comes from innerError.
        assert_eq!(e.request_id(), Some("ff33533c-35c1-4cfb-a5f1-b4938a33db80"));
    }

    #[test]
    fn graph_details_name_the_precise_cause() {
        let body = fixture!("graph-400-no-backing-application-object.json");
        let e = error_from_response(Service::Graph, &resp(400, body, &[]));
        assert_eq!(e.code(), "NoBackingApplicationObject");
        assert!(e.message().contains("valid application object"), "{e}");

        // A specific outer code is kept; the detail is only added to the message.
        let lifetime = json!({"error":{"code":"CredentialInvalidLifetimeAsPerAppPolicy","message":"Credential lifetime exceeds the max value allowed as per assigned policy 'p'.","details":[{"code":"InvalidKeyEndDate","target":"EndDate"}]}});
        let e = error_from_response(Service::Graph, &resp(400, lifetime, &[]));
        assert_eq!(e.code(), "CredentialInvalidLifetimeAsPerAppPolicy");
        assert!(e.message().contains("[InvalidKeyEndDate]"), "{e}");

        // A malformed later entry does not hide the first entry's precise code.
        let junk = json!({"error":{"code":"Request_BadRequest","message":"m","details":[{"code":"NoBackingApplicationObject"},"junk"]}});
        let e = error_from_response(Service::Graph, &resp(400, junk, &[]));
        assert_eq!(e.code(), "NoBackingApplicationObject");
    }

    #[test]
    fn arm_wrapped_error_with_header_request_id() {
        let body = fixture!("arm-409-role-assignment-exists.json");
        let e = error_from_response(
            Service::Arm,
            &resp(409, body, &[("x-ms-request-id", "rid-1")]),
        );
        assert_eq!(
            (e.code(), e.request_id(), e.status()),
            ("RoleAssignmentExists", Some("rid-1"), Some(409))
        );
    }

    #[test]
    fn aks_top_level_error() {
        let body = fixture!("aks-409-operation-not-allowed.json");
        let e = error_from_response(Service::Arm, &resp(409, body, &[]));
        assert_eq!(e.code(), "OperationNotAllowed");
        assert!(e.is_code("OperationNotAllowed"));
        assert!(
            e.message()
                .contains("Another operation (Updating) is in progress"),
            "{e}"
        );
        // With details, as ARM's wrapped shape has them.
        let with_details = json!({"code":"BadRequest","message":"m","details":[{"code":"InvalidParameter","message":"x"}]});
        assert_eq!(
            ErrorBody::parse(&with_details).unwrap().code,
            "InvalidParameter"
        );
    }

    #[test]
    fn entra_token_endpoint_error() {
        let body = fixture!("entra-401-invalid-client.json");
        let e = error_from_response(Service::Graph, &resp(401, body, &[]));
        assert_eq!(e.code(), "invalid_client");
        assert!(e.message().contains("AADSTS7000215"), "{e}");
        assert!(
            !e.message().contains("Trace ID") && !e.message().contains('\r'),
            "only the first line: {e}"
        );
        assert_eq!(e.request_id(), Some("6bad8289-db4a-49da-8609-0848d8d71700"));
    }

    #[test]
    fn registry_errors_array() {
        let body = fixture!("acr-403-denied-firewall.json");
        let e = error_from_response(Service::Registry, &resp(403, body, &[]));
        assert_eq!(e.code(), "DENIED");
        assert!(
            e.message().contains("is not allowed access")
                && e.message().contains("aka.ms/acr/firewall"),
            "{e}"
        );
        let unauthorized = json!({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]});
        assert_eq!(
            parse_error_body(&unauthorized),
            Some(("UNAUTHORIZED".into(), "authentication required".into()))
        );
    }

    #[test]
    fn key_vault_inner_error_is_the_code() {
        let body = fixture!("keyvault-403-forbidden-by-rbac.json");
        let b = ErrorBody::parse(&body).unwrap();
        assert_eq!(b.code, "ForbiddenByRbac");
        assert!(
            b.message.starts_with("Caller is not authorized") && b.message.contains("[Forbidden]"),
            "{b:?}"
        );
        // Answered by Key Vault, and said so (not "Azure Resource Manager").
        let e = error_from_response(Service::KeyVault, &resp(403, body, &[]));
        assert_eq!(e.code(), "ForbiddenByRbac");
        assert!(e.message().starts_with("Key Vault answered 403: "), "{e}");
    }

    #[test]
    fn odata_error() {
        let body = json!({"odata.error":{"code":"Authorization_RequestDenied","message":{"lang":"en","value":"Insufficient privileges to complete the operation."}}});
        assert_eq!(
            parse_error_body(&body),
            Some((
                "Authorization_RequestDenied".into(),
                "Insufficient privileges to complete the operation.".into()
            ))
        );
    }

    #[test]
    fn unknown_bodies_fall_back_to_the_status() {
        let html = resp(502, Value::String("<html>Bad Gateway</html>".into()), &[]);
        let e = error_from_response(Service::Arm, &html);
        assert_eq!(e.code(), "Http502");
        assert!(e.message().contains("Bad Gateway"), "{e}");
        // A code without a message, or a message without a code, is no error body.
        for body in [
            json!({"code":"X"}),
            json!({"message":"m"}),
            json!([1]),
            json!({"errors":[]}),
        ] {
            assert_eq!(ErrorBody::parse(&body), None, "{body}");
        }
        let e = error_from_response(Service::Arm, &resp(500, Value::Null, &[]));
        assert_eq!(
            (e.code(), e.message()),
            (
                "Http500",
                "Azure Resource Manager answered 500: HTTP 500 Internal Server Error"
            )
        );
    }

    #[test]
    fn recorded_success_bodies_are_not_errors() {
        // Spec examples' 200 bodies (a registry, a managed cluster) carry no error shape.
        for body in [
            json!({"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.ContainerRegistry/registries/myRegistry","name":"myRegistry","properties":{"loginServer":"myregistry.azurecr.io","provisioningState":"Succeeded"}}),
            json!({"value":[],"nextLink":null}),
        ] {
            assert_eq!(ErrorBody::parse(&body), None, "{body}");
        }
    }
}
