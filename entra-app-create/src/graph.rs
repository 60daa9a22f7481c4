//! What this step reads from Microsoft Graph, and how it explains Graph's refusals.

use common::error::codes;
use common::graph::{self, MULTITENANT_AUDIENCE, is_multitenant};
use common::json::read;
use common::{Error, Result};
use serde_json::Value;

/// The tag that marks an app this tool created (or was told to adopt with its flags): only
/// such an app is changed on the strength of an input object (a new secret, a prune, fixes).
pub(crate) use common::graph::MANAGED_TAG;

/// The prefix of the tag that carries the app's unique name where Graph has no `uniqueName`
/// key (a national cloud): `xtenant:uniqueName:<name>`, found again with `$filter` on `tags`.
pub(crate) const UNIQUE_NAME_TAG: &str = "xtenant:uniqueName:";

/// An application object, as far as this step cares.
#[derive(Debug, Clone)]
pub(crate) struct Application {
    /// Object id (`/applications/{id}`).
    pub(crate) id: String,
    /// Client id.
    pub(crate) app_id: String,
    /// Display name.
    pub(crate) display_name: String,
    /// `uniqueName`, if set.
    pub(crate) unique_name: Option<String>,
    /// `signInAudience`.
    pub(crate) audience: String,
    /// `web.redirectUris`.
    pub(crate) redirect_uris: Vec<String>,
    /// Its password credentials (metadata only).
    pub(crate) passwords: Vec<Password>,
    /// Its certificate credentials (`keyCredentials`), each as its `keyId` and quoted
    /// `displayName`: this tool never makes one.
    pub(crate) certificates: Box<[String]>,
    /// Its `tags`.
    pub(crate) tags: Vec<String>,
    /// `requiredResourceAccess`, as Graph gave it (boxed: the app is moved around by value).
    pub(crate) required_resource_access: Option<Box<Value>>,
    /// Made a moment ago (by this run, or younger than `common::graph::YOUNG` by Graph's
    /// clock): a 404 to a write on it is Graph's write lag, waited out.
    pub(crate) young: bool,
}

/// A password credential's metadata (Graph never returns the secret again).
#[derive(Debug, Clone)]
pub(crate) struct Password {
    /// `keyId`.
    pub(crate) key_id: String,
    /// `hint`: the secret's first characters.
    pub(crate) hint: Option<String>,
    /// `endDateTime`.
    pub(crate) end: Option<String>,
}

/// A text that says something: empty is as absent.
fn said(t: Option<String>) -> Option<String> {
    t.filter(|s| !s.is_empty())
}

fn unexpected(what: &str, missing: &str) -> Error {
    Error::step(
        codes::UNEXPECTED_RESPONSE,
        format!("Microsoft Graph returned {what} without `{missing}`"),
    )
}

impl Application {
    /// Reads an application object: `id` and `appId` are required (an answer that lacks one,
    /// or a password credential without its `keyId`, is an error naming the field).
    pub(crate) fn parse(v: &Value) -> Result<Self> {
        Self::read(v).map(|(app, _)| app)
    }

    /// [`Self::parse`], and the app's `createdDateTime`.
    fn read(v: &Value) -> Result<(Self, Option<String>)> {
        Self::of(read(
            v,
            codes::UNEXPECTED_RESPONSE,
            "Microsoft Graph's application",
        )?)
    }

    /// The step's view of common's [`graph::Application`] (`id` and `appId` required, as in
    /// [`Self::parse`]), and its `createdDateTime`.
    pub(crate) fn of(app: graph::Application) -> Result<(Self, Option<String>)> {
        let id = said(Some(app.id)).ok_or_else(|| unexpected("an application", "id"))?;
        let app_id = said(app.app_id).ok_or_else(|| unexpected("an application", "appId"))?;
        let passwords = app
            .password_credentials
            .into_iter()
            .map(Password::from)
            .collect();
        let certificates = app
            .key_credentials
            .into_iter()
            .map(|k| {
                let key = said(k.key_id).unwrap_or_else(|| "?".into());
                match said(k.display_name) {
                    Some(name) => format!("{key} ({name:?})"),
                    None => key,
                }
            })
            .collect();
        // Where Graph has no uniqueName, the tag carries it.
        let unique_name = said(app.unique_name).or_else(|| {
            app.tags
                .iter()
                .find_map(|t| t.strip_prefix(UNIQUE_NAME_TAG))
                .map(str::to_owned)
        });
        let app_made = Self {
            id,
            app_id: app_id.to_ascii_lowercase(),
            display_name: said(app.settings.display_name).unwrap_or_default(),
            unique_name,
            audience: said(app.settings.sign_in_audience).unwrap_or_default(),
            redirect_uris: app.settings.web.redirect_uris,
            passwords,
            certificates,
            tags: app.tags,
            required_resource_access: app.required_resource_access.map(Box::new),
            young: false,
        };
        Ok((app_made, said(app.created_date_time)))
    }

    /// Read from Graph's answer `r`: young when its `createdDateTime` is recent by the answer's
    /// `Date`.
    pub(crate) fn from_answer(r: &common::http::Response) -> Result<Self> {
        let (mut app, created) = Self::read(&r.body)?;
        app.young = graph::is_young(created.as_deref(), r.date());
        Ok(app)
    }

    /// The same app, known to be new (this run made it, or Graph showed it only now).
    pub(crate) fn made_now(mut self) -> Self {
        self.young = true;
        self
    }

    /// Whether it requests Microsoft Graph `User.Read` (delegated), as the portal registers apps.
    pub(crate) fn user_read(&self) -> bool {
        self.required_resource_access.as_deref().is_some_and(|r| {
            graph::requests_user_read(&serde_json::json!({"requiredResourceAccess": r}))
        })
    }

    /// Whether this tool made the app (or adopted it on the reader's flags): it carries [`MANAGED_TAG`].
    pub(crate) fn managed(&self) -> bool {
        self.tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case(MANAGED_TAG))
    }

    /// What keeps this app from serving the procedure: not multitenant, redirect URI missing.
    pub(crate) fn problems(&self, redirect_uri: &str) -> Vec<String> {
        let mut p = Vec::new();
        if !is_multitenant(&self.audience) {
            p.push(format!(
                "it is not multitenant (signInAudience {}, needed {MULTITENANT_AUDIENCE})",
                self.audience_shown()
            ));
        }
        if !self.redirect_uris.iter().any(|u| u == redirect_uri) {
            p.push(format!("its web redirect URIs lack {redirect_uri}"));
        }
        p
    }

    fn audience_shown(&self) -> &str {
        if self.audience.is_empty() {
            "unset"
        } else {
            &self.audience
        }
    }

    /// The password credential with `key_id`, if the app has it.
    pub(crate) fn password(&self, key_id: &str) -> Option<&Password> {
        self.passwords
            .iter()
            .find(|p| p.key_id.eq_ignore_ascii_case(key_id))
    }
}

impl Password {
    /// Whether `end` lies in the past.
    pub(crate) fn expired(&self) -> bool {
        self.end
            .as_deref()
            .and_then(|e| {
                time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_some_and(|end| end <= time::OffsetDateTime::now_utc())
    }
}

impl From<graph::PasswordCredential> for Password {
    fn from(p: graph::PasswordCredential) -> Self {
        Self {
            key_id: p.key_id.to_ascii_lowercase(),
            hint: said(p.hint),
            end: said(p.end_date_time),
        }
    }
}

/// Adds what the user can do to Graph errors this step knows.
pub(crate) fn explain(e: Error, tenant: &str) -> Error {
    if e.is_code("Authorization_RequestDenied") {
        let msg = format!(
            "{}: the identity may not manage app registrations in tenant {tenant}",
            e.message()
        );
        return e.with_message(msg).with_hint(format!(
            "give the identity the Microsoft Graph application permission Application.ReadWrite.All (with admin consent) \
             in tenant {tenant}, or the Application Developer or Application Administrator role there"
        ));
    }
    e
}

/// Explains a refused secret lifetime, with the longest one allowed when Graph says it.
pub(crate) fn explain_lifetime(e: Error, asked_days: f64) -> Error {
    let asked = format!("{asked_days:.0} days");
    // Azure's whole text (the message holds it shortened).
    if let Some(max) = max_days(e.detail().unwrap_or(e.message())) {
        let msg = format!(
            "the tenant's app management policy refuses a secret lifetime of {asked}: it allows at most {max} days ({})",
            e.message()
        );
        e.with_message(msg)
            .with_hint(format!("pass --secret-lifetime {max}d or less"))
    } else {
        let msg = format!(
            "the tenant's app management policy refuses a secret lifetime of {asked} ({})",
            e.message()
        );
        e.with_message(msg).with_hint(
            "pass a shorter --secret-lifetime (e.g. 90d); the tenant's limit is in its app management policy \
             (Entra ID > Enterprise apps > Application policies)",
        )
    }
}

/// The longest lifetime a policy message states, in days: `P90D`, `P1Y`, or `90 days`.
pub(crate) fn max_days(message: &str) -> Option<u32> {
    let words: Vec<&str> = message
        .split(|c: char| c.is_whitespace() || "(),;'\"[]".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    for w in &words {
        let w = w.trim_end_matches('.');
        if let Some(rest) = w.strip_prefix('P') {
            if let Some(n) = rest.strip_suffix('D').and_then(|n| n.parse::<u32>().ok()) {
                return Some(n);
            }
            if let Some(n) = rest.strip_suffix('Y').and_then(|n| n.parse::<u32>().ok()) {
                return n.checked_mul(365);
            }
        }
    }
    words.windows(2).find_map(|p| {
        let unit = p[1].trim_end_matches('.').to_ascii_lowercase();
        if unit == "days" || unit == "day" {
            p[0].parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::ErrorKind;
    use serde_json::json;

    #[test]
    fn parses_the_recorded_application_shape() {
        let v = json!({"id":"51237a6a-e342-4e26-9aab-f6b6542d14bd","appId":"205E3DD4-EE98-4047-945A-907604AA1BF8",
            "displayName":"x","signInAudience":"AzureADandPersonalMicrosoftAccount","uniqueName":null,
            "passwordCredentials":[{"customKeyIdentifier":null,"displayName":"rbac","endDateTime":"2023-05-07T06:56:26Z",
              "hint":"hVW","keyId":"FD7CBCB2-127E-4BFA-8859-8FB6B6E809C9","secretText":null,"startDateTime":"2022-05-07T06:56:26Z"}],
            "web":{"homePageUrl":null,"redirectUris":[]}});
        let app = Application::parse(&v).unwrap();
        assert_eq!(app.app_id, "205e3dd4-ee98-4047-945a-907604aa1bf8");
        assert_eq!(app.unique_name, None);
        let p = app
            .password("fd7cbcb2-127e-4bfa-8859-8fb6b6e809c9")
            .unwrap();
        assert_eq!(p.hint.as_deref(), Some("hVW"));
        assert!(p.expired());
        let problems = app.problems("https://www.microsoft.com");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("AzureADandPersonalMicrosoftAccount"));
        assert!(
            Application::parse(&json!({"id":"x"}))
                .unwrap_err()
                .message()
                .contains("appId")
        );
    }

    #[test]
    fn certificates_are_read_by_key_id_and_name() {
        // The keyCredential shape of Graph v1.0 (its `key` null in a read); null as none.
        let v = json!({"id":"i","appId":"a","keyCredentials":[
            {"customKeyIdentifier":null,"displayName":"CN=other","endDateTime":"2099-01-01T00:00:00Z",
             "key":null,"keyId":"c1","startDateTime":"2024-01-01T00:00:00Z","type":"AsymmetricX509Cert","usage":"Verify"},
            {"keyId":"c2","displayName":null}]});
        let app = Application::parse(&v).unwrap();
        assert_eq!(&*app.certificates, ["c1 (\"CN=other\")", "c2"]);
        let none =
            Application::parse(&json!({"id":"i","appId":"a","keyCredentials":null})).unwrap();
        assert!(none.certificates.is_empty());
    }

    #[test]
    fn a_fitting_app_has_no_problems() {
        let v = json!({"id":"i","appId":"a","signInAudience":"AzureADMultipleOrgs",
            "web":{"redirectUris":["https://other.example","https://www.microsoft.com"]}});
        assert!(
            Application::parse(&v)
                .unwrap()
                .problems("https://www.microsoft.com")
                .is_empty()
        );
        // A different spelling is a different redirect URI to Entra.
        assert_eq!(
            Application::parse(&v)
                .unwrap()
                .problems("https://www.microsoft.com/")
                .len(),
            1
        );
    }

    #[test]
    fn lifetime_limits_are_read_from_the_message() {
        assert_eq!(
            max_days(
                "Credential lifetime exceeds the max value allowed as per assigned policy '0000'. The maximum allowed lifetime is 90 days (P90D)."
            ),
            Some(90)
        );
        assert_eq!(max_days("maxLifetime P1Y exceeded"), Some(365));
        assert_eq!(max_days("allowed: 30 days."), Some(30));
        assert_eq!(
            max_days(
                "Credential lifetime exceeds the max value allowed as per assigned policy 'ab-12'. [InvalidKeyEndDate]"
            ),
            None
        );
        assert_eq!(max_days("Policy P2 forbids it"), None);

        let e = Error::azure(
            ErrorKind::Http { status: 400 },
            "CredentialInvalidLifetimeAsPerAppPolicy",
            "Microsoft Graph answered 400: ... is 90 days (P90D).",
        );
        let e = explain_lifetime(e, 1000.0);
        assert_eq!(e.code(), "CredentialInvalidLifetimeAsPerAppPolicy");
        assert!(
            e.message().contains("1000 days") && e.message().contains("at most 90 days"),
            "{e}"
        );
        assert_eq!(e.hint(), Some("pass --secret-lifetime 90d or less"));
        let e = explain_lifetime(
            Error::azure(
                ErrorKind::Http { status: 400 },
                "CredentialInvalidLifetimeAsPerAppPolicy",
                "no number",
            ),
            365.0,
        );
        assert!(
            e.hint().unwrap().contains("shorter --secret-lifetime"),
            "{e:?}"
        );
    }

    #[test]
    fn permission_errors_say_which_permission() {
        let e = explain(
            Error::azure(
                ErrorKind::Http { status: 403 },
                "Authorization_RequestDenied",
                "Insufficient privileges.",
            ),
            "t1",
        );
        assert!(
            e.full_message().contains("Application.ReadWrite.All")
                && e.full_message().contains("Application Developer")
        );
        assert_eq!(e.exit_code(), common::exit::ExitCode::Failure);
        let other = explain(Error::step(codes::OPERATION_FAILED, "m"), "t1");
        assert_eq!(other.message(), "m");
    }
}
