//! `/applications`: list, read, create, update (and upsert by `uniqueName`), delete.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::app_props::{apply_app_props, check_manifest};
use super::keys::Key;
use super::passwords::{new_password, password_json};
use super::query::list;
use super::{
    APP_WRITE_ROLES, OWNED_BY, R, READ_ROLES, bad, base, check_key, lagging, may_write_app, need,
    not_found, obj_body, select, with_context,
};
use crate::core::{Core, Principal};
use crate::dates::fmt_secs;
use crate::http::{Req, empty, graph_err, graph_json, set_header};
use crate::model::{Application, KeyCredential, State};

/// The properties `$filter` may name on applications.
const FILTERABLE_APP: &[&str] = &[
    "appId",
    "displayName",
    "uniqueName",
    "id",
    "signInAudience",
    "publisherDomain",
    "identifierUris",
    "tags",
];

pub(super) fn app_json(state: &State, app: &Application) -> Value {
    let publisher = state
        .tenant(&app.tenant_id)
        .map(|t| t.domains[0].clone())
        .unwrap_or_default();
    let mut v = json!({
        "id": app.id,
        "deletedDateTime": app.deleted_at.map(fmt_secs),
        "appId": app.app_id,
        "applicationTemplateId": null,
        "disabledByMicrosoftStatus": null,
        "createdDateTime": fmt_secs(app.created_at),
        "displayName": app.display_name,
        "description": null,
        "groupMembershipClaims": null,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": null,
        "isFallbackPublicClient": null,
        "nativeAuthenticationApisEnabled": null,
        "notes": null,
        "publisherDomain": publisher,
        "serviceManagementReference": null,
        "signInAudience": app.sign_in_audience,
        "tags": [],
        "tokenEncryptionKeyId": null,
        "uniqueName": app.unique_name,
        "samlMetadataUrl": null,
        "defaultRedirectUri": null,
        "certification": null,
        "optionalClaims": null,
        "servicePrincipalLockConfiguration": null,
        "requestSignatureVerification": null,
        "addIns": [],
        "api": {"acceptMappedClaims": null, "knownClientApplications": [], "requestedAccessTokenVersion": null, "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
        "keyCredentials": app.key_credentials.iter().map(key_json).collect::<Vec<_>>(),
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": app.password_credentials.iter().map(|p| password_json(p, None)).collect::<Vec<_>>(),
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [], "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}, "redirectUriSettings": []},
        "spa": {"redirectUris": []},
    });
    for (k, val) in &app.properties {
        if k == "web" {
            if let (Some(dst), Some(src)) = (v["web"].as_object_mut(), val.as_object()) {
                for (wk, wv) in src {
                    dst.insert(wk.clone(), wv.clone());
                }
            }
        } else {
            v[k] = val.clone();
        }
    }
    v["web"]["redirectUris"] = json!(app.redirect_uris);
    v
}

pub(super) fn find_app<'a>(state: &'a State, tenant: &str, k: &Key) -> Option<&'a Application> {
    state.applications.iter().find(|a| {
        a.tenant_id.eq_ignore_ascii_case(tenant)
            && match k {
                Key::Id(id) => a.id.eq_ignore_ascii_case(id),
                Key::AppId(id) => a.app_id.eq_ignore_ascii_case(id),
                Key::UniqueName(n) => a
                    .unique_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(n)),
            }
    })
}

pub(super) fn list_apps(core: &Core, req: &Req, p: &Principal) -> R {
    // OwnedBy alone: the caller's own apps.
    let all = need(req, p, READ_ROLES).is_ok();
    if !all {
        need(req, p, &[OWNED_BY])?;
    }
    let state = core.state();
    let items = state
        .applications
        .iter()
        .filter(|a| a.tenant_id.eq_ignore_ascii_case(&p.tenant_id))
        .filter(|a| all || a.owned_by(&p.oid))
        .map(|a| app_json(&state, a))
        .collect();
    drop(state);
    list(core, req, items, "applications", FILTERABLE_APP)
}

pub(super) fn get_app(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    readable_app(core, req, p, k, |state, app| {
        let v = with_context(
            app_json(state, app),
            format!("{}/$metadata#applications/$entity", base(core, req)),
        );
        graph_json(StatusCode::OK, &select(req, v))
    })
}

/// `f` on the app `k` names, as `p` may read it: with a read role, or as its owner (who may
/// write it); 404 while it is not yet replicated to reads (Graph's read lag).
fn readable_app<T>(
    core: &Core,
    req: &Req,
    p: &Principal,
    k: &Key,
    f: impl FnOnce(&State, &Application) -> T,
) -> Result<T, Response> {
    let all = need(req, p, READ_ROLES).is_ok();
    if !all {
        need(req, p, &[OWNED_BY])?;
    }
    check_key(req, k)?;
    let state = core.state();
    let lag = state.behaviour.read_lag();
    let app = find_app(&state, &p.tenant_id, k)
        .filter(|a| !lagging(core.now(), a.created_at, lag))
        .ok_or_else(|| not_found(req, k.text()))?;
    if !all {
        may_write_app(req, p, app)?;
    }
    Ok(f(&state, app))
}

/// `GET /applications/{key}/owners`: the app's owners as directory objects (`id`, and
/// `@odata.type`: a service principal of the tenant, else a user).
pub(super) fn list_owners(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    let items = readable_app(core, req, p, k, |state, app| {
        app.owners
            .iter()
            .map(|o| {
                let sp = state.service_principals.iter().any(|s| {
                    s.id.eq_ignore_ascii_case(o) && s.tenant_id.eq_ignore_ascii_case(&app.tenant_id)
                });
                let kind = if sp { "servicePrincipal" } else { "user" };
                json!({"@odata.type": format!("#microsoft.graph.{kind}"), "id": o})
            })
            .collect()
    })?;
    list(core, req, items, "directoryObjects", &[])
}

/// A certificate credential as Graph reads it back ("keyCredential resource type",
/// Microsoft Graph v1.0): its `key` is never returned in a read.
fn key_json(k: &KeyCredential) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": k.display_name,
        "endDateTime": fmt_secs(k.end),
        "key": null,
        "keyId": k.key_id,
        "startDateTime": fmt_secs(k.start),
        "type": k.key_type,
        "usage": k.usage,
    })
}

/// `GET /applications/{key}/federatedIdentityCredentials` ("List federatedIdentityCredentials",
/// Microsoft Graph v1.0): the app's federated identity credentials, read as the app is.
pub(super) fn list_federated(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    let items = readable_app(core, req, p, k, |_, app| {
        app.federated_credentials
            .iter()
            .map(|f| {
                json!({
                    "id": f.id,
                    "name": f.name,
                    "issuer": f.issuer,
                    "subject": f.subject,
                    "description": f.description,
                    "audiences": f.audiences,
                })
            })
            .collect()
    })?;
    list(
        core,
        req,
        items,
        "federatedIdentityCredentials",
        &["subject"],
    )
}

pub(super) fn insert_app(
    core: &Core,
    req: &Req,
    p: &Principal,
    body: &Map<String, Value>,
    unique_name: Option<String>,
) -> R {
    if !body.contains_key("displayName") {
        return Err(bad(
            req,
            "Property 'displayName' is required to create an application.",
        ));
    }
    let mut state = core.state();
    let mut app = Application {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: p.tenant_id.clone(),
        display_name: String::new(),
        unique_name,
        sign_in_audience: "AzureADMyOrg".into(),
        redirect_uris: Vec::new(),
        created_at: core.now(),
        password_credentials: Vec::new(),
        federated_credentials: Vec::new(),
        key_credentials: Vec::new(),
        properties: Map::new(),
        deleted_at: None,
        // The caller (a user, or an app's service principal) is made its owner, whatever
        // its permission: with OwnedBy only, it may then change only its own apps.
        owners: vec![p.oid.clone()],
    };
    apply_app_props(req, &mut app, body, true)?;
    check_manifest(req, &app)?;
    if let Some(u) = &app.unique_name
        && find_app(&state, &p.tenant_id, &Key::UniqueName(u.clone())).is_some()
    {
        return Err(graph_err(
            req,
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Another object with the same value for property uniqueName already exists.",
        ));
    }
    let mut secrets = Vec::new();
    if let Some(pcs) = body.get("passwordCredentials") {
        let arr = pcs.as_array().ok_or_else(|| {
            bad(
                req,
                "Invalid value specified for property 'passwordCredentials'.",
            )
        })?;
        for pc in arr {
            let spec = pc.as_object().ok_or_else(|| {
                bad(
                    req,
                    "Invalid value specified for property 'passwordCredentials'.",
                )
            })?;
            let (cred, secret) = new_password(core.now(), req, &state, &p.tenant_id, spec)?;
            secrets.push((cred.key_id.clone(), secret));
            app.password_credentials.push(cred);
        }
    }
    let mut v = with_context(
        app_json(&state, &app),
        format!("{}/$metadata#applications/$entity", base(core, req)),
    );
    if let Some(arr) = v["passwordCredentials"].as_array_mut() {
        for pc in arr {
            if let Some((_, s)) = secrets.iter().find(|(k, _)| pc["keyId"] == k.as_str()) {
                pc["secretText"] = json!(s);
            }
        }
    }
    let location = format!(
        "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.Application",
        core.cloud.graph_url(),
        p.tenant_id,
        app.id
    );
    state.applications.push(app);
    drop(state);
    let mut r = graph_json(StatusCode::CREATED, &v);
    set_header(&mut r, "location", &location);
    Ok(r)
}

pub(super) fn create_app(core: &Core, req: &Req, p: &Principal) -> R {
    need(req, p, APP_WRITE_ROLES)?;
    let body = obj_body(req)?;
    let unique = body
        .get("uniqueName")
        .and_then(Value::as_str)
        .map(str::to_string);
    insert_app(core, req, p, &body, unique)
}

pub(super) fn patch_app(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, APP_WRITE_ROLES)?;
    check_key(req, k)?;
    let body = obj_body(req)?;
    let mut state = core.state();
    let Some(idx) = app_index(&state, &p.tenant_id, k) else {
        let upsert = req
            .header("prefer")
            .is_some_and(|h| h.to_ascii_lowercase().contains("create-if-missing"));
        if let (true, Key::UniqueName(u)) = (upsert, k) {
            if let Some(bu) = body.get("uniqueName").and_then(Value::as_str)
                && bu != u
            {
                return Err(bad(
                    req,
                    "The uniqueName in the body does not match the key.",
                ));
            }
            drop(state);
            return insert_app(core, req, p, &body, Some(u.clone()));
        }
        return Err(not_found(req, k.text()));
    };
    if write_lagging(core, &state, idx, k) {
        return Err(not_found(req, k.text()));
    }
    may_write_app(req, p, &state.applications[idx])?;
    let mut app = state.applications[idx].clone();
    apply_app_props(req, &mut app, &body, false)?;
    check_manifest(req, &app)?;
    state.applications[idx] = app;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Whether Graph's write lag hides the app at `idx` from a write addressed by `k` (its object
/// id or appId; an upsert by `uniqueName` creates or finds it wherever it lands).
pub(super) fn write_lagging(core: &Core, state: &State, idx: usize, k: &Key) -> bool {
    !matches!(k, Key::UniqueName(_))
        && lagging(
            core.now(),
            state.applications[idx].created_at,
            state.behaviour.write_lag(),
        )
}

/// The index of the app `k` names, for a write: 404 when there is none, or when it was made
/// so recently that the replica serving the write does not have it yet (Graph's write lag).
pub(super) fn app_to_write(
    core: &Core,
    req: &Req,
    state: &State,
    tenant: &str,
    k: &Key,
) -> Result<usize, Response> {
    match app_index(state, tenant, k) {
        Some(idx) if !write_lagging(core, state, idx, k) => Ok(idx),
        _ => Err(not_found(req, k.text())),
    }
}

pub(super) fn app_index(state: &State, tenant: &str, k: &Key) -> Option<usize> {
    let id = find_app(state, tenant, k)?.id.clone();
    state.applications.iter().position(|a| a.id == id)
}

pub(super) fn delete_app(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, APP_WRITE_ROLES)?;
    check_key(req, k)?;
    let mut state = core.state();
    let idx = app_to_write(core, req, &state, &p.tenant_id, k)?;
    may_write_app(req, p, &state.applications[idx])?;
    let mut app = state.applications.remove(idx);
    state.service_principals.retain(|s| {
        !(s.app_id.eq_ignore_ascii_case(&app.app_id)
            && s.tenant_id.eq_ignore_ascii_case(&app.tenant_id))
    });
    app.deleted_at = Some(core.now());
    state.deleted_applications.push(app);
    Ok(empty(StatusCode::NO_CONTENT))
}
