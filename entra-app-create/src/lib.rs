//! entra-app-create: step 1 — the multitenant app, its service principal in tenant A, a client secret.
//!
//! Safe to rerun: the app is found by `uniqueName` (or the input's `app_id`) before
//! anything is written, the service principal is looked up by `appId`, and a secret is
//! minted only when the input holds none that still works for this app. A rerun on the
//! tool's own output sends only reads.

mod graph;
mod inputs;
mod secret_file;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use clap::Parser;
use common::cli::CommonArgs;
use common::driver::{Ctx, Done, Tool};
use common::envelope::{Envelope, fields};
use common::graph::alt_key;
use common::http::{Api, Sent};
use common::wait::{Poll, human, poll_until};

use common::{Error, Result, Secret, ui};
use reqwest::Method;
use serde_json::{Value, json};

use crate::graph::{Application, MULTI_ORG, Password, explain, explain_lifetime, sp_id};
use crate::inputs::{AppKey, Flags, Inputs};
use crate::secret_file::Pending;

/// The redirect URI of Microsoft's procedure.
pub(crate) use common::envelope::DEFAULT_REDIRECT_URI;

/// Create (or find) the multitenant app for cross-tenant registry pulls, its service principal in the
/// cluster's tenant, and a client secret
///
/// Reads envelope objects on stdin (or runs once on the flags alone), writes them to stdout with
/// app_id, app_object_id, cluster_sp_object_id, client_secret, client_secret_key_id and
/// client_secret_expires_at added. Rerunning on its own output changes nothing.
#[derive(Debug, Parser)]
#[command(name = "entra-app-create", version)]
pub struct Cli {
    /// Tenant A, the cluster's tenant and the app's home: a tenant id or a verified domain [field: cluster_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub cluster_tenant: Option<String>,

    /// The app's display name, used when creating it (renames an existing app when given) [default: xtenant-acr-pull] [field: app_display_name]
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,

    /// The app's uniqueName, the key reruns find it by [default: the display name in lower case, other characters as '-'] [field: app_unique_name]
    #[arg(long, value_name = "NAME")]
    pub unique_name: Option<String>,

    /// The app's web redirect URI (the admin-consent page returns there) [default: https://www.microsoft.com] [field: redirect_uri]
    #[arg(long, value_name = "URL", value_parser = parse_redirect_uri)]
    pub redirect_uri: Option<String>,

    /// How long a new client secret is valid, e.g. 90d (the tenant's policy may allow less)
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_lifetime)]
    pub secret_lifetime: Duration,

    /// The display name of a new client secret
    #[arg(long, value_name = "NAME", default_value = "xtenant", value_parser = parse_secret_name)]
    pub secret_name: String,

    /// Mint a new client secret even when the input holds a working one (a rotation's first step)
    #[arg(long)]
    pub new_secret: bool,

    /// Remove every client secret of the app except the one in the output (a rotation's last step)
    #[arg(long)]
    pub prune_secrets: bool,

    /// Also write the client secret to PATH (mode 0600, replaced atomically, never through a symlink); a rerun reuses the secret saved there
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Keep client_secret out of stdout; later steps read it with --client-secret-file (requires --secret-file, or the secret would be lost)
    #[arg(long, requires = "secret_file")]
    pub no_secret_output: bool,

    /// Take over an existing app with this unique name that does not fit (single-tenant, redirect URI missing) and fix it
    #[arg(long)]
    pub adopt: bool,

    #[command(flatten)]
    pub common: CommonArgs,

    /// Secret files already claimed by an object of this run (one secret per file).
    #[arg(skip)]
    claimed_files: Mutex<HashSet<PathBuf>>,
}

fn parse_redirect_uri(value: &str) -> std::result::Result<String, String> {
    // Keep the text as given: Entra compares redirect URIs as strings, and Url would add a '/'.
    common::validate::redirect_uri("redirect_uri", value)
        .map(|_| value.trim().to_owned())
        .map_err(|e| e.message().to_owned())
}

fn parse_lifetime(value: &str) -> std::result::Result<Duration, String> {
    let d = common::validate::clap_duration(value)?;
    if d < Duration::from_secs(60) {
        return Err(format!(
            "'{value}' is too short for a secret's lifetime: give at least a minute, e.g. 90d"
        ));
    }
    Ok(d)
}

fn parse_secret_name(value: &str) -> std::result::Result<String, String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 256 || v.chars().any(char::is_control) {
        return Err(
            "a secret name must be 1 to 256 characters without control characters".to_owned(),
        );
    }
    Ok(v.to_owned())
}

impl Tool for Cli {
    const NAME: &'static str = "entra-app-create";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    async fn run(&self, mut input: Envelope, ctx: &Ctx) -> Result<Done> {
        let flags = Flags {
            cluster_tenant: self.cluster_tenant.as_deref(),
            display_name: self.display_name.as_deref(),
            unique_name: self.unique_name.as_deref(),
            redirect_uri: self.redirect_uri.as_deref(),
        };
        let inputs = Inputs::read(&mut input, flags)?;
        self.check_prune(&inputs)?;
        let pending = self.prepare_secret_file(ctx)?;
        let file_secret = match &self.secret_file {
            Some(p) if inputs.secret.is_none() => secret_file::read_existing(p)?,
            _ => None,
        };
        let step = Step {
            cli: self,
            ctx,
            api: ctx.graph(&inputs.tenant),
            inputs: &inputs,
            notes: Vec::new(),
            changed: false,
            new_app: false,
        };
        step.run(input, pending, file_secret)
            .await
            .map_err(|e| explain(e, &inputs.tenant))
    }
}

impl Cli {
    fn check_prune(&self, inputs: &Inputs) -> Result<()> {
        if self.prune_secrets && !self.new_secret && inputs.key_id.is_none() {
            return Err(Error::input(
                fields::CLIENT_SECRET_KEY_ID.name,
                "--prune-secrets keeps only the secret of the input, but the input has no client_secret_key_id: \
                 pipe in the output of entra-app-create, or add --new-secret to mint one and keep only that",
            ));
        }
        Ok(())
    }

    /// Claims `--secret-file` for this object and opens its temporary file (not in a dry run).
    fn prepare_secret_file(&self, ctx: &Ctx) -> Result<Option<Pending>> {
        let Some(path) = &self.secret_file else {
            return Ok(None);
        };
        let mut claimed = self
            .claimed_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !claimed.insert(path.clone()) {
            return Err(Error::input(
                secret_file::FIELD,
                format!(
                    "--secret-file {} already holds the secret of an earlier object of this run: run once per object",
                    path.display()
                ),
            ));
        }
        drop(claimed);
        if ctx.dry_run() {
            return Ok(None);
        }
        Pending::prepare(path).map(Some)
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
struct KeptSecret {
    secret: Secret,
    key_id: String,
    expires_at: Option<String>,
}

struct Step<'a> {
    cli: &'a Cli,
    ctx: &'a Ctx,
    api: Api<'a>,
    inputs: &'a Inputs,
    notes: Vec<String>,
    changed: bool,
    /// The app was created by this run (so it has no service principal yet).
    new_app: bool,
}

impl Step<'_> {
    async fn run(
        mut self,
        mut env: Envelope,
        pending: Option<Pending>,
        file_secret: Option<Secret>,
    ) -> Result<Done> {
        let app = match self.ensure_app().await? {
            AppState::Known(app) => app,
            AppState::WouldCreate(unique) => {
                env.set(fields::APP_DISPLAY_NAME.name, &self.inputs.display_name);
                env.set(fields::APP_UNIQUE_NAME.name, &unique);
                self.notes
                    .push("would add its service principal in the tenant".into());
                self.notes.push(format!(
                    "would add a client secret valid for {}",
                    lifetime_text(self.cli.secret_lifetime)
                ));
                return Ok(self.done(env));
            }
        };
        let (object_id, app_id) = (app.id.clone(), app.app_id.clone());
        env.set(fields::APP_DISPLAY_NAME.name, &app.display_name);
        if let Some(u) = &app.unique_name {
            env.set(fields::APP_UNIQUE_NAME.name, u);
        }
        env.set(fields::APP_ID.name, &app_id);
        env.set(fields::APP_OBJECT_ID.name, &object_id);

        if let Some(sp) = self.ensure_sp(&app_id).await? {
            env.set(fields::CLUSTER_SP_OBJECT_ID.name, &sp);
        }

        let kept = self.ensure_secret(&app, file_secret).await?;
        match &kept {
            Some(k) => {
                env.set(fields::CLIENT_SECRET_KEY_ID.name, &k.key_id);
                match &k.expires_at {
                    Some(at) => env.set(fields::CLIENT_SECRET_EXPIRES_AT.name, at),
                    None => env.remove(fields::CLIENT_SECRET_EXPIRES_AT.name),
                }
                if self.cli.no_secret_output {
                    env.remove(fields::CLIENT_SECRET.name);
                } else {
                    env.set_secret(&fields::CLIENT_SECRET, &k.secret);
                }
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
            None => {
                // Dry run: the secret that would be minted does not exist.
                for f in [
                    &fields::CLIENT_SECRET,
                    &fields::CLIENT_SECRET_KEY_ID,
                    &fields::CLIENT_SECRET_EXPIRES_AT,
                ] {
                    env.remove(f.name);
                }
            }
        }

        if self.cli.prune_secrets {
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
        Ok(self.done(env))
    }

    fn done(self, envelope: Envelope) -> Done {
        let summary = self.notes.join("; ");
        Done {
            envelope,
            changed: self.changed,
            summary,
        }
    }

    fn dry(&self) -> bool {
        self.ctx.dry_run()
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
                        "AppNotFound",
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
            "signInAudience": MULTI_ORG,
            "web": {"redirectUris": [self.inputs.redirect_uri]},
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
        if !problems.is_empty() && !self.cli.adopt {
            let code = if app.audience == MULTI_ORG {
                "AppRedirectUriMissing"
            } else {
                "AppNotMultitenant"
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
                "pass --adopt to make it multitenant with the redirect URI {redirect}, or choose another --unique-name"
            )));
        }
        let mut body = serde_json::Map::new();
        if app.audience != MULTI_ORG {
            body.insert("signInAudience".into(), json!(MULTI_ORG));
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
        if body.is_empty() {
            self.notes.push(format!(
                "the app {:?} (appId {}) exists",
                app.display_name, app.app_id
            ));
            return Ok(AppState::Known(app));
        }
        let what: Vec<&str> = body.keys().map(String::as_str).collect();
        let what = what.join(", ");
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
        }
        Ok(AppState::Known(app))
    }

    /// The app's service principal in tenant A: found, or created once the app is visible to it.
    async fn ensure_sp(&mut self, app_id: &str) -> Result<Option<String>> {
        let path = alt_key("servicePrincipals", "appId", app_id);
        // An app made a moment ago has no service principal: straight to the upsert (which
        // answers 204 if one was made meanwhile, and that one is read back).
        if !self.new_app
            && let Some(sp) = self.api.get_opt(&path).await?
        {
            return sp_id(&sp).map(Some);
        }
        let url = self.api.url(&path)?;
        let api = &self.api;
        let made = poll_until(
            "waiting for the new app to back its service principal",
            self.ctx.deadline(),
            || async {
                let req = api
                    .request(Method::PATCH, url.clone())
                    .header("Prefer", "create-if-missing")
                    .json(json!({}));
                match api.write(req).await {
                    Ok(Sent::Skipped) => Ok(Poll::Ready(None)),
                    Ok(Sent::Done(r)) if r.status == 201 => {
                        sp_id(&r.body).map(|id| Poll::Ready(Some((id, true))))
                    }
                    // 204: it exists after all (made meanwhile, or the read was not yet consistent).
                    Ok(Sent::Done(_)) => {
                        sp_id(&api.get(&path).await?).map(|id| Poll::Ready(Some((id, false))))
                    }
                    Err(e) if e.is_code("NoBackingApplicationObject") => {
                        Ok(Poll::Pending("the app is not replicated yet".into(), None))
                    }
                    Err(e) => Err(e),
                }
            },
        )
        .await?;
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

    /// Keeps the input's secret when it still works for this app; else adds one. `None` in a dry run.
    async fn ensure_secret(
        &mut self,
        app: &Application,
        file_secret: Option<Secret>,
    ) -> Result<Option<KeptSecret>> {
        let held = self.inputs.secret.clone().or(file_secret);
        // Run from flags alone (a Makefile recipe) the input has no key id: a secret saved in
        // --secret-file is recognised by its hint when exactly one live key of the app matches.
        let key_id = self.inputs.key_id.clone().or_else(|| {
            let s = held.as_ref()?;
            let mut matching = app
                .passwords
                .iter()
                .filter(|p| !p.expired() && hint_matches(p, s));
            let only = matching.next()?;
            matching.next().is_none().then(|| only.key_id.clone())
        });
        let current = key_id.as_deref().map(|k| (k, app.password(k)));
        let usable = match (current, &held) {
            (Some((_, Some(p))), Some(s)) if !p.expired() && hint_matches(p, s) => Some((p, s)),
            _ => None,
        };
        if self.cli.prune_secrets && !self.cli.new_secret && usable.is_none() {
            let why = match current {
                Some((k, None)) => {
                    format!("the input's secret {k} is not a credential of this app")
                }
                Some((k, Some(p))) if p.expired() => format!("the input's secret {k} has expired"),
                Some((k, Some(_))) if held.is_some() => {
                    format!("the input's client_secret does not belong to its key {k}")
                }
                Some((k, Some(_))) => format!("the input carries no client_secret for its key {k}"),
                None => "the input has no client_secret_key_id".to_owned(),
            };
            return Err(Error::step(
                "NoSecretToKeep",
                format!("--prune-secrets would remove every secret of the app but {why}; nothing was removed"),
            )
            .with_hint("use --new-secret --prune-secrets to mint a new secret and keep only that one"));
        }
        if let (Some((p, s)), false) = (usable, self.cli.new_secret) {
            self.notes.push(format!("kept the secret {}", p.key_id));
            return Ok(Some(KeptSecret {
                secret: s.clone(),
                key_id: p.key_id.clone(),
                expires_at: p.end.clone(),
            }));
        }
        if let (Some((k, Some(p))), false) = (current, self.cli.new_secret) {
            if p.expired() {
                ui::warn(&format!(
                    "the input's secret {k} has expired: adding a new one"
                ));
            } else if held.is_some() {
                ui::warn(&format!(
                    "the input's client_secret does not belong to its key {k}: adding a new one"
                ));
            } else {
                ui::warn(&format!(
                    "the input has the key {k} but not its secret (give --secret-file to reuse a saved one): adding a new one"
                ));
            }
        }
        self.add_password(app).await
    }

    async fn add_password(&mut self, app: &Application) -> Result<Option<KeptSecret>> {
        let lifetime = self.cli.secret_lifetime;
        let end = time::OffsetDateTime::now_utc()
            + time::Duration::try_from(lifetime)
                .map_err(|_| Error::input("secret_lifetime", "--secret-lifetime is too long"))?;
        let end = end.replace_nanosecond(0).unwrap_or(end);
        let end = end
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                Error::input(
                    "secret_lifetime",
                    "--secret-lifetime is too long: the end date cannot be written",
                )
            })?;
        let url = self
            .api
            .url(&format!("/applications/{}/addPassword", app.id))?;
        let body = json!({"passwordCredential": {"displayName": self.cli.secret_name, "endDateTime": end}});
        let sent = self
            .api
            .write(self.api.request(Method::POST, url).json(body))
            .await
            .map_err(|e| {
                if e.is_code("CredentialInvalidLifetimeAsPerAppPolicy") {
                    explain_lifetime(e, lifetime.as_secs_f64() / 86_400.0)
                } else {
                    e
                }
            })?;
        let Sent::Done(resp) = sent else {
            self.notes
                .push(format!("would add a client secret valid until {end}"));
            return Ok(None);
        };
        self.changed = true;
        let p = Password::parse(&resp.body).ok_or_else(|| {
            Error::step(
                "UnexpectedResponse",
                "Microsoft Graph's addPassword answer has no keyId",
            )
        })?;
        let secret = resp
            .body
            .get("secretText")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                Error::step(
                    "UnexpectedResponse",
                    "Microsoft Graph's addPassword answer has no secretText",
                )
            })?;
        let expires_at = p.end.clone().unwrap_or(end);
        self.notes.push(format!(
            "added the client secret {} (expires {expires_at})",
            p.key_id
        ));
        Ok(Some(KeptSecret {
            secret,
            key_id: p.key_id,
            expires_at: Some(expires_at),
        }))
    }

    /// Removes every password credential but `keep` (`None`: the one a dry run would add).
    async fn prune(&mut self, app: &Application, keep: Option<&str>) -> Result<()> {
        let others: Vec<&Password> = app
            .passwords
            .iter()
            .filter(|p| keep != Some(p.key_id.as_str()))
            .collect();
        let url = self
            .api
            .url(&format!("/applications/{}/removePassword", app.id))?;
        let mut removed = 0usize;
        for p in &others {
            let req = self
                .api
                .request(Method::POST, url.clone())
                .json(json!({"keyId": p.key_id}));
            let sent = self
                .api
                .write(req)
                .await
                .map_err(|e| e.context(format!("removing the secret {}", p.key_id)))?;
            if !sent.is_skipped() {
                removed += 1;
                self.changed = true;
            }
        }
        match (others.len(), self.dry()) {
            (0, _) => self.notes.push("no other secret to remove".into()),
            (n, true) => self.notes.push(format!("would remove {n} other secret(s)")),
            (_, false) => self
                .notes
                .push(format!("removed {removed} other secret(s)")),
        }
        Ok(())
    }
}

/// A lifetime for messages: whole days as days (`365 days`), else `90m`-style.
fn lifetime_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(86_400) && d.subsec_nanos() == 0 {
        format!("{} days", secs / 86_400)
    } else {
        human(d)
    }
}

/// Whether `secret` can be the one of `p`: Graph's `hint` is the secret's first characters.
fn hint_matches(p: &Password, secret: &Secret) -> bool {
    p.hint
        .as_deref()
        .is_none_or(|h| secret.expose().starts_with(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flag_values_are_checked_by_the_parser() {
        let ok = Cli::try_parse_from(["entra-app-create", "--cluster-tenant", "t.onmicrosoft.com"])
            .unwrap();
        assert_eq!(ok.redirect_uri, None);
        assert_eq!(ok.secret_lifetime, Duration::from_secs(365 * 86_400));
        assert_eq!(ok.secret_name, "xtenant");
        for bad in [
            &["--secret-lifetime", "ten days"][..],
            &["--secret-lifetime", "10s"],
            &["--redirect-uri", "http://x.com"],
            &["--redirect-uri", "https://x.com/#f"],
            &["--secret-name", ""],
            &["--no-secret-output"],
        ] {
            let args = std::iter::once("entra-app-create").chain(bad.iter().copied());
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        // The redirect URI is kept as typed (no trailing slash added).
        let c = Cli::try_parse_from([
            "entra-app-create",
            "--redirect-uri",
            "https://app.example/cb",
        ])
        .unwrap();
        assert_eq!(c.redirect_uri.as_deref(), Some("https://app.example/cb"));
    }

    #[test]
    fn lifetimes_read_as_days() {
        assert_eq!(lifetime_text(Duration::from_secs(365 * 86_400)), "365 days");
        assert_eq!(lifetime_text(Duration::from_secs(90 * 60)), "90m");
    }

    #[test]
    fn hints_tie_a_secret_to_its_credential() {
        let p = Password {
            key_id: "k".into(),
            hint: Some("abc".into()),
            end: None,
        };
        assert!(hint_matches(&p, &Secret::new("abc8Q~rest")));
        assert!(!hint_matches(&p, &Secret::new("xyz8Q~rest")));
        assert!(hint_matches(
            &Password { hint: None, ..p },
            &Secret::new("anything")
        ));
    }
}
