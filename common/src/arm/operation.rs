//! ARM's long-running operations: where to follow one, and following it to its end.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::error::{Error, ErrorKind, Result, codes};
use crate::http::{Api, Response};
use crate::json::{lenient, object, read};
use crate::wait::{Poll, poll_until};

/// How an operation URL reports the operation's end (Azure Resource Manager's two patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `Azure-AsyncOperation`: every answer is 200 with `{"status": …}`; it ended when
    /// `status` is terminal, and only `Succeeded` is a success.
    Status,
    /// `Location`: 202 while it runs, 200 or 204 when it succeeded (a `status` in the body,
    /// if any, is read as above).
    Location,
}

/// Where to follow a long-running operation: `Azure-AsyncOperation`, else `Location`.
pub fn operation_url(resp: &Response) -> Option<(Url, OperationKind)> {
    let parsed = |h: &str| resp.header(h).and_then(|u| Url::parse(u).ok());
    parsed("azure-asyncoperation")
        .map(|u| (u, OperationKind::Status))
        .or_else(|| parsed("location").map(|u| (u, OperationKind::Location)))
}

/// An operation status as ARM answers it: `{"status", "error"?, "percentComplete"?}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationStatus {
    /// Decides the outcome: text, or absent (a `status` of another type is refused).
    #[serde(default)]
    status: Option<String>,
    /// Why it failed, for the message.
    #[serde(default, deserialize_with = "lenient")]
    error: OperationError,
    /// How far it is, for the progress line.
    #[serde(default, deserialize_with = "lenient")]
    percent_complete: Option<f64>,
}

/// The `error` of a failed operation.
#[derive(Debug, Default, Deserialize)]
struct OperationError {
    #[serde(default, deserialize_with = "lenient")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    message: Option<String>,
}

impl OperationStatus {
    /// The status in `resp`'s body: strict at a status URL (every answer of it is a status),
    /// lenient at a Location URL (its last answer is the resource itself).
    fn of(resp: &Response, kind: OperationKind) -> Result<Self> {
        match kind {
            OperationKind::Status if resp.body.is_object() => read(
                &resp.body,
                codes::OPERATION_STATUS_UNKNOWN,
                "the operation's status",
            )
            .map_err(|e| e.rekind(ErrorKind::OperationFailed, e.message())),
            _ => Ok(object::<Self>(&resp.body).unwrap_or_default()),
        }
    }
}

/// The end of a long-running operation.
#[derive(Debug, Clone)]
pub struct OperationDone {
    /// `Succeeded` (failures are errors).
    pub status: String,
    /// The last body seen.
    pub body: Value,
}

/// Follows an ARM long-running operation at `url` until it ends or the deadline passes.
///
/// A [`OperationKind::Status`] URL must answer a `status`: an answer without one (any other
/// ARM URL answers 200 with some body) is no success but an error
/// (`OperationStatusUnknown`). `Failed`/`Canceled` become an error carrying the operation's
/// own error code and message. On timeout the error's kind is [`ErrorKind::Timeout`]; the
/// caller still holds `url` to resume later.
///
/// `url` is followed only on the origin of `api`'s endpoint (the ARM endpoint for ARM):
/// an operation URL comes from Azure's answer or an envelope, and following it sends the
/// bearer token. Elsewhere it is refused (code `UntrustedOrigin`) before any request.
pub async fn follow_operation(
    api: &Api<'_>,
    url: &Url,
    kind: OperationKind,
    label: &str,
) -> Result<OperationDone> {
    api.check_origin(url, "the long-running operation's URL")?;
    let deadline = api.deadline();
    poll_until(label, deadline, || async {
        let r = api
            .read(api.request(Method::GET, url.clone()).accept(&[202]))
            .await?;
        let ra = r.retry_after();
        let answer = OperationStatus::of(&r, kind)?;
        let status = match (answer.status, kind, r.status) {
            (Some(s), _, _) => s,
            (None, _, 202) => return Ok(Poll::Pending("running".into(), ra)),
            (None, OperationKind::Location, 200 | 204) => "Succeeded".to_owned(),
            (None, _, code) => {
                return Err(Error::new(
                    ErrorKind::OperationFailed,
                    codes::OPERATION_STATUS_UNKNOWN,
                    format!(
                        "the operation's URL answered {code} without a status: it is no operation status, so the operation is not known to have succeeded"
                    ),
                ));
            }
        };
        match status.as_str() {
            s if s.eq_ignore_ascii_case("Succeeded") => Ok(Poll::Ready(OperationDone {
                status,
                body: r.body,
            })),
            s if super::is_terminal(s) => {
                let msg = answer.error.message.as_deref().unwrap_or("no message");
                let msg = format!("the operation ended {status}: {msg}");
                let kind = ErrorKind::OperationFailed;
                Err(match answer.error.code {
                    Some(code) => Error::azure(kind, code, msg),
                    None => Error::new(kind, codes::OPERATION_FAILED, msg),
                })
            }
            _ => {
                let pct = answer
                    .percent_complete
                    .map(|p| format!(" {p:.0}%"))
                    .unwrap_or_default();
                Ok(Poll::Pending(format!("{status}{pct}"), ra))
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(status: u16, body: Value) -> Response {
        Response {
            status,
            headers: reqwest::header::HeaderMap::new(),
            body,
        }
    }

    #[test]
    fn a_status_is_read_strictly_at_a_status_url_only() {
        let failed = json!({"status": "Failed", "error": {"code": "ReconcileError", "message": "m"}, "percentComplete": 40, "extra": 1});
        let s = OperationStatus::of(&answer(200, failed), OperationKind::Status).unwrap();
        assert_eq!(s.status.as_deref(), Some("Failed"));
        assert_eq!(
            (s.error.code.as_deref(), s.error.message.as_deref()),
            (Some("ReconcileError"), Some("m"))
        );
        assert_eq!(s.percent_complete, Some(40.0));
        // A status that is not text, at a status URL: refused, naming the field.
        let odd = json!({"status": 3});
        let e = OperationStatus::of(&answer(200, odd.clone()), OperationKind::Status).unwrap_err();
        assert_eq!(
            (e.code(), e.kind()),
            ("OperationStatusUnknown", &ErrorKind::OperationFailed)
        );
        assert!(e.message().contains("`status`"), "{e}");
        // At a Location URL the last answer is the resource: its fields are not a status.
        let s = OperationStatus::of(&answer(200, odd), OperationKind::Location).unwrap();
        assert_eq!(s.status, None);
        // No body (202, 204): no status.
        let s = OperationStatus::of(&answer(202, Value::Null), OperationKind::Status).unwrap();
        assert_eq!(s.status, None);
        // An error that is not an object only informs: no code, no message.
        let s = OperationStatus::of(
            &answer(200, json!({"status": "Canceled", "error": "x"})),
            OperationKind::Status,
        )
        .unwrap();
        assert_eq!(s.error.code, None);
    }
}
