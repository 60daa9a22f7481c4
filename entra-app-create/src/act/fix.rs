//! An existing app made to fit: refused unless `--adopt` when it does not, else updated from a
//! fresh read and read back (`common::record::update_app`: `tags`, `web.redirectUris` and
//! `requiredResourceAccess` are replaced as a whole, and step 4 keeps its record in `tags`).

use common::error::codes;
use common::graph::{MULTITENANT_AUDIENCE, is_multitenant, with_user_read};
use common::record::{Updated, update_app};
use common::{Error, Result};
use serde_json::{Map, Value, json};

use crate::act::Step;
use crate::act::app::AppState;
use crate::graph::{Application, MANAGED_TAG};

impl Step<'_> {
    /// Refuses an app that does not fit unless `--adopt`; makes it fit (and renames it) when
    /// asked. The update is made from a read sent just before it, not from `app` (read
    /// earlier): what another writer wrote meanwhile is kept.
    pub(super) async fn fix_app(&mut self, app: Application) -> Result<AppState> {
        self.check_own(&app).await?;
        if self.fixes(&app)?.is_empty() {
            self.notes.push(format!(
                "the app {:?} (appId {}) exists",
                app.display_name, app.app_id
            ));
            return Ok(AppState::Known(app));
        }
        let path = format!("/applications/{}", app.id);
        let updated = update_app(&self.api, &path, app.young, |v| {
            self.fixes(&Application::parse(v)?)
        })
        .await?;
        let fresh = |v: &Value| {
            Application::parse(v).map(|mut fresh| {
                fresh.young = app.young;
                fresh
            })
        };
        let (name, id) = (&app.display_name, &app.app_id);
        Ok(AppState::Known(match updated {
            Updated::DryRun(body) => {
                let what: Vec<&str> = body.keys().map(String::as_str).collect();
                self.notes.push(format!(
                    "would update {} of the app {name:?} (appId {id})",
                    what.join(", ")
                ));
                app
            }
            // Another writer made it fit between the two reads.
            Updated::Unchanged(v) => {
                self.notes
                    .push(format!("the app {name:?} (appId {id}) exists"));
                fresh(&v)?
            }
            // Written, then the read-back refused the app (another writer changed it
            // meanwhile) or failed: the write stays, the error says so.
            Updated::Failed {
                landed, error: e, ..
            } => {
                self.changed |= landed;
                return Err(e);
            }
            Updated::Written { app: v, fields } => {
                self.changed = true;
                self.notes.push(format!(
                    "updated {} of the app {name:?} (appId {id})",
                    fields.join(", ")
                ));
                fresh(&v)?
            }
        }))
    }

    /// The body of the `PATCH` that makes `app` fit (empty: it fits); refused, before any
    /// write, for an app that does not fit without `--adopt`, or that this tool may not change.
    fn fixes(&self, app: &Application) -> Result<Map<String, Value>> {
        let redirect = self.inputs.redirect_uri.as_str();
        let adopt = self.inputs.options.adopt;
        let problems = app.problems(redirect);
        if !problems.is_empty() && !adopt {
            let code = if is_multitenant(&app.audience) {
                codes::APP_REDIRECT_URI_MISSING
            } else {
                codes::APP_NOT_MULTITENANT
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
        let mut body = Map::new();
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
        if !app.user_read() && (adopt || app.managed()) {
            // What the portal gives every registration; without any permission the consent
            // page fails (AADSTS650056). Only on an app this tool may change.
            body.insert(
                "requiredResourceAccess".into(),
                with_user_read(app.required_resource_access.as_deref()),
            );
        }
        if adopt && !app.managed() {
            // Adopted on the reader's flags: marked, so later runs may change it. Replaced as
            // a whole too: every tag it has is kept (the record's entries among them).
            let mut tags = app.tags.clone();
            tags.push(MANAGED_TAG.to_owned());
            body.insert("tags".into(), json!(tags));
        }
        if !body.is_empty() {
            let what: Vec<&str> = body.keys().map(String::as_str).collect();
            self.may_change(app, &format!("update {} of", what.join(", ")))?;
        }
        Ok(body)
    }
}
