//! An app's keys as Microsoft Graph shows them: its registration in a tenant (the
//! application object there) and its password credentials. Which of them the secret in hand
//! is, is [`crate::binding`]'s question.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{Result, codes};
use crate::graph::{Application, alt_key};
use crate::http::Api;
use crate::json::read;
use crate::secret::Secret;

/// How long after its start a key may still be refused for being new; a refused key older
/// than this is wrong, not new (microsoft-graph-docs#17966 reports 4–18 s, with margin).
pub const NEW_KEY_SETTLES: Duration = Duration::from_secs(60);

/// One password credential of an app as Microsoft Graph shows it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `keyId`, lower case.
    pub key_id: String,
    /// `hint`: the secret's first three characters (none when Graph shows none).
    pub hint: Option<String>,
    /// `startDateTime`.
    pub start: Option<OffsetDateTime>,
    /// `endDateTime`.
    pub end: Option<OffsetDateTime>,
}

impl Key {
    /// How much longer the key may be refused for being new at `now` (zero once it is older
    /// than [`NEW_KEY_SETTLES`], or when its start is unknown).
    pub fn settling(&self, now: OffsetDateTime) -> Duration {
        let Some(start) = self.start else {
            return Duration::ZERO;
        };
        let age = now - start;
        let left = time::Duration::try_from(NEW_KEY_SETTLES).unwrap_or(time::Duration::ZERO) - age;
        Duration::try_from(left).unwrap_or(Duration::ZERO)
    }

    /// Whether it has ended at `now`.
    pub(crate) fn expired(&self, now: OffsetDateTime) -> bool {
        self.end.is_some_and(|e| e <= now)
    }

    /// Whether `secret` begins as the hint says (`None`: no hint to tell).
    pub(crate) fn fits(&self, secret: &Secret) -> Option<bool> {
        self.hint
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| secret.expose().starts_with(h))
    }
}

/// An app's registration in a tenant: its application object there, and its keys.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The application object's id.
    pub object_id: String,
    /// Its password credentials.
    pub keys: Vec<Key>,
}

impl Registration {
    /// From Graph's application body (`id`, `passwordCredentials`).
    pub(crate) fn parse(body: &Value, app_id: &str) -> Result<Self> {
        let what = format!("Microsoft Graph's application {app_id}");
        let app: Application = read(body, codes::UNEXPECTED_GRAPH_ANSWER, &what)?;
        let keys = app
            .password_credentials
            .iter()
            .map(|p| Key {
                key_id: p.key_id.to_ascii_lowercase(),
                hint: p.hint.clone(),
                start: p.start(),
                end: p.end(),
            })
            .collect();
        Ok(Self {
            object_id: app.id,
            keys,
        })
    }
}

/// `GET /applications(appId='…')` in the Graph tenant of `graph`: the app registered there, if it is.
pub(crate) async fn read_registration(
    graph: &Api<'_>,
    app_id: &str,
) -> Result<Option<Registration>> {
    let path = format!(
        "{}?$select=id,appId,passwordCredentials",
        alt_key("applications", "appId", app_id)
    );
    match graph.get_opt(&path).await? {
        Some(body) => Registration::parse(&body, app_id).map(Some),
        None => Ok(None),
    }
}
