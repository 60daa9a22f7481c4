//! The step: find or create the app, its service principal in tenant A, and its secret.

use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Envelope, fields};
use common::error::codes;
use common::graph::{MULTITENANT_AUDIENCE, alt_key, ensure_service_principal, is_multitenant};
use common::http::{Api, Sent};
use common::{Error, Result, Secret, ui};
use reqwest::Method;
use serde_json::{Value, json};

use crate::graph::{Application, MANAGED_TAG, explain};
use crate::inputs::{AppKey, Inputs};
use crate::secret_file::{self, Pending};
use crate::secrets::lifetime_text;

/// What becomes of the secret fields.
#[derive(Debug, Clone, Default)]
pub enum SecretOut {
    /// Left as the input had them.
    #[default]
    Keep,
    /// This secret (its value only when `shown`: `--no-secret-output` keeps it off stdout).
    Set {
        /// The secret and its metadata.
        kept: KeptSecret,
        /// Whether `client_secret` is written.
        shown: bool,
    },
    /// Removed (a dry run: the secret that would be minted does not exist).
    Remove,
}

/// The fields step 1 writes; as a failure's partial output, only what the run made.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Tenant A as checked (lower case).
    pub cluster_tenant_id: Option<String>,
    /// The redirect URI as registered.
    pub redirect_uri: Option<String>,
    /// The app's display name.
    pub app_display_name: Option<String>,
    /// The app's unique name.
    pub app_unique_name: Option<String>,
    /// The app's client id.
    pub app_id: Option<String>,
    /// The app's object id.
    pub app_object_id: Option<String>,
    /// Its service principal in tenant A.
    pub cluster_sp_object_id: Option<String>,
    /// The client secret.
    pub secret: SecretOut,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        for (field, value) in [
            (&fields::CLUSTER_TENANT_ID, &self.cluster_tenant_id),
            (&fields::REDIRECT_URI, &self.redirect_uri),
            (&fields::APP_DISPLAY_NAME, &self.app_display_name),
            (&fields::APP_UNIQUE_NAME, &self.app_unique_name),
            (&fields::APP_ID, &self.app_id),
            (&fields::APP_OBJECT_ID, &self.app_object_id),
            (&fields::CLUSTER_SP_OBJECT_ID, &self.cluster_sp_object_id),
        ] {
            if let Some(v) = value {
                object.set(field.name, v);
            }
        }
        match &self.secret {
            SecretOut::Keep => {}
            SecretOut::Set { kept, shown } => {
                object.set(fields::CLIENT_SECRET_KEY_ID.name, &kept.key_id);
                match &kept.expires_at {
                    Some(at) => object.set(fields::CLIENT_SECRET_EXPIRES_AT.name, at),
                    None => object.remove(fields::CLIENT_SECRET_EXPIRES_AT.name),
                }
                if *shown {
                    object.set_secret(&fields::CLIENT_SECRET, &kept.secret);
                } else {
                    object.remove(fields::CLIENT_SECRET.name);
                }
            }
            SecretOut::Remove => {
                for f in [
                    &fields::CLIENT_SECRET,
                    &fields::CLIENT_SECRET_KEY_ID,
                    &fields::CLIENT_SECRET_EXPIRES_AT,
                ] {
                    object.remove(f.name);
                }
            }
        }
    }
}

/// The app as this run leaves it.
enum AppState {
    /// Found or made.
    Known(Application),
    /// Would be created with this uniqueName (dry run).
    WouldCreate(String),
}

/// What the upsert of the app did.
enum Upsert {
    /// 201: made now.
    Created(Application),
    /// 204: it existed.
    Existed,
    /// Only reported.
    DryRun,
}

/// The secret the output carries.
#[derive(Debug, Clone)]
pub struct KeptSecret {
    pub(crate) secret: Secret,
    pub(crate) key_id: String,
    pub(crate) expires_at: Option<String>,
}

pub(crate) struct Step<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) api: Api<'a>,
    pub(crate) inputs: &'a Inputs,
    pub(crate) notes: Vec<String>,
    pub(crate) changed: bool,
    /// The app was created by this run (so it has no service principal yet).
    new_app: bool,
    /// What the run made so far: the partial output if it fails.
    out: Output,
}

/// Step 1 on one object.
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Failed<Output>> {
    let pending = prepare_secret_file(inputs, ctx)?;
    let file_secret = match &inputs.options.secret_file {
        Some(p) if inputs.secret.is_none() => secret_file::read_existing(p)?,
        _ => None,
    };
    let mut step = Step {
        ctx,
        api: ctx.graph(&inputs.tenant),
        inputs,
        notes: Vec::new(),
        changed: false,
        new_app: false,
        out: Output {
            cluster_tenant_id: Some(inputs.tenant.clone()),
            redirect_uri: Some(inputs.redirect_uri.clone()),
            ..Output::default()
        },
    };
    match step.run(pending, file_secret).await {
        Ok(()) => Ok(Done {
            output: step.out,
            changed: step.changed,
            summary: step.notes.join("; "),
        }),
        Err(e) => {
            let e = explain(e, &inputs.tenant);
            // What a rerun needs from this run: the app it made, the secret it minted.
            let made = step.new_app || matches!(step.out.secret, SecretOut::Set { .. });
            Err(if made {
                Failed::with(e, step.out)
            } else {
                e.into()
            })
        }
    }
}

/// Claims `--secret-file` for this object and opens its temporary file (not in a dry run).
fn prepare_secret_file(inputs: &Inputs, ctx: &Ctx) -> Result<Option<Pending>> {
    let Some(path) = &inputs.options.secret_file else {
        return Ok(None);
    };
    if !ctx.claim_file(path) {
        return Err(Error::input(
            secret_file::FIELD,
            format!(
                "--secret-file {} already holds the secret of an earlier object of this run: run once per object",
                path.display()
            ),
        ));
    }
    if ctx.dry_run() {
        return Ok(None);
    }
    Pending::prepare(path).map(Some)
}

impl Step<'_> {
    async fn run(&mut self, pending: Option<Pending>, file_secret: Option<Secret>) -> Result<()> {
        let app = match self.ensure_app().await? {
            AppState::Known(app) => app,
            AppState::WouldCreate(unique) => {
                self.out.app_display_name = Some(self.inputs.display_name.clone());
                self.out.app_unique_name = Some(unique);
                self.notes
                    .push("would add its service principal in the tenant".into());
                self.notes.push(format!(
                    "would add a client secret valid for {}",
                    lifetime_text(self.inputs.options.secret_lifetime)
                ));
                return Ok(());
            }
        };
        self.out.app_display_name = Some(app.display_name.clone());
        self.out.app_unique_name.clone_from(&app.unique_name);
        self.out.app_id = Some(app.app_id.clone());
        self.out.app_object_id = Some(app.id.clone());

        self.out.cluster_sp_object_id = self.ensure_sp(&app.app_id).await?;

        let kept = self.ensure_secret(&app, file_secret).await?;
        match &kept {
            Some(k) => {
                self.out.secret = SecretOut::Set {
                    kept: k.clone(),
                    shown: !self.inputs.options.no_secret_output,
                };
                if let Some(p) = pending {
                    let target = p.target().display().to_string();
                    let wrote = p.commit(&k.secret).map_err(|e| {
                        e.with_hint(format!(
                            "the secret {} was added to the app but could not be saved: rerun with --new-secret, \
                             then remove the lost one with --prune-secrets",
                            k.key_id
                        ))
                    })?;
                    if wrote {
                        self.notes.push(format!("secret written to {target}"));
                    }
                }
            }
            // Dry run: the secret that would be minted does not exist.
            None => self.out.secret = SecretOut::Remove,
        }

        if self.inputs.options.prune_secrets {
            let minted = kept
                .as_ref()
                .is_some_and(|k| self.inputs.key_id.as_deref() != Some(k.key_id.as_str()));
            match self
                .prune(&app, kept.as_ref().map(|k| k.key_id.as_str()))
                .await
            {
                Ok(()) => {}
                // The secret minted by this run is in the output: failing here would lose it.
                Err(e) if minted => {
                    ui::warn(&format!(
                        "the other secrets were not all removed ({}): rerun entra-app-create --prune-secrets on this output",
                        e.message()
                    ));
                    self.notes
                        .push("the other secrets were NOT all removed".into());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Refuses to change an existing app this tool did not create, unless the reader's own
    /// flags named it with `--adopt`: an input object (another party's file) must not pick
    /// which of the reader's apps get a new secret, lose theirs, or are reconfigured.
    pub(crate) fn may_change(&self, app: &Application, what: &str) -> Result<()> {
        if self.new_app || app.managed() || self.inputs.options.adopt {
            return Ok(());
        }
        Err(Error::step(
            codes::APP_NOT_MANAGED.name,
            format!(
                "refusing to {what} the app {:?} (appId {}) in tenant {}: entra-app-create did not create it (it has no tag {MANAGED_TAG}), \
                 and an input object may not choose which existing app is changed",
                app.display_name, app.app_id, self.inputs.tenant
            ),
        )
        .with_hint(format!(
            "if this is the app you mean, name it yourself: entra-app-create --app-id {} --adopt (this marks it as managed)",
            app.app_id
        )))
    }

    /// The app's service principal in tenant A: found, or created once the app backs one.
    async fn ensure_sp(&mut self, app_id: &str) -> Result<Option<String>> {
        // An app made a moment ago has no service principal: straight to the upsert.
        let made = ensure_service_principal(&self.api, app_id, !self.new_app).await?;
        Ok(match made {
            None => {
                self.notes.push(format!(
                    "would add its service principal in tenant {}",
                    self.inputs.tenant
                ));
                None
            }
            Some((id, created)) => {
                if created {
                    self.changed = true;
                    self.notes.push(format!(
                        "added its service principal {id} in tenant {}",
                        self.inputs.tenant
                    ));
                }
                Some(id)
            }
        })
    }

    /// Finds the app (by uniqueName or appId), creates it when absent, fixes it when asked to.
    async fn ensure_app(&mut self) -> Result<AppState> {
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
