//! An application's writable properties as Graph takes them from a body: their shapes, its
//! tags, its web redirect URIs, and the manifest's size limit.

use axum::response::Response;
use serde_json::{Map, Value, json};

use super::bad;

use crate::http::Req;
use crate::model::Application;

const APP_WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "notes",
    "tags",
    "identifierUris",
    "isFallbackPublicClient",
    "isDeviceOnlyAuthSupported",
    "signInAudience",
    "web",
    "spa",
    "publicClient",
    "api",
    "appRoles",
    "info",
    "optionalClaims",
    "requiredResourceAccess",
    "groupMembershipClaims",
    "serviceManagementReference",
    "tokenEncryptionKeyId",
    "parentalControlSettings",
    "keyCredentials",
    "uniqueName",
    "passwordCredentials",
    "defaultRedirectUri",
    "addIns",
];
const APP_READ_ONLY: &[&str] = &[
    "id",
    "appId",
    "createdDateTime",
    "publisherDomain",
    "deletedDateTime",
    "applicationTemplateId",
    "disabledByMicrosoftStatus",
    "verifiedPublisher",
    "certification",
];
const AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// Apply writable properties from a Graph body to an application.
pub(super) fn apply_app_props(
    req: &Req,
    app: &mut Application,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), Response> {
    for (k, v) in body {
        if k.starts_with('@') || APP_READ_ONLY.contains(&k.as_str()) {
            continue;
        }
        if !APP_WRITABLE.contains(&k.as_str()) {
            return Err(bad(
                req,
                &format!(
                    "Property '{k}' does not exist as a declared property or extension property."
                ),
            ));
        }
        match k.as_str() {
            "displayName" => {
                let name = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                    bad(req, "Invalid value specified for property 'displayName' of resource 'Application'.")
                })?;
                app.display_name = name.to_string();
            }
            "signInAudience" => {
                let a = v
                    .as_str()
                    .and_then(|s| AUDIENCES.iter().find(|x| x.eq_ignore_ascii_case(s)))
                    .ok_or_else(|| bad(req, "Invalid value specified for property 'signInAudience' of resource 'Application'."))?;
                app.sign_in_audience = (*a).to_string();
            }
            "uniqueName" => {
                let u = v.as_str().ok_or_else(|| bad(req, "Invalid value specified for property 'uniqueName' of resource 'Application'."))?;
                if !creating && app.unique_name.as_deref() != Some(u) {
                    return Err(bad(
                        req,
                        "Property 'uniqueName' is immutable and cannot be updated.",
                    ));
                }
                app.unique_name = Some(u.to_string());
            }
            "passwordCredentials" if !creating => {
                return Err(bad(
                    req,
                    "Updating passwordCredentials with PATCH is not supported; use addPassword and removePassword.",
                ));
            }
            "passwordCredentials" => {}
            "keyCredentials" if v.as_array().is_some_and(|a| !a.is_empty()) => {
                return Err(bad(
                    req,
                    "Key credentials are not supported by this simulator.",
                ));
            }
            // Replaced as a whole: an empty list removes them.
            "keyCredentials" => app.key_credentials.clear(),
            "web" => apply_web(req, app, v)?,
            "tags" => {
                app.properties.insert(k.clone(), tags(req, v)?);
            }
            "identifierUris" if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                return Err(bad(
                    req,
                    &format!(
                        "Invalid value specified for property '{k}' of resource 'Application'."
                    ),
                ));
            }
            _ => {
                app.properties.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// An application's `tags`, as Entra checks them ("Understand the app manifest (Microsoft
/// Graph format)", tags attribute: each 1–256 characters, no whitespace, no duplicates).
/// The value replaces the whole collection.
pub(super) fn tags(req: &Req, v: &Value) -> Result<Value, Response> {
    let invalid = |why: &str| {
        bad(
            req,
            &format!(
                "Invalid value specified for property 'tags' of resource 'Application': {why}."
            ),
        )
    };
    let arr = v
        .as_array()
        .ok_or_else(|| invalid("a collection of strings is expected"))?;
    let mut seen = std::collections::HashSet::new();
    for t in arr {
        let t = t
            .as_str()
            .ok_or_else(|| invalid("a collection of strings is expected"))?;
        let n = t.chars().count();
        if !(1..=256).contains(&n) {
            return Err(invalid("a tag must be between 1 and 256 characters"));
        }
        if t.chars().any(char::is_whitespace) {
            return Err(invalid("a tag must not contain whitespace"));
        }
        if !seen.insert(t) {
            return Err(invalid("duplicate tags are not allowed"));
        }
    }
    Ok(v.clone())
}

/// The most entries all of an application's collections may hold together (same page,
/// "Manifest limits").
const MANIFEST_ENTRIES: usize = 1200;

/// How many entries an application's collections hold together (tags, redirect URIs,
/// identifier URIs, credentials, app roles, required resources, …).
fn manifest_entries(app: &Application) -> usize {
    let count = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
    let props = &app.properties;
    app.redirect_uris.len()
        + app.password_credentials.len()
        + app.federated_credentials.len()
        + app.key_credentials.len()
        + [
            "tags",
            "identifierUris",
            "appRoles",
            "requiredResourceAccess",
            "addIns",
        ]
        .iter()
        .map(|k| count(props.get(*k)))
        .sum::<usize>()
        + count(props.get("spa").and_then(|s| s.get("redirectUris")))
        + count(
            props
                .get("publicClient")
                .and_then(|s| s.get("redirectUris")),
        )
        + count(
            props
                .get("api")
                .and_then(|a| a.get("oauth2PermissionScopes")),
        )
        + count(
            props
                .get("api")
                .and_then(|a| a.get("knownClientApplications")),
        )
}

/// Refuses an application past [`MANIFEST_ENTRIES`], with the portal's documented message.
pub(super) fn check_manifest(req: &Req, app: &Application) -> Result<(), Response> {
    if manifest_entries(app) > MANIFEST_ENTRIES {
        return Err(bad(
            req,
            "The size of the manifest has exceeded its limit. Please reduce the number of values and retry your request.",
        ));
    }
    Ok(())
}

/// `web`: the redirect URIs are checked and kept apart; the other members merge.
pub(super) fn apply_web(req: &Req, app: &mut Application, v: &Value) -> Result<(), Response> {
    let w = v.as_object().ok_or_else(|| {
        bad(
            req,
            "Invalid value specified for property 'web' of resource 'Application'.",
        )
    })?;
    if let Some(uris) = w.get("redirectUris") {
        app.redirect_uris = redirect_uris(req, uris)?;
    }
    let mut rest = w.clone();
    rest.remove("redirectUris");
    let entry = app.properties.entry("web").or_insert_with(|| json!({}));
    if let (Some(dst), false) = (entry.as_object_mut(), rest.is_empty()) {
        dst.extend(rest);
    }
    Ok(())
}

pub(super) fn redirect_uris(req: &Req, v: &Value) -> Result<Vec<String>, Response> {
    let bad_uri = |u: &str| {
        bad(
            req,
            &format!(
                "Invalid value specified for property 'redirectUris' of resource 'Application': '{u}'."
            ),
        )
    };
    let arr = v.as_array().ok_or_else(|| bad_uri(&v.to_string()))?;
    let mut out = Vec::new();
    for u in arr {
        let s = u.as_str().ok_or_else(|| bad_uri(&u.to_string()))?;
        let parsed = url::Url::parse(s).map_err(|_| bad_uri(s))?;
        let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1"));
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && local) {
            return Err(bad_uri(s));
        }
        out.push(s.to_string());
    }
    Ok(out)
}
