//! The secret in hand bound to what an object claims of it, before anything is written with it.
//!
//! An object's `app_id`, `client_secret_key_id` and `client_secret_ref` are claims: whoever
//! wrote the envelope chose them. Before a step grants a role, writes a record or resets a
//! cluster with a secret, [`crate::client_secret::ClientSecret::fetch_bound`] proves that the
//! secret it holds is
//! - a secret of `app_id`: a client-credentials sign-in as the app in tenant A succeeds with it;
//! - of an app registered in tenant A (its application object is there, not only a service
//!   principal of another tenant's multitenant app);
//! - the key `client_secret_key_id` names: Graph's `hint` of that key (a secret's first three
//!   characters) is how the secret begins, and the key exists and has not expired; a Key Vault
//!   version's own `key_id` tag names the same key.
//!
//! A mismatch is a step error ([`codes::SECRET_NOT_BOUND`]) naming the field and the fix, and
//! `--force` does not skip it. Entra refuses a secret for seconds after it was added
//! (AADSTS7000215; microsoftgraph/microsoft-graph-docs#17966 reports 4–18 s): a refused sign-in
//! with a key younger than [`NEW_KEY_SETTLES`] is waited out, with progress; an older key that
//! is refused is simply wrong. The app's registration is read once per run and app, beside the
//! sign-in, and a secret signs in once per run (the run's memos, see [`Ctx`]).

mod keys;
mod sign_in;

use crate::context::Ctx;
use crate::error::{Error, Result, codes};
use crate::graph::{AppOwner, alt_key};
use crate::http::Api;
use crate::json::object;
use crate::secret::Secret;
use crate::validate::is_guid;

pub use crate::app_keys::{Key, NEW_KEY_SETTLES, Registration};
pub(crate) use keys::match_key;
pub use sign_in::signed_in_object_id;
pub(crate) use sign_in::{SignIn, claim, settle};

/// What an object claims of the secret it carries.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    /// Tenant A, where the app must be registered.
    pub tenant: &'a str,
    /// `app_id`.
    pub app_id: &'a str,
    /// `client_secret_key_id`, when the object names it.
    pub key_id: Option<&'a str>,
    /// Whether the object shows the app older than Graph's read lag (an earlier step gave
    /// its service principal in tenant B a role): an app Graph does not show in tenant A is
    /// then refused at once (a mistyped `app_id`), not waited for. A claim that can only make
    /// the step refuse sooner.
    pub settled: bool,
}

/// A secret proven to be a current key of the app.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The secret (redacted in `Debug`).
    pub secret: Secret,
    /// The key it is.
    pub key: Key,
}

/// The claimed key (the object's `client_secret_key_id`, else a vault version's `key_id` tag)
/// and the field that named it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimedKey<'a> {
    pub id: &'a str,
    pub field: &'static str,
}

/// A refusal naming `field`: the secret in hand is not what the object says.
pub(crate) fn not_bound(field: &str, message: String, hint: String) -> Error {
    let mut said = format!("{field}: ");
    said.push_str(&(message + "; nothing was written"));
    Error::step(codes::SECRET_NOT_BOUND, said).with_hint(hint)
}

/// The command that mints a current secret of `app_id` (whose output names its key).
fn mint_hint(app_id: &str, tenant: &str) -> String {
    format!(
        "use the envelope entra-app-create wrote with this secret; if app {app_id} is yours (your own step 1 output names it), mint a current secret with `entra-app-create --cluster-tenant {tenant} --app-id {app_id} --new-secret` and run the steps on its output"
    )
}

/// The refusal of an app not registered in tenant A (`owner`: the tenant its service principal
/// in A says it belongs to, when known).
pub(crate) fn not_registered(claims: &Claims<'_>, owner: Option<&str>) -> Error {
    let (app, tenant) = (claims.app_id, claims.tenant);
    let message = match owner {
        Some(o) => format!(
            "app {app} is registered in tenant {o}, not in tenant {tenant}: tenant {tenant} holds only its service principal (another tenant's multitenant app), and the secret in hand is not proven to be its"
        ),
        None => format!(
            "app {app} is not registered in tenant {tenant} (Microsoft Graph has no application with that app id there)"
        ),
    };
    not_bound(
        "app_id",
        message,
        format!(
            "app_id must be the app entra-app-create made in tenant {tenant}: use your own step 1 output (an app_id in a file another team handed back is not trusted)"
        ),
    )
}

/// The tenant `claims` names, as its id: as given when a GUID, else from a token of the
/// operator's for it (the `tid` claim).
pub(crate) async fn tenant_id(ctx: &Ctx, tenant: &str) -> Option<String> {
    if is_guid(tenant) {
        return Some(tenant.to_ascii_lowercase());
    }
    let token = ctx
        .http()
        .credentials()
        .token(tenant, &ctx.cloud().graph_scope())
        .await
        .ok()?;
    claim(token.expose(), "tid").map(|t| t.to_ascii_lowercase())
}

/// `appOwnerOrganizationId` of `app_id`'s service principal in the tenant of `graph`, if it has one.
pub async fn owner_tenant(graph: &Api<'_>, app_id: &str) -> Result<Option<String>> {
    let path = format!(
        "{}?$select=id,appOwnerOrganizationId",
        alt_key("servicePrincipals", "appId", app_id)
    );
    let Some(body) = graph.get_opt(&path).await? else {
        return Ok(None);
    };
    Ok(object::<AppOwner>(&body)
        .unwrap_or_default()
        .app_owner_organization_id
        .map(|t| t.to_ascii_lowercase()))
}

/// The registration of an app Graph did not show in tenant A: another tenant's app (its
/// service principal in A names its home) is refused at once, and so is an app the object
/// shows older than the read lag ([`Claims::settled`]); else Graph's read lag on a new app is
/// waited out (boundedly, with progress) before the app is called unregistered.
pub(crate) async fn registration_missing(
    ctx: &Ctx,
    graph: &Api<'_>,
    claims: &Claims<'_>,
    signed: &SignIn,
) -> Result<Registration> {
    let owner = owner_tenant(graph, claims.app_id).await?;
    let tid = match signed {
        SignIn::Accepted { tid: Some(t) } => Some(t.to_ascii_lowercase()),
        _ => tenant_id(ctx, claims.tenant).await,
    };
    if let (Some(o), Some(t)) = (&owner, &tid)
        && o != t
    {
        return Err(not_registered(claims, Some(o)));
    }
    if claims.settled {
        return ctx
            .registration(graph, claims.app_id)
            .await?
            .ok_or_else(|| not_registered(claims, None));
    }
    let what = format!(
        "the registration of app {} in tenant {}",
        claims.app_id, claims.tenant
    );
    crate::graph::wait_until_readable(&what, ctx.deadline(), || {
        ctx.registration(graph, claims.app_id)
    })
    .await?
    .ok_or_else(|| not_registered(claims, None))
}

impl Ctx {
    /// [`crate::app_keys::read_registration`] of `app_id` in the tenant of `graph`, once per run (`None`,
    /// not registered there, is asked again).
    pub(crate) async fn registration(
        &self,
        graph: &Api<'_>,
        app_id: &str,
    ) -> Result<Option<Registration>> {
        let key = (
            graph.tenant().to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
        );
        self.shared
            .memos
            .registrations
            .get_or(key, || crate::app_keys::read_registration(graph, app_id))
            .await
    }
}
