//! The app's client secret: kept when the input's still works, minted, pruned.

use std::collections::BTreeMap;
use std::time::Duration;

use common::arm::clusters::clusters_using;
use common::error::codes;
use common::graph::AddedPassword;
use common::http::Sent;
use common::json::read;
use common::record;
use common::wait::human;
use common::{Error, Result, Secret, ui};
use reqwest::Method;
use serde_json::json;

use crate::act::{KeptSecret, Step};
use crate::graph::{Application, Password, explain_lifetime};
use crate::vault::Found;

impl Step<'_> {
    /// Keeps the input's secret when it still works for this app; else adds one. `None` in a dry run.
    pub(crate) async fn ensure_secret(
        &mut self,
        app: &Application,
        found: Option<Found>,
    ) -> Result<Option<KeptSecret>> {
        let held = self
            .inputs
            .secret
            .clone()
            .or_else(|| found.as_ref().map(|f| f.secret.clone()));
        // Run from flags alone (a Makefile recipe) the input has no key id: a secret in a vault
        // names its key in a tag; one saved in --secret-file is recognised by its hint when
        // exactly one live key of the app matches.
        let tagged = found.and_then(|f| f.key_id);
        let key_id = self.inputs.key_id.clone().or(tagged).or_else(|| {
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
        if self.inputs.options.prune_secrets {
            // Before any other answer: whose secrets these are decides whether to go on at all.
            self.may_change(app, "remove client secrets of")?;
        }
        if self.inputs.options.prune_secrets && !self.inputs.options.new_secret && usable.is_none()
        {
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
                codes::NO_SECRET_TO_KEEP,
                format!("--prune-secrets would remove every secret of the app but {why}; nothing was removed"),
            )
            .with_hint("use --new-secret --prune-secrets to mint a new secret and keep only that one"));
        }
        if let (Some((p, s)), false) = (usable, self.inputs.options.new_secret) {
            self.notes.push(format!("kept the secret {}", p.key_id));
            return Ok(Some(KeptSecret {
                secret: s.clone(),
                key_id: p.key_id.clone(),
                expires_at: p.end.clone(),
            }));
        }
        if let (Some((k, Some(p))), false) = (current, self.inputs.options.new_secret) {
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
        self.may_change(app, "add a client secret to")?;
        self.add_password(app).await
    }

    async fn add_password(&mut self, app: &Application) -> Result<Option<KeptSecret>> {
        self.check_new_secret_has_a_home()?;
        let lifetime = self.inputs.options.secret_lifetime;
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
        let body = json!({"passwordCredential": {"displayName": self.inputs.options.secret_name, "endDateTime": end}});
        let sent = self
            .write_app(app, "the new client secret", || {
                self.api.request(Method::POST, url.clone()).json(body.clone())
            })
            .await
            .map_err(|e| {
                if e.is_code("CredentialInvalidLifetimeAsPerAppPolicy") {
                    explain_lifetime(e, lifetime.as_secs_f64() / 86_400.0)
                } else if e.is_outcome_unknown() {
                    e.with_hint(
                        "if Entra added the secret, its value is lost (Entra shows a secret only once): the rerun of the same \
                         command adds another, and `entra-app-create --prune-secrets` on the rerun's output removes the lost one",
                    )
                } else {
                    e
                }
            })?;
        let Sent::Done(resp) = sent else {
            self.notes.push(format!(
                "would add a client secret valid for {} (until {end})",
                lifetime_text(lifetime)
            ));
            return Ok(None);
        };
        self.changed = true;
        self.minted = true;
        // Its keyId and secretText are required (an error names the one missing); the secret
        // goes straight into the redacting type.
        let added: AddedPassword = read(
            &resp.body,
            codes::UNEXPECTED_RESPONSE,
            "Microsoft Graph's addPassword answer",
        )?;
        let secret = added.secret_text;
        if secret.is_empty() {
            return Err(Error::step(
                codes::UNEXPECTED_RESPONSE,
                "Microsoft Graph's addPassword answer has an empty `secretText`",
            ));
        }
        let p = Password::from(added.credential);
        let expires_at = p.end.clone().unwrap_or(end);
        // The key id is in the output; the line says what a person acts on: until when.
        self.notes.push(format!(
            "added a secret until {}",
            expires_at.get(..10).unwrap_or(&expires_at)
        ));
        // A rerun from flags (or on an output whose secret was lost) adds a secret beside
        // the ones the app has: say so, since each is a credential to the registry.
        let others = app.passwords.iter().filter(|o| !o.expired()).count();
        if others > 0 && !self.inputs.options.prune_secrets {
            ui::warn(&format!(
                "app {} now has {} live client secrets: this run added {} beside {others} it already had; to keep only the new one, rerun entra-app-create --prune-secrets on this output",
                app.app_id,
                others + 1,
                p.key_id
            ));
        }
        Ok(Some(KeptSecret {
            secret,
            key_id: p.key_id,
            expires_at: Some(expires_at),
        }))
    }

    /// Removes every password credential but `keep` (`None`: the one a dry run would add),
    /// and but those a cluster of tenant A uses (unless `--force`).
    pub(crate) async fn prune(&mut self, app: &Application, keep: Option<&str>) -> Result<()> {
        self.may_change(app, "remove client secrets of")?;
        let mut others: Vec<&Password> = app
            .passwords
            .iter()
            .filter(|p| keep != Some(p.key_id.as_str()))
            .collect();
        if !others.is_empty() {
            let in_use = self.secrets_clusters_use(app).await?;
            let force = self.inputs.options.force;
            others.retain(|p| {
                let Some(names) = in_use.get(&p.key_id.to_ascii_lowercase()) else {
                    return true;
                };
                let names = names.join(", ");
                if force {
                    ui::warn(&format!(
                        "--force: removing the secret {} that cluster(s) {names} use: they cannot pull until aks-sp-update resets them to this output's secret",
                        p.key_id
                    ));
                } else {
                    ui::warn(&format!(
                        "kept the secret {}: cluster(s) {names} may hold it (the record on the app says so); run aks-sp-update on this output for them, then --prune-secrets again",
                        p.key_id
                    ));
                    self.notes
                        .push(format!("kept the secret {} (used by {names})", p.key_id));
                }
                force
            });
        }
        let url = self
            .api
            .url(&format!("/applications/{}/removePassword", app.id))?;
        let mut removed = 0usize;
        for p in &others {
            let sent = self
                .write_app(app, &format!("the removal of secret {}", p.key_id), || {
                    self.api
                        .request(Method::POST, url.clone())
                        .json(json!({"keyId": p.key_id}))
                })
                .await
                .map_err(|e| e.context(format!("removing the secret {}", p.key_id)))?;
            if !sent.is_skipped() {
                removed += 1;
                self.changed = true;
            }
        }
        match (others.len(), self.ctx.dry_run()) {
            (0, _) => self.notes.push("no other secret to remove".into()),
            (n, true) => self.notes.push(format!("would remove {n} other secret(s)")),
            (_, false) => self
                .notes
                .push(format!("removed {removed} other secret(s)")),
        }
        Ok(())
    }
}

impl Step<'_> {
    /// The app's secrets the clusters of tenant A may hold, by key id (lower case) with the
    /// clusters' names: every key the record on the app names (confirmed or pending, for a
    /// cluster seen or not), and every key a cluster's old `xtenant-*` tags name for the app
    /// (a fallback that may only keep more). A cluster ARM shows running as the app with no
    /// entry in the record, or one naming no key the app has, or clusters that cannot be listed, end the prune unless
    /// `--force` (then a warning): the old tags never stand for an entry.
    async fn secrets_clusters_use(
        &self,
        app: &Application,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let force = self.inputs.options.force;
        let arm = self.ctx.arm(&self.inputs.tenant);
        let (clusters, record) = tokio::join!(
            clusters_using(&arm, &app.app_id),
            record::read(&self.api, &app.app_id)
        );
        let record = record.map_err(|e| e.context("--prune-secrets: nothing was removed"))?;
        let mut used: BTreeMap<String, Vec<String>> =
            record.keys().into_iter().map(|k| (k, Vec::new())).collect();
        let clusters = match clusters {
            Ok(c) => c,
            Err(e) if force => {
                ui::warn(&format!(
                    "--force: pruning without knowing which clusters use the app's secrets ({})",
                    e.message()
                ));
                return Ok(name_unseen(used));
            }
            Err(e) => return Err(e.context("--prune-secrets: nothing was removed")),
        };
        let mut unknown = Vec::new();
        for c in &clusters {
            let entry = record.entry(&c.id);
            for k in entry
                .iter()
                .flat_map(|e| e.keys().cloned().collect::<Vec<_>>())
                .chain(record::legacy_keys(&c.tags, &app.app_id))
            {
                used.entry(k).or_default().push(c.name.clone());
            }
            // An entry naming no key the app has is a claim shown false: the cluster holds
            // some other key, as unknown as with no entry (issue 23).
            let live = entry
                .iter()
                .flat_map(record::Entry::keys)
                .any(|k| app.password(k).is_some());
            if !live {
                unknown.push(c.name.clone());
            }
        }
        if !unknown.is_empty() {
            let names = unknown.join(", ");
            if force {
                ui::warn(&format!(
                    "--force: cluster(s) {names} use app {} and no record says which secret: removing secrets may cut them off",
                    app.app_id
                ));
            } else {
                return Err(Error::step(
                    codes::CLUSTER_SECRET_UNKNOWN,
                    format!(
                        "cluster(s) {names} use app {} and the record on the app names no secret for them: --prune-secrets could cut them off; nothing was removed",
                        app.app_id
                    ),
                )
                .with_hint("run aks-sp-update on this output for each (it resets the cluster to this secret and records it on the app), then --prune-secrets again; or --force"));
            }
        }
        Ok(name_unseen(used))
    }
}

/// Keys only an entry of an unlisted cluster names are kept for "a recorded cluster".
fn name_unseen(mut used: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    for names in used.values_mut() {
        names.dedup();
        if names.is_empty() {
            names.push("a cluster recorded on the app but not seen".to_owned());
        }
    }
    used
}

/// A lifetime for messages: whole days as days (`365 days`), else `90m`-style.
pub(crate) fn lifetime_text(d: Duration) -> String {
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
