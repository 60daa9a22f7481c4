//! `acr-grant`: step 3 of the cross-tenant procedure.
//!
//! Assigns the pull role on a registry in tenant B to the app's service principal **in
//! tenant B** (looked up by app id, never tenant A's object id), choosing the role the
//! registry's permission mode honours, and with `--verify` proves that the app's own
//! credential gets a pull token from the registry, as a kubelet in service-principal mode would.

mod input;
mod lookup;
mod role;
mod verify;

use clap::Parser;
use common::cli::{CommonArgs, SecretArgs};
use common::driver::{Ctx, Done, Tool};
use common::envelope::{Envelope, fields};
use common::error::{Error, Result};
use common::wait::{Poll, human, poll_until};
use common::{arm, ui};

use crate::input::Inputs;
use crate::lookup::Registry;
use crate::role::Role;

/// Assign the pull role on a registry in tenant B to the app's service principal there, and prove the pull works
///
/// Reads envelope objects (NDJSON) on stdin, one per registry, and writes each back with
/// registry_id, registry_login_server, registry_sp_object_id, role_name, role_assignment_id
/// and, with --verify, pull_verified_at. With nothing on stdin it runs once on the flags.
///
/// The role is assigned to the app's service principal in the registry's tenant (looked up
/// by app id in Microsoft Graph), at the registry's scope, with a deterministic name, so a
/// rerun creates nothing. `--role auto` picks AcrPull for a registry in legacy mode and
/// Container Registry Repository Reader for one in ABAC mode (roleAssignmentMode
/// AbacRepositoryPermissions), which ignores AcrPull.
///
/// With --verify the app's own credential (app id + client secret, HTTP Basic) asks the
/// registry's token service for a pull token on a repository, checks that the token really
/// grants pull, and with --image fetches the image's manifest with it; the wait for the new
/// role to reach the registry ends as soon as the pull works, or at --timeout. Without
/// --image the token is asked for --repository (default xtenant/verify): with a
/// registry-wide role any repository name proves the grant, and no image is needed. A refused
/// credential counts as not yet propagated for 2 minutes at most (a new secret takes a moment to
/// work), then fails the check, saying which part is wrong.
#[derive(Debug, Parser)]
#[command(name = "acr-grant", version)]
pub struct Cli {
    /// The registry: its name (searched in tenant B's subscriptions) or its full ARM id [field: registry_id]
    #[arg(long, value_name = "NAME|ID")]
    pub registry: Option<String>,

    /// Look the registry name up in this subscription only (a GUID)
    #[arg(long, value_name = "GUID")]
    pub registry_subscription: Option<String>,

    /// Tenant B, the registry's tenant: a GUID or a verified domain [field: registry_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub registry_tenant: Option<String>,

    /// The multitenant app's client id [field: app_id]
    #[arg(long, value_name = "GUID")]
    pub app_id: Option<String>,

    /// The role to assign: auto (AcrPull, or Container Registry Repository Reader on an ABAC registry) or a role name [field: role_name, kept for the same registry; default: auto]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// Prove that the app's credential can pull from the registry (needs the client secret)
    #[arg(long)]
    pub verify: bool,

    /// Verify with this image: <login server>/<repository>:<tag> or <repository>:<tag> (or @sha256:…)
    #[arg(long, value_name = "IMAGE", requires = "verify")]
    pub image: Option<String>,

    /// Without --image, the repository the pull token is asked for [default: xtenant/verify]
    #[arg(
        long,
        value_name = "REPOSITORY",
        requires = "verify",
        conflicts_with = "image"
    )]
    pub repository: Option<String>,

    #[command(flatten)]
    pub secret: SecretArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

impl Tool for Cli {
    const NAME: &'static str = "acr-grant";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    async fn run(&self, input: Envelope, ctx: &Ctx) -> Result<Done> {
        let mut env = input;
        let original = Original::of(&env);
        let inp = Inputs::read(self, &mut env, ctx.cloud())?;
        let graph = ctx.graph(&inp.tenant);
        let arm = ctx.arm(&inp.tenant);

        // Independent reads (Graph and ARM, each with its own token): sent at once.
        let (sp_id, reg) = futures::future::join(
            find_service_principal(ctx, &graph, &inp),
            lookup::resolve(&arm, &inp.registry, inp.subscription.as_deref()),
        )
        .await;
        let (sp_id, reg) = (sp_id?, reg?);
        if let Some(image) = inp.check.as_ref().and_then(|c| c.image.as_ref())
            && let Some(server) = &image.login_server
            && !server.eq_ignore_ascii_case(&reg.login_server)
        {
            return Err(Error::input(
                "image",
                format!(
                    "--image names the registry {server}, but the registry is {} ({}): give an image of that registry, or just <repository>:<tag>",
                    reg.login_server, reg.id
                ),
            ));
        }
        let role = role::choose(ctx, &arm, &reg, inp.role.as_deref()).await?;
        let assigned = assign(&arm, &reg, &role, &sp_id, &inp.tenant).await?;

        env.set(fields::REGISTRY_ID.name, &reg.id);
        env.set(fields::REGISTRY_LOGIN_SERVER.name, &reg.login_server);
        env.set(fields::REGISTRY_SP_OBJECT_ID.name, &sp_id);
        env.set(fields::ROLE_NAME.name, &role.name);
        env.set(fields::ROLE_ASSIGNMENT_ID.name, &assigned.id);
        if let Some(image) = inp.check.as_ref().and_then(|c| c.image.as_ref()) {
            // Step 4 checks the new credential with the same image.
            let sep = if image.reference.starts_with("sha256:") {
                '@'
            } else {
                ':'
            };
            env.set(
                fields::REGISTRY_IMAGE.name,
                format!(
                    "{}/{}{sep}{}",
                    reg.login_server, image.repository, image.reference
                ),
            );
        }

        let verb = match (assigned.created, ctx.dry_run()) {
            (true, true) => "would assign",
            (true, false) => "assigned",
            (false, _) => "found",
        };
        let mut summary = format!(
            "{verb} {} on registry {} for app {} (service principal {sp_id} in tenant B)",
            role.name, reg.name, inp.app_id
        );
        match &inp.check {
            Some(_) if ctx.dry_run() => {
                ui::info(
                    "--dry-run: the pull check is skipped, since the role assignment was not made",
                );
            }
            Some(check) => {
                let at = verify::run(ctx, &reg, &inp.app_id, &sp_id, check, &role).await?;
                env.set(fields::PULL_VERIFIED_AT.name, &at);
                summary.push_str("; pull verified");
            }
            None => {
                // A verification of another registry or app would be a false statement about this one.
                if !original.same(&reg.id, &inp.app_id) {
                    env.remove(fields::PULL_VERIFIED_AT.name);
                    // An image of another registry would fail step 4's check for the wrong reason.
                    if inp.check.is_none() {
                        env.remove(fields::REGISTRY_IMAGE.name);
                    }
                }
            }
        }
        Ok(Done {
            envelope: env,
            changed: assigned.created,
            summary,
        })
    }
}

/// What the input said before flags were applied, to tell whether an old `pull_verified_at` still holds.
struct Original {
    registry_id: Option<String>,
    app_id: Option<String>,
}

impl Original {
    fn of(env: &Envelope) -> Self {
        Self {
            registry_id: env.str(&fields::REGISTRY_ID).ok().flatten(),
            app_id: env.str(&fields::APP_ID).ok().flatten(),
        }
    }

    fn same(&self, registry_id: &str, app_id: &str) -> bool {
        self.registry_id
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(registry_id))
            && self
                .app_id
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(app_id))
    }
}

/// The object id of the app's service principal in tenant B, from Graph (once per run).
async fn find_service_principal(
    ctx: &Ctx,
    graph: &common::http::Api<'_>,
    inp: &Inputs,
) -> Result<String> {
    let Some(id) = ctx.service_principal_id(graph, &inp.app_id).await? else {
        return Err(Error::step(
            "ServicePrincipalNotInRegistryTenant",
            format!(
                "the app {} has no service principal in the registry's tenant {}: an administrator of that tenant has not consented to it yet",
                inp.app_id, inp.tenant
            ),
        )
        .with_hint(format!(
            "run `consent-link --registry-tenant {} --app-id {} --wait` and have an administrator of tenant B open the link, or `consent-link ... --create` if you may create service principals there",
            inp.tenant, inp.app_id
        )));
    };
    let id = id.to_ascii_lowercase();
    if let Some(known) = &inp.known_sp
        && !known.eq_ignore_ascii_case(&id)
    {
        ui::warn(&format!(
            "the input's registry_sp_object_id {known} is not the app's service principal in tenant B; Microsoft Graph says {id}, which is used (the input's value may be tenant A's, or from a deleted service principal)"
        ));
    }
    Ok(id)
}

/// Assigns the role, waiting while ARM does not know the new service principal yet.
async fn assign(
    arm: &common::http::Api<'_>,
    reg: &Registry,
    role: &Role,
    sp_id: &str,
    tenant: &str,
) -> Result<arm::Assigned> {
    let label = format!("waiting for Azure to know service principal {sp_id}");
    let result = poll_until(&label, arm.deadline(), || async {
        match arm::assign_role(arm, &reg.id, &role.id, sp_id).await {
            Ok(a) => Ok(Poll::Ready(a)),
            // A new service principal takes a while to reach ARM; principalType only shortens it.
            Err(e) if e.is_code("PrincipalNotFound") => {
                Ok(Poll::Pending("PrincipalNotFound".into(), None))
            }
            Err(e) => Err(e),
        }
    })
    .await;
    result.map_err(|e| {
        if e.is_code("AuthorizationFailed") || e.status() == Some(403) {
            e.context(format!("cannot assign {} on registry {}", role.name, reg.name)).with_hint(format!(
                "assigning a role needs Owner, User Access Administrator or Role Based Access Control Administrator on the registry {} (or its resource group or subscription) in tenant B ({tenant}); ask an administrator of tenant B for one of these roles, or to run this step",
                reg.id
            ))
        } else if e.is_code("Timeout") {
            e.with_hint(format!(
                "Azure did not yet know the service principal {sp_id} (PrincipalNotFound) within --timeout {}; rerun later or with a longer --timeout",
                human(arm.deadline().timeout())
            ))
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn image_and_repository_need_verify() {
        assert!(Cli::try_parse_from(["acr-grant", "--image", "hello:1"]).is_err());
        assert!(Cli::try_parse_from(["acr-grant", "--repository", "x"]).is_err());
        assert!(
            Cli::try_parse_from([
                "acr-grant",
                "--verify",
                "--image",
                "hello:1",
                "--repository",
                "x"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["acr-grant", "--verify", "--image", "hello:1"]).is_ok());
    }

    #[test]
    fn an_old_verification_holds_only_for_the_same_registry_and_app() {
        let env = Envelope::parse(r#"{"registry_id":"/subscriptions/S/x","app_id":"A"}"#).unwrap();
        let o = Original::of(&env);
        assert!(o.same("/subscriptions/s/X", "a"));
        assert!(!o.same("/subscriptions/s/Y", "a"));
        assert!(!o.same("/subscriptions/s/X", "b"));
        assert!(!Original::of(&Envelope::new()).same("x", "a"));
    }
}
