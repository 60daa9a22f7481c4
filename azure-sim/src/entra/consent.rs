//! The consent pages: `/{tenant}/oauth2/authorize` and `/{tenant}/adminconsent`.
//!
//! GET shows an HTML page naming the app and its publisher, with a form posting back to the
//! same path with Accept or Cancel. Whoever accepts acts as the tenant's administrator (the
//! simulator has no interactive sign-in). Accept provisions the app's service principal in the
//! tenant and redirects as Entra does; Cancel redirects with `error=access_denied`.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::{TenantError, resolve_tenant};
use crate::core::Core;
use crate::crypto::random_alnum;
use crate::graph::new_service_principal;
use crate::http::{Req, empty, html, set_header, with_caller};
use crate::model::{Application, State, Tenant};

/// Which consent endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// `/oauth2/authorize?response_type=code`: redirects with `code`.
    Authorize,
    /// `/adminconsent`: redirects with `admin_consent=True&tenant=`.
    AdminConsent,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_page(code: u32, text: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        format!(
            "<!DOCTYPE html>\n<html><head><title>Sign in to your account</title></head><body>\n<h1>Sorry, but we're having trouble signing you in.</h1>\n<p id=\"error\" data-code=\"AADSTS{code}\">AADSTS{code}: {}</p>\n</body></html>\n",
            esc(text)
        ),
    )
}

/// Microsoft Graph's app id, and the names of the delegated permissions (and application roles)
/// a registration most often requests (Microsoft Graph permissions reference).
const MICROSOFT_GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const GRAPH_PERMISSIONS: &[(&str, &str)] = &[
    ("e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read"),
    ("37f7f235-527c-4136-accd-4a02d197296e", "openid"),
    ("14dad69e-099b-42c9-810b-d002981feec1", "profile"),
    ("7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "offline_access"),
    ("64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "email"),
];

/// The permissions an app requests (`requiredResourceAccess`): (resource, permission, type).
fn requested(app: &Application) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let list = app
        .properties
        .get("requiredResourceAccess")
        .and_then(serde_json::Value::as_array);
    for rra in list.into_iter().flatten() {
        let resource = rra["resourceAppId"].as_str().unwrap_or_default();
        let graph = resource.eq_ignore_ascii_case(MICROSOFT_GRAPH);
        for ra in rra["resourceAccess"].as_array().into_iter().flatten() {
            let id = ra["id"].as_str().unwrap_or_default();
            let name = GRAPH_PERMISSIONS
                .iter()
                .find(|(g, _)| graph && g.eq_ignore_ascii_case(id))
                .map_or(id, |(_, n)| n);
            let kind = if ra["type"] == "Role" {
                "Application"
            } else {
                "Delegated"
            };
            let resource_name = if graph { "Microsoft Graph" } else { resource };
            out.push((
                resource_name.to_string(),
                name.to_string(),
                kind.to_string(),
            ));
        }
    }
    out
}

/// The page's list of requested permissions.
fn permissions_html(perms: &[(String, String, String)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("<ul id=\"permissions\">\n");
    for (r, p, k) in perms {
        let (r, p, k) = (esc(r), esc(p), esc(k));
        let _ = writeln!(
            out,
            "<li class=\"permission\" data-resource=\"{r}\" data-type=\"{k}\">{r}: {p} ({k})</li>"
        );
    }
    out.push_str("</ul>\n");
    out
}

/// Entra's page for an app that requests no permission (AADSTS650056).
fn misconfigured(app_id: &str) -> Response {
    error_page(
        650_056,
        &format!(
            "Misconfigured application. This could be due to one of the following: The client has not listed any permissions for 'AAD Graph' in the requested permissions in the client\u{2019}s application registration. Or, The admin has not consented in the tenant. Or, Check the application identifier in the request to ensure it matches the configured client application identifier. Please contact your admin to fix the configuration or consent on behalf of the tenant. Client app ID: {app_id}."
        ),
    )
}

fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    let q = ser.finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{q}")
}

fn redirect(to: &str) -> Response {
    let mut r = empty(StatusCode::FOUND);
    set_header(&mut r, "location", to);
    r
}

/// The request's parameters (the query of a GET, the form of a POST).
struct Params(Vec<(String, String)>);

impl Params {
    fn of(req: &Req) -> Self {
        Self(if req.method == Method::POST {
            req.form()
        } else {
            req.query.clone()
        })
    }

    /// A parameter's value; an empty one counts as absent.
    fn get(&self, n: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }
}

/// Serve GET (the page) or POST (the decision), after Entra's checks in Entra's order.
pub(crate) fn handle(core: &Core, req: &Req, flow: Flow) -> Response {
    match consent(core, req, flow) {
        Ok(r) | Err(r) => r,
    }
}

/// The steps of [`handle`]; `Err` is the error page of the first check that fails.
fn consent(core: &Core, req: &Req, flow: Flow) -> Result<Response, Response> {
    let params = Params::of(req);
    let mut state = core.state();
    let tenant = tenant(&state, &req.segs[0])?;
    let Some(client_id) = params.get("client_id") else {
        return Err(error_page(
            900_144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    };
    if flow == Flow::Authorize && req.method == Method::GET {
        check_response_type(&params)?;
    }
    let app = consenting_app(core, &state, &tenant, &client_id)?;
    let perms = requested(&app);
    if perms.is_empty() && state.behaviour.consent_requires_permissions {
        return Err(misconfigured(&app.app_id));
    }
    let redirect_uri = redirect_target(&app, params.get("redirect_uri"))?;
    if req.method == Method::GET {
        let publisher = state
            .tenant(&app.tenant_id)
            .map(|t| (t.display_name.clone(), t.domains[0].clone()))
            .unwrap_or_default();
        let page = Page {
            tenant: &tenant,
            app: &app,
            client_id: &client_id,
            publisher,
            redirect_uri: &redirect_uri,
            perms: &perms,
        };
        return Ok(page.render(req, &params));
    }
    let mut tail = decide(req.at, &mut state, &app, &tenant, flow, &params);
    if let Some(s) = params.get("state") {
        tail.push(("state", s));
    }
    drop(state);
    let pairs: Vec<(&str, &str)> = tail.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(with_caller(
        redirect(&append_query(&redirect_uri, &pairs)),
        &app.app_id,
        &tenant.id,
    ))
}

/// The tenant the path names (AADSTS900023 malformed, AADSTS90002 unknown).
fn tenant(state: &State, seg: &str) -> Result<Tenant, Response> {
    match resolve_tenant(state, seg) {
        Ok(t) => Ok(t.clone()),
        Err(TenantError::Invalid) => Err(error_page(
            900_023,
            &format!(
                "Specified tenant identifier '{seg}' is neither a valid DNS name, nor a valid external domain."
            ),
        )),
        Err(TenantError::Unknown) => Err(error_page(
            90_002,
            &format!(
                "Tenant '{seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )),
    }
}

/// The authorize page needs `response_type` with `code` (AADSTS900144).
fn check_response_type(params: &Params) -> Result<(), Response> {
    match params.get("response_type").as_deref() {
        None => Err(error_page(
            900_144,
            "The request body must contain the following parameter: 'response_type'.",
        )),
        Some(rt) if !rt.split_whitespace().any(|t| t == "code") => Err(error_page(
            900_144,
            &format!(
                "The provided value for the input parameter 'response_type' is not allowed for this request: '{rt}'. Expected 'code'."
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The app asked about, if it exists (and has replicated) and may be used from `tenant`
/// (AADSTS700016 otherwise).
fn consenting_app(
    core: &Core,
    state: &State,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Application, Response> {
    let not_found = format!(
        "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        tenant.domains[0]
    );
    let Some(app) = state.app_by_app_id(client_id).cloned() else {
        return Err(error_page(700_016, &not_found));
    };
    if !core.replicated(app.created_at) {
        return Err(error_page(700_016, &not_found));
    }
    let home_here = app.tenant_id.eq_ignore_ascii_case(&tenant.id);
    if !home_here && !app.is_multitenant() {
        return Err(error_page(
            700_016,
            &format!(
                "{not_found} The application '{}' is configured for use by accounts in its home organization only (signInAudience '{}').",
                app.display_name, app.sign_in_audience
            ),
        ));
    }
    Ok(app)
}

/// Where the decision is sent: the requested redirect URI if the app has it (AADSTS50011
/// otherwise), else the app's first (AADSTS500113 when it has none).
fn redirect_target(app: &Application, requested: Option<String>) -> Result<String, Response> {
    let no_reply = || {
        error_page(
            500_113,
            "No reply address is registered for the application.",
        )
    };
    match requested {
        Some(u) if app.redirect_uris.iter().any(|r| r == &u) => Ok(u),
        Some(_) if app.redirect_uris.is_empty() => Err(no_reply()),
        Some(u) => Err(error_page(
            50_011,
            &format!(
                "The redirect URI '{u}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
                app.app_id
            ),
        )),
        None => app.redirect_uris.first().cloned().ok_or_else(no_reply),
    }
}

/// The consent page of a GET.
struct Page<'a> {
    tenant: &'a Tenant,
    app: &'a Application,
    /// The `client_id` as the request gave it.
    client_id: &'a str,
    /// The publisher's tenant: display name and first domain.
    publisher: (String, String),
    redirect_uri: &'a str,
    perms: &'a [(String, String, String)],
}

impl Page<'_> {
    fn render(&self, req: &Req, params: &Params) -> Response {
        let (tenant, app) = (self.tenant, self.app);
        let hidden = |n: &str, v: &str| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                esc(n),
                esc(v)
            )
        };
        let mut fields = hidden("client_id", self.client_id)
            + &hidden("redirect_uri", self.redirect_uri)
            + &hidden("tenant", &tenant.id);
        if let Some(s) = params.get("state") {
            fields += &hidden("state", &s);
        }
        if let Some(rt) = params.get("response_type") {
            fields += &hidden("response_type", &rt);
        }
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>Permissions requested</title></head><body>\n<h1>Permissions requested</h1>\n<p>Accept for your organization: <b>{tname}</b> ({tdomain})</p>\n<p>App: <span id=\"app-name\">{name}</span> (<span id=\"app-id\">{appid}</span>)</p>\n<p>Publisher: <span id=\"publisher\">{pname}</span> (<span id=\"publisher-domain\">{pdomain}</span>, tenant {ptid})</p>\n<p>This app would like to:</p>\n{perms}<p>Accepting creates the app's service principal in {tname}.</p>\n<form method=\"POST\" action=\"{action}\">\n{fields}<button type=\"submit\" name=\"action\" value=\"accept\">Accept</button>\n<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button>\n</form>\n</body></html>\n",
            tname = esc(&tenant.display_name),
            tdomain = esc(&tenant.domains[0]),
            name = esc(&app.display_name),
            appid = esc(&app.app_id),
            pname = esc(&self.publisher.0),
            pdomain = esc(&self.publisher.1),
            ptid = esc(&app.tenant_id),
            action = esc(&req.path),
            perms = permissions_html(self.perms),
        );
        html(StatusCode::OK, page)
    }
}

/// The decision of a POST: Accept provisions the service principal in `tenant`; the
/// redirect's query pairs, as Entra sends them for `flow`.
fn decide(
    at: time::OffsetDateTime,
    state: &mut State,
    app: &Application,
    tenant: &Tenant,
    flow: Flow,
    params: &Params,
) -> Vec<(&'static str, String)> {
    let mut tail: Vec<(&'static str, String)> = Vec::new();
    if params.get("action").as_deref() == Some("accept") {
        if state.sp_in_tenant(&app.app_id, &tenant.id).is_none() {
            let sp = new_service_principal(at, app, &tenant.id, serde_json::Map::new());
            state.service_principals.push(sp);
        }
        match flow {
            Flow::Authorize => tail.push(("code", random_alnum(64))),
            Flow::AdminConsent => {
                tail.push(("admin_consent", "True".into()));
                tail.push(("tenant", tenant.id.clone()));
            }
        }
    } else {
        tail.push(("error", "access_denied".into()));
        tail.push((
            "error_description",
            "AADSTS65004: User declined to consent to access the app.".into(),
        ));
        if flow == Flow::AdminConsent {
            tail.push(("admin_consent", "False".into()));
        }
    }
    tail
}
