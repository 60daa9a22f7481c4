//! The fields step 1 writes onto the object, and what an undelivered one takes back.

use common::driver::{Ctx, Fields, Undo};
use common::envelope::{Envelope, fields};
use common::{Result, Secret};
use reqwest::Method;
use serde_json::json;

/// What becomes of the secret fields.
#[derive(Debug, Clone, Default)]
pub enum SecretOut {
    /// Left as the input had them.
    #[default]
    Keep,
    /// This secret (its value only when `shown`: `--no-secret-output` and a vault keep it off stdout).
    Set {
        /// The secret and its metadata.
        kept: KeptSecret,
        /// Whether `client_secret` is written.
        shown: bool,
        /// The Key Vault version holding it, written as `client_secret_ref` (then never `client_secret`).
        stored: Option<String>,
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
    /// The secret is not the input's: a pull verified with the input's no longer holds.
    pub secret_changed: bool,
    /// A secret this run minted that only the object holds (not kept in a vault or a
    /// file): removed again when the object cannot be delivered.
    pub only_here: Option<OnlyHere>,
}

/// The secret a run minted into its object alone.
#[derive(Debug, Clone)]
pub struct OnlyHere {
    pub(super) tenant: String,
    pub(super) app_id: String,
    pub(super) app_object_id: String,
    pub(super) key_id: String,
}

impl Fields for Output {
    /// The secret minted into this object alone: lost with it (Entra shows a secret once),
    /// so removed from the app again (`removePassword`).
    fn undelivered(&self) -> Option<Undo> {
        let m = self.only_here.clone()?;
        Some(Undo {
            what: format!("the new client secret {} of app {}", m.key_id, m.app_id),
            by_hand: format!(
                "az ad app credential delete --id {} --key-id {}",
                m.app_id, m.key_id
            ),
            remove: Box::new(move |ctx| Box::pin(remove_password(ctx, m))),
        })
    }

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
        if self.secret_changed {
            object.remove(fields::PULL_VERIFIED_AT.name);
        }
        match &self.secret {
            SecretOut::Keep => {}
            SecretOut::Set {
                kept,
                shown,
                stored,
            } => {
                object.set(fields::CLIENT_SECRET_KEY_ID.name, &kept.key_id);
                match &kept.expires_at {
                    Some(at) => object.set(fields::CLIENT_SECRET_EXPIRES_AT.name, at),
                    None => object.remove(fields::CLIENT_SECRET_EXPIRES_AT.name),
                }
                match stored {
                    Some(r) => object.set(fields::CLIENT_SECRET_REF.name, r),
                    None => object.remove(fields::CLIENT_SECRET_REF.name),
                }
                if *shown && stored.is_none() {
                    object.set_secret(&fields::CLIENT_SECRET, &kept.secret);
                } else {
                    object.remove(fields::CLIENT_SECRET.name);
                }
            }
            SecretOut::Remove => {
                for f in [
                    &fields::CLIENT_SECRET,
                    &fields::CLIENT_SECRET_REF,
                    &fields::CLIENT_SECRET_KEY_ID,
                    &fields::CLIENT_SECRET_EXPIRES_AT,
                ] {
                    object.remove(f.name);
                }
            }
        }
    }
}

/// Removes the secret `m` from its app.
async fn remove_password(ctx: &Ctx, m: OnlyHere) -> Result<String> {
    let api = ctx.graph(&m.tenant);
    let url = api.url(&format!("/applications/{}/removePassword", m.app_object_id))?;
    let sent = api
        .write(
            api.request(Method::POST, url)
                .json(json!({"keyId": m.key_id})),
        )
        .await?;
    Ok(if sent.is_skipped() {
        "it would be removed from the app (dry run)"
    } else {
        "removed it from the app again"
    }
    .to_owned())
}

/// The secret the output carries.
#[derive(Debug, Clone)]
pub struct KeptSecret {
    pub(crate) secret: Secret,
    pub(crate) key_id: String,
    pub(crate) expires_at: Option<String>,
}
