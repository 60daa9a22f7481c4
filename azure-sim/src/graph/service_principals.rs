//! `/servicePrincipals`: list, read, create (and upsert by `appId`), update, delete.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::keys::Key;
use super::query::list;
use super::{
    R, READ_ROLES, WRITE_ROLES, bad, base, check_key, lagging, need, not_found, obj_body, select,
    with_context,
};
use crate::core::{Core, Principal};
use crate::dates::fmt_secs;
use crate::http::{Req, empty, graph_err, graph_err_details, graph_json, is_guid, set_header};
use crate::model::{Application, ServicePrincipal, State};

/// The properties `$filter` may name on service principals.
const FILTERABLE_SP: &[&str] = &[
    "appId",
    "displayName",
    "id",
    "servicePrincipalNames",
    "servicePrincipalType",
    "appOwnerOrganizationId",
    "accountEnabled",
    "tags",
];

const SP_WRITABLE: &[&str] = &[
    "appId",
    "accountEnabled",
    "tags",
    "notes",
    "description",
    "appRoleAssignmentRequired",
    "homepage",
    "loginUrl",
    "logoutUrl",
    "notificationEmailAddresses",
    "preferredSingleSignOnMode",
    "displayName",
    "alternativeNames",
    "appDescription",
];

pub(super) fn sp_json(state: &State, sp: &ServicePrincipal) -> Value {
    let app = state.app_by_app_id(&sp.app_id);
    let name = app
        .map(|a| a.display_name.clone())
        .or_else(|| sp.display_name.clone())
        .unwrap_or_default();
    let mut v = json!({
        "id": sp.id,
        "deletedDateTime": null,
        "accountEnabled": sp.account_enabled,
        "alternativeNames": [],
        "appDisplayName": app.map(|a| a.display_name.clone()),
        "appDescription": null,
        "appId": sp.app_id,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": app.map_or_else(|| sp.tenant_id.clone(), |a| a.tenant_id.clone()),
        "appRoleAssignmentRequired": false,
        "createdDateTime": fmt_secs(sp.created_at),
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": sp.display_name.clone().unwrap_or(name),
        "homepage": null,
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": app.map(|a| a.redirect_uris.clone()).unwrap_or_default(),
        "servicePrincipalNames": [sp.app_id],
        "servicePrincipalType": sp.service_principal_type,
        "signInAudience": app.map_or_else(|| "AzureADMyOrg".to_string(), |a| a.sign_in_audience.clone()),
        "tags": [],
        "tokenEncryptionKeyId": null,
        "samlSingleSignOnSettings": null,
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "addIns": [],
        "appRoles": [],
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null},
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
    });
    for (k, val) in &sp.properties {
        v[k] = val.clone();
    }
    v
}

/// A new service principal of `app` in `tenant_id`.
pub(crate) fn new_service_principal(
    created_at: time::OffsetDateTime,
    app: &Application,
    tenant_id: &str,
    properties: Map<String, Value>,
) -> ServicePrincipal {
    ServicePrincipal {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: app.app_id.clone(),
        tenant_id: tenant_id.to_string(),
        display_name: None,
        service_principal_type: "Application".into(),
        graph_app_roles: Vec::new(),
        account_enabled: properties
            .get("accountEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        created_at,
        properties: properties
            .into_iter()
            .filter(|(k, _)| k != "appId" && k != "accountEnabled")
            .collect(),
    }
}

pub(super) fn find_sp<'a>(state: &'a State, tenant: &str, k: &Key) -> Option<&'a ServicePrincipal> {
    state.service_principals.iter().find(|s| {
        s.tenant_id.eq_ignore_ascii_case(tenant)
            && match k {
                Key::Id(id) => s.id.eq_ignore_ascii_case(id),
                Key::AppId(id) => s.app_id.eq_ignore_ascii_case(id),
                Key::UniqueName(_) => false,
            }
    })
}

pub(super) fn sp_props(
    req: &Req,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Response> {
    let mut out = Map::new();
    for (k, v) in body {
        if k.starts_with('@') || k == "id" {
            continue;
        }
        if !SP_WRITABLE.contains(&k.as_str()) {
            return Err(bad(
                req,
                &format!(
                    "Property '{k}' does not exist as a declared property or extension property."
                ),
            ));
        }
        if k == "accountEnabled" && !v.is_boolean() {
            return Err(bad(
                req,
                "Invalid value specified for property 'accountEnabled' of resource 'ServicePrincipal'.",
            ));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// Create the SP of `app_id` in the caller's tenant, with Graph's checks.
pub(super) fn insert_sp(
    core: &Core,
    req: &Req,
    p: &Principal,
    app_id: &str,
    props: Map<String, Value>,
) -> R {
    let mut state = core.state();
    let no_backing = || {
        graph_err_details(
            req,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!(
                "The appId '{app_id}' of the service principal does not reference a valid application object."
            ),
            Some(
                json!([{"code": "NoBackingApplicationObject", "message": "The service principal cannot be created, updated, or restored because the service principal appId does not reference a valid application object.", "target": "appId"}]),
            ),
        )
    };
    if !is_guid(app_id) {
        return Err(no_backing());
    }
    let app = state
        .app_by_app_id(app_id)
        .cloned()
        .ok_or_else(no_backing)?;
    if app.tenant_id.eq_ignore_ascii_case(&p.tenant_id)
        && lagging(core.now(), app.created_at, state.behaviour.write_lag())
    {
        // In its home tenant, a new app is not yet on the replica serving the write (Graph's
        // write lag: KelvinTegelaar/CIPP-API#1955, Azure/azure-cli#1332).
        return Err(not_found(req, app_id));
    }
    if !core.replicated(app.created_at) {
        // It backs no principal until it replicated (in its home tenant too).
        return Err(no_backing());
    }
    if !app.tenant_id.eq_ignore_ascii_case(&p.tenant_id) && !app.is_multitenant() {
        return Err(bad(
            req,
            &format!(
                "The application '{}' ({app_id}) is a single-tenant application (signInAudience '{}'); a service principal for it can only be created in its home tenant {}. Set signInAudience to AzureADMultipleOrgs to use it in other tenants.",
                app.display_name, app.sign_in_audience, app.tenant_id
            ),
        ));
    }
    if state.sp_in_tenant(app_id, &p.tenant_id).is_some() {
        return Err(graph_err(
            req,
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            "Another object with the same value for property servicePrincipalNames already exists.",
        ));
    }
    let sp = new_service_principal(core.now(), &app, &p.tenant_id, props);
    let v = with_context(
        sp_json(&state, &sp),
        format!("{}/$metadata#servicePrincipals/$entity", base(core, req)),
    );
    let location = format!(
        "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.ServicePrincipal",
        core.cloud.graph_url(),
        p.tenant_id,
        sp.id
    );
    state.service_principals.push(sp);
    drop(state);
    let mut r = graph_json(StatusCode::CREATED, &v);
    set_header(&mut r, "location", &location);
    Ok(r)
}

pub(super) fn create_sp_post(core: &Core, req: &Req, p: &Principal) -> R {
    need(req, p, WRITE_ROLES)?;
    let body = obj_body(req)?;
    let app_id = body
        .get("appId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad(
                req,
                "Property 'appId' is required to create a service principal.",
            )
        })?
        .to_string();
    let props = sp_props(req, &body)?;
    insert_sp(core, req, p, &app_id, props)
}

pub(super) fn list_sps(core: &Core, req: &Req, p: &Principal) -> R {
    need(req, p, READ_ROLES)?;
    let state = core.state();
    let items = state
        .service_principals
        .iter()
        .filter(|s| s.tenant_id.eq_ignore_ascii_case(&p.tenant_id))
        .map(|s| sp_json(&state, s))
        .collect();
    drop(state);
    list(core, req, items, "servicePrincipals", FILTERABLE_SP)
}

pub(super) fn get_sp(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, READ_ROLES)?;
    check_key(req, k)?;
    let state = core.state();
    let lag = state.behaviour.read_lag();
    let sp = find_sp(&state, &p.tenant_id, k)
        .filter(|s| !lagging(core.now(), s.created_at, lag))
        .ok_or_else(|| not_found(req, k.text()))?;
    let v = with_context(
        sp_json(&state, sp),
        format!("{}/$metadata#servicePrincipals/$entity", base(core, req)),
    );
    Ok(graph_json(StatusCode::OK, &select(req, v)))
}

pub(super) fn patch_sp(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
    check_key(req, k)?;
    let body = obj_body(req)?;
    let props = sp_props(req, &body)?;
    let mut state = core.state();
    let Some(id) = find_sp(&state, &p.tenant_id, k).map(|s| s.id.clone()) else {
        let upsert = req
            .header("prefer")
            .is_some_and(|h| h.to_ascii_lowercase().contains("create-if-missing"));
        if let (true, Key::AppId(app_id)) = (upsert, k) {
            drop(state);
            return insert_sp(core, req, p, app_id, props);
        }
        return Err(not_found(req, k.text()));
    };
    if let Some(sp) = state.service_principals.iter_mut().find(|s| s.id == id) {
        for (key, v) in props {
            match key.as_str() {
                "appId" => {}
                "accountEnabled" => sp.account_enabled = v.as_bool().unwrap_or(true),
                _ => {
                    sp.properties.insert(key, v);
                }
            }
        }
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) fn delete_sp(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
    check_key(req, k)?;
    let mut state = core.state();
    let id = find_sp(&state, &p.tenant_id, k)
        .map(|s| s.id.clone())
        .ok_or_else(|| not_found(req, k.text()))?;
    state.service_principals.retain(|s| s.id != id);
    Ok(empty(StatusCode::NO_CONTENT))
}
