//! The step: find or create the app, its service principal in tenant A, and its secret.

use std::io::IsTerminal;

mod app;
mod fix;
mod output;
mod owned;

use common::driver::{Ctx, Done, Failed};
use common::envelope::{fields, placeholder};
use common::error::codes;
use common::graph::ensure_service_principal;
use common::http::Api;
use common::{Error, Result, Secret, ui};

use crate::graph::{Application, MANAGED_TAG, explain};
use crate::inputs::Inputs;
use crate::secret_file::{self, Pending};
use app::AppState;
pub(crate) use output::{KeptSecret, OnlyHere, Output, SecretOut};

pub(crate) struct Step<'a> {
    pub(crate) ctx: &'a Ctx,
    pub(crate) api: Api<'a>,
    pub(crate) inputs: &'a Inputs,
    pub(crate) notes: Vec<String>,
    pub(crate) changed: bool,
    /// The app was created by this run (so it has no service principal yet).
    pub(crate) new_app: bool,
    /// This run added a secret to the app (Entra answered the addPassword).
    pub(crate) minted: bool,
    /// The create's upsert updated an app that existed (204): not taken without `--adopt`.
    pub(crate) upserted_over: bool,
    /// What the run made so far: the partial output if it fails.
    out: Output,
}

/// Step 1 on one object.
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Failed<Output>> {
    inputs.others.check(&inputs.tenant, ctx).await?;
    let pending = prepare_secret_file(inputs, ctx)?;
    let file_secret = match &inputs.options.secret_file {
        Some(p) if inputs.secret.is_none() && inputs.secret_ref.is_none() => {
            secret_file::read_existing(p, ctx.deadline().remaining())?
        }
        _ => None,
    };
    let mut step = Step {
        ctx,
        api: ctx.graph(&inputs.tenant),
        inputs,
        notes: Vec::new(),
        changed: false,
        new_app: false,
        minted: false,
        upserted_over: false,
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

/// What to say on stderr when the client secret is about to be written to a terminal.
fn terminal_advice(shown: bool, stdout_is_terminal: bool) -> Option<&'static str> {
    (shown && stdout_is_terminal).then_some(
        "the client secret is about to be written to this terminal (and its scrollback): \
         keep it out with --secret-keyvault URL (later steps read client_secret_ref), \
         or --secret-file PATH --no-secret-output, or redirect stdout to a file",
    )
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
            // A dry run: the app does not exist, so the later writes are planned against
            // placeholders a later dry-run step plans against too.
            AppState::WouldCreate(unique) => {
                self.new_app = true;
                Application {
                    id: placeholder(&fields::APP_OBJECT_ID),
                    app_id: placeholder(&fields::APP_ID),
                    display_name: self.inputs.display_name.clone(),
                    unique_name: Some(unique),
                    audience: common::graph::MULTITENANT_AUDIENCE.to_owned(),
                    redirect_uris: vec![self.inputs.redirect_uri.clone()],
                    passwords: Vec::new(),
                    certificates: Box::default(),
                    tags: vec![MANAGED_TAG.to_owned()],
                    required_resource_access: Some(Box::new(common::graph::with_user_read(None))),
                    young: true,
                }
            }
        };
        self.out.app_display_name = Some(app.display_name.clone());
        self.out.app_unique_name.clone_from(&app.unique_name);
        self.out.app_id = Some(app.app_id.clone());
        self.out.app_object_id = Some(app.id.clone());

        let kept = if self.new_app && !self.ctx.dry_run() && self.mint_is_kept_at_once() {
            self.sp_beside_secret(&app, pending, file_secret).await?
        } else {
            self.out.cluster_sp_object_id = Some(self.ensure_sp(&app.app_id).await?);
            self.keep_secret(&app, pending, file_secret).await?
        };

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
                // (Interrupted, the object fails with the secret in it: the rerun prunes.)
                Err(e) if minted && !e.is_interrupted() => {
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
            codes::APP_NOT_MANAGED,
            format!(
                "refusing to {what} the app {:?} (app_id {}) in tenant {}: entra-app-create did not create it (it has no tag {MANAGED_TAG}), \
                 and an input object may not choose which existing app is changed",
                app.display_name, app.app_id, self.inputs.tenant
            ),
        )
        .with_hint(format!(
            "if this is the app you mean, name it yourself: entra-app-create --app-id {} --adopt (this marks it as managed)",
            app.app_id
        )))
    }

    /// Whether a secret minted now is kept, the moment it is minted, where a rerun from the
    /// same input finds it: in the vault (`--secret-keyvault`) or the file (`--secret-file`),
    /// for an input holding no secret of its own (a rerun would take that one instead). Only
    /// then is it minted beside the service principal's wait: on stdout alone it lives in
    /// memory until the object is written, and a kill meanwhile (SIGKILL, a crash: nothing
    /// drains) loses a secret the one-after-the-other order would not have minted yet.
    fn mint_is_kept_at_once(&self) -> bool {
        let options = &self.inputs.options;
        self.inputs.secret.is_none()
            && self.inputs.secret_ref.is_none()
            && (options.keyvault.is_some() || options.secret_file.is_some())
    }

    /// The service principal and the secret of an app this run created, at once (one round
    /// trip fewer): nothing about either is refused for an app of our own, and neither write
    /// needs the other. Only when [`Self::mint_is_kept_at_once`].
    ///
    /// Neither part stops the other: each runs to its end, so a secret minted while the
    /// service principal fails (or waits for the app to replicate, and is interrupted) is
    /// stored and set in the output as a success would have it (the partial output a rerun
    /// keeps it from). When both fail, the error reported is the secret's if this run minted
    /// one or may have (its fate is what the reader acts on: the error's hint says how),
    /// else the service principal's, as the one-after-the-other order would report it.
    async fn sp_beside_secret(
        &mut self,
        app: &Application,
        pending: Option<Pending>,
        file_secret: Option<Secret>,
    ) -> Result<Option<KeptSecret>> {
        let api = self.api.clone();
        let before = self.notes.len();
        let (sp, kept) = tokio::join!(
            ensure_service_principal(&api, &app.app_id, false),
            self.keep_secret(app, pending, file_secret),
        );
        // The notes in the order of the sequential path: the service principal's first.
        let secret_notes = self.notes.split_off(before);
        let sp = sp.map(|made| self.note_sp(made));
        self.notes.extend(secret_notes);
        match (sp, kept) {
            (Ok(id), kept) => {
                self.out.cluster_sp_object_id = Some(id);
                kept
            }
            // The secret is in the output already (and in the vault or the file).
            (Err(e), Ok(_)) => Err(e),
            (Err(sp), Err(secret)) => Err(if self.minted || secret.is_outcome_unknown() {
                secret
            } else {
                sp
            }),
        }
    }

    /// The secret the output carries: the input's (or the one `--secret-file` or the vault
    /// holds) while it works for `app`, else a new one; stored in the vault before it is
    /// set in the output, then written to `--secret-file`. `None` in a dry run.
    async fn keep_secret(
        &mut self,
        app: &Application,
        pending: Option<Pending>,
        file_secret: Option<Secret>,
    ) -> Result<Option<KeptSecret>> {
        let found = self.found_secret(app, file_secret).await?;
        let kept = self.ensure_secret(app, found.clone()).await?;
        self.out.secret_changed = kept
            .as_ref()
            .is_none_or(|k| self.inputs.key_id.as_deref() != Some(k.key_id.as_str()));
        match &kept {
            Some(k) => {
                let minted = self.inputs.secret.as_ref() != Some(&k.secret)
                    && found.as_ref().map(|f| &f.secret) != Some(&k.secret);
                // Stored before the output is written: a rerun finds it in the vault.
                let stored = self.store(app, k, found.as_ref()).await.map_err(|e| {
                    if minted {
                        e.with_hint(format!(
                            "the secret {} was added to the app but could not be stored in the vault: fix that, rerun with --new-secret, \
                             then remove the lost one with --prune-secrets",
                            k.key_id
                        ))
                    } else {
                        e
                    }
                })?;
                let shown = !self.inputs.options.no_secret_output
                    && self.inputs.options.keyvault.is_none()
                    && stored.is_none();
                if let Some(advice) = terminal_advice(shown, std::io::stdout().is_terminal()) {
                    ui::warn(advice);
                }
                if minted && stored.is_none() && pending.is_none() {
                    self.out.only_here = Some(OnlyHere {
                        tenant: self.inputs.tenant.clone(),
                        app_id: app.app_id.clone(),
                        app_object_id: app.id.clone(),
                        key_id: k.key_id.clone(),
                    });
                }
                self.out.secret = SecretOut::Set {
                    kept: k.clone(),
                    shown,
                    stored: stored.map(|r| r.to_string()),
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
        Ok(kept)
    }

    /// The app's service principal in tenant A: found, or created once the app backs one.
    async fn ensure_sp(&mut self, app_id: &str) -> Result<String> {
        // An app made a moment ago has no service principal: straight to the upsert.
        let made = ensure_service_principal(&self.api, app_id, !self.new_app).await?;
        Ok(self.note_sp(made))
    }

    /// The service principal's id from its upsert (a placeholder in a dry run), noted
    /// when it was created.
    fn note_sp(&mut self, made: Option<(String, bool)>) -> String {
        match made {
            None => {
                self.notes.push(format!(
                    "would add its service principal in tenant {}",
                    self.inputs.tenant
                ));
                placeholder(&fields::CLUSTER_SP_OBJECT_ID)
            }
            Some((id, created)) => {
                if created {
                    self.changed = true;
                    self.notes.push("made its service principal".to_owned());
                }
                id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::driver::Fields;
    use common::envelope::Envelope;

    fn kept() -> KeptSecret {
        KeptSecret {
            secret: Secret::new("s3cr3t-value"),
            key_id: "k1".into(),
            expires_at: None,
        }
    }

    #[test]
    fn the_secret_fields_follow_the_output() {
        let input = r#"{"client_secret":"old","client_secret_key_id":"k0","client_secret_expires_at":"2020-01-01T00:00:00Z"}"#;
        let write = |secret: SecretOut| {
            let mut e = Envelope::parse(input).unwrap();
            Output {
                secret,
                ..Output::default()
            }
            .write_to(&mut e);
            e.to_line()
        };
        assert_eq!(write(SecretOut::Keep), input);
        assert_eq!(
            write(SecretOut::Set {
                kept: kept(),
                shown: true,
                stored: None,
            }),
            r#"{"client_secret":"s3cr3t-value","client_secret_key_id":"k1"}"#
        );
        // In a vault: the reference, never the value.
        assert_eq!(
            write(SecretOut::Set {
                kept: kept(),
                shown: true,
                stored: Some(
                    "https://kv1.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef".into()
                ),
            }),
            r#"{"client_secret_key_id":"k1","client_secret_ref":"https://kv1.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef"}"#
        );
        // --no-secret-output: the key id, never the value.
        assert_eq!(
            write(SecretOut::Set {
                kept: kept(),
                shown: false,
                stored: None,
            }),
            r#"{"client_secret_key_id":"k1"}"#
        );
        assert_eq!(write(SecretOut::Remove), "{}");
        assert!(!format!("{:?}", kept()).contains("s3cr3t"));
    }

    #[test]
    fn a_secret_bound_for_a_terminal_gets_advice() {
        let advice = terminal_advice(true, true).unwrap();
        assert!(advice.contains("--secret-keyvault") && advice.contains("--no-secret-output"));
        assert_eq!(terminal_advice(true, false), None);
        assert_eq!(terminal_advice(false, true), None);
    }
}
