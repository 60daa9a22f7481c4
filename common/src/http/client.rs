//! The transport: the one reqwest client of a run (its CA, timeouts, no redirects, no
//! proxy for loopback), the DNS override (`--resolve` rules, then a custom cloud's connect
//! addresses for its registry and vault hosts), one attempt of a request with its
//! authorization header, and the mapping of transport failures to [`Error`]s.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::{Auth, Http, Request, Response, Service};
use crate::cloud::{Cloud, is_loopback_host};
use crate::error::{Error, ErrorKind, Result, codes};
use crate::resolve::{self, Resolve};
use crate::wait::Deadline;

/// Resolves the hosts the user named (`--resolve`) to their addresses, and a custom cloud's
/// registry (and key vault) hosts to its connect addresses; every other name as usual.
struct Resolver {
    /// The `--resolve` rules (their port is the one connected to: a URL without a port of
    /// its own takes the resolved one, and [`resolve::check_url`] refuses URLs with another).
    rules: Vec<Resolve>,
    /// `(DNS suffix, address)` pairs of the cloud file.
    overrides: Vec<(String, std::net::IpAddr)>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let fixed = resolve::find(&self.rules, &host)
            .map(Resolve::addr)
            .or_else(|| {
                self.overrides
                    .iter()
                    .find(|(suffix, _)| host.ends_with(&format!(".{suffix}")))
                    .map(|(_, addr)| SocketAddr::new(*addr, 0))
            });
        Box::pin(async move {
            if let Some(addr) = fixed {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(addr));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Makes ring the process's TLS crypto (rustls's default provider), once: reqwest is built
/// without a provider of its own and takes the process default, so this must run before any
/// reqwest client is built ([`build_client`] calls it; a test or program that builds its own
/// client calls it first). Calling it again, from any thread, changes nothing.
pub fn install_crypto() {
    // Err: a provider is already installed (by an earlier call): it stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the reqwest client for a cloud: its CA, sane timeouts, no redirects, no proxy for loopback.
pub fn build_client(cloud: &Cloud) -> Result<reqwest::Client> {
    install_crypto();
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
    // A proxy would look the names up itself: with `--resolve` rules, none is used.
    if !cloud.resolve.is_empty()
        || [&cloud.login, &cloud.graph, &cloud.arm]
            .iter()
            .any(|u| is_loopback_host(u))
    {
        b = b.no_proxy();
    }
    let overrides: Vec<(String, std::net::IpAddr)> = [
        (&cloud.registry_suffix, cloud.registry_connect_addr),
        (&cloud.keyvault_suffix, cloud.keyvault_connect_addr),
    ]
    .into_iter()
    .filter(|(suffix, _)| !suffix.is_empty())
    .filter_map(|(suffix, addr)| Some((suffix.clone(), addr?)))
    .collect();
    if !overrides.is_empty() || !cloud.resolve.is_empty() {
        b = b.dns_resolver(Resolver {
            rules: cloud.resolve.clone(),
            overrides,
        });
    }
    b.build()
        .map_err(|e| Error::usage(format!("cannot build the HTTP client: {e}")))
}

impl Http {
    /// One attempt of `req`: authorization header, body, and the answer read whole, all
    /// bound by `deadline`.
    pub(super) async fn send_once(&self, req: &Request, deadline: Deadline) -> Result<Response> {
        resolve::check_url(&self.cloud.resolve, &req.url)?;
        let mut b = self.client.request(req.method.clone(), req.url.clone());
        match &req.auth {
            Auth::Tenant(tenant) => {
                let scope = match req.service {
                    Service::Graph => self.cloud.graph_scope(),
                    Service::Arm => self.cloud.arm_scope(),
                    Service::KeyVault => self.cloud.keyvault_scope(),
                    Service::Registry => {
                        return Err(Error::usage("registry requests take Basic or Bearer auth"));
                    }
                };
                // The sign-in endpoint is bound by the same --timeout as everything else.
                let fetch = async {
                    tokio::time::timeout(deadline.remaining(), self.tokens.token(tenant, &scope))
                        .await
                        .map_err(|_| {
                            Error::timeout(format!(
                                "the sign-in endpoint did not give a token for tenant {tenant} before --timeout passed"
                            ))
                        })?
                };
                let token = deadline
                    .interrupt()
                    .abandon(&format!("signing in to tenant {tenant}"), fetch)
                    .await?;
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
        // Nothing new is sent once the run is interrupted.
        let what = format!("{} {}", req.method, host_path(&req.url));
        deadline.interrupt().check(&what)?;
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
        // Boxed: the request's future is large, and every step's future holds it.
        let bounded = Box::pin(async {
            match tokio::time::timeout(remaining, fut).await {
                Ok(r) => r,
                Err(_) => Err(Error::timeout(format!(
                    "{what} did not answer before --timeout passed"
                ))),
            }
        });
        // A read in flight is dropped on the signal; a write already sent is waited for
        // (briefly), so its outcome is known or said to be unknown.
        if req.is_write() {
            deadline.interrupt().finish_write(&what, bounded).await
        } else {
            deadline.interrupt().abandon(&what, bounded).await
        }
    }
}

/// `host/path` of a URL, for messages (never the query, which may carry ids).
pub(super) fn host_path(url: &Url) -> String {
    format!("{}{}", url.host_str().unwrap_or(""), url.path())
}

/// A transport failure (connect, TLS, reset) as an [`Error`] naming the host.
pub(super) fn transport_error(url: &Url, e: &reqwest::Error) -> Error {
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
        codes::CONNECT_FAILED
    } else {
        codes::CONNECTION_ERROR
    };
    let mut err = Error::new(
        ErrorKind::Transport,
        code,
        format!("request to {host} failed: {text}"),
    );
    if text.contains("UnknownIssuer") || text.contains("certificate") {
        err = err
            .with_code(codes::UNTRUSTED_CERTIFICATE)
            .with_message(format!(
                "the TLS certificate of {host} is not trusted: {text}"
            ))
            .with_hint("for a private or simulated cloud, trust its CA with --ca-file (or the cloud file's ca_file)");
    }
    err
}
