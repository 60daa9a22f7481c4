//! The app: found by uniqueName or app id, created when absent, fixed when adopted.

use common::error::codes;
use common::graph;
use common::graph::{
    MULTITENANT_AUDIENCE, READ_LAG_GRACE, alt_key, any_eq_filter, wait_until_readable,
    with_user_read, write_despite_lag,
};
use common::http::Sent;
use common::json::read;
use common::ui;
use common::wait::human;
use common::{Error, Result};
use reqwest::Method;
use serde_json::json;

use crate::act::Step;
use crate::graph::{Application, MANAGED_TAG, UNIQUE_NAME_TAG};
use crate::inputs::AppKey;
use crate::unique_key::{KeyUse, refuses_unique_name_key, short};

/// The app as this run leaves it.
pub(crate) enum AppState {
    /// Found or made.
    Known(Application),
    /// Would be created with this uniqueName (dry run).
    WouldCreate(String),
}

/// What the upsert of the app did.
pub(crate) enum Upsert {
    /// 201: made now.
    Created(Box<Application>),
    /// 204: it existed.
    Existed,
    /// Only reported.
    DryRun,
}

impl Step<'_> {
    /// Finds the app (by uniqueName or appId), creates it when absent, fixes it when asked to.
    pub(crate) async fn ensure_app(&mut self) -> Result<AppState> {
        let inputs = self.inputs;
        let app = match &inputs.key {
            AppKey::UniqueName(unique) => {
                let path = alt_key("applications", "uniqueName", unique);
                match self.read_app(&path).await {
                    Ok(Some(app)) => app,
                    Err(e) if refuses_unique_name_key(&e, KeyUse::Read) => {
                        match self.by_tag_instead(unique, &e).await? {
                            Tagged::Found(app) => app,
                            Tagged::Created(app) => return Ok(AppState::Known(app)),
                            Tagged::DryRun => return Ok(AppState::WouldCreate(unique.clone())),
                        }
                    }
                    Err(e) => return Err(e),
                    Ok(None) => match self.create_by_unique_name(unique, &path).await {
                        Err(e) if refuses_unique_name_key(&e, KeyUse::Upsert) => {
                            match self.by_tag_instead(unique, &e).await? {
                                Tagged::Found(app) => app,
                                Tagged::Created(app) => return Ok(AppState::Known(app)),
                                Tagged::DryRun => {
                                    return Ok(AppState::WouldCreate(unique.clone()));
                                }
                            }
                        }
                        Err(e) => return Err(e),
                        Ok(Tagged::Created(app)) => return Ok(AppState::Known(app)),
                        Ok(Tagged::DryRun) => return Ok(AppState::WouldCreate(unique.clone())),
                        // It exists (made by another run since our read, or our read came
                        // before Graph showed it): an existing app, checked as any.
                        Ok(Tagged::Found(app)) => app,
                    },
                }
            }
            AppKey::AppId(a) => {
                let found = self.read_app(&alt_key("applications", "appId", a)).await?;
                let Some(app) = found else {
                    return Err(Error::step(
                        codes::APP_NOT_FOUND,
                        format!("the input's app_id {a} is not an app registered in tenant {}", inputs.tenant),
                    )
                    .with_hint(
                        "check cluster_tenant_id (the app's home tenant), or drop app_id and pass --unique-name to create one",
                    ));
                };
                app
            }
        };
        if let Some(want) = &inputs.app_id
            && *want != app.app_id
        {
            return Err(Error::step(
                codes::APP_ID_MISMATCH,
                format!(
                    "the input's app_id {want} is not the app with uniqueName {} in tenant {} (that one is {})",
                    app.unique_name.as_deref().unwrap_or("?"),
                    inputs.tenant,
                    app.app_id
                ),
            )
            .with_hint("pass the --unique-name that app was made with, or drop app_id from the input"));
        }
        self.fix_app(app).await
    }

    /// The app at `path` (`None` on 404), young when Graph's answer dates it recent.
    async fn read_app(&self, path: &str) -> Result<Option<Application>> {
        let url = self.api.url(path)?;
        let r = self
            .api
            .read(self.api.request(Method::GET, url).accept(&[404]))
            .await?;
        if r.status == 404 {
            return Ok(None);
        }
        Application::from_answer(&r).map(Some)
    }

    /// A write on `app` built by `req`: for an app made a moment ago, sent again while Graph's
    /// write replica lacks it (404), within `--timeout`; else sent once.
    pub(crate) async fn write_app(
        &self,
        app: &Application,
        what: &str,
        req: impl Fn() -> common::http::Request,
    ) -> Result<Sent> {
        if !app.young {
            return self.api.write(req()).await;
        }
        Box::pin(write_despite_lag(what, self.api.deadline(), || {
            self.api.write(req())
        }))
        .await
    }

    /// The apps carrying the unique-name tag (`$filter=tags/any(t:t eq '…')`); one without
    /// its `id` is an error naming it.
    async fn tagged(&self, unique: &str) -> Result<Vec<graph::Application>> {
        let filter = any_eq_filter("tags", &format!("{UNIQUE_NAME_TAG}{unique}"));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", &filter)
            .finish();
        let what =
            format!("Microsoft Graph's application listed by its tag {UNIQUE_NAME_TAG}{unique}");
        self.api
            .list(&format!("/applications?{query}"))
            .await?
            .iter()
            .map(|v| read(v, codes::UNEXPECTED_RESPONSE, &what))
            .collect()
    }

    /// Graph refused the uniqueName key (`refusal`): says so, then finds or makes the app by its
    /// tag. A real error met on that path (a refused POST, a missing permission) is the step's.
    async fn by_tag_instead(&mut self, unique: &str, refusal: &Error) -> Result<Tagged> {
        ui::info(&format!(
            "Microsoft Graph in this cloud has no uniqueName key ({} [{}]): the app is found by its tag {UNIQUE_NAME_TAG}{unique} instead",
            short(refusal.message()),
            refusal.code(),
        ));
        self.find_or_create_by_tag(unique).await
    }

    /// Where Graph has no uniqueName key: find the app by its tag, else create it with the
    /// tag, then find again. Idempotent: a rerun (or a run after a crash) finds the tagged
    /// app; two runs that both created one both keep the oldest and delete their own.
    async fn find_or_create_by_tag(&mut self, unique: &str) -> Result<Tagged> {
        let found = self.tagged(unique).await?;
        if let Some(first) = oldest(&found) {
            if found.len() > 1 {
                ui::warn(&format!(
                    "{} apps carry the tag {UNIQUE_NAME_TAG}{unique}; using the oldest",
                    found.len()
                ));
            }
            return Ok(Tagged::Found(Application::of(first.clone())?.0));
        }
        let url = self.api.url("/applications")?;
        let body = json!({
            "displayName": self.inputs.display_name,
            "signInAudience": MULTITENANT_AUDIENCE,
            "web": {"redirectUris": [self.inputs.redirect_uri]},
            "tags": [MANAGED_TAG, format!("{UNIQUE_NAME_TAG}{unique}")],
            "requiredResourceAccess": with_user_read(None),
        });
        let Sent::Done(resp) = self
            .api
            .write(self.api.request(Method::POST, url).json(body))
            .await?
        else {
            self.notes.push(format!(
                "would create the multitenant app {:?} (tag {UNIQUE_NAME_TAG}{unique}) in tenant {}",
                self.inputs.display_name, self.inputs.tenant
            ));
            return Ok(Tagged::DryRun);
        };
        let mine = Application::parse(&resp.body)?.made_now();
        self.changed = true;
        self.new_app = true;
        // Find again: until the listing shows ours (bounded), then keep the oldest tagged app.
        let api_deadline = self.api.deadline();
        let listed = wait_until_readable(
            &format!("the new app {} in the listing by tag", mine.app_id),
            api_deadline,
            || async {
                let all = self.tagged(unique).await?;
                Ok(all.iter().any(|a| a.id == mine.id).then_some(all))
            },
        )
        .await?
        .unwrap_or_default();
        if let Some(first) = oldest(&listed)
            && first.id != mine.id
        {
            // Another run made one first: keep that one, remove ours (it has no secret yet).
            let keep = Application::of(first.clone())?.0;
            let del = self.api.url(&format!("/applications/{}", mine.id))?;
            // Not reached in a dry run (nothing was created). Ours is new: a 404 is Graph's
            // write lag, not a deletion, and is waited out.
            let _deleted: Sent = self
                .write_app(&mine, "the removal of the duplicate", || {
                    self.api.request(Method::DELETE, del.clone())
                })
                .await?;
            self.notes.push(format!(
                "another run created the app {} first: using it, and deleted the duplicate {}",
                keep.app_id, mine.app_id
            ));
            self.new_app = false;
            return Ok(Tagged::Found(keep));
        }
        self.notes.push(format!(
            "created app {} (appId {}, tag {UNIQUE_NAME_TAG}{unique})",
            mine.display_name, mine.app_id
        ));
        Ok(Tagged::Created(mine))
    }

    /// Creates the app by its uniqueName (the upsert) after a read found none. The upsert's
    /// body is fixed (it is not made from a read), so it is never sent again as it was: after
    /// a failure (a 429, a 5xx, a lost answer) the app is read again (waiting out Graph's read
    /// lag when the upsert may have landed) and is an existing app when it is there, else
    /// created again. A 204 means Graph updated an app that appeared since the read (another
    /// run, or someone by hand, made it): said so, and the app is read and refused without
    /// `--adopt` (`owned.rs`): the mark it shows is this run's own write.
    async fn create_by_unique_name(&mut self, unique: &str, path: &str) -> Result<Tagged> {
        let mut resends = 0;
        loop {
            let e = match self.create_app(unique).await {
                Ok(Upsert::Created(app)) => return Ok(Tagged::Created(*app)),
                Ok(Upsert::DryRun) => return Ok(Tagged::DryRun),
                Ok(Upsert::Existed) => {
                    self.changed = true;
                    self.upserted_over = true;
                    let by = if resends == 0 {
                        "another run made it moments ago"
                    } else {
                        "another run made it moments ago, or this run's earlier create whose answer was lost"
                    };
                    let note = format!(
                        "the app with uniqueName {unique} appeared between this run's read and its create ({by}): Graph's upsert updated it (204), setting its displayName, signInAudience, web.redirectUris, tags and requiredResourceAccess to this run's"
                    );
                    ui::warn(&format!(
                        "{note}; if that run used other settings (--redirect-uri, --display-name), its app now has this run's: check them"
                    ));
                    self.notes.push(note);
                    return self.existing_after_create(unique, path).await;
                }
                Err(e) if refuses_unique_name_key(&e, KeyUse::Upsert) => return Err(e),
                Err(e) => e,
            };
            resends += 1;
            let api = &self.api;
            let wait = common::http::resend_wait(&e, resends)
                .filter(|w| *w < api.deadline().remaining())
                .ok_or_else(|| e.clone())?;
            let what = format!("the create of the app with uniqueName {unique}");
            ui::debug(&format!(
                "{what}: {}; the app is read again in {:.1}s",
                e.message(),
                wait.as_secs_f64()
            ));
            api.deadline().interrupt().sleep(wait, &what).await?;
            // A plain read: an app there now is an existing one. (One this run's lost create
            // made that Graph does not show yet is updated by the next upsert with the same
            // body: a 204, said so.)
            if let Some(app) = self.read_app(path).await? {
                return Ok(Tagged::Found(app));
            }
        }
    }

    /// The app with uniqueName `unique` at `path` that the upsert updated, young, waiting out
    /// Graph's read lag (it may have been made a moment ago).
    async fn existing_after_create(&self, unique: &str, path: &str) -> Result<Tagged> {
        let api = &self.api;
        let v = wait_until_readable(
            &format!("the app with uniqueName {unique}"),
            api.deadline(),
            || api.get_opt(path),
        )
        .await?
        .ok_or_else(|| {
            Error::step(
                codes::APP_NOT_FOUND,
                format!("Microsoft Graph accepted the upsert of the app with uniqueName {unique} (it exists) but did not show it within {}", human(READ_LAG_GRACE)),
            )
            .with_hint("rerun this step: it finds the app")
        })?;
        Ok(Tagged::Found(Application::parse(&v)?.made_now()))
    }

    /// The upsert by uniqueName (`Prefer: create-if-missing`).
    async fn create_app(&mut self, unique: &str) -> Result<Upsert> {
        let url = self
            .api
            .url(&alt_key("applications", "uniqueName", unique))?;
        let body = json!({
            "displayName": self.inputs.display_name,
            // Sent explicitly: new apps default to AzureADMyOrg since April 2024.
            "signInAudience": MULTITENANT_AUDIENCE,
            "web": {"redirectUris": [self.inputs.redirect_uri]},
            // The mark that lets later runs change it on the strength of an input object.
            "tags": [MANAGED_TAG],
            // What the portal gives every new registration; an app that requests no
            // permission fails on the consent page (AADSTS650056).
            "requiredResourceAccess": with_user_read(None),
        });
        // Never resent as it is: a resend would update an app another run made meanwhile.
        let req = self
            .api
            .request(Method::PATCH, url)
            .header("Prefer", "create-if-missing")
            .json(body)
            .never_resent();
        let Sent::Done(resp) = self.api.write(req).await? else {
            self.notes.push(format!(
                "would create the multitenant app {:?} (uniqueName {unique}) in tenant {}",
                self.inputs.display_name, self.inputs.tenant
            ));
            return Ok(Upsert::DryRun);
        };
        if resp.status != 201 {
            return Ok(Upsert::Existed);
        }
        let app = Application::parse(&resp.body)?.made_now();
        self.changed = true;
        self.new_app = true;
        self.notes.push(format!(
            "created app {} (appId {})",
            app.display_name, app.app_id
        ));
        Ok(Upsert::Created(Box::new(app)))
    }
}

/// The app found or made (by its unique-name key, or its tag).
pub(crate) enum Tagged {
    /// It existed.
    Found(Application),
    /// Made now.
    Created(Application),
    /// Only reported.
    DryRun,
}

/// The oldest of `apps` (`createdDateTime`, then object id): the one every run keeps.
fn oldest(apps: &[graph::Application]) -> Option<&graph::Application> {
    apps.iter()
        .min_by_key(|a| (a.created_date_time.as_deref().unwrap_or(""), a.id.as_str()))
}

#[cfg(test)]
mod tests {
    use common::json::read;
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn the_oldest_tagged_app_is_kept_and_one_without_an_id_is_refused() {
        let app = |id: &str, at: Value| {
            read::<graph::Application>(
                &json!({"id": id, "appId": "a", "createdDateTime": at}),
                codes::UNEXPECTED_RESPONSE,
                "app",
            )
            .unwrap()
        };
        let apps = [
            app("b", json!("2024-01-02T00:00:00Z")),
            app("c", json!("2024-01-01T00:00:00Z")),
            app("a", json!("2024-01-01T00:00:00Z")),
        ];
        assert_eq!(oldest(&apps).unwrap().id, "a");
        // A date of another type is as absent: it sorts first, as before.
        let odd = [app("z", json!(5)), app("y", json!("2024-01-01T00:00:00Z"))];
        assert_eq!(oldest(&odd).unwrap().id, "z");
        assert!(oldest(&[]).is_none());
        let e = read::<graph::Application>(
            &json!({"appId": "a"}),
            codes::UNEXPECTED_RESPONSE,
            "Microsoft Graph's application listed by its tag",
        )
        .unwrap_err();
        assert!(e.message().contains("missing field `id`"), "{e}");
    }
}
