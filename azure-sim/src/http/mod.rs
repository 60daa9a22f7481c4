//! The parsed request every handler sees, response builders, and each service's error shape.
//!
//! Handlers are plain synchronous functions `(&Core, &Req) -> Response`: they lock the state,
//! decide, and return. Only the server loop is asynchronous.

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::cloud::{HostService, Presented};

mod errors;
pub(crate) use errors::{
    arm_err, default_code, entra_err, graph_err, graph_err_details, kv_err, registry_err,
    service_error,
};

/// Which Azure service a request is addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Service {
    /// `/_sim/...`: the simulator's own control API.
    Control,
    /// Entra ID (login): token endpoint, discovery, consent pages.
    Entra,
    /// Microsoft Graph.
    Graph,
    /// Azure Resource Manager.
    Arm,
    /// A registry's data plane, by registry name (from the Host header).
    Registry(String),
    /// A key vault's data plane, by vault name (from the Host header).
    KeyVault(String),
}

/// A request, read completely, with its path split and decoded.
#[derive(Debug)]
pub(crate) struct Req {
    pub method: Method,
    /// The Host header (or URI authority), lower-cased, port included as sent.
    pub host: String,
    /// The path as received (percent-encoded).
    pub path: String,
    /// Decoded path segments; empty segments removed.
    pub segs: Vec<String>,
    pub raw_query: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// This request's id (Graph `request-id`, ARM `x-ms-request-id`).
    pub request_id: String,
    /// The client's address (`None` for the simulator's own requests: the truth endpoint).
    pub client_ip: Option<std::net::IpAddr>,
    /// The client's `client-request-id`, or `request_id`.
    pub client_request_id: String,
    /// The client's `x-ms-correlation-request-id`, or `request_id`.
    pub correlation_id: String,
    /// Azure's time when it arrived (the server sets it from the clock; the real time until then).
    pub at: time::OffsetDateTime,
}

impl Req {
    /// Build from request parts and the whole body.
    pub(crate) fn new(parts: &axum::http::request::Parts, body: Bytes) -> Self {
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(ToString::to_string))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let path = parts.uri.path().to_string();
        let segs = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let raw_query = parts.uri.query().unwrap_or_default().to_string();
        let query = url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let request_id = uuid::Uuid::new_v4().to_string();
        let hdr = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() < 200)
                .map(str::to_string)
        };
        Self {
            method: parts.method.clone(),
            client_request_id: hdr("client-request-id").unwrap_or_else(|| request_id.clone()),
            correlation_id: hdr("x-ms-correlation-request-id")
                .unwrap_or_else(|| request_id.clone()),
            host,
            path,
            segs,
            raw_query,
            query,
            headers: parts.headers.clone(),
            body,
            request_id,
            client_ip: None,
            at: crate::clock::wall(),
        }
    }

    /// A query parameter (name compared case-insensitively).
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A header value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as a JSON value; `Err` with a parser message when it is not JSON.
    pub(crate) fn json(&self) -> Result<Value, String> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err("The request body is empty.".into());
        }
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The host without its port.
    pub(crate) fn hostname(&self) -> &str {
        self.host
            .rsplit_once(':')
            .map_or(self.host.as_str(), |(h, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    self.host.as_str()
                }
            })
    }

    /// Which service this request addresses: by Host when it names one of `cloud`'s hosts
    /// (a registry, a vault, or China's login, Graph and ARM hosts), else by path (the local
    /// cloud serves everything at its one URL; the control API is reached by IP).
    pub(crate) fn service(&self, cloud: &Presented) -> Service {
        match cloud.service_of(self.hostname()) {
            Some(HostService::Registry(name)) => return Service::Registry(name),
            Some(HostService::KeyVault(name)) => return Service::KeyVault(name),
            Some(HostService::Entra) => return Service::Entra,
            Some(HostService::Graph) => return Service::Graph,
            Some(HostService::Arm) => return Service::Arm,
            None => {}
        }
        match self.segs.first().map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("_sim") => Service::Control,
            Some("v1.0" | "beta") => Service::Graph,
            Some("subscriptions" | "providers" | "tenants") | None => Service::Arm,
            Some(_) => Service::Entra,
        }
    }
}

/// Decode `%XX` escapes (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Who made a request, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub app_id: String,
    pub tenant_id: String,
}

/// Marks a response whose connection must be closed without answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// A response with a JSON body and a content type.
pub(crate) fn json_with(status: StatusCode, v: &Value, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response (`application/json; charset=utf-8`, as ARM and Entra send).
pub(crate) fn json(status: StatusCode, v: &Value) -> Response {
    json_with(status, v, "application/json; charset=utf-8")
}

/// Graph's JSON content type.
pub(crate) const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A Graph JSON response.
pub(crate) fn graph_json(status: StatusCode, v: &Value) -> Response {
    json_with(status, v, GRAPH_JSON)
}

/// A response without a body.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// An HTML page.
pub(crate) fn html(status: StatusCode, page: String) -> Response {
    let mut r = Response::new(Body::from(page));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Add a header (silently skipping values that are not valid header text).
/// Sets `Retry-After` for a wait of `azure_secs` seconds of Azure's time, told in real time:
/// at Azure's pace whole seconds, as Azure answers; on a compressed clock the exact wait in
/// `retry-after-ms` (the header Azure SDKs read first), so a client polls at the compressed
/// pace, and in `Retry-After` the whole seconds rounded up: never `0`, which Azure does not
/// send, and never less than the wait for a client that reads only whole seconds.
pub(crate) fn set_retry_after(r: &mut Response, clock: &crate::clock::Clock, azure_secs: u64) {
    #[expect(
        clippy::float_cmp,
        reason = "1.0 is Azure's pace exactly, as configured"
    )]
    if clock.scale() == 1.0 {
        set_header(r, "retry-after", &azure_secs.to_string());
        return;
    }
    let real = clock.real(time::Duration::seconds(
        i64::try_from(azure_secs).unwrap_or(i64::MAX),
    ));
    let whole = u64::try_from(real.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
    set_header(r, "retry-after", &whole.max(1).to_string());
    set_header(r, "retry-after-ms", &real.as_millis().to_string());
}

pub(crate) fn set_header(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

/// Record the caller on a response for the request log.
pub(crate) fn with_caller(mut r: Response, app_id: &str, tenant_id: &str) -> Response {
    r.extensions_mut().insert(Caller {
        app_id: app_id.to_string(),
        tenant_id: tenant_id.to_string(),
    });
    r
}

/// Whether `s` is a GUID in the 8-4-4-4-12 form.
pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// Add the headers every response of `service` carries.
pub(crate) fn add_service_headers(r: &mut Response, service: &Service, req: &Req) {
    if *service != Service::Control {
        // Azure's clock, as Azure's `Date` is (hyper would write the real time).
        set_header(r, "date", &http_date(req.at));
    }
    match service {
        Service::Graph => {
            set_header(r, "request-id", &req.request_id);
            set_header(r, "client-request-id", &req.client_request_id);
            set_header(r, "x-ms-resource-unit", "1");
            set_header(r, "cache-control", "no-cache");
        }
        Service::Arm => {
            set_header(r, "x-ms-request-id", &req.request_id);
            set_header(r, "x-ms-correlation-request-id", &req.correlation_id);
            set_header(r, "cache-control", "no-cache");
        }
        Service::Entra => {
            set_header(r, "x-ms-request-id", &req.request_id);
            set_header(r, "client-request-id", &req.client_request_id);
            set_header(r, "cache-control", "no-store, no-cache");
        }
        Service::Registry(_) => {
            set_header(r, "docker-distribution-api-version", "registry/2.0");
            set_header(r, "x-ms-correlation-request-id", &req.correlation_id);
        }
        Service::KeyVault(_) => {
            set_header(r, "x-ms-request-id", &req.request_id);
            set_header(r, "x-ms-client-request-id", &req.client_request_id);
            set_header(r, "x-ms-keyvault-region", "eastus");
            set_header(r, "x-ms-keyvault-service-version", "1.9.0.0");
            set_header(r, "cache-control", "no-cache");
        }
        Service::Control => {}
    }
}

/// An HTTP date (RFC 9110 IMF-fixdate): `Mon, 07 Dec 2026 11:09:31 GMT`.
pub(crate) fn http_date(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}
