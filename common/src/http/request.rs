//! The request model: a [`Request`] with its service and authorization, Azure's
//! [`Response`], and [`Sent`], the typed outcome of a write under `--dry-run`.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use super::Service;
use super::retry::retry_after;
use crate::secret::Secret;

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

/// What became of a write ([`Http::write`](super::Http::write), [`Api::write`](super::Api::write)).
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

    /// The server's `Date` (its clock when it answered), if it sent a valid one.
    pub fn date(&self) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::parse(
            self.header("date")?,
            &time::format_description::well_known::Rfc2822,
        )
        .ok()
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

/// One request, built by [`Api`](super::Api) or by a caller for registries.
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
    /// Whether the retry loop may send it again at all (see [`Request::never_resent`]).
    pub resend: bool,
    /// Statuses returned as `Ok` instead of an error (e.g. 404 for an existence check).
    pub accept: Vec<u16>,
    /// What the write does beyond its body, for a `--dry-run` plan (e.g. the nodes a reset
    /// reimages).
    pub note: Option<String>,
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
            resend: true,
            accept: Vec::new(),
            note: None,
        }
    }

    /// Says what the write does beyond its body, in a `--dry-run` plan entry (`note`).
    #[must_use]
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.note = Some(text.into());
        self
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

    /// Never sent again by the retry loop, not even after a 429: its body was made from a read
    /// that a later send would carry stale (the record's tags, which Graph replaces as a
    /// whole). The caller waits ([`super::resend_wait`]), reads again and writes again.
    #[must_use]
    pub fn never_resent(mut self) -> Self {
        self.resend = false;
        self
    }

    /// Whether the request may change something (any method but GET and HEAD).
    pub fn is_write(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD)
    }
}
