//! Microsoft Graph v1.0: applications, service principals, passwords, deleted items.
//!
//! Every call acts in the tenant of its token. Reads need `Application.Read.All` (or
//! ReadWrite, or `Directory.*`) among the token's `roles`, writes `Application.ReadWrite.All`
//! (or `Directory.ReadWrite.All`). Objects and errors follow the recorded shapes.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::core::{AuthFail, Core, Principal, audience_in};
use crate::crypto::{new_client_secret, sha256_hex};
use crate::http::{
    Req, empty, graph_err, graph_err_details, graph_json, is_guid, set_header, with_caller,
};
use crate::model::{
    Application, PasswordCredential, ServicePrincipal, State, fmt_secs, now, parse_time,
};

const READ_ROLES: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_ROLES: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];

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
const AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

type R = Result<Response, Response>;

/// Serve `/v1.0/...` (and `/beta/...`, answered the same way).
pub(crate) fn handle(core: &Core, req: &Req) -> Response {
    let graph_auds = [
        "https://graph.microsoft.com",
        "00000003-0000-0000-c000-000000000000",
        core.url.as_str(),
    ];
    let p = match core.bearer(req, &|a| audience_in(a, &graph_auds)) {
        Ok(p) => p,
        Err(e) => return auth_error(req, &e),
    };
    let r = route(core, req, &p).unwrap_or_else(|e| e);
    with_caller(r, &p.app_id, &p.tenant_id)
}

fn auth_error(req: &Req, e: &AuthFail) -> Response {
    let msg = match e {
        AuthFail::Missing => "Access token is empty.",
        AuthFail::Expired { .. } => "Lifetime validation failed, the token is expired.",
        AuthFail::WrongAudience { .. } => "Access token validation failure. Invalid audience.",
        AuthFail::NotYetValid => "Lifetime validation failed, the token is not yet valid.",
        AuthFail::Malformed | AuthFail::BadSignature => "Access token validation failure.",
    };
    let mut r = graph_err(
        req,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        msg,
    );
    set_header(
        &mut r,
        "www-authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    );
    r
}

fn denied(req: &Req) -> Response {
    graph_err(
        req,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

fn need(req: &Req, p: &Principal, roles: &[&str]) -> Result<(), Response> {
    if p.roles
        .iter()
        .any(|r| roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
    {
        Ok(())
    } else {
        Err(denied(req))
    }
}

fn not_found(req: &Req, id: &str) -> Response {
    graph_err(
        req,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn bad(req: &Req, msg: &str) -> Response {
    graph_err(req, StatusCode::BAD_REQUEST, "Request_BadRequest", msg)
}

fn method_not_allowed(req: &Req) -> Response {
    graph_err(
        req,
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request uri.",
    )
}

/// How an object is addressed.
#[derive(Debug, Clone)]
enum Key {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl Key {
    fn text(&self) -> &str {
        match self {
            Key::Id(s) | Key::AppId(s) | Key::UniqueName(s) => s,
        }
    }
}

/// Parse an OData string literal `'...'` with `''` escapes.
fn odata_string(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Split `applications(appId='x')` into `("applications", Some(AppId("x")))`.
fn parse_segment(seg: &str) -> Result<(String, Option<Key>), String> {
    let Some(open) = seg.find('(') else {
        return Ok((seg.to_ascii_lowercase(), None));
    };
    let name = seg[..open].to_ascii_lowercase();
    let inner = seg[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("Bad Request - Error in query syntax: '{seg}'."))?;
    if let Some(v) = odata_string(inner) {
        return Ok((name, Some(Key::Id(v))));
    }
    let (k, v) = inner
        .split_once('=')
        .ok_or_else(|| format!("Bad Request - Error in query syntax: '{seg}'."))?;
    let v =
        odata_string(v).ok_or_else(|| format!("Bad Request - Error in query syntax: '{seg}'."))?;
    let key = match k.trim().to_ascii_lowercase().as_str() {
        "appid" => Key::AppId(v),
        "uniquename" if name == "applications" => Key::UniqueName(v),
        "id" => Key::Id(v),
        other => {
            return Err(format!(
                "The key property '{other}' is not an alternate key of '{name}'."
            ));
        }
    };
    Ok((name, Some(key)))
}

fn route(core: &Core, req: &Req, p: &Principal) -> R {
    let segs = &req.segs[1..];
    let Some(first) = segs.first() else {
        return Err(graph_err(
            req,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request: no resource segment.",
        ));
    };
    let (name, key) = parse_segment(first).map_err(|m| bad(req, &m))?;
    if name == "directory" && segs.len() == 3 && segs[1].eq_ignore_ascii_case("deletedItems") {
        return deleted_item(core, req, p, &segs[2]);
    }
    let key = match (key, segs.get(1)) {
        (Some(k), _) => Some(k),
        (None, Some(id)) if name == "applications" || name == "serviceprincipals" => {
            Some(Key::Id(id.clone()))
        }
        _ => None,
    };
    let extra_from = if segs.len() > 1 && first.contains('(') {
        1
    } else {
        2
    };
    let action = segs.get(extra_from).map(|s| s.to_ascii_lowercase());
    if segs.len() > extra_from + 1 {
        return Err(graph_err(
            req,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                segs[extra_from + 1]
            ),
        ));
    }
    let m = &req.method;
    match (name.as_str(), key, action.as_deref()) {
        ("applications", None, None) => match *m {
            Method::GET => list_apps(core, req, p),
            Method::POST => create_app(core, req, p),
            _ => Err(method_not_allowed(req)),
        },
        ("applications", Some(k), None) => match *m {
            Method::GET => get_app(core, req, p, &k),
            Method::PATCH => patch_app(core, req, p, &k),
            Method::DELETE => delete_app(core, req, p, &k),
            _ => Err(method_not_allowed(req)),
        },
        ("applications", Some(k), Some("addpassword")) if *m == Method::POST => {
            add_password(core, req, p, &k)
        }
        ("applications", Some(k), Some("removepassword")) if *m == Method::POST => {
            remove_password(core, req, p, &k)
        }
        ("serviceprincipals", None, None) => match *m {
            Method::GET => list_sps(core, req, p),
            Method::POST => create_sp_post(core, req, p),
            _ => Err(method_not_allowed(req)),
        },
        ("serviceprincipals", Some(k), None) => match *m {
            Method::GET => get_sp(core, req, p, &k),
            Method::PATCH => patch_sp(core, req, p, &k),
            Method::DELETE => delete_sp(core, req, p, &k),
            _ => Err(method_not_allowed(req)),
        },
        ("organization", None, None) if *m == Method::GET => Ok(organization(core, req, p)),
        (_, _, Some(a)) if name == "applications" || name == "serviceprincipals" => Err(graph_err(
            req,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{a}'."),
        )),
        _ => Err(graph_err(
            req,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{first}'."),
        )),
    }
}

fn base(core: &Core, req: &Req) -> String {
    format!("{}/{}", core.url, req.segs[0])
}

fn obj_body(req: &Req) -> Result<Map<String, Value>, Response> {
    match req.json() {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad(
            req,
            "Invalid request body: a JSON object was expected.",
        )),
        Err(e) => Err(graph_err(
            req,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
            ),
        )),
    }
}

// ---------------------------------------------------------------- rendering

fn password_json(pc: &PasswordCredential, secret: Option<&str>) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": pc.display_name,
        "endDateTime": fmt_secs(pc.end),
        "hint": pc.hint,
        "keyId": pc.key_id,
        "secretText": secret,
        "startDateTime": fmt_secs(pc.start),
    })
}

fn app_json(state: &State, app: &Application) -> Value {
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
        "keyCredentials": [],
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

fn sp_json(state: &State, sp: &ServicePrincipal) -> Value {
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

fn with_context(mut v: Value, context: String) -> Value {
    let mut m = Map::new();
    m.insert("@odata.context".into(), Value::String(context));
    if let Value::Object(o) = &mut v {
        m.append(o);
    }
    Value::Object(m)
}

fn select(req: &Req, v: Value) -> Value {
    let Some(sel) = req.q("$select") else {
        return v;
    };
    let keys: Vec<&str> = sel
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| {
                    k == "id"
                        || k.starts_with('@')
                        || keys.iter().any(|s| s.eq_ignore_ascii_case(k))
                })
                .collect(),
        ),
        other => other,
    }
}

// ---------------------------------------------------------------- $filter

#[derive(Debug)]
enum Cond {
    Eq(String, String),
    StartsWith(String, String),
    AnyEq(String, String),
}

fn split_and(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            in_q = !in_q;
        }
        if !in_q
            && rest
                .get(..5)
                .is_some_and(|w| w.eq_ignore_ascii_case(" and "))
        {
            out.push(std::mem::take(&mut cur));
            rest = &rest[5..];
            continue;
        }
        cur.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push(cur);
    out
}

fn parse_filter(s: &str) -> Result<Vec<Cond>, String> {
    let unsupported = || format!("Invalid filter clause: unsupported expression '{s}'.");
    let mut conds = Vec::new();
    for clause in split_and(s) {
        let mut c = clause.trim();
        while c.starts_with('(')
            && c.ends_with(')')
            && !c.to_ascii_lowercase().starts_with("startswith")
        {
            c = c[1..c.len() - 1].trim();
        }
        let lc = c.to_ascii_lowercase();
        if lc.starts_with("startswith(") && c.ends_with(')') {
            let inner = &c["startswith(".len()..c.len() - 1];
            let (prop, val) = inner.split_once(',').ok_or_else(unsupported)?;
            let val = odata_string(val).ok_or_else(unsupported)?;
            conds.push(Cond::StartsWith(prop.trim().to_string(), val));
        } else if let Some(pos) = lc.find("/any(") {
            let prop = c[..pos].trim().to_string();
            let inner = c[pos + 5..].strip_suffix(')').ok_or_else(unsupported)?;
            let (var, expr) = inner.split_once(':').ok_or_else(unsupported)?;
            let expr = expr.trim();
            let rest = expr
                .strip_prefix(var.trim())
                .map(str::trim_start)
                .ok_or_else(unsupported)?;
            let val = rest
                .strip_prefix("eq ")
                .and_then(odata_string)
                .ok_or_else(unsupported)?;
            conds.push(Cond::AnyEq(prop, val));
        } else {
            let (prop, rest) = c.split_once(char::is_whitespace).ok_or_else(unsupported)?;
            let rest = rest.trim_start();
            let val = rest
                .strip_prefix("eq ")
                .or_else(|| rest.strip_prefix("EQ "))
                .and_then(odata_string)
                .ok_or_else(unsupported)?;
            conds.push(Cond::Eq(prop.to_string(), val));
        }
    }
    Ok(conds)
}

fn matches(v: &Value, conds: &[Cond]) -> bool {
    let prop = |p: &str| {
        v.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(p))
                .map(|(_, x)| x.clone())
        })
    };
    conds.iter().all(|c| match c {
        Cond::Eq(p, val) => prop(p).is_some_and(|x| match x {
            Value::String(s) => s.eq_ignore_ascii_case(val),
            Value::Bool(b) => b.to_string() == *val,
            _ => false,
        }),
        Cond::StartsWith(p, val) => prop(p).is_some_and(|x| {
            x.as_str().is_some_and(|s| {
                s.to_ascii_lowercase()
                    .starts_with(&val.to_ascii_lowercase())
            })
        }),
        Cond::AnyEq(p, val) => prop(p).is_some_and(|x| {
            x.as_array().is_some_and(|a| {
                a.iter()
                    .any(|e| e.as_str().is_some_and(|s| s.eq_ignore_ascii_case(val)))
            })
        }),
    })
}

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

fn list(core: &Core, req: &Req, items: Vec<Value>, set: &str, filterable: &[&str]) -> R {
    let conds = match req.q("$filter") {
        Some(f) => parse_filter(f)
            .map_err(|m| graph_err(req, StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", &m))?,
        None => Vec::new(),
    };
    for c in &conds {
        let (Cond::Eq(p, _) | Cond::StartsWith(p, _) | Cond::AnyEq(p, _)) = c;
        if !filterable.iter().any(|f| f.eq_ignore_ascii_case(p)) {
            return Err(graph_err(
                req,
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!(
                    "Unsupported or invalid query filter clause specified for property '{p}' of resource '{set}'."
                ),
            ));
        }
    }
    let all: Vec<Value> = items.into_iter().filter(|v| matches(v, &conds)).collect();
    let top = match req.q("$top") {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| {
                graph_err(
                    req,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    &format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
                    ),
                )
            })?,
        None => 100,
    };
    let skip = req
        .q("$skiptoken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(top)
        .cloned()
        .map(|v| select(req, v))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#{set}", base(core, req)),
        "value": page,
    });
    if skip + top < all.len() {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), (skip + top).to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        body["@odata.nextLink"] = json!(format!("{}{}?{qs}", core.url, req.path));
    }
    Ok(graph_json(StatusCode::OK, &body))
}

// ---------------------------------------------------------------- applications

fn find_app<'a>(state: &'a State, tenant: &str, k: &Key) -> Option<&'a Application> {
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

fn check_key(req: &Req, k: &Key) -> Result<(), Response> {
    match k {
        Key::Id(id) | Key::AppId(id) if !is_guid(id) => {
            Err(bad(req, &format!("Invalid object identifier '{id}'.")))
        }
        _ => Ok(()),
    }
}

fn list_apps(core: &Core, req: &Req, p: &Principal) -> R {
    need(req, p, READ_ROLES)?;
    let state = core.state();
    let items = state
        .applications
        .iter()
        .filter(|a| a.tenant_id.eq_ignore_ascii_case(&p.tenant_id))
        .map(|a| app_json(&state, a))
        .collect();
    drop(state);
    list(core, req, items, "applications", FILTERABLE_APP)
}

fn get_app(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, READ_ROLES)?;
    check_key(req, k)?;
    let state = core.state();
    let app = find_app(&state, &p.tenant_id, k).ok_or_else(|| not_found(req, k.text()))?;
    let v = with_context(
        app_json(&state, app),
        format!("{}/$metadata#applications/$entity", base(core, req)),
    );
    Ok(graph_json(StatusCode::OK, &select(req, v)))
}

/// Apply writable properties from a Graph body to an application.
fn apply_app_props(
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
            "web" => {
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
            }
            "tags" | "identifierUris"
                if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) =>
            {
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

fn redirect_uris(req: &Req, v: &Value) -> Result<Vec<String>, Response> {
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

/// Make a password credential from an addPassword-style body, enforcing the tenant's policy.
fn new_password(
    req: &Req,
    state: &State,
    tenant_id: &str,
    spec: &Map<String, Value>,
) -> Result<(PasswordCredential, String), Response> {
    let t = now();
    let time_field = |name: &str| -> Result<Option<OffsetDateTime>, Response> {
        match spec.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_time(s).map(Some).ok_or_else(|| {
                bad(req, &format!("Invalid value specified for property '{name}' of resource 'PasswordCredential'."))
            }),
            Some(_) => Err(bad(req, &format!("Invalid value specified for property '{name}' of resource 'PasswordCredential'."))),
        }
    };
    let start = time_field("startDateTime")?.unwrap_or(t);
    let end = time_field("endDateTime")?
        .unwrap_or_else(|| start.saturating_add(time::Duration::days(730)));
    if end <= start {
        return Err(graph_err_details(
            req,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The end date of the credential must be later than its start date.",
            Some(
                json!([{"code": "InvalidKeyEndDate", "message": "End date must be later than start date.", "target": "EndDate"}]),
            ),
        ));
    }
    if let Some(max) = state
        .tenant(tenant_id)
        .and_then(|t| t.max_password_lifetime_days)
        && end - start > time::Duration::days(i64::from(max))
    {
        let msg = format!(
            "Credential lifetime exceeds the max value allowed as per assigned policy '00000000-0000-0000-0000-000000000000'. The maximum allowed lifetime is {max} days (P{max}D)."
        );
        return Err(graph_err_details(
            req,
            StatusCode::BAD_REQUEST,
            "CredentialInvalidLifetimeAsPerAppPolicy",
            &msg,
            Some(json!([{"code": "InvalidKeyEndDate", "message": msg, "target": "EndDate"}])),
        ));
    }
    let display_name = match spec.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                req,
                "Invalid value specified for property 'displayName' of resource 'PasswordCredential'.",
            ));
        }
    };
    let (secret, hint) = new_client_secret();
    Ok((
        PasswordCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            hint,
            start,
            end,
            secret_sha256: sha256_hex(secret.as_bytes()),
            secret: None,
        },
        secret,
    ))
}

fn insert_app(
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
        created_at: now(),
        password_credentials: Vec::new(),
        federated_credentials: Vec::new(),
        properties: Map::new(),
        deleted_at: None,
    };
    apply_app_props(req, &mut app, body, true)?;
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
            let (cred, secret) = new_password(req, &state, &p.tenant_id, spec)?;
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
        core.url, p.tenant_id, app.id
    );
    state.applications.push(app);
    drop(state);
    let mut r = graph_json(StatusCode::CREATED, &v);
    set_header(&mut r, "location", &location);
    Ok(r)
}

fn create_app(core: &Core, req: &Req, p: &Principal) -> R {
    need(req, p, WRITE_ROLES)?;
    let body = obj_body(req)?;
    let unique = body
        .get("uniqueName")
        .and_then(Value::as_str)
        .map(str::to_string);
    insert_app(core, req, p, &body, unique)
}

fn patch_app(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
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
    let mut app = state.applications[idx].clone();
    apply_app_props(req, &mut app, &body, false)?;
    state.applications[idx] = app;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn app_index(state: &State, tenant: &str, k: &Key) -> Option<usize> {
    let id = find_app(state, tenant, k)?.id.clone();
    state.applications.iter().position(|a| a.id == id)
}

fn delete_app(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
    check_key(req, k)?;
    let mut state = core.state();
    let idx = app_index(&state, &p.tenant_id, k).ok_or_else(|| not_found(req, k.text()))?;
    let mut app = state.applications.remove(idx);
    state.service_principals.retain(|s| {
        !(s.app_id.eq_ignore_ascii_case(&app.app_id)
            && s.tenant_id.eq_ignore_ascii_case(&app.tenant_id))
    });
    app.deleted_at = Some(now());
    state.deleted_applications.push(app);
    Ok(empty(StatusCode::NO_CONTENT))
}

fn add_password(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
    check_key(req, k)?;
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        obj_body(req)?
    };
    let spec = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(bad(
                req,
                "Invalid value specified for property 'passwordCredential'.",
            ));
        }
    };
    let mut state = core.state();
    let idx = app_index(&state, &p.tenant_id, k).ok_or_else(|| not_found(req, k.text()))?;
    let (cred, secret) = new_password(req, &state, &p.tenant_id, &spec)?;
    let v = with_context(
        password_json(&cred, Some(&secret)),
        format!(
            "{}/$metadata#microsoft.graph.passwordCredential",
            base(core, req)
        ),
    );
    state.applications[idx].password_credentials.push(cred);
    Ok(graph_json(StatusCode::OK, &v))
}

fn remove_password(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
    check_key(req, k)?;
    let body = obj_body(req)?;
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .filter(|s| is_guid(s))
        .ok_or_else(|| {
            bad(
                req,
                "Invalid value specified for property 'keyId' of resource 'PasswordCredential'.",
            )
        })?
        .to_string();
    let mut state = core.state();
    let idx = app_index(&state, &p.tenant_id, k).ok_or_else(|| not_found(req, k.text()))?;
    let creds = &mut state.applications[idx].password_credentials;
    let before = creds.len();
    creds.retain(|c| !c.key_id.eq_ignore_ascii_case(&key_id));
    if creds.len() == before {
        return Err(bad(
            req,
            &format!("No password credential found with keyId '{key_id}'."),
        ));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

fn deleted_item(core: &Core, req: &Req, p: &Principal, id: &str) -> R {
    if !is_guid(id) {
        return Err(bad(req, &format!("Invalid object identifier '{id}'.")));
    }
    let mut state = core.state();
    let pos = state
        .deleted_applications
        .iter()
        .position(|a| {
            a.id.eq_ignore_ascii_case(id) && a.tenant_id.eq_ignore_ascii_case(&p.tenant_id)
        })
        .ok_or_else(|| not_found(req, id))?;
    match req.method {
        Method::GET => {
            need(req, p, READ_ROLES)?;
            let v = with_context(
                app_json(&state, &state.deleted_applications[pos]),
                format!("{}/$metadata#directoryObjects/$entity", base(core, req)),
            );
            let mut v = v;
            v["@odata.type"] = json!("#microsoft.graph.application");
            Ok(graph_json(StatusCode::OK, &v))
        }
        Method::DELETE => {
            need(req, p, WRITE_ROLES)?;
            state.deleted_applications.remove(pos);
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Err(method_not_allowed(req)),
    }
}

fn organization(core: &Core, req: &Req, p: &Principal) -> Response {
    let state = core.state();
    let value: Vec<Value> = state
        .tenant(&p.tenant_id)
        .map(|t| {
            json!({
                "id": t.id,
                "displayName": t.display_name,
                "tenantType": "AAD",
                "verifiedDomains": t.domains.iter().enumerate().map(|(i, d)| json!({
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": i == 0,
                    "isInitial": i == 0,
                    "name": d,
                    "type": "Managed",
                })).collect::<Vec<_>>(),
            })
        })
        .into_iter()
        .collect();
    graph_json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}/$metadata#organization", base(core, req)), "value": value}),
    )
}

// ---------------------------------------------------------------- service principals

/// A new service principal of `app` in `tenant_id`.
pub(crate) fn new_service_principal(
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
        created_at: now(),
        properties: properties
            .into_iter()
            .filter(|(k, _)| k != "appId" && k != "accountEnabled")
            .collect(),
    }
}

fn find_sp<'a>(state: &'a State, tenant: &str, k: &Key) -> Option<&'a ServicePrincipal> {
    state.service_principals.iter().find(|s| {
        s.tenant_id.eq_ignore_ascii_case(tenant)
            && match k {
                Key::Id(id) => s.id.eq_ignore_ascii_case(id),
                Key::AppId(id) => s.app_id.eq_ignore_ascii_case(id),
                Key::UniqueName(_) => false,
            }
    })
}

fn sp_props(req: &Req, body: &Map<String, Value>) -> Result<Map<String, Value>, Response> {
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
fn insert_sp(core: &Core, req: &Req, p: &Principal, app_id: &str, props: Map<String, Value>) -> R {
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
    if now() < app.created_at.saturating_add(core.delay()) {
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
    let sp = new_service_principal(&app, &p.tenant_id, props);
    let v = with_context(
        sp_json(&state, &sp),
        format!("{}/$metadata#servicePrincipals/$entity", base(core, req)),
    );
    let location = format!(
        "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.ServicePrincipal",
        core.url, p.tenant_id, sp.id
    );
    state.service_principals.push(sp);
    drop(state);
    let mut r = graph_json(StatusCode::CREATED, &v);
    set_header(&mut r, "location", &location);
    Ok(r)
}

fn create_sp_post(core: &Core, req: &Req, p: &Principal) -> R {
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

fn list_sps(core: &Core, req: &Req, p: &Principal) -> R {
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

fn get_sp(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, READ_ROLES)?;
    check_key(req, k)?;
    let state = core.state();
    let sp = find_sp(&state, &p.tenant_id, k).ok_or_else(|| not_found(req, k.text()))?;
    let v = with_context(
        sp_json(&state, sp),
        format!("{}/$metadata#servicePrincipals/$entity", base(core, req)),
    );
    Ok(graph_json(StatusCode::OK, &select(req, v)))
}

fn patch_sp(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
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

fn delete_sp(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, WRITE_ROLES)?;
    check_key(req, k)?;
    let mut state = core.state();
    let id = find_sp(&state, &p.tenant_id, k)
        .map(|s| s.id.clone())
        .ok_or_else(|| not_found(req, k.text()))?;
    state.service_principals.retain(|s| s.id != id);
    Ok(empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::{Cond, Key, parse_filter, parse_segment};

    #[test]
    fn segments() {
        let (n, k) = parse_segment("applications(appId='a''b')").unwrap();
        assert_eq!(n, "applications");
        assert!(matches!(k, Some(Key::AppId(ref s)) if s == "a'b"));
        let (_, k) = parse_segment("applications(uniqueName='x')").unwrap();
        assert!(matches!(k, Some(Key::UniqueName(_))));
        assert!(parse_segment("applications(foo='x')").is_err());
    }

    #[test]
    fn filters() {
        let c = parse_filter("appId eq 'x' and startswith(displayName,'a b')").unwrap();
        assert!(matches!(&c[0], Cond::Eq(p, v) if p == "appId" && v == "x"));
        assert!(matches!(&c[1], Cond::StartsWith(_, v) if v == "a b"));
        let c = parse_filter("servicePrincipalNames/any(c:c eq 'id')").unwrap();
        assert!(matches!(&c[0], Cond::AnyEq(p, v) if p == "servicePrincipalNames" && v == "id"));
        assert!(parse_filter("appId gt 'x'").is_err());
        let c = parse_filter("displayName eq 'é and ü' AND appId eq 'x'").unwrap();
        assert!(matches!(&c[0], Cond::Eq(_, v) if v == "é and ü"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn expired_tokens_get_graph_codes() {
        let parts = axum::http::Request::builder()
            .uri("/v1.0/applications")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let req = crate::http::Req::new(&parts, axum::body::Bytes::new());
        let r = super::auth_error(&req, &crate::core::AuthFail::Expired { exp: 1 });
        assert_eq!(r.status(), 401);
        let v: serde_json::Value = serde_json::from_slice(&crate::registry::body_bytes(r)).unwrap();
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
        assert_eq!(
            v["error"]["message"],
            "Lifetime validation failed, the token is expired."
        );
    }

    #[test]
    fn hostile_input_never_panics() {
        for s in [
            "",
            "(",
            ")",
            "'",
            "é",
            "startswith(",
            "startswith(é,'",
            "x/any(",
            "x/any(é:é eq 'a')",
            "(((",
            "a eq 'é''",
            "ü and ü and",
        ] {
            let _ = parse_filter(s);
            let _ = parse_segment(s);
            let _ = parse_segment(&format!("applications({s})"));
            let _ = crate::rbac::condition_allows_repo(Some(s), "é");
        }
    }
}
