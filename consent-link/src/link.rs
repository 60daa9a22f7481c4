//! The consent link itself, and what the app in tenant A must look like for it to work.

use clap::ValueEnum;
use common::Error;
use common::error::codes;
use common::graph::AppSettings;
use common::json::read;
use serde_json::Value;
use url::Url;

/// Which consent endpoint the link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Form {
    /// /<tenant>/oauth2/authorize?client_id=…&response_type=code&redirect_uri=… (the procedure's link)
    Authorize,
    /// /<tenant>/adminconsent?client_id=…&redirect_uri=… (the admin-consent endpoint)
    Adminconsent,
}

/// The consent URL on the cloud's login endpoint (which may carry a port or a base path).
///
/// `redirect_uri` is sent as given: Entra compares it character for character with the
/// app's registered redirect URIs, so it is not normalised here.
pub(crate) fn consent_url(
    login: &Url,
    tenant: &str,
    app_id: &str,
    redirect_uri: &str,
    form: Form,
) -> Result<Url, Error> {
    let mut url = login.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut segs = url.path_segments_mut().map_err(|()| {
            Error::usage(format!(
                "the cloud's login endpoint {login} cannot carry a path"
            ))
        })?;
        segs.pop_if_empty().push(tenant);
        match form {
            Form::Authorize => segs.extend(["oauth2", "authorize"]),
            Form::Adminconsent => segs.push("adminconsent"),
        };
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", app_id);
        if form == Form::Authorize {
            q.append_pair("response_type", "code");
        }
        q.append_pair("redirect_uri", redirect_uri);
    }
    Ok(url)
}

/// Checks the app read from tenant A: multitenant, and `redirect_uri` registered.
///
/// Both failures are what tenant B's administrator would otherwise meet on the consent
/// page (AADSTS700016, AADSTS50011 / AADSTS500113), said here with the fix.
pub(crate) fn check_app(
    app: &Value,
    app_id: &str,
    tenant_a: &str,
    redirect_uri: &str,
) -> Result<(), Error> {
    let what = format!("Microsoft Graph's app {app_id}");
    let settings: AppSettings = read(app, codes::UNEXPECTED_GRAPH_ANSWER, &what)?;
    let name = settings.display_name.as_deref().unwrap_or("");
    let which = if name.is_empty() {
        format!("app {app_id}")
    } else {
        format!("app {app_id} ({name:?})")
    };
    let audience = settings
        .sign_in_audience
        .as_deref()
        .unwrap_or("AzureADMyOrg");
    if !common::graph::is_multitenant(audience) {
        return Err(common::graph::not_multitenant(
            &which,
            tenant_a,
            audience,
            "tenant B's administrator could not consent to it (the consent page would fail with AADSTS700016)",
        )
        .with_hint(
            "make it multitenant: rerun entra-app-create, which sets signInAudience AzureADMultipleOrgs \
             (with --app-id and --adopt for an app it did not create), or in the portal set the app's supported account types \
             to 'Accounts in any organizational directory'; then rerun this step",
        ));
    }
    let registered: Vec<&str> = settings
        .web
        .redirect_uris
        .iter()
        .map(String::as_str)
        .collect();
    if registered.is_empty() {
        return Err(Error::step(
            codes::NO_REDIRECT_URI,
            format!(
                "the {which} has no web redirect URI: the consent page would fail with AADSTS500113 \
                 (no reply address is registered for the application)"
            ),
        )
        .with_hint(format!(
            "add {redirect_uri} to the app's web redirect URIs (entra-app-create registers https://www.microsoft.com), then rerun this step"
        )));
    }
    if !registered.contains(&redirect_uri) {
        let list = registered
            .iter()
            .map(|u| format!("{u:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::step(
            codes::REDIRECT_URI_MISMATCH,
            format!(
                "the redirect URI {redirect_uri:?} is not one of the {which}'s web redirect URIs ({list}): \
                 the consent page would fail with AADSTS50011"
            ),
        )
        .with_hint(format!(
            "pass --redirect-uri with one of {list} (exactly as registered), or add {redirect_uri:?} to the app's redirect URIs"
        )));
    }
    if !common::graph::requests_any_permission(app) {
        return Err(Error::step(
            codes::APP_REQUESTS_NO_PERMISSION,
            format!(
                "the {which} requests no permission at all (empty requiredResourceAccess): the consent page would fail with \
                 AADSTS650056 (\"Misconfigured application\")"
            ),
        )
        .with_hint(
            "rerun entra-app-create (with --app-id and --adopt for an app it did not create): it adds Microsoft Graph User.Read \
             (delegated), as the portal does for every new registration; or add that permission in the portal (API permissions); then rerun this step",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const APP: &str = "11111111-2222-3333-4444-555555555555";

    fn url(login: &str, tenant: &str, redirect: &str, form: Form) -> String {
        consent_url(&Url::parse(login).unwrap(), tenant, APP, redirect, form)
            .unwrap()
            .to_string()
    }

    #[test]
    fn procedure_form_in_parameter_order() {
        assert_eq!(
            url(
                "https://login.microsoftonline.com",
                "contoso.onmicrosoft.com",
                "https://www.microsoft.com",
                Form::Authorize
            ),
            format!(
                "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize?client_id={APP}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com"
            )
        );
        assert_eq!(
            url(
                "https://login.chinacloudapi.cn/",
                "t",
                "https://www.microsoft.com",
                Form::Adminconsent
            ),
            format!(
                "https://login.chinacloudapi.cn/t/adminconsent?client_id={APP}&redirect_uri=https%3A%2F%2Fwww.microsoft.com"
            )
        );
    }

    #[test]
    fn login_endpoint_port_and_base_path_are_kept() {
        assert_eq!(
            url(
                "https://127.0.0.1:8443",
                "b",
                "https://x.example/cb",
                Form::Adminconsent
            ),
            format!(
                "https://127.0.0.1:8443/b/adminconsent?client_id={APP}&redirect_uri=https%3A%2F%2Fx.example%2Fcb"
            )
        );
        assert_eq!(
            url(
                "https://login.example/base/",
                "b",
                "https://x.example",
                Form::Authorize
            ),
            format!(
                "https://login.example/base/b/oauth2/authorize?client_id={APP}&response_type=code&redirect_uri=https%3A%2F%2Fx.example"
            )
        );
    }

    #[test]
    fn awkward_redirect_uris_are_encoded_as_given() {
        let u = url(
            "https://login.microsoftonline.com",
            "b",
            "https://a.example/cb?x=1&y=a b/ü",
            Form::Authorize,
        );
        assert!(
            u.ends_with("&redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1%26y%3Da+b%2F%C3%BC"),
            "{u}"
        );
        let parsed = Url::parse(&u).unwrap();
        let back: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            back[2],
            (
                "redirect_uri".into(),
                "https://a.example/cb?x=1&y=a b/ü".into()
            )
        );
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn app_checks() {
        let good = json!({"displayName":"a","signInAudience":"AzureADMultipleOrgs","web":{"redirectUris":["https://www.microsoft.com"]},
            "requiredResourceAccess":[{"resourceAppId":"00000003-0000-0000-c000-000000000000","resourceAccess":[{"id":"e1fe6dd8-ba31-4d61-89e7-88639da4683d","type":"Scope"}]}]});
        check_app(&good, APP, "ta", "https://www.microsoft.com").unwrap();
        // An app that requests nothing: the consent page would fail with AADSTS650056.
        let mut none = good.clone();
        none["requiredResourceAccess"] = json!([]);
        let e = check_app(&none, APP, "ta", "https://www.microsoft.com").unwrap_err();
        assert_eq!(e.code(), "AppRequestsNoPermission");
        assert!(
            e.message().contains("AADSTS650056") && e.hint().unwrap().contains("User.Read"),
            "{e}"
        );
        // One rule for steps 1 and 2: personal accounts are not part of the procedure.
        for aud in [
            "AzureADMyOrg",
            "PersonalMicrosoftAccount",
            "AzureADandPersonalMicrosoftAccount",
        ] {
            let single = json!({"signInAudience": aud, "web":{"redirectUris":["https://www.microsoft.com"]}});
            let e = check_app(&single, APP, "ta", "https://www.microsoft.com").unwrap_err();
            assert_eq!(e.code(), "AppNotMultitenant");
            assert!(
                e.message().contains(aud) && e.hint().unwrap().contains("entra-app-create"),
                "{e}"
            );
        }
        let e = check_app(
            &json!({"signInAudience":"AzureADMultipleOrgs"}),
            APP,
            "ta",
            "https://www.microsoft.com",
        )
        .unwrap_err();
        assert_eq!(e.code(), "NoRedirectUri");

        // An answer that is no application at all is said as such, not as a setting.
        let e = check_app(&json!(["x"]), APP, "ta", "https://www.microsoft.com").unwrap_err();
        assert_eq!(e.code(), "UnexpectedGraphAnswer", "{e}");
        // A redirect URI of another type is as none: refused, never taken for one.
        let odd = json!({"signInAudience": "AzureADMultipleOrgs", "web": {"redirectUris": [7]}, "requiredResourceAccess": good["requiredResourceAccess"].clone()});
        let e = check_app(&odd, APP, "ta", "https://www.microsoft.com").unwrap_err();
        assert_eq!(e.code(), "NoRedirectUri", "{e}");
        let e = check_app(&good, APP, "ta", "https://www.microsoft.com/").unwrap_err();
        assert_eq!(e.code(), "RedirectUriMismatch");
        assert!(
            e.message().contains("AADSTS50011")
                && e.hint().unwrap().contains("\"https://www.microsoft.com\""),
            "{e}"
        );
    }
}
