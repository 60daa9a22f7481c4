//! ARM's long-running operations: where to follow one, and following it to its end.

use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::error::{Error, ErrorKind, Result, codes};
use crate::http::{Api, Response};
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
        let status = r.body.get("status").and_then(Value::as_str);
        let status = match (status, kind, r.status) {
            (Some(s), _, _) => s.to_owned(),
            (None, _, 202) => return Ok(Poll::Pending("running".into(), ra)),
            (None, OperationKind::Location, 200 | 204) => "Succeeded".to_owned(),
            (None, _, code) => {
                return Err(Error::new(
                    ErrorKind::OperationFailed,
                    codes::OPERATION_STATUS_UNKNOWN.name,
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
                let code = r
                    .body
                    .pointer("/error/code")
                    .and_then(Value::as_str)
                    .unwrap_or("OperationFailed");
                let msg = r
                    .body
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                Err(Error::new(
                    ErrorKind::OperationFailed,
                    code,
                    format!("the operation ended {status}: {msg}"),
                ))
            }
            _ => {
                let pct = r
                    .body
                    .get("percentComplete")
                    .and_then(Value::as_f64)
                    .map(|p| format!(" {p:.0}%"))
                    .unwrap_or_default();
                Ok(Poll::Pending(format!("{status}{pct}"), ra))
            }
        }
    })
    .await
}
