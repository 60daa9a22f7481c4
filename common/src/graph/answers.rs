//! Microsoft Graph's answers, typed: the fields a step decides on are required (an answer
//! without them is an error naming the field), the others lenient, unknown ones ignored.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{MICROSOFT_GRAPH_APP_ID, USER_READ_SCOPE_ID};
use crate::Secret;
use crate::json::{Maybe, lenient, string_list};

/// An application (`GET /applications(appId='…')`, a `$select` of it, or the answer of a
/// create): its object id, its client id, its password credentials, and what step 1 reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// The object id: the object later requests address.
    pub id: String,
    /// The client id (absent from a `$select` without it).
    #[serde(default)]
    pub app_id: Option<String>,
    /// Its password credentials (never their secrets: Graph shows only a hint).
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub password_credentials: Vec<PasswordCredential>,
    /// Its certificate credentials (`keyCredentials`, returned by default; never their `key`).
    #[serde(default, deserialize_with = "crate::json::null_as_default")]
    pub key_credentials: Vec<KeyCredential>,
    /// `displayName`, `signInAudience`, `web`.
    #[serde(flatten)]
    pub settings: AppSettings,
    /// `uniqueName` (a national cloud's Graph has none).
    #[serde(default, deserialize_with = "lenient")]
    pub unique_name: Option<String>,
    /// `tags`, those that are text.
    #[serde(default, deserialize_with = "string_list")]
    pub tags: Vec<String>,
    /// `requiredResourceAccess` as Graph gave it: a PATCH sends it back whole, unknown
    /// fields kept ([`Permissions`] reads it).
    #[serde(default)]
    pub required_resource_access: Option<serde_json::Value>,
    /// `createdDateTime`, RFC 3339.
    #[serde(default, deserialize_with = "lenient")]
    pub created_date_time: Option<String>,
}

/// What the consent page needs of an application: its name, who may sign in to it, where
/// sign-in returns (`$select=displayName,signInAudience,web`). Each is read leniently: a
/// value of another type is as absent, which the checks refuse (not multitenant, no
/// redirect URI).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSettings {
    /// `displayName`.
    #[serde(default, deserialize_with = "lenient")]
    pub display_name: Option<String>,
    /// `signInAudience`.
    #[serde(default, deserialize_with = "lenient")]
    pub sign_in_audience: Option<String>,
    /// `web` (its redirect URIs).
    #[serde(default, deserialize_with = "lenient")]
    pub web: Web,
}

/// An application's `web` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Web {
    /// `redirectUris`, those that are text.
    #[serde(default, deserialize_with = "string_list")]
    pub redirect_uris: Vec<String>,
}

/// One certificate credential (`keyCredential`) of an application: what names it, each
/// read leniently (only its presence is decided on).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    /// `keyId`.
    #[serde(default, deserialize_with = "lenient")]
    pub key_id: Option<String>,
    /// `displayName`.
    #[serde(default, deserialize_with = "lenient")]
    pub display_name: Option<String>,
}

/// One password credential of an application.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// `keyId`: which key it is, the one field every use decides on.
    pub key_id: String,
    /// The secret's first three characters.
    #[serde(default, deserialize_with = "lenient")]
    pub hint: Option<String>,
    /// `startDateTime`, RFC 3339.
    #[serde(default, deserialize_with = "lenient")]
    pub start_date_time: Option<String>,
    /// `endDateTime`, RFC 3339.
    #[serde(default, deserialize_with = "lenient")]
    pub end_date_time: Option<String>,
}

/// The answer of `addPassword`: the new password credential, with its secret (Graph shows
/// it this once), read straight into a [`Secret`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddedPassword {
    /// The credential (`keyId` required, as in every password credential).
    #[serde(flatten)]
    pub credential: PasswordCredential,
    /// `secretText`: required, the one thing the call is made for.
    pub secret_text: Secret,
}

impl PasswordCredential {
    /// When it starts to be valid, if Graph says so in RFC 3339.
    pub fn start(&self) -> Option<OffsetDateTime> {
        rfc3339(self.start_date_time.as_deref())
    }

    /// When it ends, if Graph says so in RFC 3339.
    pub fn end(&self) -> Option<OffsetDateTime> {
        rfc3339(self.end_date_time.as_deref())
    }
}

fn rfc3339(t: Option<&str>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// A service principal: its object id.
#[derive(Debug, Clone, Deserialize)]
pub struct ServicePrincipal {
    /// The object id.
    pub id: String,
}

/// A service principal's `appOwnerOrganizationId` alone: the app's home tenant, if it says.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppOwner {
    /// The tenant, when it is text.
    #[serde(default, deserialize_with = "lenient")]
    pub app_owner_organization_id: Option<String>,
}

/// An application's tags alone (`$select=tags`), all of them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tags {
    /// The tags that are text.
    #[serde(default, deserialize_with = "string_list")]
    pub tags: Vec<String>,
}

/// The API permissions an application requests (`requiredResourceAccess`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    /// One entry per API; an entry of another shape is left out.
    #[serde(default, deserialize_with = "lenient")]
    pub required_resource_access: Vec<Maybe<RequiredResourceAccess>>,
}

/// The permissions requested of one API.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    /// The API's app id.
    pub resource_app_id: String,
    /// The scopes and roles requested; one of another shape is left out (a list of another
    /// shape makes the whole entry one of another shape).
    #[serde(default)]
    pub resource_access: Vec<Maybe<ResourceAccess>>,
}

/// One scope (delegated) or role (application) requested.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceAccess {
    /// The scope's or role's id.
    pub id: String,
    /// `Scope` or `Role`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl RequiredResourceAccess {
    /// Whether these are Microsoft Graph's permissions.
    pub fn is_graph(&self) -> bool {
        self.resource_app_id
            .eq_ignore_ascii_case(MICROSOFT_GRAPH_APP_ID)
    }

    /// Whether `a`, requested of this API, is Microsoft Graph's `User.Read` (delegated).
    fn is_user_read(&self, a: &ResourceAccess) -> bool {
        self.is_graph() && a.id.eq_ignore_ascii_case(USER_READ_SCOPE_ID) && a.kind == "Scope"
    }
}

impl Permissions {
    /// The well-formed entries.
    fn entries(&self) -> impl Iterator<Item = &RequiredResourceAccess> {
        self.required_resource_access
            .iter()
            .filter_map(|m| match m {
                Maybe::Is(r) => Some(r),
                Maybe::Not(_) => None,
            })
    }

    /// The permissions `requiredResourceAccess`'s own value lists; none when it is no list.
    pub fn of(v: &serde_json::Value) -> Option<Self> {
        Vec::<Maybe<RequiredResourceAccess>>::deserialize(v)
            .ok()
            .map(|required_resource_access| Self {
                required_resource_access,
            })
    }

    /// Whether Microsoft Graph `User.Read` (delegated) is among them.
    pub fn user_read(&self) -> bool {
        self.entries().any(|r| {
            r.resource_access
                .iter()
                .any(|a| matches!(a, Maybe::Is(a) if r.is_user_read(a)))
        })
    }

    /// What they request beyond Microsoft Graph's `User.Read` (delegated), each as `type id of
    /// API`; an entry of another shape counts too (read strictly: it is not known to be less).
    pub fn beyond_user_read(&self) -> Vec<String> {
        const UNREAD: &str = "permissions of a shape this tool does not read";
        let mut out = Vec::new();
        for r in &self.required_resource_access {
            let Maybe::Is(r) = r else {
                out.push(UNREAD.to_owned());
                continue;
            };
            for a in &r.resource_access {
                match a {
                    Maybe::Is(a) if r.is_user_read(a) => {}
                    Maybe::Is(a) => {
                        out.push(format!("{} {} of API {}", a.kind, a.id, r.resource_app_id));
                    }
                    Maybe::Not(_) => out.push(UNREAD.to_owned()),
                }
            }
        }
        out
    }

    /// Whether any permission at all is requested.
    pub fn any(&self) -> bool {
        self.entries().any(|r| !r.resource_access.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::error::codes;
    use crate::json::read;

    /// The single-line JSON bodies of a recorded azure-cli cassette, whose `@odata.context`
    /// ends with `entity` (e.g. `applications/$entity`).
    fn recorded(entity: &str) -> Value {
        let cassette =
            include_str!("../../tests/fixtures/recordings/test_create_for_rbac_password.yaml");
        cassette
            .lines()
            .filter_map(|l| l.trim().strip_prefix("string: '")?.strip_suffix('\''))
            .filter_map(|b| serde_json::from_str::<Value>(&b.replace("''", "'")).ok())
            .find(|v| {
                v["@odata.context"]
                    .as_str()
                    .is_some_and(|c| c.ends_with(&format!("#{entity}")))
            })
            .unwrap_or_else(|| panic!("no {entity} in the recording"))
    }

    #[test]
    fn a_recorded_application_and_service_principal_read() {
        let app: Application = read(
            &recorded("applications/$entity"),
            codes::UNEXPECTED_GRAPH_ANSWER,
            "Graph",
        )
        .unwrap();
        assert_eq!(app.id, "51237a6a-e342-4e26-9aab-f6b6542d14bd");
        let key = &app.password_credentials[0];
        assert_eq!(key.key_id, "fd7cbcb2-127e-4bfa-8859-8fb6b6e809c9");
        assert_eq!(key.hint.as_deref(), Some("hVW"));
        assert_eq!(key.start().unwrap().year(), 2022);
        assert_eq!(key.end().unwrap().year(), 2023);
        let sp_body = recorded("servicePrincipals/$entity");
        let sp: ServicePrincipal = read(&sp_body, codes::UNEXPECTED_GRAPH_ANSWER, "Graph").unwrap();
        assert_eq!(sp.id, "c8e350b1-2f68-4330-b03e-a9ad2d2ea942");
        let owner = AppOwner::deserialize(&sp_body).unwrap();
        assert_eq!(
            owner.app_owner_organization_id.as_deref(),
            Some("54826b22-38d6-4fb2-bad9-b7b93a3e9c5a")
        );
    }

    /// The recorded `addPassword` answer (its YAML string folded over lines).
    fn recorded_add_password() -> Value {
        let cassette =
            include_str!("../../tests/fixtures/recordings/test_create_for_rbac_password.yaml");
        let at = cassette
            .find("/addPassword\n")
            .expect("an addPassword call");
        let body = &cassette[at..];
        let body = &body[body.find("string: '").unwrap() + "string: '".len()..];
        let body = &body[..body.find("'\n").unwrap()];
        serde_json::from_str(&body.lines().map(str::trim).collect::<Vec<_>>().join(" ")).unwrap()
    }

    #[test]
    fn a_recorded_added_password_reads_its_secret_into_a_secret() {
        let body = recorded_add_password();
        let added: AddedPassword =
            read(&body, codes::UNEXPECTED_GRAPH_ANSWER, "addPassword").unwrap();
        assert_eq!(
            added.credential.key_id,
            "fd7cbcb2-127e-4bfa-8859-8fb6b6e809c9"
        );
        assert_eq!(added.credential.end().unwrap().year(), 2023);
        let value = "replaced-microsoft-graph-password";
        assert_eq!(added.secret_text.expose(), value);
        assert!(!format!("{added:?}").contains(value), "{added:?}");
        // Without its keyId or its secretText it is an error naming the field, never the secret.
        for (field, mut body) in [("keyId", body.clone()), ("secretText", body)] {
            body.as_object_mut().unwrap().remove(field);
            let e = read::<AddedPassword>(&body, codes::UNEXPECTED_GRAPH_ANSWER, "addPassword")
                .unwrap_err();
            assert!(e.message().contains(&format!("`{field}`")), "{e}");
            assert!(!e.message().contains(value), "{e}");
        }
        let e = read::<AddedPassword>(
            &json!({"keyId": "k", "secretText": 5}),
            codes::UNEXPECTED_GRAPH_ANSWER,
            "addPassword",
        )
        .unwrap_err();
        assert!(e.message().contains("secretText"), "{e}");
    }

    #[test]
    fn the_fields_decided_on_are_required_the_others_lenient() {
        let e = read::<Application>(
            &json!({"id": "o", "passwordCredentials": [{"keyId": "k"}, {"hint": "abc"}]}),
            codes::UNEXPECTED_GRAPH_ANSWER,
            "Microsoft Graph's application a",
        )
        .unwrap_err();
        assert_eq!(e.code(), "UnexpectedGraphAnswer");
        assert!(
            e.message().contains("`passwordCredentials[1]`") && e.message().contains("keyId"),
            "{e}"
        );
        let e = read::<ServicePrincipal>(
            &json!({"appId": "a"}),
            codes::UNEXPECTED_GRAPH_ANSWER,
            "Graph",
        )
        .unwrap_err();
        assert!(e.message().contains("missing field `id`"), "{e}");
        // A hint or a date of another type only informs: read as absent.
        let app: Application = read(
            &json!({"id": "o", "passwordCredentials": [{"keyId": "k", "hint": 3, "startDateTime": "yesterday"}]}),
            codes::UNEXPECTED_GRAPH_ANSWER,
            "Graph",
        )
        .unwrap();
        assert_eq!(app.password_credentials[0].hint, None);
        assert_eq!(app.password_credentials[0].start(), None);
        // Permissions: Graph's User.Read found; an entry of another shape left out.
        let p = Permissions::deserialize(&json!({"requiredResourceAccess": [
            7,
            {"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [{"id": USER_READ_SCOPE_ID.to_uppercase(), "type": "Scope"}]}
        ]}))
        .unwrap();
        assert!(p.user_read() && p.any());
        let role = Permissions::deserialize(&json!({"requiredResourceAccess": [
            {"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [{"id": USER_READ_SCOPE_ID, "type": "Role"}]}
        ]}))
        .unwrap();
        assert!(!role.user_read() && role.any());
    }
}
