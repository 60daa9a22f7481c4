//! A registry's data plane (`<name>.azurecr.sim`): the token protocol and manifests, and the
//! kubelet-style pull decision of the truth endpoint built on the same code.
//!
//! Basic credentials `appId:secret` authenticate when the app has a service principal in the
//! registry's tenant and the secret is one of the app's current passwords. The token's
//! `access` claim holds only the actions the principal's propagated role assignments allow in
//! the registry's mode (see [`crate::rbac::registry_grants`]).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::blobs::{DOCKER_V2, OCI_V1};
use crate::core::{Core, audience_in};
use crate::crypto::{digest_eq, sha256_hex};
use crate::http::{Req, json as json_resp, json_with, registry_err, set_header, with_caller};
use crate::model::{Registry, State, now};
use crate::rbac::registry_grants;

const ANON: &str = "00000000-0000-0000-0000-000000000000";

/// A secret as given by a client, or as a stored hash (the cluster's credentials).
pub(crate) enum Secret<'a> {
    Plain(&'a str),
    Sha256(&'a str),
}

/// Who a registry credential authenticated as.
#[derive(Debug, Clone)]
struct Identity {
    app_id: String,
    tenant_id: String,
    oid: String,
}

fn challenge(core: &Core, reg: &Registry, scope: Option<&str>) -> String {
    let ls = core.login_server(&reg.name);
    match scope {
        Some(s) => {
            format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\",scope=\"{s}\"")
        }
        None => format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\""),
    }
}

fn unauthorized(
    core: &Core,
    reg: &Registry,
    message: &str,
    scope: Option<&str>,
    detail: Value,
) -> Response {
    let mut r = registry_err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message, detail);
    set_header(&mut r, "www-authenticate", &challenge(core, reg, scope));
    r
}

const AUTH_REQUIRED: &str =
    "authentication required, visit https://aka.ms/acr/authorization for more information.";

/// Serve a request addressed to registry `name`.
pub(crate) fn handle(core: &Core, req: &Req, name: &str) -> Response {
    let state = core.state();
    let Some(reg) = state
        .registries
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .cloned()
    else {
        return registry_err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!("registry '{name}' does not exist"),
            Value::Null,
        );
    };
    drop(state);
    if let Some(ip) = req.client_ip
        && !reg.network_rules.allows(ip)
    {
        return crate::firewall::denied(ip);
    }
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    match (segs.as_slice(), &req.method) {
        (["oauth2", "token"], &Method::GET) => token_get(core, req, &reg),
        (["oauth2", "token"], &Method::POST) => token_post(core, req, &reg),
        (["oauth2", "exchange"], &Method::POST) => exchange(core, req, &reg),
        (["v2"], &Method::GET | &Method::HEAD) => base(core, req, &reg),
        (["v2", repo @ .., "manifests", reference], &Method::GET | &Method::HEAD)
            if !repo.is_empty() =>
        {
            manifest(core, req, &reg, &repo.join("/"), reference)
        }
        (["v2", repo @ .., "blobs", digest], &Method::GET | &Method::HEAD) if !repo.is_empty() => {
            blob(core, req, &reg, &repo.join("/"), digest)
        }
        (["v2", repo @ .., "tags", "list"], &Method::GET) if !repo.is_empty() => {
            tags(core, req, &reg, &repo.join("/"))
        }
        _ => registry_err(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the requested resource was not found",
            json!({"path": req.path}),
        ),
    }
}

/// Parse `type:name:actions` scopes (several per parameter, space-separated).
fn parse_scopes<'a>(values: impl Iterator<Item = &'a str>) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for v in values {
        for s in v.split_whitespace() {
            let Some((ty, rest)) = s.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            out.push((
                ty.to_string(),
                name.to_string(),
                actions
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            ));
        }
    }
    out
}

/// Authenticate `user`/secret against `reg` (Basic credentials or an ACR refresh token).
fn authenticate(
    core: &Core,
    state: &State,
    reg: &Registry,
    user: &str,
    secret: &Secret<'_>,
) -> Result<Identity, String> {
    if user == ANON {
        let Secret::Plain(token) = secret else {
            return Err("a refresh token cannot be given as a hash".into());
        };
        return verify_registry_token(core, reg, token, "acr_refresh").map(|c| Identity {
            app_id: c["appid"].as_str().unwrap_or_default().into(),
            tenant_id: c["tenant"].as_str().unwrap_or_default().into(),
            oid: c["principal"].as_str().unwrap_or_default().into(),
        });
    }
    let app = state
        .app_by_app_id(user)
        .ok_or_else(|| "Application not registered with AAD.".to_string())?;
    let sp = state
        .sp_in_tenant(&app.app_id, &reg.tenant_id)
        .ok_or_else(|| format!("Application not registered with AAD: the application '{}' has no service principal in the registry's tenant {}.", app.app_id, reg.tenant_id))?;
    let h = match secret {
        Secret::Plain(s) => sha256_hex(s.as_bytes()),
        Secret::Sha256(h) => (*h).to_string(),
    };
    let t = now();
    if !app
        .password_credentials
        .iter()
        .any(|p| digest_eq(&p.secret_sha256, &h) && p.start <= t && t < p.end)
    {
        return Err("Invalid clientid or client secret.".into());
    }
    Ok(Identity {
        app_id: app.app_id.clone(),
        tenant_id: reg.tenant_id.clone(),
        oid: sp.id.clone(),
    })
}

fn verify_registry_token(
    core: &Core,
    reg: &Registry,
    token: &str,
    kind: &str,
) -> Result<Value, String> {
    let c = core
        .key
        .verify(token)
        .map_err(|_| "the token is invalid".to_string())?;
    if c["sim_kind"] != kind {
        return Err("the token is not a registry token of this kind".into());
    }
    if !c["aud"]
        .as_str()
        .is_some_and(|a| a.eq_ignore_ascii_case(&core.login_server(&reg.name)))
    {
        return Err("the token was issued for another registry".into());
    }
    if c["exp"].as_i64().unwrap_or(0) <= now().unix_timestamp() {
        return Err("the token has expired".into());
    }
    Ok(c)
}

fn registry_claims(core: &Core, reg: &Registry, id: &Identity, kind: &str, grant: &str) -> Value {
    let t = now().unix_timestamp();
    json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": id.app_id,
        "nbf": t,
        "exp": t + 3 * 3600,
        "iat": t,
        "iss": "Azure Container Registry",
        "aud": core.login_server(&reg.name),
        "version": "1.0",
        "rid": &sha256_hex(reg.id.to_ascii_lowercase().as_bytes())[..32],
        "grant_type": grant,
        "appid": id.app_id,
        "tenant": id.tenant_id,
        "principal": id.oid,
        "roles": [],
        "sim_kind": kind,
    })
}

/// Mint an access token for `scopes` with only the allowed actions.
fn access_token(
    core: &Core,
    state: &State,
    reg: &Registry,
    id: &Identity,
    scopes: &[(String, String, Vec<String>)],
    grant: &str,
) -> String {
    let access: Vec<Value> = scopes
        .iter()
        .map(|(ty, name, actions)| {
            let allowed = if ty == "repository" {
                registry_grants(state, reg, &id.oid, name, actions, now(), core.delay())
            } else {
                Vec::new()
            };
            json!({"type": ty, "name": name, "actions": allowed})
        })
        .collect();
    let mut claims = registry_claims(core, reg, id, "acr_access", grant);
    claims["access"] = json!(access);
    core.key.sign(&claims)
}

fn refresh_token(core: &Core, reg: &Registry, id: &Identity) -> String {
    let mut c = registry_claims(core, reg, id, "acr_refresh", "refresh_token");
    c["permissions"] = json!({"actions": ["read", "write", "delete"]});
    core.key.sign(&c)
}

/// The Basic-credential token step (`GET /oauth2/token`), shared with the truth endpoint.
pub(crate) fn basic_token(
    core: &Core,
    reg: &Registry,
    user: &str,
    secret: &Secret<'_>,
    scope_values: &[&str],
) -> Result<(String, String, String), Response> {
    let state = core.state();
    let id = authenticate(core, &state, reg, user, secret)
        .map_err(|m| unauthorized(core, reg, &m, None, Value::Null))?;
    let scopes = parse_scopes(scope_values.iter().copied());
    let access = access_token(core, &state, reg, &id, &scopes, "password");
    drop(state);
    Ok((access, refresh_token(core, reg, &id), id.app_id))
}

fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let h = req.header("authorization")?;
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn scope_params(req: &Req) -> Vec<&str> {
    req.query
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect()
}

fn token_get(core: &Core, req: &Req, reg: &Registry) -> Response {
    let Some((user, pass)) = basic_credentials(req) else {
        return unauthorized(core, reg, AUTH_REQUIRED, None, Value::Null);
    };
    match basic_token(core, reg, &user, &Secret::Plain(&pass), &scope_params(req)) {
        Ok((access, refresh, app_id)) => with_caller(
            json_resp(
                StatusCode::OK,
                &json!({"access_token": access, "refresh_token": refresh}),
            ),
            &app_id,
            &reg.tenant_id,
        ),
        Err(r) => r,
    }
}

fn form_value<'a>(form: &'a [(String, String)], k: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn token_post(core: &Core, req: &Req, reg: &Registry) -> Response {
    let form = req.form();
    let scopes_raw: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let id = match form_value(&form, "grant_type") {
        Some("refresh_token") => {
            let Some(rt) = form_value(&form, "refresh_token") else {
                return registry_err(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "refresh_token is required",
                    Value::Null,
                );
            };
            let state = core.state();
            authenticate(core, &state, reg, ANON, &Secret::Plain(rt))
        }
        Some("password") => {
            let (Some(u), Some(p)) = (form_value(&form, "username"), form_value(&form, "password"))
            else {
                return registry_err(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "username and password are required",
                    Value::Null,
                );
            };
            let state = core.state();
            authenticate(core, &state, reg, u, &Secret::Plain(p))
        }
        other => {
            return registry_err(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!(
                    "grant type '{}' is not supported",
                    other.unwrap_or_default()
                ),
                Value::Null,
            );
        }
    };
    let id = match id {
        Ok(i) => i,
        Err(m) => return unauthorized(core, reg, &m, None, Value::Null),
    };
    let state = core.state();
    let access = access_token(
        core,
        &state,
        reg,
        &id,
        &parse_scopes(scopes_raw.into_iter()),
        "refresh_token",
    );
    drop(state);
    with_caller(
        json_resp(StatusCode::OK, &json!({"access_token": access})),
        &id.app_id,
        &id.tenant_id,
    )
}

/// `POST /oauth2/exchange`: an Entra access token for a registry refresh token.
fn exchange(core: &Core, req: &Req, reg: &Registry) -> Response {
    let form = req.form();
    match form_value(&form, "grant_type") {
        Some("access_token" | "access_token_refresh_token") => {}
        other => {
            return registry_err(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!(
                    "grant type '{}' is not supported",
                    other.unwrap_or_default()
                ),
                Value::Null,
            );
        }
    }
    let Some(aad) = form_value(&form, "access_token") else {
        return registry_err(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "access_token is required",
            Value::Null,
        );
    };
    let auds = [
        "https://containerregistry.azure.net",
        "https://management.azure.com",
        "https://management.core.windows.net",
    ];
    let Ok(p) = core.verify_entra_token(aad, &|a| audience_in(a, &auds)) else {
        return unauthorized(
            core,
            reg,
            "The access token is invalid, expired, or for another audience.",
            None,
            Value::Null,
        );
    };
    if !p.tenant_id.eq_ignore_ascii_case(&reg.tenant_id) {
        return unauthorized(
            core,
            reg,
            &format!(
                "The access token is from tenant {} but the registry belongs to tenant {}.",
                p.tenant_id, reg.tenant_id
            ),
            None,
            Value::Null,
        );
    }
    let id = Identity {
        app_id: p.app_id.clone(),
        tenant_id: p.tenant_id.clone(),
        oid: p.oid.clone(),
    };
    with_caller(
        json_resp(
            StatusCode::OK,
            &json!({"refresh_token": refresh_token(core, reg, &id)}),
        ),
        &p.app_id,
        &p.tenant_id,
    )
}

/// The access entries of a request's credential: a Bearer registry token, or Basic credentials
/// evaluated for `wanted` (as ACR also accepts).
fn request_access(
    core: &Core,
    req: &Req,
    reg: &Registry,
    wanted: &str,
) -> Result<(Vec<Value>, String), ()> {
    let h = req.header("authorization").ok_or(())?;
    let (scheme, rest) = h.trim().split_once(' ').ok_or(())?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let c = verify_registry_token(core, reg, rest.trim(), "acr_access").map_err(|_| ())?;
        let app = c["appid"].as_str().unwrap_or_default().to_string();
        return Ok((c["access"].as_array().cloned().unwrap_or_default(), app));
    }
    let (u, p) = basic_credentials(req).ok_or(())?;
    let state = core.state();
    let id = authenticate(core, &state, reg, &u, &Secret::Plain(&p)).map_err(|_| ())?;
    let scopes = parse_scopes(std::iter::once(wanted));
    let token = access_token(core, &state, reg, &id, &scopes, "password");
    drop(state);
    let c = core.key.verify(&token).map_err(|_| ())?;
    Ok((
        c["access"].as_array().cloned().unwrap_or_default(),
        id.app_id,
    ))
}

fn grants(access: &[Value], repo: &str, action: &str) -> bool {
    access.iter().any(|a| {
        a["type"] == "repository"
            && a["name"].as_str() == Some(repo)
            && a["actions"]
                .as_array()
                .is_some_and(|xs| xs.iter().any(|x| x == action || x == "*"))
    })
}

fn base(core: &Core, req: &Req, reg: &Registry) -> Response {
    if req.header("authorization").is_some()
        && request_access(core, req, reg, "registry:catalog:*").is_ok()
    {
        return json_resp(StatusCode::OK, &json!({}));
    }
    unauthorized(core, reg, AUTH_REQUIRED, None, Value::Null)
}

fn pick_media(headers: &HeaderMap) -> &'static str {
    let accept: String = headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if accept.contains(OCI_V1) && !accept.contains(DOCKER_V2) {
        OCI_V1
    } else {
        DOCKER_V2
    }
}

fn manifest(core: &Core, req: &Req, reg: &Registry, repo: &str, reference: &str) -> Response {
    let app_id = match pull_caller(core, req, reg, repo) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let media = pick_media(&req.headers);
    let state = core.state();
    let current = state
        .registries
        .iter()
        .find(|r| r.id == reg.id)
        .cloned()
        .unwrap_or_else(|| reg.clone());
    drop(state);
    let Some(tags) = current.images.get(repo) else {
        return with_caller(
            registry_err(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
                json!({"name": repo}),
            ),
            &app_id,
            &reg.tenant_id,
        );
    };
    let found = tags.iter().find_map(|t| {
        let bytes = crate::blobs::manifest(reg, repo, t, media);
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        (t == reference || digest == reference).then_some((bytes, digest))
    });
    let Some((bytes, digest)) = found else {
        let detail = if reference.starts_with("sha256:") {
            json!({"Digest": reference})
        } else {
            json!({"Tag": reference})
        };
        return with_caller(
            registry_err(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                &format!("manifest tagged by \"{reference}\" is not found"),
                detail,
            ),
            &app_id,
            &reg.tenant_id,
        );
    };
    let mut r = Response::new(axum::body::Body::from(bytes.clone()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(media));
    set_header(&mut r, "docker-content-digest", &digest);
    set_header(&mut r, "etag", &format!("\"{digest}\""));
    if req.method == Method::HEAD {
        set_header(&mut r, "content-length", &bytes.len().to_string());
    }
    with_caller(r, &app_id, &reg.tenant_id)
}

/// `GET`/`HEAD /v2/<repo>/blobs/<digest>`: an image's config or layer, with the same pull
/// permission as its manifest.
fn blob(core: &Core, req: &Req, reg: &Registry, repo: &str, digest: &str) -> Response {
    let app_id = match pull_caller(core, req, reg, repo) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let tags = core
        .state()
        .registries
        .iter()
        .find(|r| r.id == reg.id)
        .and_then(|r| r.images.get(repo).cloned())
        .unwrap_or_default();
    let Some(bytes) = crate::blobs::find(reg, repo, &tags, digest) else {
        return with_caller(
            registry_err(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
                json!(digest),
            ),
            &app_id,
            &reg.tenant_id,
        );
    };
    let len = bytes.len();
    let mut r = Response::new(axum::body::Body::from(bytes));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    set_header(&mut r, "docker-content-digest", digest);
    set_header(&mut r, "content-length", &len.to_string());
    with_caller(r, &app_id, &reg.tenant_id)
}

fn tags(core: &Core, req: &Req, reg: &Registry, repo: &str) -> Response {
    let app_id = match pull_caller(core, req, reg, repo) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let state = core.state();
    let tags = state
        .registries
        .iter()
        .find(|r| r.id == reg.id)
        .and_then(|r| r.images.get(repo).cloned());
    drop(state);
    let r = match tags {
        Some(t) => json_with(
            StatusCode::OK,
            &json!({"name": repo, "tags": t}),
            "application/json; charset=utf-8",
        ),
        None => registry_err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({"name": repo}),
        ),
    };
    with_caller(r, &app_id, &reg.tenant_id)
}

// ---------------------------------------------------------------- the truth endpoint

fn body_message(r: Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body = body_bytes(r);
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let msg = v["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, msg)
}

/// The bytes of a response built by this crate (always a full, in-memory body).
pub(crate) fn body_bytes(r: Response) -> Vec<u8> {
    use axum::body::HttpBody as _;
    let mut body = r.into_body();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut out = Vec::new();
    while let std::task::Poll::Ready(Some(Ok(frame))) =
        std::pin::Pin::new(&mut body).poll_frame(&mut cx)
    {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

/// Why a principal has no pull on a registry, in words.
fn diagnose(core: &Core, reg: &Registry, oid: &str) -> String {
    let state = core.state();
    let t = now();
    let mut pending = false;
    let mut wrong_mode = Vec::new();
    for ra in state.role_assignments.iter().filter(|ra| {
        ra.principal_id.eq_ignore_ascii_case(oid) && crate::rbac::scope_covers(&ra.scope, &reg.id)
    }) {
        let name = state
            .role_definition(&ra.role_definition_id)
            .map(|d| d.role_name.clone())
            .unwrap_or_default();
        let alone = registry_grants(
            &state,
            reg,
            oid,
            "x",
            &["pull".to_string()],
            t.saturating_add(core.delay()),
            core.delay(),
        );
        if ra.created_at.saturating_add(core.delay()) > t && !alone.is_empty() {
            pending = true;
        } else {
            wrong_mode.push(name);
        }
    }
    if pending {
        return "a role allowing pull is assigned but has not propagated to the registry yet (replication delay)".into();
    }
    let mode = &reg.role_assignment_mode;
    if wrong_mode.is_empty() {
        format!(
            "no role allowing pull is assigned to the service principal {oid} at the registry or above (registry mode {mode})"
        )
    } else {
        format!(
            "the roles assigned to the service principal {oid} ({}) do not allow pull in registry mode {mode}",
            wrong_mode.join(", ")
        )
    }
}

/// Whether `cluster_name` can pull `image` with the credentials it holds now.
#[expect(
    clippy::too_many_lines,
    reason = "the kubelet's two steps, told in order"
)]
pub(crate) fn pull(core: &Core, cluster_name: &str, image: &str) -> (StatusCode, Value) {
    let verdict = |pulled: bool, status: u16, reason: String| json!({"pulled": pulled, "status": status, "reason": reason});
    let state = core.state();
    let Some(cluster) = state
        .clusters
        .iter()
        .find(|c| {
            c.name.eq_ignore_ascii_case(cluster_name) || c.id.eq_ignore_ascii_case(cluster_name)
        })
        .cloned()
    else {
        return (
            StatusCode::NOT_FOUND,
            verdict(false, 0, format!("no cluster named '{cluster_name}'")),
        );
    };
    let Some((host, path)) = image.split_once('/') else {
        return (
            StatusCode::BAD_REQUEST,
            verdict(
                false,
                0,
                format!("'{image}' is not <login server>/<repository>:<tag>"),
            ),
        );
    };
    let (repo, reference) = if let Some((r, d)) = path.split_once('@') {
        (r.to_string(), d.to_string())
    } else if let Some((r, t)) = path.rsplit_once(':') {
        (r.to_string(), t.to_string())
    } else {
        (path.to_string(), "latest".to_string())
    };
    let hostname = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(reg) = hostname
        .strip_suffix(".azurecr.sim")
        .and_then(|n| state.registries.iter().find(|r| r.name == n))
        .cloned()
    else {
        return (
            StatusCode::OK,
            verdict(
                false,
                0,
                format!(
                    "'{host}' is not the login server of any registry here (the name would not resolve)"
                ),
            ),
        );
    };
    drop(state);
    let scope = format!("repository:{repo}:pull");
    // Step 1: the registry token, as the kubelet's credential provider gets it.
    let (bearer, who, oid) = if let Some(identity) = cluster.identity.clone() {
        let (aad, _) = core.mint_entra_token(
            &identity.tenant_id,
            &identity.principal_id,
            &identity.principal_id,
            "https://containerregistry.azure.net",
            &[],
            "2",
        );
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "access_token")
            .append_pair("service", &core.login_server(&reg.name))
            .append_pair("tenant", &identity.tenant_id)
            .append_pair("access_token", &aad)
            .finish();
        let r = handle(
            core,
            &synthetic(core, &reg, Method::POST, "/oauth2/exchange", "", body, None),
            &reg.name,
        );
        if r.status() != StatusCode::OK {
            let (status, msg) = body_message(r);
            return (
                StatusCode::OK,
                verdict(
                    false,
                    status,
                    format!(
                        "the cluster uses a managed identity (tenant {}); the registry refused its token: {msg}",
                        identity.tenant_id
                    ),
                ),
            );
        }
        let v: Value = serde_json::from_slice(&body_bytes(r)).unwrap_or(Value::Null);
        let rt = v["refresh_token"].as_str().unwrap_or_default().to_string();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("service", &core.login_server(&reg.name))
            .append_pair("scope", &scope)
            .append_pair("refresh_token", &rt)
            .finish();
        let r = handle(
            core,
            &synthetic(core, &reg, Method::POST, "/oauth2/token", "", body, None),
            &reg.name,
        );
        let v: Value = serde_json::from_slice(&body_bytes(r)).unwrap_or(Value::Null);
        (
            v["access_token"].as_str().unwrap_or_default().to_string(),
            format!("managed identity {}", identity.principal_id),
            identity.principal_id,
        )
    } else {
        let Some(hash) = cluster.secret_sha256.clone() else {
            return (
                StatusCode::OK,
                verdict(
                    false,
                    401,
                    "the cluster holds no service principal secret".into(),
                ),
            );
        };
        let client = cluster.service_principal_client_id.clone();
        match basic_token(core, &reg, &client, &Secret::Sha256(&hash), &[&scope]) {
            Ok((access, _, _)) => {
                let oid = core
                    .state()
                    .sp_in_tenant(&client, &reg.tenant_id)
                    .map(|s| s.id.clone())
                    .unwrap_or_default();
                (access, format!("client id {client}"), oid)
            }
            Err(r) => {
                let (status, msg) = body_message(r);
                return (
                    StatusCode::OK,
                    verdict(
                        false,
                        status,
                        format!(
                            "the registry refused the cluster's credentials (client id {client}): {msg}"
                        ),
                    ),
                );
            }
        }
    };
    // Step 2: the manifest, with that token.
    let path = format!("/v2/{repo}/manifests/{reference}");
    let r = handle(
        core,
        &synthetic(
            core,
            &reg,
            Method::GET,
            &path,
            "",
            String::new(),
            Some(format!("Bearer {bearer}")),
        ),
        &reg.name,
    );
    let status = r.status().as_u16();
    match status {
        200 => {
            let manifest: Value = serde_json::from_slice(&body_bytes(r)).unwrap_or(Value::Null);
            match pull_blobs(core, &reg, &repo, &manifest, &bearer) {
                Ok(n) => (
                    StatusCode::OK,
                    verdict(
                        true,
                        200,
                        format!("pulled {image} as {who} (the manifest and {n} blobs)"),
                    ),
                ),
                Err((status, msg)) => (
                    StatusCode::OK,
                    verdict(
                        false,
                        status,
                        format!("the registry did not serve all of {image}: {msg}"),
                    ),
                ),
            }
        }
        401 => {
            drop(r);
            (
                StatusCode::OK,
                verdict(
                    false,
                    401,
                    format!(
                        "the registry token for {who} grants no pull on '{repo}': {}",
                        diagnose(core, &reg, &oid)
                    ),
                ),
            )
        }
        _ => {
            let (status, msg) = body_message(r);
            (
                StatusCode::OK,
                verdict(false, status, format!("the image does not exist: {msg}")),
            )
        }
    }
}

/// Step 3 of a pull: every blob the manifest names, fetched with the same token and checked
/// against its digest and size, as a container runtime does. Returns how many were fetched.
fn pull_blobs(
    core: &Core,
    reg: &Registry,
    repo: &str,
    manifest: &Value,
    bearer: &str,
) -> Result<usize, (u16, String)> {
    let descriptors: Vec<&Value> = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
        .collect();
    for d in &descriptors {
        let digest = d["digest"].as_str().unwrap_or_default();
        let r = handle(
            core,
            &synthetic(
                core,
                reg,
                Method::GET,
                &format!("/v2/{repo}/blobs/{digest}"),
                "",
                String::new(),
                Some(format!("Bearer {bearer}")),
            ),
            &reg.name,
        );
        if r.status() != StatusCode::OK {
            let (status, msg) = body_message(r);
            return Err((status, format!("blob {digest}: {msg}")));
        }
        let bytes = body_bytes(r);
        let size_ok = d["size"].as_u64() == u64::try_from(bytes.len()).ok();
        if !size_ok || !crate::blobs::digest(&bytes).eq_ignore_ascii_case(digest) {
            return Err((200, format!("blob {digest}: its content does not match")));
        }
    }
    Ok(descriptors.len())
}

fn synthetic(
    core: &Core,
    reg: &Registry,
    method: Method,
    path: &str,
    query: &str,
    body: String,
    auth: Option<String>,
) -> Req {
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut b = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", core.login_server(&reg.name));
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    if !body.is_empty() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    let (parts, ()) = b
        .body(())
        .unwrap_or_else(|_| axum::http::Request::new(()))
        .into_parts();
    Req::new(&parts, axum::body::Bytes::from(body))
}

/// The app whose bearer token grants pull on `repo`, or the registry's 401 challenge.
fn pull_caller(core: &Core, req: &Req, reg: &Registry, repo: &str) -> Result<String, Response> {
    let scope = format!("repository:{repo}:pull");
    match request_access(core, req, reg, &scope) {
        Ok((access, app_id)) if grants(&access, repo, "pull") => Ok(app_id),
        _ => Err(unauthorized(
            core,
            reg,
            AUTH_REQUIRED,
            Some(&scope),
            json!([{"Type": "repository", "Name": repo, "Action": "pull"}]),
        )),
    }
}
