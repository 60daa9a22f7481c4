//! Tenant A's side of the report: the app a cluster runs as (Microsoft Graph), its keys,
//! the record of which key the cluster holds, and Entra's clock.
//!
//! Which key a cluster holds is known only from the record the tools keep (Azure never
//! shows a cluster's secret). Expiry is judged by Entra's clock: the `Date` of Graph's
//! answer (this machine's clock when Graph sends none), so a machine whose clock is off
//! still sees a key expire when Entra does.

use std::time::{Duration, Instant};

use common::arm::ResourceId;
use common::driver::{Ctx, Memo};
use common::graph::{Application, MANAGED_TAG, alt_key};
use common::http::Api;
use common::record::{Entry, Record, has_legacy_tags, legacy_key};
use common::validate::is_guid;
use common::{Error, Result};
use reqwest::Method;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use super::report::{KeyReport, Problem, Report};
use common::arm::clusters::ManagedCluster;

/// An app as the report needs it.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// Its display name.
    pub display_name: Option<String>,
    /// Whether these tools made it (or were told to adopt it): it carries [`MANAGED_TAG`].
    pub managed: bool,
    /// Its password credentials: key id (lower case) → end.
    pub keys: Vec<(String, Option<OffsetDateTime>)>,
    /// The record the tools keep in its tags: which key each cluster holds.
    pub record: Record,
    /// Entra's time when it was read, and when that was on this machine's clock.
    read_at: (OffsetDateTime, Instant),
}

impl App {
    /// Reads the fields from Graph's body (common's [`Application`]: a credential without
    /// its `keyId` is an error naming it); `date` is the answer's `Date` header.
    pub(crate) fn from_body(body: &Value, date: Option<&str>) -> Result<Self> {
        let app: Application = common::json::read(
            body,
            common::error::codes::UNEXPECTED_GRAPH_ANSWER,
            "Microsoft Graph's answer for the cluster's app",
        )?;
        let keys = app
            .password_credentials
            .iter()
            .map(|p| (p.key_id.to_ascii_lowercase(), p.end()))
            .collect();
        let entra_now = date
            .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc2822).ok())
            .unwrap_or_else(OffsetDateTime::now_utc);
        Ok(Self {
            managed: app.tags.iter().any(|t| t.eq_ignore_ascii_case(MANAGED_TAG)),
            display_name: app.settings.display_name,
            keys,
            record: Record::from_app(body),
            read_at: (entra_now, Instant::now()),
        })
    }

    /// Entra's time now: the answer's time, moved on by what passed since on this machine.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let (at, then) = self.read_at;
        at.saturating_add(time::Duration::try_from(then.elapsed()).unwrap_or(time::Duration::ZERO))
    }
}

/// The run's reads of apps: (tenant, app id) → the app, read once for every cluster on it.
#[derive(Default)]
struct Apps(Memo<(String, String), App>);

/// The app `app_id` in `graph`'s tenant, read once per run (`None`: not registered there).
pub(crate) async fn read(ctx: &Ctx, graph: &Api<'_>, app_id: &str) -> Result<Option<App>> {
    if !is_guid(app_id) {
        return Ok(None);
    }
    let key = (
        graph.tenant().to_ascii_lowercase(),
        app_id.to_ascii_lowercase(),
    );
    ctx.state::<Apps>()
        .0
        .get_or(key, || async {
            let url = graph.url(&format!(
                "{}?$select=id,appId,displayName,tags,passwordCredentials",
                alt_key("applications", "appId", app_id)
            ))?;
            let r = graph
                .read(graph.request(Method::GET, url).accept(&[404]))
                .await
                .map_err(|e| refused(e, graph.tenant()))?;
            (r.status != 404)
                .then(|| App::from_body(&r.body, r.header("date")))
                .transpose()
        })
        .await
}

/// A refusal to read the app names the right that reads it.
fn refused(e: Error, tenant: &str) -> Error {
    if e.status() == Some(403) {
        e.with_hint(format!(
            "reading the app's keys needs Application.Read.All (or the Directory Readers role) in tenant {tenant}"
        ))
    } else {
        e
    }
}

/// Where the record naming a cluster's key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The tools' record on the app (its tags in tenant A): trusted for which key to watch.
    App,
    /// Only the `xtenant-*` tags earlier versions wrote on the cluster: anyone who may write
    /// the cluster's tags could have written them, so the key is read and reported, never
    /// trusted for a verdict of healthy.
    LegacyTags,
}

impl Source {
    /// Where, for the report.
    pub(crate) fn place(self) -> &'static str {
        match self {
            Self::App => "the app's tags",
            Self::LegacyTags => "the cluster's xtenant-* tags (legacy)",
        }
    }
}

/// Which key the cluster holds, from the tools' record on the app (only while it runs as the
/// app and no reset to another key is pending) or, without an entry there, from the old
/// record in the cluster's `xtenant-*` tags; and where that record is.
pub(crate) fn recorded_key(
    cluster: &ManagedCluster,
    app: &App,
    app_id: &str,
    cluster_id: &str,
) -> Option<(String, Source)> {
    if !cluster.uses(app_id) {
        return None;
    }
    let Some(entry) = app.record.entry(cluster_id) else {
        return legacy_key(&cluster.tags, app_id).map(|k| (k, Source::LegacyTags));
    };
    // A key kept from another run's reset (`was`) may be the one the cluster holds.
    if !entry.was.is_empty() {
        return None;
    }
    match (&entry.key, &entry.pending) {
        (Some(k), None) => Some((k.clone(), Source::App)),
        (Some(k), Some(p)) if k == p => Some((k.clone(), Source::App)),
        _ => None,
    }
}

/// What an entry naming no held key says (`KeyUnconfirmed`), for a cluster that runs as the
/// app `app_id`: the resets it names were never confirmed, and what step 4 does about it, as
/// step 4 decides (`crate::record::Held`). A switch claim is confirmed without a reset only
/// on its key's envelope, which step 4 refuses once that key is gone from `app` or expired
/// (`SecretNotBound`): then the report says the cluster may hold that key, and that step 4
/// resets it on the envelope of a current key.
fn unconfirmed(e: &Entry, app: &App, app_id: &str, name: &str) -> String {
    let unwatched = "which key it holds is not confirmed, so its expiry cannot be watched";
    if let (Some(p), true, true) = (&e.pending, e.switch, e.was.is_empty()) {
        let end = app
            .keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(p))
            .map(|(_, end)| *end);
        let lost = match end {
            None => Some(format!("key {p} is no longer on app {app_id}")),
            Some(Some(end)) if end <= app.now() => Some(format!(
                "key {p} expired at {}",
                end.format(&Rfc3339).unwrap_or_default()
            )),
            Some(_) => None,
        };
        if let Some(lost) = lost {
            return format!(
                "a switch of cluster {name} to app {app_id} with key {p} was posted and never confirmed (its run lost the answer), and {lost}: \
                 if that switch landed, the cluster cannot sign in (nodes stop pulling once their token ends); {unwatched}; \
                 aks-sp-update refuses key {p}'s envelope (SecretNotBound), and on the envelope of a current key of the app resets the cluster to it and records it (every node reimaged)"
            );
        }
        return format!(
            "a switch of cluster {name} to app {app_id} with key {p} was posted and never confirmed (its run lost the answer): {unwatched}; \
             aks-sp-update on the envelope of key {p} confirms it without a reset while the cluster is Succeeded (only that reset can have switched it to the app; \
             it waits for an operation running on it), and resets the cluster in any other state or on another key's envelope"
        );
    }
    let keys: Vec<&str> = e.pending.iter().chain(&e.was).map(String::as_str).collect();
    let before = e
        .key
        .as_ref()
        .map(|k| format!(", after key {k} was confirmed"))
        .unwrap_or_default();
    format!(
        "the record on app {app_id} names resets of cluster {name} that were never confirmed (keys {}{before}): any of them may be the one it holds, so {unwatched}; aks-sp-update resets it to its envelope's key and records it (every node reimaged)",
        keys.join(", ")
    )
}

/// Judges the key the cluster holds on `app`: gone, expired, expiring or fine.
pub(crate) fn judge(
    r: &mut Report,
    app: &App,
    cluster: &ManagedCluster,
    id: &ResourceId,
    warn_within: Duration,
) {
    r.app_display_name.clone_from(&app.display_name);
    r.app_made_by_tools = Some(app.managed);
    let now = app.now();
    r.checked_at = now.format(&Rfc3339).ok();
    r.legacy_tags = has_legacy_tags(&cluster.tags);
    let Some((key, source)) = recorded_key(cluster, app, &r.app_id, &id.id()) else {
        if let Some(e) = app
            .record
            .entry(&id.id())
            .filter(|_| cluster.uses(&r.app_id))
        {
            let message = unconfirmed(&e, app, &r.app_id, &id.name);
            r.problem(Problem::broken("KeyUnconfirmed", message));
            return;
        }
        let legacy = if r.legacy_tags {
            "; the xtenant-* tags of earlier versions on the cluster name no key of this app alone"
        } else {
            ""
        };
        r.problem(Problem::broken(
            "KeyNotRecorded",
            format!(
                "no record says which of app {}'s keys cluster {} holds (it was switched outside these tools, or its record was lost{legacy}): its expiry cannot be watched; renewing resets it and records the key",
                r.app_id, id.name
            ),
        ));
        return;
    };
    if source == Source::LegacyTags {
        r.problem(Problem::soon(
            "LegacyRecord",
            format!(
                "which key cluster {} holds is known only from the xtenant-* tags an earlier version wrote on the cluster: anyone who may write its tags could have written them, so the key {key} is reported, not trusted; move the record to the app: rerun aks-sp-update --remove-legacy-tags on the cluster's envelope (it resets the cluster to the envelope's secret, records it on app {}, and removes the tags), or renew it",
                id.name, r.app_id
            ),
        ));
    }
    let end = app
        .keys
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        .map(|(_, end)| *end);
    let mut k = KeyReport {
        id: key.clone(),
        recorded_in: source.place(),
        exists: end.is_some(),
        expires_at: None,
        expires_in_days: None,
    };
    match end {
        None => r.problem(Problem::broken(
            "KeyGone",
            format!(
                "the key {key} the cluster holds is no longer on app {}: the cluster cannot sign in (nodes stop pulling once their token ends)",
                r.app_id
            ),
        )),
        Some(None) => {}
        Some(Some(end)) => {
            k.expires_at = end.format(&Rfc3339).ok();
            let left = end - now;
            k.expires_in_days = Some(left.whole_days());
            let when = k.expires_at.clone().unwrap_or_default();
            if left <= time::Duration::ZERO {
                r.problem(Problem::broken(
                    "KeyExpired",
                    format!("the key {key} the cluster holds expired at {when}"),
                ));
            } else if left <= time::Duration::try_from(warn_within).unwrap_or(time::Duration::MAX) {
                r.problem(Problem::soon(
                    "KeyExpiresSoon",
                    format!(
                        "the key {key} the cluster holds expires at {when}, in {} day(s): renew it",
                        left.whole_days()
                    ),
                ));
            }
        }
    }
    r.key = Some(k);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entras_clock_comes_from_the_date_header() {
        let body = json!({"id": "o", "displayName": "x", "tags": ["xtenant:managed"], "passwordCredentials": [
            {"keyId": "AAAAAAAA-0000-0000-0000-000000000001", "endDateTime": "2030-01-01T00:00:00Z"}]});
        let app = App::from_body(&body, Some("Tue, 01 Jan 2030 00:00:00 GMT")).unwrap();
        assert!(app.managed);
        assert_eq!(
            app.keys[0].0, "aaaaaaaa-0000-0000-0000-000000000001",
            "key ids are compared in lower case"
        );
        assert_eq!(app.now().year(), 2030);
        let here = App::from_body(&body, Some("not a date")).unwrap();
        let no_key_id =
            json!({"id": "o", "passwordCredentials": [{"endDateTime": "2030-01-01T00:00:00Z"}]});
        let e = App::from_body(&no_key_id, None).unwrap_err();
        assert!(e.message().contains("passwordCredentials[0]"), "{e}");
        assert!((here.now() - OffsetDateTime::now_utc()).abs() < time::Duration::minutes(1));
    }

    /// attack11, finding 3: a switch claim is said to be confirmed without a reset only while
    /// its key is on the app and current (step 4 refuses the envelope of a removed or expired
    /// key); otherwise the report says the cluster may hold it and that step 4 resets it.
    #[test]
    fn a_switch_claim_is_promised_a_confirmation_only_while_its_key_is_current() {
        let p = "aaaaaaaa-0000-0000-0000-000000000001";
        let app = |end: &str| {
            let creds = json!([{"keyId": p.to_uppercase(), "endDateTime": end}]);
            let body = json!({"id": "o", "passwordCredentials": creds});
            App::from_body(&body, Some("Tue, 01 Jan 2030 00:00:00 GMT")).unwrap()
        };
        let switch = Entry {
            pending: Some(p.into()),
            switch: true,
            ..Entry::default()
        };
        let said = |app: &App| unconfirmed(&switch, app, "app-a", "aks");
        let promise = format!("envelope of key {p} confirms it without a reset");
        let current = said(&app("2031-01-01T00:00:00Z"));
        assert!(current.contains(&promise), "{current}");
        let expired = said(&app("2029-12-31T00:00:00Z"));
        let gone = said(&App::from_body(&json!({"id": "o"}), None).unwrap());
        for (m, why) in [
            (expired, "expired at 2029-12-31"),
            (gone, "is no longer on app app-a"),
        ] {
            assert!(!m.contains(&promise), "{m}");
            assert!(m.contains(why), "{m}");
            assert!(
                m.contains(&format!("refuses key {p}'s envelope (SecretNotBound)")),
                "{m}"
            );
            assert!(m.contains("resets the cluster"), "{m}");
        }
    }

    #[test]
    fn an_entry_keeping_another_runs_key_names_no_held_key() {
        let (app_id, id) = ("a1a1a1a1-a100-4000-8000-000000000002", "/c/aks");
        let cluster = ManagedCluster::from_value(
            &json!({"id": id, "properties": {"servicePrincipalProfile": {"clientId": app_id}}}),
            "aks",
        )
        .unwrap();
        let c = common::record::cluster_key(id);
        let k = "aaaaaaaa-0000-0000-0000-000000000001";
        let app = |tag: String| App::from_body(&json!({"id": "o", "tags": [tag]}), None).unwrap();
        let confirmed = format!("xtenant-cluster:{c};key={k}");
        assert_eq!(
            recorded_key(&cluster, &app(confirmed.clone()), app_id, id),
            Some((k.to_owned(), Source::App))
        );
        let kept = format!("{confirmed};was=bbbbbbbb-0000-0000-0000-000000000001");
        assert_eq!(recorded_key(&cluster, &app(kept), app_id, id), None);
    }
}
