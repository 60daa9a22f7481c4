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
use std::time::Duration;

use crate::binding::{self, Bound, ClaimedKey, Claims};
use crate::cli::SecretArgs;
use crate::cloud::Cloud;
use crate::context::Ctx;
use crate::envelope::{Envelope, fields};
use crate::error::{Error, Result};
use crate::keyvault::SecretRef;
use crate::secret::{Secret, read_secret_file};

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
    pub fn from_envelope(env: &Envelope, cloud: &Cloud) -> Result<Option<Self>> {
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
    pub fn from_flag(value: &str, cloud: &Cloud) -> Result<Self> {
        Ok(Self::Vault {
            secret: SecretRef::parse(fields::CLIENT_SECRET_REF.name, value, cloud)?,
            from_envelope: false,
        })
    }

    /// The value: as held, or read from the vault (its tenant learned from its challenge).
    pub async fn fetch(&self, ctx: &Ctx, app_id: &str) -> Result<Secret> {
        self.fetch_tagged(ctx, app_id).await.map(|(v, _)| v)
    }

    /// The value, and for a vault version the key id it is tagged with.
    async fn fetch_tagged(&self, ctx: &Ctx, app_id: &str) -> Result<(Secret, Option<VaultKey>)> {
        let (r, from_envelope) = match self {
            Self::Value(v) => return Ok((v.clone(), None)),
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
        let stored = ctx.vault_version(r).await?;
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
        let key = VaultKey {
            reference: r.to_string(),
            key_id: stored.tag(TAG_KEY_ID).map(str::to_owned),
            from_envelope,
        };
        Ok((stored.value, Some(key)))
    }

    /// The value, proven to be the key of `claims.app_id` the object names (see
    /// [`crate::binding`]): the sign-in as the app and the read of its registration in tenant A
    /// go at once, each once per run; a vault version's `key_id` tag must name the same key.
    pub async fn fetch_bound(&self, ctx: &Ctx, claims: &Claims<'_>) -> Result<Bound> {
        let graph = ctx.graph(claims.tenant);
        let secret = async {
            let (secret, vault) = self.fetch_tagged(ctx, claims.app_id).await?;
            let signed = ctx.signed_in(claims.tenant, claims.app_id, &secret).await?;
            Ok::<_, Error>((secret, vault, signed))
        };
        let (found, registration) =
            futures::future::join(secret, ctx.registration(&graph, claims.app_id)).await;
        let (secret, vault, signed) = found?;
        let claimed = claimed_key(claims, vault.as_ref())?;
        let registration = match registration.map_err(|e| registration_unread(e, claims))? {
            Some(r) => r,
            None => binding::registration_missing(ctx, &graph, claims, &signed).await?,
        };
        let key = binding::match_key(
            claims,
            claimed,
            &registration,
            &secret,
            time::OffsetDateTime::now_utc(),
        )?;
        binding::settle(ctx, claims, &key, &secret, signed).await?;
        Ok(Bound { secret, key })
    }
}

impl SecretArgs {
    /// Where the secret is: the file, variable or vault secret when given (flags win), else
    /// the envelope's `client_secret` or `client_secret_ref` ([`ClientSecret::from_envelope`]).
    /// The file is read as [`read_secret_file`] reads it, within `timeout`; a vault secret is
    /// only named here (and checked against `cloud`), read later by [`ClientSecret::fetch`].
    ///
    /// Errors name the flag and the problem, never the flag's value (a path or a name that
    /// may be the secret pasted in the wrong place).
    pub fn resolve(
        &self,
        env: &Envelope,
        timeout: Duration,
        cloud: &Cloud,
    ) -> Result<Option<ClientSecret>> {
        if let Some(path) = &self.client_secret_file {
            return read_secret_file(
                path,
                "--client-secret-file",
                fields::CLIENT_SECRET.name,
                timeout,
            )
            .map(|s| Some(ClientSecret::Value(s)));
        }
        if let Some(var) = &self.client_secret_env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Some(ClientSecret::Value(Secret::new(v)))),
                _ => Err(Error::input(
                    fields::CLIENT_SECRET.name,
                    "--client-secret-env: the variable it names is not set, is empty or is not text",
                )),
            };
        }
        if let Some(r) = &self.client_secret_ref {
            return ClientSecret::from_flag(r, cloud).map(Some);
        }
        ClientSecret::from_envelope(env, cloud)
    }
}

/// A vault version's claim of the key it holds.
#[derive(Debug, Clone)]
struct VaultKey {
    /// The version's identifier, for messages.
    reference: String,
    /// Its `key_id` tag.
    key_id: Option<String>,
    /// Whether the envelope named it (then the tag must be there).
    from_envelope: bool,
}

/// The key the object claims its secret is: `client_secret_key_id`, else a vault version's
/// `key_id` tag; the two must agree, and a version the envelope named must carry the tag.
fn claimed_key<'a>(
    claims: &Claims<'a>,
    vault: Option<&'a VaultKey>,
) -> Result<Option<ClaimedKey<'a>>> {
    let field = fields::CLIENT_SECRET_REF.name;
    if let Some(v) = vault {
        match (&v.key_id, claims.key_id) {
            (Some(tag), Some(k)) if !tag.eq_ignore_ascii_case(k) => {
                return Err(binding::not_bound(
                    field,
                    format!(
                        "the vault version {} holds key {tag} (its {TAG_KEY_ID} tag), but client_secret_key_id names key {k}",
                        v.reference
                    ),
                    "pass the object entra-app-create wrote (its client_secret_ref and client_secret_key_id name one key), or --client-secret-ref with the version of that key".to_owned(),
                ));
            }
            (None, _) if v.from_envelope => {
                return Err(binding::not_bound(
                    field,
                    format!(
                        "the vault version {} has no {TAG_KEY_ID} tag: an input object may only name a version entra-app-create stored (it tags the key id)",
                        v.reference
                    ),
                    format!(
                        "pass the secret's identifier yourself with --client-secret-ref, or tag the version {TAG_KEY_ID}=<key id>"
                    ),
                ));
            }
            (Some(tag), None) => {
                return Ok(Some(ClaimedKey {
                    id: tag.as_str(),
                    field,
                }));
            }
            _ => {}
        }
    }
    Ok(claims.key_id.map(|id| ClaimedKey {
        id,
        field: fields::CLIENT_SECRET_KEY_ID.name,
    }))
}

/// A read of the app's registration in tenant A that Graph refused: what it needs.
fn registration_unread(e: Error, claims: &Claims<'_>) -> Error {
    if e.status() == Some(403) || e.is_code("Authorization_RequestDenied") {
        let hint = format!(
            "proving the secret in hand is app {}'s key reads the app in tenant {} (Microsoft Graph): a member of that tenant may, a guest or another tenant's identity needs Application.Read.All there",
            claims.app_id, claims.tenant
        );
        e.with_hint(hint)
    } else {
        e
    }
}

impl Ctx {
    /// Exactly the version `r` names ([`crate::keyvault::read_secret`], its tenant learned from
    /// the vault's challenge), read once per run.
    pub async fn vault_version(&self, r: &SecretRef) -> Result<crate::keyvault::Stored> {
        let found = self
            .shared
            .memos
            .vault_versions
            .get_or(r.to_string().to_ascii_lowercase(), || async {
                let tenant = self.vault_tenant(r).await?;
                crate::keyvault::read_secret(&self.shared.http, &tenant, r, self.deadline)
                    .await
                    .map(Some)
            })
            .await?;
        found.ok_or_else(|| Error::usage("internal error: a vault secret's version was not kept"))
    }
}
