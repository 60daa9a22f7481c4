//! Microsoft Graph v1.0: applications, service principals, passwords, deleted items.
//!
//! Every call acts in the tenant of its token. Reads need `Application.Read.All` (or
//! ReadWrite, or `Directory.*`) among the token's `roles`, writes `Application.ReadWrite.All`
//! (or `Directory.ReadWrite.All`); `Application.ReadWrite.OwnedBy` reads, changes (its
//! properties, secrets) and deletes only the applications the caller owns, . Whoever creates an
//! app (a user, or an app's service principal whatever its permission) is made its owner
//! (Microsoft Graph permissions reference; microsoftgraph/msgraph-sdk-powershell#829: "the
//! owner is automatically set to the ServicePrincipal" of the caller), listed by
//! `GET /applications/{id}/owners`. Objects and errors follow the recorded shapes.
mod app_props;
mod applications;
mod directory;
mod keys;
mod passwords;
mod query;
mod service_principals;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use crate::core::{AuthFail, Core, Principal, audience_in};
use crate::http::{Req, graph_err, is_guid, set_header, with_caller};
use applications::{create_app, delete_app, get_app, list_apps, patch_app};
use directory::{deleted_item, organization};
use keys::{Key, parse_segment, unsupported_key};
use passwords::{add_password, remove_password};
pub(crate) use service_principals::new_service_principal;
use service_principals::{create_sp_post, delete_sp, get_sp, list_sps, patch_sp};

const READ_ROLES: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_ROLES: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
/// The permission to manage only the applications the caller owns.
const OWNED_BY: &str = "Application.ReadWrite.OwnedBy";
/// Any role that may write some application.
const APP_WRITE_ROLES: &[&str] = &[
    "Application.ReadWrite.All",
    "Directory.ReadWrite.All",
    OWNED_BY,
];

type R = Result<Response, Response>;

/// Serve `/v1.0/...` (and `/beta/...`, answered the same way).
pub(crate) fn handle(core: &Core, req: &Req) -> Response {
    let graph_auds = core.cloud.graph_audiences();
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

/// Whether the caller may change `app`: a tenant-wide write role, or `OwnedBy` on an app it owns.
fn may_write_app(
    req: &Req,
    p: &Principal,
    app: &crate::model::Application,
) -> Result<(), Response> {
    if need(req, p, WRITE_ROLES).is_ok()
        || (need(req, p, &[OWNED_BY]).is_ok() && app.owned_by(&p.oid))
    {
        Ok(())
    } else {
        Err(denied(req))
    }
}

/// A just-created object is not yet readable on every replica: within the scenario's read lag,
/// a read by key answers as if it did not exist.
fn lagging(
    now: time::OffsetDateTime,
    created_at: time::OffsetDateTime,
    lag: time::Duration,
) -> bool {
    lag > time::Duration::ZERO && now < created_at.saturating_add(lag)
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

/// A collection's handlers: list and create on the collection; get, patch and delete on an item.
struct Collection {
    list: fn(&Core, &Req, &Principal) -> R,
    create: fn(&Core, &Req, &Principal) -> R,
    get: fn(&Core, &Req, &Principal, &Key) -> R,
    patch: fn(&Core, &Req, &Principal, &Key) -> R,
    delete: fn(&Core, &Req, &Principal, &Key) -> R,
}

const APPLICATIONS: Collection = Collection {
    list: list_apps,
    create: create_app,
    get: get_app,
    patch: patch_app,
    delete: delete_app,
};

const SERVICE_PRINCIPALS: Collection = Collection {
    list: list_sps,
    create: create_sp_post,
    get: get_sp,
    patch: patch_sp,
    delete: delete_sp,
};

/// A request to collection `c` (`key`: to one of its items), by method.
fn collection(core: &Core, req: &Req, p: &Principal, c: &Collection, key: Option<&Key>) -> R {
    match (key, &req.method) {
        (None, &Method::GET) => (c.list)(core, req, p),
        (None, &Method::POST) => (c.create)(core, req, p),
        (Some(k), &Method::GET) => (c.get)(core, req, p, k),
        (Some(k), &Method::PATCH) => (c.patch)(core, req, p, k),
        (Some(k), &Method::DELETE) => (c.delete)(core, req, p, k),
        _ => Err(method_not_allowed(req)),
    }
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
    if matches!(key, Some(Key::UniqueName(_))) && !core.state().behaviour.unique_name_key {
        return Err(bad(req, &unsupported_key("uniqueName", &name)));
    }
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
        ("applications", k, None) => collection(core, req, p, &APPLICATIONS, k.as_ref()),
        ("applications", Some(k), Some("addpassword")) if *m == Method::POST => {
            add_password(core, req, p, &k)
        }
        ("applications", Some(k), Some("removepassword")) if *m == Method::POST => {
            remove_password(core, req, p, &k)
        }
        ("applications", Some(k), Some("owners")) if *m == Method::GET => {
            applications::list_owners(core, req, p, &k)
        }
        ("applications", Some(k), Some("federatedidentitycredentials")) if *m == Method::GET => {
            applications::list_federated(core, req, p, &k)
        }
        ("serviceprincipals", k, None) => collection(core, req, p, &SERVICE_PRINCIPALS, k.as_ref()),
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
    format!("{}/{}", core.cloud.graph_url(), req.segs[0])
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

fn check_key(req: &Req, k: &Key) -> Result<(), Response> {
    match k {
        Key::Id(id) | Key::AppId(id) if !is_guid(id) => {
            Err(bad(req, &format!("Invalid object identifier '{id}'.")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    fn req() -> crate::http::Req {
        let parts = axum::http::Request::builder()
            .uri("/v1.0/applications")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        crate::http::Req::new(&parts, axum::body::Bytes::new())
    }

    #[test]
    fn owned_by_writes_only_the_callers_own_apps() {
        let mut app: crate::model::Application = serde_json::from_value(serde_json::json!({
            "id": "o", "app_id": "a", "tenant_id": "t", "display_name": "d"
        }))
        .unwrap();
        let caller = |roles: &[&str]| crate::core::Principal {
            app_id: "c".into(),
            tenant_id: "t".into(),
            oid: "sp-of-c".into(),
            roles: roles.iter().map(ToString::to_string).collect(),
        };
        let owned_by = caller(&[super::OWNED_BY]);
        assert_eq!(
            super::may_write_app(&req(), &owned_by, &app)
                .unwrap_err()
                .status(),
            403
        );
        app.owners.push("SP-OF-C".into());
        assert!(super::may_write_app(&req(), &owned_by, &app).is_ok());
        assert!(
            super::may_write_app(&req(), &caller(&["Application.ReadWrite.All"]), &app).is_ok()
        );
        assert!(super::may_write_app(&req(), &caller(&["Application.Read.All"]), &app).is_err());
    }

    #[test]
    fn expired_tokens_get_graph_codes() {
        let r = super::auth_error(&req(), &crate::core::AuthFail::Expired { exp: 1 });
        assert_eq!(r.status(), 401);
        let v: serde_json::Value = serde_json::from_slice(&crate::registry::body_bytes(r)).unwrap();
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
        assert_eq!(
            v["error"]["message"],
            "Lifetime validation failed, the token is expired."
        );
    }
}
