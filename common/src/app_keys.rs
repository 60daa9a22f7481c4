//! An app's keys as Microsoft Graph shows them: its registration in a tenant (the
//! application object there) and its password credentials. Which of them the secret in hand
//! is, is [`crate::binding`]'s question.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result, codes};
use crate::graph::alt_key;
use crate::http::Api;
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
        let object_id = body.get("id").and_then(Value::as_str).ok_or_else(|| {
            Error::step(
                codes::UNEXPECTED_GRAPH_ANSWER,
                format!("Microsoft Graph answered the application {app_id} without an id"),
            )
        })?;
        let time = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        };
        let keys = body
            .get("passwordCredentials")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(Key {
                    key_id: p.get("keyId")?.as_str()?.to_ascii_lowercase(),
                    hint: p.get("hint").and_then(Value::as_str).map(str::to_owned),
                    start: time(p, "startDateTime"),
                    end: time(p, "endDateTime"),
                })
            })
            .collect();
        Ok(Self {
            object_id: object_id.to_owned(),
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
