//! The app: found by uniqueName or app id, created when absent, fixed when adopted.

use common::error::codes;
use common::graph::{MULTITENANT_AUDIENCE, alt_key, is_multitenant};
use common::http::Sent;
use common::{Error, Result};
use reqwest::Method;
use serde_json::{Value, json};

use crate::act::Step;
use crate::graph::{Application, MANAGED_TAG};
use crate::inputs::AppKey;

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
    Created(Application),
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
                match self.api.get_opt(&path).await? {
                    Some(v) => Application::parse(&v)?,
                    None => match self.create_app(unique).await? {
                        Upsert::Created(app) => return Ok(AppState::Known(app)),
                        Upsert::DryRun => return Ok(AppState::WouldCreate(unique.clone())),
                        // 204: someone made it between our read and our upsert.
                        Upsert::Existed => Application::parse(&self.api.get(&path).await?)?,
                    },
                }
            }
            AppKey::AppId(a) => {
                let found = self
                    .api
                    .get_opt(&alt_key("applications", "appId", a))
                    .await?;
                let Some(v) = found else {
                    return Err(Error::step(
                        codes::APP_NOT_FOUND.name,
                        format!("the input's app_id {a} is not an app registered in tenant {}", inputs.tenant),
                    )
                    .with_hint(
                        "check cluster_tenant_id (the app's home tenant), or drop app_id and pass --unique-name to create one",
                    ));
                };
                Application::parse(&v)?
            }
        };
        if let Some(want) = &inputs.app_id
            && *want != app.app_id
        {
            return Err(Error::step(
                "AppIdMismatch",
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
        });
        let req = self
            .api
            .request(Method::PATCH, url)
            .header("Prefer", "create-if-missing")
            .json(body);
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
        let app = Application::parse(&resp.body)?;
        self.changed = true;
        self.new_app = true;
        self.notes.push(format!(
            "created the multitenant app {:?} (appId {})",
            app.display_name, app.app_id
        ));
        Ok(Upsert::Created(app))
    }

    /// Refuses an app that does not fit unless `--adopt`; makes it fit (and renames it) when asked.
    async fn fix_app(&mut self, mut app: Application) -> Result<AppState> {
        let redirect = self.inputs.redirect_uri.as_str();
        let problems = app.problems(redirect);
        if !problems.is_empty() && !self.inputs.options.adopt {
            let code = if is_multitenant(&app.audience) {
                codes::APP_REDIRECT_URI_MISSING.name
            } else {
                codes::APP_NOT_MULTITENANT.name
            };
            return Err(Error::step(
                code,
                format!(
                    "the app {:?} (appId {}) in tenant {} does not fit: {}; it was not made by this tool, or was changed since",
                    app.display_name,
                    app.app_id,
                    self.inputs.tenant,
                    problems.join(", ")
                ),
            )
            .with_hint(format!(
                "pass --app-id {} --adopt to make it multitenant with the redirect URI {redirect}, or choose another --unique-name",
                app.app_id
            )));
        }
        let mut body = serde_json::Map::new();
        if !is_multitenant(&app.audience) {
            body.insert("signInAudience".into(), json!(MULTITENANT_AUDIENCE));
        }
        if !app.redirect_uris.iter().any(|u| u == redirect) {
            // web.redirectUris is replaced as a whole: keep the ones it has.
            let mut uris = app.redirect_uris.clone();
            uris.push(redirect.to_owned());
            body.insert("web".into(), json!({"redirectUris": uris}));
        }
        if self.inputs.rename && app.display_name != self.inputs.display_name {
            body.insert("displayName".into(), json!(self.inputs.display_name));
        }
        if self.inputs.options.adopt && !app.managed() {
            // Adopted on the reader's flags: marked, so later runs may change it.
            let mut tags = app.tags.clone();
            tags.push(MANAGED_TAG.to_owned());
            body.insert("tags".into(), json!(tags));
        }
        if body.is_empty() {
            self.notes.push(format!(
                "the app {:?} (appId {}) exists",
                app.display_name, app.app_id
            ));
            return Ok(AppState::Known(app));
        }
        let what: Vec<&str> = body.keys().map(String::as_str).collect();
        let what = what.join(", ");
        self.may_change(&app, &format!("update {what} of"))?;
        let url = self.api.url(&format!("/applications/{}", app.id))?;
        let sent = self
            .api
            .write(
                self.api
                    .request(Method::PATCH, url)
                    .json(Value::Object(body.clone())),
            )
            .await?;
        if sent.is_skipped() {
            self.notes.push(format!(
                "would update {what} of the app {:?} (appId {})",
                app.display_name, app.app_id
            ));
        } else {
            self.changed = true;
            self.notes.push(format!(
                "updated {what} of the app {:?} (appId {})",
                app.display_name, app.app_id
            ));
            if let Some(n) = body.get("displayName").and_then(Value::as_str) {
                n.clone_into(&mut app.display_name);
            }
            if body.contains_key("tags") {
                app.tags.push(MANAGED_TAG.to_owned());
            }
        }
        Ok(AppState::Known(app))
    }
}
