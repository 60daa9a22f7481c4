//! Where a step's app client secret comes from: its value (the envelope's `client_secret`,
//! `--client-secret-file`, `--client-secret-env`) or a Key Vault secret (`client_secret_ref`,
//! `--client-secret-ref`), read by exact version with a credential for the vault's tenant.
//!
//! A reference taken from the envelope is another party's choice, so the secret it names is
//! used only if its tags say it is the client secret of the app the step acts for (as
//! `entra-app-create --secret-keyvault` tags it): an envelope cannot make a step read one of
//! the reader's other secrets and send it to a registry or a cluster. The host was already
//! checked to be a vault of the cloud ([`SecretRef::parse`]), so no token goes elsewhere.

use std::collections::BTreeMap;

use crate::context::Ctx;
use crate::envelope::{Envelope, fields};
use crate::error::{Error, Result};
use crate::keyvault::{SecretRef, read_secret};
use crate::secret::Secret;

/// The tag naming the app whose client secret a Key Vault secret holds.
pub const TAG_APP_ID: &str = "app_id";
/// The tag naming the client secret's key id.
pub const TAG_KEY_ID: &str = "key_id";
/// The tag naming the tool that wrote it.
pub const TAG_WRITTEN_BY: &str = "written_by";
/// The content type `entra-app-create` stores a client secret with.
pub const CONTENT_TYPE: &str = "Microsoft Entra client secret";

/// The tags a client secret of `app_id` with key `key_id` is stored with.
pub fn tags(app_id: &str, key_id: &str) -> BTreeMap<String, String> {
    [
        (TAG_APP_ID, app_id),
        (TAG_KEY_ID, key_id),
        (TAG_WRITTEN_BY, "entra-app-create"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Where the app's client secret is.
#[derive(Debug, Clone)]
pub enum ClientSecret {
    /// The value itself.
    Value(Secret),
    /// A Key Vault secret, by exact version.
    Vault {
        /// The secret's identifier.
        secret: SecretRef,
        /// Whether the envelope named it (then its tags must name the app).
        from_envelope: bool,
    },
}

impl ClientSecret {
    /// What `env` holds: `client_secret`, or `client_secret_ref` (checked against `cloud`).
    /// Both at once is refused: which one is meant cannot be told.
    pub fn from_envelope(env: &Envelope, cloud: &crate::cloud::Cloud) -> Result<Option<Self>> {
        let value = env.secret(&fields::CLIENT_SECRET)?;
        let reference = env.str(&fields::CLIENT_SECRET_REF)?;
        match (value, reference) {
            (Some(_), Some(_)) => Err(Error::input(
                fields::CLIENT_SECRET_REF.name,
                "the input carries both client_secret and client_secret_ref: remove the one that is not current \
                 (entra-app-create --secret-keyvault writes only client_secret_ref)",
            )),
            (Some(v), None) => Ok(Some(Self::Value(v))),
            (None, Some(r)) => Ok(Some(Self::Vault {
                secret: SecretRef::parse(fields::CLIENT_SECRET_REF.name, &r, cloud)?,
                from_envelope: true,
            })),
            (None, None) => Ok(None),
        }
    }

    /// A reference the reader gave (`--client-secret-ref`).
    pub fn from_flag(value: &str, cloud: &crate::cloud::Cloud) -> Result<Self> {
        Ok(Self::Vault {
            secret: SecretRef::parse(fields::CLIENT_SECRET_REF.name, value, cloud)?,
            from_envelope: false,
        })
    }

    /// The value: as held, or read from the vault (its tenant learned from its challenge).
    pub async fn fetch(&self, ctx: &Ctx, app_id: &str) -> Result<Secret> {
        let (r, from_envelope) = match self {
            Self::Value(v) => return Ok(v.clone()),
            Self::Vault {
                secret,
                from_envelope,
            } => (secret, *from_envelope),
        };
        if r.version().is_none() {
            return Err(Error::input(
                fields::CLIENT_SECRET_REF.name,
                format!(
                    "client_secret_ref {r} names no version: give the identifier with its version (.../secrets/NAME/VERSION), as entra-app-create --secret-keyvault writes it"
                ),
            ));
        }
        let tenant = ctx.vault_tenant(r).await?;
        let stored = read_secret(ctx.http(), &tenant, r, ctx.deadline()).await?;
        let tagged = stored.tag(TAG_APP_ID);
        if from_envelope && !tagged.is_some_and(|a| a.eq_ignore_ascii_case(app_id)) {
            let is = tagged.map_or_else(
                || format!("it has no {TAG_APP_ID} tag"),
                |a| format!("its {TAG_APP_ID} tag is {}", crate::validate::shown(a)),
            );
            return Err(Error::input(
                fields::CLIENT_SECRET_REF.name,
                format!(
                    "client_secret_ref {r} is not the client secret of app {app_id} ({is}): an input object may only name the secret entra-app-create stored for the app; nothing was sent with it"
                ),
            )
            .with_hint(format!(
                "pass the secret's identifier yourself with --client-secret-ref, or tag it {TAG_APP_ID}={app_id} in the vault"
            )));
        }
        Ok(stored.value)
    }
}
