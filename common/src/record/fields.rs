//! Writing an application's other whole-value fields (`tags` beside the record's entries,
//! `web.redirectUris`, `requiredResourceAccess`) the way the record is written.
//!
//! Microsoft Graph replaces each of these as a whole on `PATCH`, and applications take no
//! `If-Match`: a body made from an earlier read sends back what that read showed, over
//! whatever another writer wrote since (a step 4 run's record entry is a tag: lost, a prune
//! could remove the key its cluster holds). So [`update_app`] makes the body from a read sent
//! just before the write; never sends it again as it was ([`Request::never_resent`]: after a
//! 429, a 5xx or a lost answer it is made again from a fresh read, as a record write is); and
//! reads the app back after the record's pause ([`super::pause`]): a write that another
//! writer's (one that read before it landed) took away is made again from that read, up to
//! [`MAX_ATTEMPTS`] times, then reported (`AppUpdateNotKept`).
//!
//! What another writer wrote between this read and this write is lost to this write, as one
//! record writer's entry is to another's: that writer's read-back, after a pause at least as
//! long as a read-and-write (this one's is one read and one write, nothing between them),
//! sees it and writes it again. Step 4 reads its entries back so; a person's edit in the
//! portal in that window has no read-back (see docs/DESIGN.md, "Records and claims").
//!
//! [`Request::never_resent`]: crate::http::Request::never_resent

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use reqwest::Method;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::MAX_ATTEMPTS;
use super::pause::{Measure, ReadBack, pause};
use crate::error::{Error, Result, codes};
use crate::graph::write_despite_lag;
use crate::http::{Api, Sent};
use crate::ui;

/// What [`update_app`] did.
#[derive(Debug, Clone)]
pub enum Updated {
    /// The app already showed the change (a fresh read): nothing was sent. The app as read.
    Unchanged(Value),
    /// Written, and read back: the app as read back, and the fields written (in the order
    /// first written).
    Written {
        /// The application as the read-back showed it.
        app: Value,
        /// The names of the fields written.
        fields: Vec<String>,
    },
    /// A dry run: this body is in the plan, not sent.
    DryRun(Map<String, Value>),
    /// Written, then the read-back (or `change`'s check of what it showed) failed: the write
    /// stays, nothing is rolled back. `error` says so (what was written, what was found) and
    /// what to do; `fields` were written (`landed`: Graph answered a write, not only a write
    /// whose answer was lost).
    Failed {
        /// The names of the fields written.
        fields: Vec<String>,
        /// Whether Graph answered one of the writes (else its answer was lost: it may have
        /// landed).
        landed: bool,
        /// What failed after the write, worded as such.
        error: Error,
    },
}

/// One read of the app and, when it does not show the change yet, one write made from it.
enum Once {
    /// The read shows the change; the app as read.
    Shows(Value),
    /// This body was written.
    Sent(Map<String, Value>),
    /// This body is in the dry run's plan.
    Skipped(Map<String, Value>),
    /// The read does not show the change, and no write is left to make: what it lacks.
    NotShown(Map<String, Value>),
    /// `change` refused the app as read.
    Refused(Error),
}

/// Updates the application at `path` (`/applications/{id}`, or an alternate key) in
/// `graph`'s tenant to what `change` asks of it: `change` is given the app as a fresh read
/// shows it and answers the body of the `PATCH` it needs (empty: it shows the change; an
/// error: no write is made). The body is made from a read sent just before the write, never
/// sent again as it was, and the app is read back after a pause and written again from that
/// read while another writer's write took the change away (see the module's docs).
///
/// `young`: the app was made a moment ago, so a 404 to the read or the write is Graph's lag
/// and is waited out (up to [`crate::graph::READ_LAG_GRACE`], each time from a fresh read).
///
/// Fails with `AppUpdateNotKept` when the change is still taken away after [`MAX_ATTEMPTS`]
/// writes.
pub async fn update_app(
    graph: &Api<'_>,
    path: &str,
    young: bool,
    change: impl Fn(&Value) -> Result<Map<String, Value>>,
) -> Result<Updated> {
    let what = format!("the update of the app at {path}");
    let measure = Measure::default();
    // The fields of the write the attempt sent (none: it failed before its write).
    let tried = Mutex::new(Vec::new());
    let mut written: Vec<String> = Vec::new();
    let mut landed = false;
    let mut attempt = 0;
    let mut resends = 0;
    loop {
        let read_at = Instant::now();
        let may_write = attempt < MAX_ATTEMPTS;
        let one = || once(graph, path, &change, may_write, &tried);
        let result = if young {
            Box::pin(write_despite_lag(&what, graph.deadline(), one)).await
        } else {
            one().await
        };
        match result {
            Ok(Once::Shows(app)) if written.is_empty() => return Ok(Updated::Unchanged(app)),
            Ok(Once::Shows(app)) => {
                return Ok(Updated::Written {
                    app,
                    fields: written,
                });
            }
            Ok(Once::Skipped(body)) => return Ok(Updated::DryRun(body)),
            Ok(Once::NotShown(body)) => return Err(not_kept(path, &body)),
            Ok(Once::Refused(e)) if written.is_empty() => return Err(e),
            Ok(Once::Refused(e)) => {
                let found = "reading it back found the app changed by another writer, and it is not changed further";
                return Ok(Updated::Failed {
                    error: after_write(e, path, &written, landed, found),
                    fields: written,
                    landed,
                });
            }
            Ok(Once::Sent(body)) => {
                if attempt > 0 {
                    ui::info(&format!(
                        "{} of the app at {path} was taken away by another writer's write (Graph replaces each as a whole): written again",
                        names(&body)
                    ));
                }
                attempt += 1;
                landed = true;
                add(&mut written, body.keys());
                let took = measure.took(read_at.elapsed());
                pause(
                    graph,
                    &Notify::new(),
                    || false,
                    took,
                    ReadBack::Measured,
                    attempt,
                )
                .await;
            }
            Err(e) => {
                resends += 1;
                let Some(wait) = crate::http::resend_wait(&e, resends)
                    .filter(|w| *w < graph.deadline().remaining())
                else {
                    if written.is_empty() {
                        return Err(e);
                    }
                    let error = after_write(e, path, &written, landed, "then");
                    return Ok(Updated::Failed {
                        fields: written,
                        landed,
                        error,
                    });
                };
                let tried =
                    std::mem::take(&mut *tried.lock().unwrap_or_else(PoisonError::into_inner));
                // A write whose answer was lost may have landed: the next read says, and a
                // write that shows counts as made.
                if e.status().is_none_or(|s| !matches!(s, 429 | 503)) {
                    add(&mut written, tried.iter());
                }
                ui::debug(&format!(
                    "{what}: {}; read again and written again in {:.1}s",
                    e.message(),
                    wait.as_secs_f64()
                ));
                graph.deadline().interrupt().sleep(wait, &what).await?;
            }
        }
    }
}

/// One read, and the write `change` makes from it (only if `may_write`).
async fn once(
    graph: &Api<'_>,
    path: &str,
    change: &impl Fn(&Value) -> Result<Map<String, Value>>,
    may_write: bool,
    tried: &Mutex<Vec<String>>,
) -> Result<Once> {
    let set_tried = |fields: Vec<String>| {
        *tried.lock().unwrap_or_else(PoisonError::into_inner) = fields;
    };
    set_tried(Vec::new());
    let url = graph.url(path)?;
    let app = graph
        .read(graph.request(Method::GET, url.clone()))
        .await?
        .body;
    let body = match change(&app) {
        Ok(body) => body,
        Err(e) => return Ok(Once::Refused(e)),
    };
    if body.is_empty() {
        return Ok(Once::Shows(app));
    }
    if !may_write {
        return Ok(Once::NotShown(body));
    }
    set_tried(body.keys().cloned().collect());
    // Never resent as it is: a resend seconds later (a 429's Retry-After, a backoff) would
    // put back what this read showed, over what another writer wrote meanwhile.
    let req = graph
        .request(Method::PATCH, url)
        .json(Value::Object(body.clone()))
        .never_resent();
    Ok(match graph.write(req).await? {
        Sent::Skipped => Once::Skipped(body),
        Sent::Done(_) => Once::Sent(body),
    })
}

/// Adds the `fields` not in `to` yet.
fn add<'a>(to: &mut Vec<String>, fields: impl Iterator<Item = &'a String>) {
    for f in fields {
        if !to.contains(f) {
            to.push(f.clone());
        }
    }
}

/// The fields of `body`, named for a message (`tags, web`).
fn names(body: &Map<String, Value>) -> String {
    body.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `e`, met after `fields` of the app at `path` were written (`landed`: Graph answered the
/// write), worded so: the write stays, what was found after it (`found`: e), what to do.
fn after_write(e: Error, path: &str, fields: &[String], landed: bool, found: &str) -> Error {
    let fields = fields.join(", ");
    let done = if landed {
        format!("{fields} of the app at {path} WAS updated (Graph took the write)")
    } else {
        format!(
            "{fields} of the app at {path} may have been updated (the answer to the write was lost)"
        )
    };
    let found = format!("{done}, but {found}: {}", e.message());
    let then = e.hint().map(|h| format!("; then {h}")).unwrap_or_default();
    let hint = format!(
        "the update stays (nothing was undone); another writer (a run or a person) may have changed the app since: look at it as it is now{then}"
    );
    e.with_message(found).with_hint(hint)
}

/// The failure of an update another writer took away each time it was written.
fn not_kept(path: &str, body: &Map<String, Value>) -> Error {
    Error::step(
        codes::APP_UPDATE_NOT_KEPT,
        format!(
            "the update of {} of the app at {path} was written {MAX_ATTEMPTS} times and each time taken away by another writer's write",
            names(body)
        ),
    )
    .with_hint("another run (or a person) changes the same app at the same time; rerun when it has ended")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_once_in_the_order_first_written() {
        let mut to = vec!["tags".to_owned()];
        let more = [
            "web".to_owned(),
            "tags".to_owned(),
            "displayName".to_owned(),
        ];
        add(&mut to, more.iter());
        assert_eq!(to, ["tags", "web", "displayName"]);
        let body: Map<String, Value> = serde_json::from_str(r#"{"tags": [], "web": {}}"#).unwrap();
        assert_eq!(names(&body), "tags, web");
        let e = not_kept("/applications/x", &body);
        assert!(e.is(codes::APP_UPDATE_NOT_KEPT), "{e}");
        assert!(e.message().contains("tags, web"), "{e}");
    }

    #[test]
    fn a_failure_after_a_write_says_the_write_stays_and_keeps_the_code_and_the_fix() {
        let refused = Error::step(codes::APP_NOT_MANAGED, "refusing to update tags of the app")
            .with_hint("pass --adopt");
        let fields = ["displayName".to_owned(), "web".to_owned()];
        let e = after_write(refused.clone(), "/applications/x", &fields, true, "found");
        assert!(e.is(codes::APP_NOT_MANAGED), "{e}");
        assert_eq!(
            e.message(),
            "displayName, web of the app at /applications/x WAS updated (Graph took the write), but found: refusing to update tags of the app"
        );
        let hint = e.hint().unwrap();
        assert!(
            hint.starts_with("the update stays (nothing was undone)")
                && hint.ends_with("; then pass --adopt"),
            "{hint}"
        );
        let e = after_write(refused, "/applications/x", &fields, false, "then");
        assert!(
            e.message()
                .contains("may have been updated (the answer to the write was lost)"),
            "{e}"
        );
    }
}
