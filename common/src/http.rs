//! The one HTTP client: Graph, ARM, registries and (as its transport) azure_identity.
//!
//! Requests carry a bearer token for their service's audience (or Basic auth for a
//! registry), parse Azure's error bodies into [`Error`]s with status, code, message and
//! request id, and retry transient failures (408, 429, 500, 502, 503, 504, connection
//! errors) with `Retry-After` honoured and jittered backoff — never past the object's
//! deadline. With `--dry-run`, writes are reported on stderr instead of being sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use crate::auth::Credentials;
use crate::cloud::{Cloud, is_loopback_host};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;
use crate::ui;
use crate::wait::Deadline;

/// Which Azure service a request goes to (decides token audience and error shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Microsoft Graph.
    Graph,
    /// Azure Resource Manager.
    Arm,
    /// A container registry's data plane.
    Registry,
}

/// How many times a request is tried at most (a throttled try, paced by the server's
/// `Retry-After`, does not count: throttling honoured within the deadline is not failure).
const MAX_ATTEMPTS: u32 = 6;
/// First backoff delay; doubled per attempt, jittered.
const BACKOFF_BASE: Duration = Duration::from_millis(400);
/// Longest backoff delay (a longer `Retry-After` is still honoured).
const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// Resolves registry hosts of a custom cloud to its connect address.
struct RegistryResolver {
    suffix: String,
    addr: std::net::IpAddr,
}

impl reqwest::dns::Resolve for RegistryResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let fixed = host
            .ends_with(&format!(".{}", self.suffix))
            .then_some(self.addr);
        Box::pin(async move {
            if let Some(ip) = fixed {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Builds the reqwest client for a cloud: its CA, sane timeouts, no redirects, no proxy for loopback.
pub fn build_client(cloud: &Cloud) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("xtenant/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(50))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &cloud.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            Error::usage(format!(
                "the cloud's CA file is not a valid PEM certificate: {e}"
            ))
        })?;
        b = b.tls_certs_merge(certs);
    }
    if [&cloud.login, &cloud.graph, &cloud.arm]
        .iter()
        .any(|u| is_loopback_host(u))
    {
        b = b.no_proxy();
    }
    if let Some(addr) = cloud.registry_connect_addr {
        b = b.dns_resolver(RegistryResolver {
            suffix: cloud.registry_suffix.clone(),
            addr,
        });
    }
    b.build()
        .map_err(|e| Error::usage(format!("cannot build the HTTP client: {e}")))
}

/// An answer from Azure (2xx, or a status the caller asked to see).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The JSON body; `Null` when empty or not JSON.
    pub body: Value,
}

/// What became of a write ([`Http::write`], [`Api::write`]).
///
/// `--dry-run` reports a write on stderr instead of sending it, so a write has two
/// outcomes and the type makes every write site handle both: there is no stand-in
/// response whose fields could be mistaken for Azure's answer.
#[derive(Debug, Clone)]
#[must_use = "a skipped write has no answer: handle both outcomes"]
pub enum Sent {
    /// Azure answered (2xx, or a status the request accepts).
    Done(Response),
    /// `--dry-run`: the write was reported on stderr, not sent.
    Skipped,
}

impl Sent {
    /// Azure's answer, or `None` when the write was skipped.
    pub fn response(self) -> Option<Response> {
        match self {
            Self::Done(r) => Some(r),
            Self::Skipped => None,
        }
    }

    /// Whether `--dry-run` skipped the write.
    pub fn is_skipped(&self) -> bool {
        matches!(self, Self::Skipped)
    }
}

impl Response {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` in seconds or as an HTTP date, if present.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

/// Authorization of one request.
#[derive(Clone)]
pub enum Auth {
    /// A bearer token for the service, in this tenant.
    Tenant(String),
    /// HTTP Basic (registry token requests: app id and secret).
    Basic(String, Secret),
    /// A bearer token already in hand (a registry token).
    Bearer(Secret),
    /// No authorization.
    None,
}

/// One request, built by [`Api`] or by a caller for registries.
#[derive(Clone)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Full URL.
    pub url: Url,
    /// Service (token audience, error shape).
    pub service: Service,
    /// Authorization.
    pub auth: Auth,
    /// JSON body.
    pub body: Option<Value>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Whether resending after an unknown outcome is safe (true for GET/PUT/PATCH/DELETE).
    pub idempotent: bool,
    /// Statuses returned as `Ok` instead of an error (e.g. 404 for an existence check).
    pub accept: Vec<u16>,
}

impl Request {
    /// A request with defaults: no body, idempotent unless POST.
    pub fn new(method: Method, url: Url, service: Service, auth: Auth) -> Self {
        let idempotent = method != Method::POST;
        Self {
            method,
            url,
            service,
            auth,
            body: None,
            headers: Vec::new(),
            idempotent,
            accept: Vec::new(),
        }
    }

    /// Adds a JSON body.
    #[must_use]
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Returns these statuses as `Ok` responses.
    #[must_use]
    pub fn accept(mut self, statuses: &[u16]) -> Self {
        self.accept.extend_from_slice(statuses);
        self
    }

    /// Marks a POST as safe to resend (e.g. an action that is a no-op when repeated).
    #[must_use]
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    /// Whether the request may change something (any method but GET and HEAD).
    pub fn is_write(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD)
    }
}

/// The HTTP client shared by a run.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    cloud: Arc<Cloud>,
    creds: Arc<Credentials>,
    dry_run: bool,
    sent: Arc<AtomicU64>,
}

impl Http {
    /// A client for `cloud` acting with `creds`.
    pub fn new(
        client: reqwest::Client,
        cloud: Arc<Cloud>,
        creds: Arc<Credentials>,
        dry_run: bool,
    ) -> Self {
        Self {
            client,
            cloud,
            creds,
            dry_run,
            sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Whether writes are only reported.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// How many HTTP requests were sent (all attempts).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Graph in `tenant`, until `deadline`.
    pub fn graph(&self, tenant: &str, deadline: Deadline) -> Api<'_> {
        Api {
            http: self,
            service: Service::Graph,
            tenant: tenant.to_owned(),
            deadline,
        }
    }

    /// ARM in `tenant`, until `deadline`.
    pub fn arm(&self, tenant: &str, deadline: Deadline) -> Api<'_> {
        Api {
            http: self,
            service: Service::Arm,
            tenant: tenant.to_owned(),
            deadline,
        }
    }

    /// Sends a read (GET or HEAD) with retry, until `deadline`.
    ///
    /// A write is refused here, in every mode, so a write site cannot forget `--dry-run`:
    /// writes go through [`Http::write`].
    pub async fn read(&self, req: Request, deadline: Deadline) -> Result<Response> {
        if req.is_write() {
            return Err(Error::usage(format!(
                "internal error: {} {} was sent as a read; writes go through Http::write",
                req.method,
                host_path(&req.url)
            )));
        }
        self.send(req, deadline).await
    }

    /// Sends a write (PUT, PATCH, POST, DELETE) with retry, until `deadline`; with
    /// `--dry-run` it is reported on stderr (secrets redacted) and [`Sent::Skipped`].
    ///
    /// A read is refused here, in every mode: it has no skipped outcome, use [`Http::read`].
    pub async fn write(&self, req: Request, deadline: Deadline) -> Result<Sent> {
        if !req.is_write() {
            return Err(Error::usage(format!(
                "internal error: {} {} was sent as a write; reads go through Http::read",
                req.method,
                host_path(&req.url)
            )));
        }
        if self.dry_run {
            ui::json(&serde_json::json!({
                "method": req.method.as_str(),
                "url": req.url.as_str(),
                "body": req.body.as_ref().map(redact),
            }));
            return Ok(Sent::Skipped);
        }
        self.send(req, deadline).await.map(Sent::Done)
    }

    /// Sends a request with retry, until `deadline` (no dry-run check: see read/write).
    async fn send(&self, req: Request, deadline: Deadline) -> Result<Response> {
        let mut attempt = 0;
        let mut throttled = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let outcome = self.send_once(&req, deadline).await;
            let took = started.elapsed().as_millis();
            let (retry_in, err) = match outcome {
                Ok(resp) => {
                    ui::debug(&format!(
                        "{} {} -> {} ({took} ms)",
                        req.method, req.url, resp.status
                    ));
                    if (200..300).contains(&resp.status) || req.accept.contains(&resp.status) {
                        return Ok(resp);
                    }
                    let transient = matches!(resp.status, 408 | 429 | 500 | 502 | 503 | 504);
                    // An unknown outcome is only resent when resending is safe; 429 and 503 mean "not done".
                    let safe = req.idempotent || matches!(resp.status, 429 | 503);
                    let err = error_from_response(req.service, &resp);
                    if !(transient && safe) {
                        return Err(err);
                    }
                    let ra = resp.retry_after();
                    if resp.status == 429 && ra.is_some_and(|d| !d.is_zero()) {
                        // Throttled, and told when to come back: not an attempt used up.
                        attempt -= 1;
                        throttled += 1;
                    }
                    (Some(ra), err)
                }
                Err(e) => {
                    ui::debug(&format!(
                        "{} {} -> {} ({took} ms)",
                        req.method,
                        req.url,
                        e.message()
                    ));
                    // A certificate that is not trusted stays so: no retry.
                    let retry = matches!(e.kind(), ErrorKind::Transport)
                        && e.code() != "UntrustedCertificate"
                        && (req.idempotent || e.code() == "ConnectFailed");
                    if !retry {
                        return Err(e);
                    }
                    (Some(None), e)
                }
            };
            let Some(hint) = retry_in else {
                return Err(err);
            };
            if attempt >= MAX_ATTEMPTS {
                return Err(err.context(format!("gave up after {attempt} attempts")));
            }
            // A Retry-After is honoured as given: against a token bucket, coming back later than
            // asked (e.g. with jitter) only leaves refilled tokens unused.
            let wait = hint.unwrap_or_else(|| backoff(attempt));
            if deadline.remaining() <= wait {
                let tries = attempt + throttled;
                return Err(err.context(format!(
                    "gave up: --timeout would pass before retry {tries}"
                )));
            }
            ui::debug(&format!(
                "retrying in {:.1}s: {}",
                wait.as_secs_f64(),
                err.message()
            ));
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(&self, req: &Request, deadline: Deadline) -> Result<Response> {
        let mut b = self.client.request(req.method.clone(), req.url.clone());
        match &req.auth {
            Auth::Tenant(tenant) => {
                let scope = match req.service {
                    Service::Graph => self.cloud.graph_scope(),
                    Service::Arm => self.cloud.arm_scope(),
                    Service::Registry => {
                        return Err(Error::usage("registry requests take Basic or Bearer auth"));
                    }
                };
                // The sign-in endpoint is bound by the same --timeout as everything else.
                let token = tokio::time::timeout(
                    deadline.remaining(),
                    self.creds.token(tenant, &scope),
                )
                .await
                .map_err(|_| {
                    Error::timeout(format!(
                        "the sign-in endpoint did not give a token for tenant {tenant} before --timeout passed"
                    ))
                })??;
                b = b.bearer_auth(token.expose());
            }
            Auth::Basic(user, pass) => b = b.basic_auth(user, Some(pass.expose())),
            Auth::Bearer(token) => b = b.bearer_auth(token.expose()),
            Auth::None => {}
        }
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(body) = &req.body {
            b = b.json(body);
        }
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(Error::timeout(format!(
                "--timeout passed before {} {}",
                req.method,
                host_path(&req.url)
            )));
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let fut = async {
            let resp = b.send().await.map_err(|e| transport_error(&req.url, &e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| transport_error(&req.url, &e))?;
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    // Keep a short text of non-JSON bodies for error messages.
                    Value::String(
                        String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
                    )
                })
            };
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(remaining, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(format!(
                "{} {} did not answer before --timeout passed",
                req.method,
                host_path(&req.url)
            ))),
        }
    }
}

fn host_path(url: &Url) -> String {
    format!("{}{}", url.host_str().unwrap_or(""), url.path())
}

fn transport_error(url: &Url, e: &reqwest::Error) -> Error {
    let mut text = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = s.source();
    }
    let host = url.host_str().unwrap_or("");
    let code = if e.is_connect() {
        "ConnectFailed"
    } else {
        "ConnectionError"
    };
    let mut err = Error::new(
        ErrorKind::Transport,
        code,
        format!("request to {host} failed: {text}"),
    );
    if text.contains("UnknownIssuer") || text.contains("certificate") {
        err = err
            .with_code("UntrustedCertificate")
            .with_message(format!(
                "the TLS certificate of {host} is not trusted: {text}"
            ))
            .with_hint("for a private or simulated cloud, name its CA in the cloud file's ca_file");
    }
    err
}

/// Jittered exponential backoff for attempt `n` (1-based).
fn backoff(n: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1 << n.saturating_sub(1).min(8))
        .min(BACKOFF_CAP);
    // Equal jitter: half fixed, half random, so retries of parallel jobs spread out.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let frac = f64::from(nanos % 1000) / 1000.0;
    exp / 2 + exp.mul_f64(frac / 2.0)
}

/// Parses `Retry-After` (seconds, or an HTTP date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when =
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let d = when - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

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

/// Turns an error answer into an [`Error`]: ARM, Graph, registry and Entra shapes.
pub fn error_from_response(service: Service, resp: &Response) -> Error {
    let (code, message) = parse_error_body(&resp.body).unwrap_or_else(|| {
        let text = match &resp.body {
            Value::String(s) => s.chars().take(200).collect::<String>(),
            Value::Null => String::new(),
            other => other.to_string().chars().take(200).collect(),
        };
        let reason = reqwest::StatusCode::from_u16(resp.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        (
            format!("Http{}", resp.status),
            format!("HTTP {} {reason} {text}", resp.status)
                .trim()
                .to_owned(),
        )
    });
    let svc = match service {
        Service::Graph => "Microsoft Graph",
        Service::Arm => "Azure Resource Manager",
        Service::Registry => "the registry",
    };
    let inner_id = resp
        .body
        .pointer("/error/innerError/request-id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Error::new(
        ErrorKind::Http {
            status: resp.status,
        },
        code,
        format!("{svc} answered {}: {message}", resp.status),
    )
    .with_request_id(request_id(&resp.headers).or(inner_id))
}

/// `(code, message)` from an Azure error body, if it has one of the known shapes.
pub fn parse_error_body(body: &Value) -> Option<(String, String)> {
    // ARM and Graph: {"error": {"code", "message", "details"?}}
    if let Some(e) = body.get("error").filter(|e| e.is_object()) {
        let code = e.get("code").and_then(Value::as_str)?.to_owned();
        let mut message = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        // Graph puts the precise cause (e.g. NoBackingApplicationObject) in details.
        if let Some(d) = e
            .get("details")
            .and_then(Value::as_array)
            .and_then(|d| d.first())
            && let Some(dc) = d.get("code").and_then(Value::as_str)
        {
            if !message.contains(dc) {
                message = format!("{message} [{dc}]");
            }
            if matches!(
                code.as_str(),
                "Request_BadRequest" | "BadRequest" | "InvalidRequest"
            ) {
                return Some((dc.to_owned(), message));
            }
        }
        return Some((code, message));
    }
    // Registry: {"errors": [{"code", "message", "detail"}]}
    if let Some(e) = body
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let code = e.get("code").and_then(Value::as_str)?.to_owned();
        let message = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Some((code, message));
    }
    // Entra: {"error": "invalid_client", "error_description": "AADSTS…"}
    if let Some(code) = body.get("error").and_then(Value::as_str) {
        let d = body
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Some((code.to_owned(), d.lines().next().unwrap_or("").to_owned()));
    }
    None
}

/// A copy of a JSON body with secret-bearing fields replaced, for reports and logs.
pub fn redact(body: &Value) -> Value {
    match body {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lk = k.to_ascii_lowercase();
                    let secret = ["secret", "password", "token", "secrettext"]
                        .iter()
                        .any(|s| lk.contains(s))
                        && !lk.ends_with("id");
                    (
                        k.clone(),
                        if secret && v.is_string() {
                            Value::String(crate::secret::REDACTED.into())
                        } else {
                            redact(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// One service in one tenant, with the object's deadline.
#[derive(Clone)]
pub struct Api<'a> {
    http: &'a Http,
    service: Service,
    tenant: String,
    deadline: Deadline,
}

impl Api<'_> {
    /// The full URL for a path (with query) on this service.
    pub fn url(&self, path_and_query: &str) -> Result<Url> {
        match self.service {
            Service::Graph => self.http.cloud.graph_url(path_and_query),
            Service::Arm => self.http.cloud.arm_url(path_and_query),
            Service::Registry => Err(Error::usage(
                "registry URLs are built from the login server",
            )),
        }
    }

    /// The tenant acted in.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The deadline.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// A request on `url` with this service's auth.
    pub fn request(&self, method: Method, url: Url) -> Request {
        Request::new(method, url, self.service, Auth::Tenant(self.tenant.clone()))
    }

    /// Sends a read (GET or HEAD) built with [`Api::request`]; see [`Http::read`].
    pub async fn read(&self, req: Request) -> Result<Response> {
        self.http.read(req, self.deadline).await
    }

    /// Sends a write built with [`Api::request`]; see [`Http::write`].
    pub async fn write(&self, req: Request) -> Result<Sent> {
        self.http.write(req, self.deadline).await
    }

    /// GET a path; the JSON body.
    pub async fn get(&self, path_and_query: &str) -> Result<Value> {
        let url = self.url(path_and_query)?;
        Ok(self.read(self.request(Method::GET, url)).await?.body)
    }

    /// GET a path; `None` on 404.
    pub async fn get_opt(&self, path_and_query: &str) -> Result<Option<Value>> {
        let url = self.url(path_and_query)?;
        let r = self
            .read(self.request(Method::GET, url).accept(&[404]))
            .await?;
        Ok((r.status != 404).then_some(r.body))
    }

    /// GET a list, following `nextLink` / `@odata.nextLink`; all `value` items.
    pub async fn list(&self, path_and_query: &str) -> Result<Vec<Value>> {
        let mut url = self.url(path_and_query)?;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self
                .read(self.request(Method::GET, url.clone()))
                .await?
                .body;
            if let Some(v) = body.get("value").and_then(Value::as_array) {
                items.extend(v.iter().cloned());
            }
            match body
                .get("nextLink")
                .or_else(|| body.get("@odata.nextLink"))
                .and_then(Value::as_str)
            {
                Some(next) if !next.is_empty() => {
                    url = Url::parse(next).map_err(|e| {
                        Error::step("BadNextLink", format!("bad nextLink {next:?}: {e}"))
                    })?;
                }
                _ => return Ok(items),
            }
        }
        // A partial list must not pass for the whole one.
        Err(Error::step(
            "TooManyPages",
            format!(
                "{} has more than {MAX_PAGES} pages; the list was not read to its end",
                host_path(&url)
            ),
        ))
    }
}

/// How many pages [`Api::list`] follows before giving up (a guard against a nextLink loop).
const MAX_PAGES: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;
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

    fn recording(name: &str) -> Option<String> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/azure-recordings")
            .join(name);
        std::fs::read_to_string(p).ok()
    }

    #[test]
    fn parses_the_recorded_graph_403() {
        // The body of test_app_credential.yaml, and the live headers Graph sends.
        let body = recording("test_app_credential.yaml")
            .and_then(|y| {
                let start = y.find("string: '{\"error\"")? + "string: '".len();
                let end = y[start..].find("}}'")? + start + 2;
                serde_json::from_str::<Value>(&y[start..end]).ok()
            })
            .unwrap_or_else(|| json!({"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2025-02-20T10:52:24","request-id":"ff33533c-0000-0000-0000-000000000000","client-request-id":"ff33533c-0000-0000-0000-000000000000"}}}));
        let e = error_from_response(Service::Graph, &resp(403, body, &[]));
        assert_eq!(e.code(), "Authorization_RequestDenied");
        assert_eq!(e.status(), Some(403));
        assert!(e.message().contains("Insufficient privileges"), "{e}");
        assert!(e.request_id().is_some());
    }

    #[test]
    fn parses_arm_graph_registry_and_entra_shapes() {
        let arm = resp(
            409,
            json!({"error":{"code":"RoleAssignmentExists","message":"The role assignment already exists."}}),
            &[("x-ms-request-id", "rid-1")],
        );
        let e = error_from_response(Service::Arm, &arm);
        assert_eq!(
            (e.code(), e.request_id()),
            ("RoleAssignmentExists", Some("rid-1"))
        );

        let nobacking = resp(
            400,
            json!({"error":{"code":"Request_BadRequest","message":"The appId 'x' of the service principal does not reference a valid application object.","details":[{"code":"NoBackingApplicationObject","target":"appId"}],"innerError":{"request-id":"r"}}}),
            &[],
        );
        assert_eq!(
            error_from_response(Service::Graph, &nobacking).code(),
            "NoBackingApplicationObject"
        );

        let lifetime = resp(
            400,
            json!({"error":{"code":"CredentialInvalidLifetimeAsPerAppPolicy","message":"Credential lifetime exceeds the max value allowed as per assigned policy 'p'.","details":[{"code":"InvalidKeyEndDate","target":"EndDate"}]}}),
            &[],
        );
        assert_eq!(
            error_from_response(Service::Graph, &lifetime).code(),
            "CredentialInvalidLifetimeAsPerAppPolicy"
        );

        let reg = resp(
            401,
            json!({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}),
            &[],
        );
        assert_eq!(
            error_from_response(Service::Registry, &reg).code(),
            "UNAUTHORIZED"
        );

        let entra = resp(
            401,
            json!({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7_000_215]}),
            &[],
        );
        let e = error_from_response(Service::Graph, &entra);
        assert_eq!(e.code(), "invalid_client");
        assert!(
            e.message().contains("AADSTS7000215") && !e.message().contains("Trace"),
            "{e}"
        );

        let html = resp(502, Value::String("<html>Bad Gateway</html>".into()), &[]);
        let e = error_from_response(Service::Arm, &html);
        assert_eq!(e.code(), "Http502");
        assert!(e.message().contains("Bad Gateway"));
    }

    #[test]
    fn recorded_success_bodies_are_not_errors() {
        for name in ["RegistryGet.json", "ManagedClustersGet.json"] {
            if let Some(text) = recording(name) {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert!(
                    parse_error_body(&v["responses"]["200"]["body"]).is_none(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("retry-after", v.parse().unwrap());
            m
        };
        assert_eq!(retry_after(&h("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&h("0.5")), Some(Duration::from_millis(500)));
        assert_eq!(
            retry_after(&h("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&h("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= BACKOFF_BASE / 2 && backoff(1) <= BACKOFF_BASE);
        assert!(backoff(3) >= BACKOFF_BASE * 2);
        assert!(backoff(30) <= BACKOFF_CAP);
    }

    #[test]
    fn redaction_hides_secret_fields_only() {
        let b = json!({"passwordCredential":{"displayName":"x","endDateTime":"2027"},"clientId":"a","secret":"s","secretText":"t","keyId":"k","nested":[{"client_secret":"c"}]});
        let r = redact(&b).to_string();
        for s in ["\"s\"", "\"t\"", "\"c\""] {
            assert!(!r.contains(s), "{r}");
        }
        assert!(
            r.contains("\"keyId\":\"k\"")
                && r.contains("\"clientId\":\"a\"")
                && r.contains("endDateTime"),
            "{r}"
        );
    }
}
