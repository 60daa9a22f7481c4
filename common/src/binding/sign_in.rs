//! The sign-in as the app with the secret in hand, and the wait for a new key Entra does
//! not know yet.

use std::fmt::Write as _;

use time::OffsetDateTime;

use super::{Claims, Key, mint_hint, not_bound};
use crate::context::Ctx;
use crate::error::{Error, Result, codes};
use crate::json::{Maybe, jwt_payload};
use crate::secret::Secret;
use crate::ui;
use crate::wait::{Poll, human, poll_until};

/// How a sign-in as the app went.
#[derive(Debug, Clone)]
pub(crate) enum SignIn {
    /// A token: the secret is the app's. `tid` is the tenant's id from the token.
    Accepted { tid: Option<String> },
    /// Entra refused the secret (AADSTS7000215 / 7000222): wrong, expired or not yet spread.
    SecretRefused(Error),
    /// The app has no service principal in the tenant (AADSTS700016).
    UnknownApp(Error),
}

/// Signs in as `app_id` with `secret` in `tenant` (client credentials, through the run's one
/// client), within the object's deadline.
pub(crate) async fn sign_in(
    ctx: &Ctx,
    tenant: &str,
    app_id: &str,
    secret: &Secret,
) -> Result<SignIn> {
    let creds = crate::auth::Credentials::of_app(ctx.http(), app_id, secret.clone());
    let scope = ctx.cloud().graph_scope();
    let deadline = ctx.deadline();
    let what = format!("signing in as app {app_id} in tenant {tenant}");
    let fetch = async {
        tokio::time::timeout(deadline.remaining(), creds.token(tenant, &scope))
            .await
            .map_err(|_| Error::timeout(format!("{what}: no answer before --timeout passed")))?
    };
    match deadline.interrupt().abandon(&what, fetch).await {
        Ok(token) => Ok(SignIn::Accepted {
            tid: claim(token.expose(), "tid"),
        }),
        Err(e) if e.is(codes::INVALID_CLIENT_SECRET) => Ok(SignIn::SecretRefused(e)),
        Err(e) if e.is(codes::UNKNOWN_APPLICATION) => Ok(SignIn::UnknownApp(e)),
        // The endpoint failed, not the secret: a step error of this object, not the operator's credential.
        Err(e) if matches!(e.kind(), crate::ErrorKind::Credential) => Err(e
            .rekind(
                crate::ErrorKind::Step,
                format!("{what} to prove its secret: {}", e.message()),
            )
            .with_hint(
                e.hint()
                    .unwrap_or("rerun later (the step is safe to rerun)")
                    .to_owned(),
            )),
        Err(e) => Err(e),
    }
}

/// The object id of the identity this run signs in as in `tenant` (the `oid` claim of its
/// Graph token: a user's, or the service principal's of an app or managed identity).
pub async fn signed_in_object_id(ctx: &Ctx, tenant: &str) -> Result<String> {
    let scope = ctx.cloud().graph_scope();
    let what = format!("the Graph token for tenant {tenant}");
    let token = tokio::time::timeout(
        ctx.deadline().remaining(),
        ctx.http().credentials().token(tenant, &scope),
    )
    .await
    .map_err(|_| Error::timeout(format!("{what}: no answer before --timeout passed")))??;
    claim(token.expose(), "oid").ok_or_else(|| {
        Error::step(
            codes::UNEXPECTED_RESPONSE,
            format!("{what} names no object id (claim oid): who this run is cannot be told"),
        )
    })
}

/// A string claim of a JWT's payload (not verified: it came from the sign-in endpoint over TLS).
pub(crate) fn claim(token: &str, name: &str) -> Option<String> {
    let mut claims: std::collections::BTreeMap<String, Maybe<String>> = jwt_payload(token)?;
    claims.remove(name)?.ok()
}

/// The sign-in's verdict on `key` (the key the secret was matched to): `Ok` when accepted; a
/// refusal of a key younger than [`NEW_KEY_SETTLES`] is waited out (within the deadline), with
/// progress, signing in again — the secret's refusal (AADSTS7000215) and the app's
/// (AADSTS700016: its service principal, made with the key, is known to sign-in only once it
/// replicated; aka.ms/aks-sp-help, MicrosoftDocs/azure-docs#4701); any other refusal names the
/// field at fault.
pub(crate) async fn settle(
    ctx: &Ctx,
    claims: &Claims<'_>,
    key: &Key,
    secret: &Secret,
    first: SignIn,
) -> Result<()> {
    let (app, tenant) = (claims.app_id, claims.tenant);
    let refused = |e: &Error| {
        not_bound(
            "app_id",
            format!(
                "a sign-in as app {app} in tenant {tenant} with the secret in hand was refused ({}): the secret is not a current secret of app {app}",
                e.detail()
                    .map_or_else(|| e.message().to_owned(), |d| crate::error::clip(d, 120))
            ),
            mint_hint(app, tenant),
        )
    };
    let unknown = |e: &Error| {
        not_bound(
            "app_id",
            format!(
                "app {app} has no service principal in tenant {tenant} ({}), so the cluster could not sign in as it",
                e.code()
            ),
            format!(
                "rerun entra-app-create --cluster-tenant {tenant} --app-id {app}: it makes the service principal"
            ),
        )
    };
    let settled = || key.settling(OffsetDateTime::now_utc()).is_zero();
    match first {
        SignIn::Accepted { .. } => return Ok(()),
        SignIn::UnknownApp(e) if settled() => return Err(unknown(&e)),
        SignIn::SecretRefused(e) if settled() => return Err(refused(&e)),
        SignIn::UnknownApp(_) | SignIn::SecretRefused(_) => {}
    }
    let label = format!(
        "waiting for Entra to accept app {app}'s new secret {}",
        key.key_id
    );
    let last: std::cell::RefCell<Option<Error>> = std::cell::RefCell::new(None);
    let waited = poll_until(&label, ctx.deadline(), || async {
        match sign_in(ctx, tenant, app, secret).await? {
            SignIn::Accepted { .. } => Ok(Poll::Ready(())),
            SignIn::UnknownApp(e) => {
                let left = key.settling(OffsetDateTime::now_utc());
                if left.is_zero() {
                    return Err(unknown(&e));
                }
                *last.borrow_mut() = Some(e);
                Ok(Poll::Pending(
                    format!("app not known to sign-in yet (AADSTS700016); a new service principal takes a moment to replicate, up to {} more", human(left)),
                    None,
                ))
            }
            SignIn::SecretRefused(e) => {
                let left = key.settling(OffsetDateTime::now_utc());
                if left.is_zero() {
                    return Err(refused(&e));
                }
                *last.borrow_mut() = Some(e);
                Ok(Poll::Pending(
                    format!("refused as not yet known (AADSTS7000215); a new secret takes seconds to spread, up to {} more", human(left)),
                    None,
                ))
            }
        }
    })
    .await;
    if let Err(e) = &waited
        && e.is_timeout()
    {
        ui::debug(&format!(
            "the new secret of app {app} was not accepted before --timeout"
        ));
    }
    waited
}

impl Ctx {
    /// [`sign_in`] as `app_id` with `secret` in `tenant`; an accepted secret is not signed in
    /// with again during the run (a refusal is asked again).
    pub(crate) async fn signed_in(
        &self,
        tenant: &str,
        app_id: &str,
        secret: &Secret,
    ) -> Result<SignIn> {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.expose().as_bytes());
        let fingerprint = digest
            .as_ref()
            .iter()
            .fold(String::with_capacity(64), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            });
        let key = (
            tenant.to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
            fingerprint,
        );
        let mut refused = None;
        let kept = self
            .shared
            .memos
            .sign_ins
            .get_or(key, || async {
                match sign_in(self, tenant, app_id, secret).await? {
                    SignIn::Accepted { tid } => Ok(Some(tid)),
                    other => {
                        refused = Some(other);
                        Ok(None)
                    }
                }
            })
            .await?;
        Ok(match (kept, refused) {
            (Some(tid), _) => SignIn::Accepted { tid },
            (None, Some(other)) => other,
            (None, None) => {
                return Err(Error::usage(
                    "internal error: a sign-in's answer was not kept",
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn jwt_claims_are_read_and_anything_else_is_none() {
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let t = format!(
            "{}.{}.sig",
            b64(&json!({"alg": "RS256"})),
            b64(&json!({"tid": "T1"}))
        );
        assert_eq!(claim(&t, "tid").as_deref(), Some("T1"));
        assert_eq!(claim(&t, "oid"), None);
        assert_eq!(claim("opaque", "tid"), None);
    }
}
