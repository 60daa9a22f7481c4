//! Small helpers for Microsoft Graph paths and OData filters, and the lookups several tools share.

use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{Error, Result, codes};
use crate::http::{Api, Sent};
use crate::wait::{Poll, poll_until};

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
        codes::APP_NOT_MULTITENANT.name,
        format!(
            "the {which} in tenant {tenant} is not multitenant (signInAudience {shown:?}, needed {MULTITENANT_AUDIENCE}): {why}"
        ),
    )
}

/// The app's service principal in the Graph tenant of `api`: found, or created (upsert by
/// appId), waiting (until the deadline) while the app does not back one yet
/// (`NoBackingApplicationObject`: a new app takes a while to replicate). `look_first`:
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
                Ok(Sent::Done(_)) => match service_principal_id(api, app_id).await? {
                    Some(id) => Ok(Poll::Ready(Some((id, false)))),
                    None => Err(Error::step(
                        codes::SERVICE_PRINCIPAL_MISSING.name,
                        format!("Graph accepted the upsert of app {app_id}'s service principal but it cannot be read back"),
                    )),
                },
                Err(e) if e.is_code("NoBackingApplicationObject") => {
                    Ok(Poll::Pending("the app is not replicated yet".into(), None))
                }
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The `id` of a service principal body.
fn object_id(body: &Value, app_id: &str) -> Result<String> {
    body.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::step(
                codes::UNEXPECTED_GRAPH_ANSWER.name,
                format!(
                    "Microsoft Graph answered the service principal of app {app_id} without an id"
                ),
            )
        })
}

/// Quotes a string for an OData literal: `'…'` with single quotes doubled.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An alternate-key path such as `/applications(appId='…')`, percent-encoded.
pub fn alt_key(collection: &str, key: &str, value: &str) -> String {
    let q = quote(value);
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
    let id = sp.get("id").and_then(Value::as_str).ok_or_else(|| {
        Error::step(
            "UnexpectedGraphAnswer",
            format!("Microsoft Graph answered the service principal of app {app_id} without an id"),
        )
    })?;
    Ok(Some(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
