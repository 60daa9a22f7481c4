//! `--secret-keyvault`: the client secret kept in Azure Key Vault instead of the envelope.
//!
//! Order, so that a crash never loses track of a secret the vault holds: the vault's current
//! version is read before anything is minted (a rerun after a run killed between the vault
//! write and its output finds its secret there and keeps it, writing nothing); a new secret is
//! stored at once, before the output is written. A run killed between Entra's answer and the
//! vault write loses that secret, as any secret whose answer is lost (docs/reliability.md, "A lost
//! secret"): the rerun mints another and `--prune-secrets` removes the lost one.

use common::client_secret::{CONTENT_TYPE, TAG_APP_ID, TAG_KEY_ID, tags};
use common::keyvault::{NewSecret, SecretRef, read_current, read_secret, set_secret};
use common::validate::shown;
use common::{Error, Result, Secret, ui};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::act::{KeptSecret, Step};
use crate::graph::Application;
use crate::inputs::KEYVAULT_FIELD;

/// A secret found somewhere other than the input's `client_secret`.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) secret: Secret,
    /// Its key id, when where it was found says (a vault secret's tag).
    pub(crate) key_id: Option<String>,
    /// The vault version holding it.
    pub(crate) stored: Option<SecretRef>,
}

/// The secret name `--secret-keyvault` defaults to: the app's unique name (or app id) with
/// every character Key Vault does not take as '-', then `-client-secret`.
pub(crate) fn default_name(app: &Application) -> String {
    let base = app
        .unique_name
        .clone()
        .unwrap_or_else(|| format!("app-{}", app.app_id));
    let mut name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(127 - "-client-secret".len());
    name.push_str("-client-secret");
    name
}

/// Whether `a` and `b` name the same secret (any versions).
fn same_secret(a: &SecretRef, b: &SecretRef) -> bool {
    a.vault_url().eq_ignore_ascii_case(b.vault_url()) && a.name().eq_ignore_ascii_case(b.name())
}

impl Step<'_> {
    /// Where `--secret-keyvault` stores the secret of `app`.
    pub(crate) fn vault_target(&self, app: &Application) -> Result<Option<SecretRef>> {
        self.inputs
            .options
            .keyvault
            .as_deref()
            .map(|url| {
                SecretRef::parse_target(KEYVAULT_FIELD, url, self.ctx.cloud(), &default_name(app))
            })
            .transpose()
    }

    /// The secret held outside the input's `client_secret`: `--secret-file`'s, else the one
    /// the input's `client_secret_ref` names (if tagged as this app's), else the current
    /// version of the `--secret-keyvault` secret (which must be this app's, or nothing is
    /// written over it).
    pub(crate) async fn found_secret(
        &mut self,
        app: &Application,
        file_secret: Option<Secret>,
    ) -> Result<Option<Found>> {
        if let Some(secret) = file_secret {
            return Ok(Some(Found {
                secret,
                key_id: None,
                stored: None,
            }));
        }
        let mut found = None;
        if let Some(r) = &self.inputs.secret_ref {
            let tenant = self.ctx.vault_tenant(r).await?;
            let s = read_secret(self.ctx.http(), &tenant, r, self.ctx.deadline()).await?;
            if s.tag(TAG_APP_ID)
                .is_some_and(|a| a.eq_ignore_ascii_case(&app.app_id))
            {
                found = Some(Found {
                    key_id: s.tag(TAG_KEY_ID).map(str::to_owned),
                    secret: s.value,
                    stored: Some(s.id),
                });
            } else {
                ui::warn(&format!(
                    "client_secret_ref {r} is not tagged as the client secret of app {}: it is not used",
                    app.app_id
                ));
            }
        }
        let Some(target) = self.vault_target(app)? else {
            return Ok(found);
        };
        if found
            .as_ref()
            .and_then(|f| f.stored.as_ref())
            .is_some_and(|s| same_secret(s, &target))
        {
            return Ok(found);
        }
        let tenant = self.ctx.vault_tenant(&target).await?;
        let Some(current) =
            read_current(self.ctx.http(), &tenant, &target, self.ctx.deadline()).await?
        else {
            return Ok(found);
        };
        match current.tag(TAG_APP_ID) {
            Some(a) if a.eq_ignore_ascii_case(&app.app_id) => {}
            other => {
                let is = other.map_or_else(
                    || format!("it has no {TAG_APP_ID} tag"),
                    |a| format!("its {TAG_APP_ID} tag is {}", shown(a)),
                );
                return Err(Error::input(
                    KEYVAULT_FIELD,
                    format!(
                        "--secret-keyvault: secret {} in key vault {} holds something other than the client secret of app {} ({is}): refusing to write over it; nothing was changed",
                        target.name(),
                        target.vault(),
                        app.app_id
                    ),
                )
                .with_hint(format!(
                    "give another secret name: --secret-keyvault {}/secrets/NAME",
                    target.vault_url()
                )));
            }
        }
        Ok(found.or(Some(Found {
            key_id: current.tag(TAG_KEY_ID).map(str::to_owned),
            secret: current.value,
            stored: Some(current.id),
        })))
    }

    /// Where the output's secret is kept: the vault version already holding it (a rerun
    /// that keeps the secret writes no new version), or a new version of the
    /// `--secret-keyvault` secret; `None` when it is not in a vault (or in a dry run, a
    /// version that would be written).
    pub(crate) async fn store(
        &mut self,
        app: &Application,
        kept: &KeptSecret,
        found: Option<&Found>,
    ) -> Result<Option<SecretRef>> {
        let held = found
            .filter(|f| f.secret == kept.secret)
            .and_then(|f| f.stored.clone());
        let Some(target) = self.vault_target(app)? else {
            return Ok(held);
        };
        if held.as_ref().is_some_and(|h| same_secret(h, &target)) {
            return Ok(held);
        }
        let expires_at = kept
            .expires_at
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let new = NewSecret {
            value: &kept.secret,
            content_type: Some(CONTENT_TYPE),
            expires_at,
            enabled: true,
            tags: tags(&app.app_id, &kept.key_id),
        };
        let tenant = self.ctx.vault_tenant(&target).await?;
        let written =
            set_secret(self.ctx.http(), &tenant, &target, &new, self.ctx.deadline()).await?;
        let Some(r) = written else {
            self.notes.push(format!(
                "would store the secret {} in key vault {} as {}",
                kept.key_id,
                target.vault(),
                target.name()
            ));
            return Ok(held);
        };
        self.changed = true;
        self.notes.push(format!(
            "stored the secret {} in key vault {} as {} (version {})",
            kept.key_id,
            target.vault(),
            target.name(),
            r.version().unwrap_or_default()
        ));
        Ok(Some(r))
    }

    /// Refuses to mint a secret that would go to stdout when the input keeps its secret in a
    /// vault: the reader asked for the vault once, and a value on stdout is what it avoids.
    pub(crate) fn check_new_secret_has_a_home(&self) -> Result<()> {
        match &self.inputs.secret_ref {
            Some(r)
                if self.inputs.options.keyvault.is_none()
                    && !self.inputs.options.no_secret_output =>
            {
                Err(Error::input(
                    KEYVAULT_FIELD,
                    format!(
                        "the input keeps its client secret in key vault {} (client_secret_ref), but a new secret would be written to stdout: nothing was changed",
                        r.vault()
                    ),
                )
                .with_hint(format!(
                    "store it in the vault too: add --secret-keyvault {}/secrets/{}",
                    r.vault_url(),
                    r.name()
                )))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::cloud::Cloud;

    fn app(unique: Option<&str>) -> Application {
        Application {
            id: "o".into(),
            app_id: "11111111-2222-3333-4444-555555555555".into(),
            display_name: "d".into(),
            unique_name: unique.map(str::to_owned),
            audience: "AzureADMultipleOrgs".into(),
            redirect_uris: Vec::new(),
            passwords: Vec::new(),
            certificates: Box::default(),
            tags: Vec::new(),
            required_resource_access: None,
            young: false,
        }
    }

    #[test]
    fn the_default_name_follows_the_unique_name() {
        assert_eq!(
            default_name(&app(Some("xtenant-acr-pull"))),
            "xtenant-acr-pull-client-secret"
        );
        assert_eq!(
            default_name(&app(Some("my_app.prod"))),
            "my-app-prod-client-secret"
        );
        assert_eq!(
            default_name(&app(None)),
            "app-11111111-2222-3333-4444-555555555555-client-secret"
        );
        let long = default_name(&app(Some(&"a".repeat(120))));
        assert_eq!(long.len(), 127);
        assert!(common::keyvault::is_secret_name(&long));
        let p = Cloud::azure_public();
        let a = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/X/0123456789abcdef0123456789abcdef",
            &p,
        )
        .unwrap();
        let b = SecretRef::parse_target("f", "https://KV1.vault.azure.net", &p, "x").unwrap();
        assert!(same_secret(&a, &b));
        let c = SecretRef::parse_target("f", "https://kv1.vault.azure.net", &p, "y").unwrap();
        assert!(!same_secret(&a, &c));
    }
}
