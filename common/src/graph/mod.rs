//! Small helpers for Microsoft Graph paths and OData filters, and the lookups several tools share.

use std::future::Future;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{Error, Result, codes};
use crate::http::{Api, Sent};
use crate::json::{object, read};
use crate::wait::{Deadline, Poll, poll_until};

mod answers;
mod owners;

pub use answers::{
    AddedPassword, AppOwner, AppSettings, Application, KeyCredential, PasswordCredential,
    Permissions, RequiredResourceAccess, ResourceAccess, ServicePrincipal, Tags, Web,
};
pub use owners::app_owners;

/// How long an object that an earlier step (or this run) made is waited for while Graph
/// still answers 404 for it: Microsoft's guidance on Entra's eventual consistency ("a newly
/// created object may return Not Found" for a while, usually seconds). Within `--timeout`.
pub const READ_LAG_GRACE: Duration = Duration::from_secs(120);

/// Looks for an object known to exist (`look` answers `None` while Graph does not show it),
/// for up to [`READ_LAG_GRACE`] within `deadline`, with progress naming `what`; `None` if
/// it never appeared. For objects nobody said were made, call `look` once instead: a
/// missing object is reported at once.
pub async fn wait_until_readable<T, F, Fut>(
    what: &str,
    deadline: Deadline,
    mut look: F,
) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    if let Some(found) = look().await? {
        return Ok(Some(found));
    }
    let grace = Deadline::after(READ_LAG_GRACE.min(deadline.remaining()));
    let label = format!("waiting for Microsoft Graph to show {what}");
    let waited = poll_until(&label, grace, || {
        let found = look();
        async move {
            Ok(match found.await? {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending(
                    "not readable yet (a new object takes a while to reach every replica)".into(),
                    None,
                ),
            })
        }
    })
    .await;
    match waited {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_timeout() => Ok(None),
        Err(e) => Err(e),
    }
}

/// An object younger than this (by its `createdDateTime` and Graph's own `Date`) may still be
/// missing on the replica that serves a write: Graph answers 404 `Request_ResourceNotFound`
/// for seconds after an app is made (msgraph-sdk-javascript#1999; terraform-provider-azuread#118
/// waits for it). Older objects are not waited for: their 404 is an answer.
pub const YOUNG: Duration = Duration::from_secs(5 * 60);

/// Whether an object made at `created` (its `createdDateTime`) was younger than [`YOUNG`] at
/// `server_now` (the `Date` of the answer that showed it: Graph's clock, not ours).
pub fn is_young(created: Option<&str>, server_now: Option<time::OffsetDateTime>) -> bool {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    match (
        created.and_then(|c| time::OffsetDateTime::parse(c, rfc3339).ok()),
        server_now,
    ) {
        (Some(made), Some(now)) => now - made < YOUNG,
        _ => false,
    }
}

/// Sends the write `send` makes until Graph takes it, while it answers 404
/// `Request_ResourceNotFound` for an object made a moment ago (Graph's write lag: a 404 means
/// Graph did nothing, so the write is sent again), for up to [`READ_LAG_GRACE`] within
/// `deadline`, with progress naming `what`. For an object that is not young, send once.
pub async fn write_despite_lag<T, F, Fut>(what: &str, deadline: Deadline, mut send: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let first = match send().await {
        Err(e) if too_new(&e) => e,
        done => return done,
    };
    let grace = READ_LAG_GRACE.min(deadline.remaining());
    let label = format!("waiting for Graph to take {what}");
    let last = std::sync::Mutex::new(first);
    let waited = poll_until(
        &label,
        Deadline::watched(grace, deadline.interrupt()),
        || {
            let attempt = send();
            let last = &last;
            async move {
                match attempt.await {
                    Ok(v) => Ok(Poll::Ready(v)),
                    Err(e) if too_new(&e) => {
                        *last
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = e;
                        Ok(Poll::Pending(
                            "404 until the new app reaches Graph's replicas".into(),
                            None,
                        ))
                    }
                    Err(e) => Err(e),
                }
            }
        },
    )
    .await;
    match waited {
        Err(e) if e.is_timeout() => {
            let last = last
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Err(last
                .context(format!(
                    "Microsoft Graph still refused {what} after {}",
                    crate::wait::human(grace)
                ))
                .with_hint(
                    "a new object reaches every replica within seconds, usually: rerun this step",
                ))
        }
        other => other,
    }
}

/// Graph's answer to a write on an object its replica does not have (yet).
fn too_new(e: &Error) -> bool {
    e.status() == Some(404) && e.is_code("Request_ResourceNotFound")
}

/// The tag `entra-app-create` puts on every app it creates (or is told to `--adopt` on the
/// reader's own flags): the evidence that these tools made an app, and may change it or
/// look after the clusters that run as it (`aks-sp-update --status --all`). Only the app's
/// owners and directory administrators can write an app's tags.
pub const MANAGED_TAG: &str = "xtenant:managed";

/// The one sign-in audience of an app the procedure can use: any organisation's directory.
///
/// `AzureADandPersonalMicrosoftAccount` does not count: it widens the app to personal
/// accounts the procedure never uses, and step 1 would change it back; one rule for both steps.
pub const MULTITENANT_AUDIENCE: &str = "AzureADMultipleOrgs";

/// Whether an app's `signInAudience` makes it usable across tenants (the one definition).
pub fn is_multitenant(sign_in_audience: &str) -> bool {
    sign_in_audience == MULTITENANT_AUDIENCE
}

/// The error for an app that is not multitenant ([`codes::APP_NOT_MULTITENANT`]).
pub fn not_multitenant(which: &str, tenant: &str, audience: &str, why: &str) -> Error {
    let shown = if audience.is_empty() {
        "unset"
    } else {
        audience
    };
    Error::step(
        codes::APP_NOT_MULTITENANT,
        format!(
            "the {which} in tenant {tenant} is not multitenant (signInAudience {shown:?}, needed {MULTITENANT_AUDIENCE}): {why}"
        ),
    )
}

/// The app's service principal in the Graph tenant of `api`: found, or created (upsert by
/// appId), waiting (until the deadline) while the app does not back one yet
/// (`NoBackingApplicationObject`: a new app takes a while to replicate; 404 in its home tenant
/// while Graph's write replica lacks it). `look_first`:
/// read before writing (skip it for an app made a moment ago). `Ok(None)` in a dry run;
/// else the object id and whether this call created it.
pub async fn ensure_service_principal(
    api: &Api<'_>,
    app_id: &str,
    look_first: bool,
) -> Result<Option<(String, bool)>> {
    let path = alt_key("servicePrincipals", "appId", app_id);
    if look_first && let Some(id) = service_principal_id(api, app_id).await? {
        return Ok(Some((id, false)));
    }
    let url = api.url(&path)?;
    poll_until(
        "waiting for the new app to back its service principal",
        api.deadline(),
        || async {
            let req = api
                .request(Method::PATCH, url.clone())
                .header("Prefer", "create-if-missing")
                .json(json!({}));
            match api.write(req).await {
                Ok(Sent::Skipped) => Ok(Poll::Ready(None)),
                Ok(Sent::Done(r)) if r.status == 201 => {
                    object_id(&r.body, app_id).map(|id| Poll::Ready(Some((id, true))))
                }
                // 204: it exists after all (made meanwhile, or the read was not yet consistent).
                Ok(Sent::Done(_)) => match wait_until_readable(
                    &format!("the service principal of app {app_id}"),
                    api.deadline(),
                    || service_principal_id(api, app_id),
                )
                .await?
                {
                    Some(id) => Ok(Poll::Ready(Some((id, false)))),
                    None => Err(Error::step(
                        codes::SERVICE_PRINCIPAL_MISSING,
                        format!("Graph accepted the upsert of app {app_id}'s service principal but it cannot be read back"),
                    )),
                },
                Err(e) if e.is_code("NoBackingApplicationObject") => {
                    Ok(Poll::Pending("the app is not replicated yet".into(), None))
                }
                // In the app's home tenant, a new app is missing on the replica that serves
                // the write (Graph's write lag; an app Graph does not know is answered
                // NoBackingApplicationObject, not 404).
                Err(e) if too_new(&e) => Ok(Poll::Pending(
                    "the new app is not yet on the replica that serves writes".into(),
                    None,
                )),
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The `id` of a service principal body.
fn object_id(body: &Value, app_id: &str) -> Result<String> {
    let what = format!("Microsoft Graph's service principal of app {app_id}");
    read::<ServicePrincipal>(body, codes::UNEXPECTED_GRAPH_ANSWER, &what).map(|sp| sp.id)
}

/// Microsoft Graph's app id (`resourceAppId` of its permissions).
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The id of Microsoft Graph's delegated `User.Read` permission (scope).
pub const USER_READ_SCOPE_ID: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";

/// Whether an application's `requiredResourceAccess` holds Microsoft Graph `User.Read`
/// (delegated), the permission the portal gives every new registration.
pub fn requests_user_read(app: &Value) -> bool {
    object::<Permissions>(app).is_some_and(|p| p.user_read())
}

/// Whether an application requests any permission at all (an app that requests none makes
/// the consent page fail with AADSTS650056, "Misconfigured application").
pub fn requests_any_permission(app: &Value) -> bool {
    object::<Permissions>(app).is_some_and(|p| p.any())
}

/// `requiredResourceAccess` (replaced as a whole by a PATCH) with Microsoft Graph `User.Read`
/// (delegated) added to what `current` holds.
pub fn with_user_read(current: Option<&Value>) -> Value {
    let user_read = json!({"id": USER_READ_SCOPE_ID, "type": "Scope"});
    let mut list: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // The entries are written back as they came (unknown fields kept): only read here.
    let graph = list
        .iter_mut()
        .find(|r| object::<RequiredResourceAccess>(r).is_some_and(|r| r.is_graph()));
    match graph {
        Some(g) => match g.get_mut("resourceAccess").and_then(Value::as_array_mut) {
            Some(a) => a.push(user_read),
            None => g["resourceAccess"] = json!([user_read]),
        },
        None => list.push(json!({
            "resourceAppId": MICROSOFT_GRAPH_APP_ID,
            "resourceAccess": [user_read],
        })),
    }
    Value::Array(list)
}

/// An OData `$filter` on a string collection holding `value`: `tags/any(t:t eq '…')`.
pub fn any_eq_filter(collection: &str, value: &str) -> String {
    format!("{collection}/any(t:t eq {})", crate::odata::quote(value))
}

/// An alternate-key path such as `/applications(appId='…')`, percent-encoded.
pub fn alt_key(collection: &str, key: &str, value: &str) -> String {
    let q = crate::odata::quote(value);
    let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    // Keep the quotes readable; they are legal in a path.
    format!("/{collection}({key}={})", encoded.replace("%27", "'"))
}

/// The object id of `app_id`'s service principal in the Graph tenant of `api`, if it has one.
///
/// `GET /servicePrincipals(appId='…')?$select=id,appId`; a 404 is `None`. An answer
/// without an `id` is an error (`UnexpectedGraphAnswer`), not "none".
pub async fn service_principal_id(api: &Api<'_>, app_id: &str) -> Result<Option<String>> {
    let path = format!(
        "{}?$select=id,appId",
        alt_key("servicePrincipals", "appId", app_id)
    );
    let Some(sp) = api.get_opt(&path).await? else {
        return Ok(None);
    };
    object_id(&sp, app_id).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_read_is_added_and_recognised() {
        let none = json!({"requiredResourceAccess": []});
        assert!(!requests_user_read(&none) && !requests_any_permission(&none));
        let other = json!([{"resourceAppId": "00000002-0000-0000-c000-000000000000", "resourceAccess": [{"id": "x", "type": "Scope"}]},
            {"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [{"id": "y", "type": "Role"}]}]);
        let app = json!({"requiredResourceAccess": other});
        assert!(requests_any_permission(&app) && !requests_user_read(&app));
        let merged = with_user_read(Some(&other));
        assert_eq!(merged.as_array().unwrap().len(), 2, "{merged}");
        assert!(requests_user_read(
            &json!({"requiredResourceAccess": merged})
        ));
        let fresh = with_user_read(None);
        assert_eq!(fresh[0]["resourceAppId"], MICROSOFT_GRAPH_APP_ID);
        assert!(requests_user_read(
            &json!({"requiredResourceAccess": fresh})
        ));
        assert_eq!(any_eq_filter("tags", "a'b"), "tags/any(t:t eq 'a''b')");
    }

    #[test]
    fn alternate_keys() {
        assert_eq!(
            alt_key("applications", "appId", "abc"),
            "/applications(appId='abc')"
        );
        assert_eq!(
            alt_key("applications", "uniqueName", "o'x y/z"),
            "/applications(uniqueName='o''x%20y%2Fz')"
        );
    }
}
