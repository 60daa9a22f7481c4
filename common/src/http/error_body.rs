//! Error bodies, in every shape the services answer with, read into one [`ErrorBody`].
//!
//! The shapes (samples with sources in `common/tests/fixtures/error-bodies/`):
//! - ARM and Graph: `{"error": {"code", "message", "details"?, "innerError"?}}` — Graph puts
//!   the precise cause of a generic `Request_BadRequest` in `details[0].code` and its
//!   request id in `innerError`;
//! - Key Vault: the same, with the precise cause in `innererror.code` (e.g. `Forbidden` /
//!   `ForbiddenByRbac`);
//! - the AKS resource provider: the error object at the top level, `{"code", "message"}`;
//! - Entra's token endpoint: `{"error": "invalid_client", "error_description": "AADSTS…",
//!   "error_codes": […], "trace_id", …}`;
//! - container registries: `{"errors": [{"code", "message", "detail"?}]}`;
//! - legacy OData: `{"odata.error": {"code", "message": {"value"}}}`.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::json::{Maybe, lenient};

/// The error an answer's body carries, whatever its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// The most precise code the body gives (e.g. `NoBackingApplicationObject` rather
    /// than Graph's `Request_BadRequest`, `ForbiddenByRbac` rather than `Forbidden`).
    pub code: String,
    /// The message; for Entra only the first line of `error_description` (the rest is
    /// trace and correlation ids).
    pub message: String,
    /// A request id found in the body (Graph's `innerError.request-id`, Entra's `trace_id`).
    pub request_id: Option<String>,
}

/// An `{"error": {"code", "message", "innererror"?}}` body's parts as the service wrote them,
/// for a caller that explains the code and its first inner cause apart (Key Vault's
/// refusals: `Forbidden` and `ForbiddenByRbac`, `Conflict` and `ObjectIsDeletedButRecoverable`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorParts {
    /// `error.code` (empty when it is absent).
    pub code: String,
    /// `error.message`, whole (empty when it is absent).
    pub message: String,
    /// `error.innererror.code` (or `innerError`), the first level's.
    pub inner_code: Option<String>,
}

/// Codes so generic that a more precise code in `details` is the one to report.
const GENERIC: [&str; 3] = ["Request_BadRequest", "BadRequest", "InvalidRequest"];

/// Every shape an error body comes in, read at once: each service fills its own fields.
#[derive(Deserialize)]
struct Shapes {
    /// ARM, Graph, Key Vault: an object; Entra's token endpoint: a code.
    #[serde(default)]
    error: Option<Slot>,
    /// Registries: one per refused scope.
    #[serde(default, deserialize_with = "lenient")]
    errors: Vec<Slot>,
    /// Legacy OData.
    #[serde(rename = "odata.error", default, deserialize_with = "lenient")]
    odata: Option<ODataError>,
    /// Entra's token endpoint, beside `error`.
    #[serde(default, deserialize_with = "lenient")]
    error_description: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    trace_id: Option<String>,
    /// The AKS resource provider: the error object itself, at the top level.
    #[serde(flatten)]
    top: Option<ErrorObject>,
}

/// What an `error` (or an `errors` item) holds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Slot {
    /// `{"code", "message", …}`.
    Object(ErrorObject),
    /// Entra's `"invalid_client"`.
    Code(String),
    /// An object of another shape (its code not a string): no error body.
    Malformed(
        #[expect(dead_code, reason = "matched for its shape, never read")]
        serde_json::Map<String, Value>,
    ),
    /// Anything else: not this shape.
    Other(IgnoredAny),
}

/// `{"code", "message", "details"?, "innererror"?}`, the error object of most services.
#[derive(Deserialize)]
struct ErrorObject {
    /// Decides the error's code: a body whose code is absent is no error body.
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    message: Option<String>,
    /// Graph's precise cause of a generic code: the first entry's, each entry read on its
    /// own (a malformed sibling does not hide the first entry's code).
    #[serde(default, deserialize_with = "lenient")]
    details: Vec<Maybe<Detail>>,
    /// Key Vault's precise cause (Graph's `innerError` holds the request id).
    #[serde(default, deserialize_with = "lenient")]
    innererror: Option<Box<Inner>>,
    #[serde(rename = "innerError", default, deserialize_with = "lenient")]
    inner_error: Option<Box<Inner>>,
}

/// An entry of `details`.
#[derive(Default, Deserialize)]
struct Detail {
    #[serde(default, deserialize_with = "lenient")]
    code: Option<String>,
}

/// An `innererror`, which may nest another.
#[derive(Default, Deserialize)]
struct Inner {
    #[serde(default, deserialize_with = "lenient")]
    code: Option<String>,
    #[serde(rename = "request-id", default, deserialize_with = "lenient")]
    request_id: Option<String>,
    #[serde(rename = "innererror", default, deserialize_with = "lenient")]
    nested: Option<Box<Inner>>,
    #[serde(rename = "innerError", default, deserialize_with = "lenient")]
    nested_camel: Option<Box<Inner>>,
}

impl Inner {
    fn next(&self) -> Option<&Inner> {
        self.nested.as_deref().or(self.nested_camel.as_deref())
    }
}

/// Legacy OData: `{"code", "message": {"lang", "value"}}` (or the message as text).
#[derive(Deserialize)]
struct ODataError {
    code: String,
    #[serde(default, deserialize_with = "lenient")]
    message: Option<ODataMessage>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ODataMessage {
    Text(String),
    Localized {
        #[serde(default, deserialize_with = "lenient")]
        value: String,
    },
}

impl ErrorBody {
    /// Reads an error body, if `body` has one of the known shapes.
    ///
    /// Meant for answers with an error status: a success body is not looked at.
    pub fn parse(body: &Value) -> Option<Self> {
        let shapes = Shapes::deserialize(body).ok()?;
        match shapes.error {
            // ARM, Graph, Key Vault.
            Some(Slot::Object(e)) => return Self::from_object(e),
            Some(Slot::Malformed(_)) => return None,
            // Entra's token endpoint.
            Some(Slot::Code(code)) => {
                return Some(Self::from_entra(
                    code,
                    shapes.error_description.as_deref(),
                    shapes.trace_id,
                ));
            }
            Some(Slot::Other(_)) | None => {}
        }
        // Registries: the first of the errors (they list one per refused scope).
        match shapes.errors.into_iter().next() {
            Some(Slot::Object(e)) => return Self::from_object(e),
            Some(Slot::Malformed(_)) => return None,
            _ => {}
        }
        if let Some(e) = shapes.odata {
            let message = match e.message {
                Some(ODataMessage::Text(m) | ODataMessage::Localized { value: m }) => m,
                None => String::new(),
            };
            return Some(Self {
                code: e.code,
                message,
                request_id: None,
            });
        }
        // The AKS resource provider: both a code and a message are required, so an
        // unrelated body is not taken for one.
        match shapes.top {
            Some(top) if top.message.is_some() => Self::from_object(top),
            _ => None,
        }
    }

    /// The parts of `body`'s `error` object, when it has one (ARM, Graph, Key Vault).
    pub fn parts(body: &Value) -> Option<ErrorParts> {
        let Some(Slot::Object(e)) = Shapes::deserialize(body).ok()?.error else {
            return None;
        };
        Some(ErrorParts {
            code: e.code.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            inner_code: e.innererror.or(e.inner_error).and_then(|i| i.code),
        })
    }

    fn from_object(e: ErrorObject) -> Option<Self> {
        let mut code = e.code?;
        let mut message = e.message.unwrap_or_default();
        // Graph puts the precise cause (e.g. NoBackingApplicationObject) in details.
        if let Some(dc) = e
            .details
            .into_iter()
            .next()
            .and_then(Maybe::ok)
            .and_then(|d| d.code)
        {
            if !message.contains(&dc) {
                message = format!("{message} [{dc}]");
            }
            if GENERIC.contains(&code.as_str()) {
                code = dc;
            }
        }
        // Key Vault nests the precise cause in innererror.code (innererrors may nest).
        let inner = e.innererror.or(e.inner_error);
        let mut cur = inner.as_deref();
        while let Some(i) = cur {
            if let Some(ic) = &i.code
                && *ic != code
            {
                if !message.contains(&code) {
                    message = format!("{message} [{code}]");
                }
                ic.clone_into(&mut code);
            }
            cur = i.next();
        }
        let request_id = inner.and_then(|i| i.request_id);
        Some(Self {
            code,
            message,
            request_id,
        })
    }

    /// `{"error": "invalid_client", "error_description": "AADSTS…\r\nTrace ID: …", …}`.
    fn from_entra(code: String, description: Option<&str>, trace_id: Option<String>) -> Self {
        let description = description.unwrap_or("");
        Self {
            code,
            message: description.lines().next().unwrap_or("").trim().to_owned(),
            request_id: trace_id,
        }
    }
}

/// `(code, message)` from an Azure error body, if it has one of the known shapes.
pub fn parse_error_body(body: &Value) -> Option<(String, String)> {
    ErrorBody::parse(body).map(|b| (b.code, b.message))
}
