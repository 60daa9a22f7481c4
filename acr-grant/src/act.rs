//! The step: find the registry and the app's service principal in tenant B, assign the
//! pull role, and with `--verify` prove the pull.

use common::arm;
use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Change, Envelope, fields, is_placeholder, placeholder};
use common::error::{Error, Result, codes};
use common::http::Api;
use common::registry::proof;
use common::ui;
use common::wait::human;

use crate::early;
use crate::inputs::Inputs;
use crate::lookup::Registry;
use crate::role::{self, Role};
use crate::verify;

/// The fields step 3 writes.
#[derive(Debug, Clone)]
pub struct Output {
    /// The registry's ARM id.
    pub registry_id: String,
    /// The registry's login server.
    pub registry_login_server: String,
    /// The app's service principal in tenant B.
    pub registry_sp_object_id: String,
    /// The role assigned.
    pub role_name: String,
    /// The assignment's id.
    pub role_assignment_id: String,
    /// The image checked with (`--verify --image`), or removed when of another registry or app.
    pub registry_image: Change<String>,
    /// When the pull was verified, or removed when an earlier one no longer holds.
    pub pull_verified_at: Change<String>,
    /// The proof of that check (see [`common::registry::proof`]), or removed with it.
    pub pull_proof: Change<String>,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        object.set(fields::REGISTRY_ID.name, &self.registry_id);
        object.set(
            fields::REGISTRY_LOGIN_SERVER.name,
            &self.registry_login_server,
        );
        object.set(
            fields::REGISTRY_SP_OBJECT_ID.name,
            &self.registry_sp_object_id,
        );
        object.set(fields::ROLE_NAME.name, &self.role_name);
        object.set(fields::ROLE_ASSIGNMENT_ID.name, &self.role_assignment_id);
        object.change(&fields::REGISTRY_IMAGE, &self.registry_image);
        object.change(&fields::PULL_VERIFIED_AT, &self.pull_verified_at);
        object.change(&fields::PULL_PROOF, &self.pull_proof);
    }
}

/// What a failed run leaves once it made the role assignment (e.g. interrupted while
/// waiting for the pull to work): the registry, the principal, the role and the assignment.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// The assignment this run made or found, with where and to whom.
    pub assigned: Option<Output>,
}

impl Fields for Partial {
    fn write_to(&self, object: &mut Envelope) {
        if let Some(o) = &self.assigned {
            object.set(fields::REGISTRY_ID.name, &o.registry_id);
            object.set(fields::REGISTRY_LOGIN_SERVER.name, &o.registry_login_server);
            object.set(fields::REGISTRY_SP_OBJECT_ID.name, &o.registry_sp_object_id);
            object.set(fields::ROLE_NAME.name, &o.role_name);
            object.set(fields::ROLE_ASSIGNMENT_ID.name, &o.role_assignment_id);
        }
    }
}

/// Step 3 on one object.
pub(crate) async fn run(inp: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Failed<Partial>> {
    let graph = ctx.graph(&inp.tenant);
    let arm = ctx.arm(&inp.tenant);

    // Independent reads (Graph, ARM, the vault holding the secret, each with its own token):
    // sent at once, all before the role is assigned, so a secret that cannot be read, or is
    // not the app's key the object names, stops the step before it writes anything.
    // The registry and its role may have been found before the object arrived (the flags
    // named them); the role is looked up beside the other reads, as soon as the registry is known.
    let registry_and_role = async {
        let reg = early::registry(ctx, &arm, &inp.registry, inp.subscription.as_deref()).await?;
        inp.confirm(&reg.id)?;
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
        let role = role::choose(ctx, &arm, &reg, inp.role.as_ref()).await?;
        let early = read_early(&arm, &reg, &role, inp.sp_hint.as_deref()).await;
        Ok((reg, role, early))
    };
    let secret = Box::pin(verify::bound_secret(
        ctx,
        &graph,
        &inp.app_id,
        inp.check.as_ref(),
    ));
    let (sp_id, found, secret) = futures::future::join3(
        find_service_principal(ctx, &graph, inp),
        registry_and_role,
        secret,
    )
    .await;
    let (sp_id, (reg, role, early)) = (sp_id?, found?);
    let secret = secret?.map(|b| b.secret);
    let assigned = assign(&arm, &reg, &role, &sp_id, &inp.tenant, early).await?;

    // A dry run made no assignment: its id would name nothing, so it is a placeholder.
    let role_assignment_id = if assigned.created && ctx.dry_run() {
        placeholder(&fields::ROLE_ASSIGNMENT_ID)
    } else {
        assigned.id.clone()
    };
    let mut out = Output {
        registry_id: reg.id.clone(),
        registry_login_server: reg.login_server.clone(),
        registry_sp_object_id: sp_id.clone(),
        role_name: role.name.clone(),
        role_assignment_id,
        registry_image: Change::Keep,
        pull_verified_at: Change::Keep,
        pull_proof: Change::Keep,
    };
    if let Some(image) = inp.check.as_ref().and_then(|c| c.image.as_ref()) {
        // Step 4 checks the new credential with the same image.
        out.registry_image = Change::Set(proof::image_name(
            &reg.login_server,
            &image.repository,
            &image.reference,
        ));
    }

    let verb = match (assigned.created, ctx.dry_run()) {
        (true, true) => "would assign",
        (true, false) => "assigned",
        (false, _) => "found",
    };
    let mut summary = format!(
        "{verb} {} on registry {} to the app's service principal in tenant B",
        role.name, reg.name
    );
    match &inp.check {
        Some(_) if ctx.dry_run() => {
            summary.push_str("; would verify the pull once the role is there");
        }
        Some(check) => {
            let secret = secret.as_ref().ok_or_else(|| {
                Error::usage("internal error: the client secret to verify with was not read")
            })?;
            let at = match verify::run(ctx, &reg, &inp.app_id, &sp_id, check, secret, &role).await {
                Ok(at) => at,
                Err(e) => return Err(check_failed(e, &out, verb, &role.name, inp)),
            };
            // Bound to the secret, so step 4 can tell this very check from any other.
            out.pull_proof = match &out.registry_image {
                Change::Set(image) => Change::Set(proof::make(secret, &inp.app_id, image, &at)),
                _ => Change::Remove,
            };
            out.pull_verified_at = Change::Set(at);
            summary.push_str("; pull verified");
        }
        None if !inp.earlier.same(&reg.id, &inp.app_id) => {
            // A verification of another registry or app would be a false statement about
            // this one, and its image would fail step 4's check for the wrong reason.
            out.pull_verified_at = Change::Remove;
            out.pull_proof = Change::Remove;
            out.registry_image = Change::Remove;
        }
        None => {}
    }
    Ok(Done {
        output: out,
        changed: assigned.created,
        summary,
    })
}

/// A failed pull check, after the role assignment was made or found: the object keeps the
/// assignment. A registry firewall that refuses this machine (`RegistryNetworkDenied`) only
/// kept the check from being made: the message says the role was granted.
fn check_failed(e: Error, out: &Output, verb: &str, role: &str, inp: &Inputs) -> Failed<Partial> {
    let e = if e.is(codes::REGISTRY_NETWORK_DENIED) {
        let message = format!(
            "{verb} {role} on registry {} for app {}, but {}",
            out.registry_id,
            inp.app_id,
            e.message()
        );
        e.with_message(message)
    } else {
        e
    };
    Failed::with(
        e,
        Partial {
            assigned: Some(out.clone()),
        },
    )
}

/// The object id of the app's service principal in tenant B, from Graph (once per run).
async fn find_service_principal(ctx: &Ctx, graph: &Api<'_>, inp: &Inputs) -> Result<String> {
    // A dry run after one that planned the app, or its service principal in tenant B: the
    // principal does not exist yet, and the plan goes on with the placeholder.
    let planned = placeholder(&fields::REGISTRY_SP_OBJECT_ID);
    if is_placeholder(&inp.app_id)
        || (ctx.dry_run() && inp.known_sp.as_deref() == Some(planned.as_str()))
    {
        return Ok(planned);
    }
    // An input that carries registry_sp_object_id says step 2 saw (or made) the service
    // principal: Graph may not show it yet (read lag), so it is waited for, boundedly. An
    // input without it gets the answer at once.
    let found = if inp.known_sp.is_some() {
        common::graph::wait_until_readable(
            &format!("the service principal of app {} in tenant B", inp.app_id),
            ctx.deadline(),
            || ctx.service_principal_id(graph, &inp.app_id),
        )
        .await?
    } else {
        ctx.service_principal_id(graph, &inp.app_id).await?
    };
    let Some(id) = found else {
        // The envelope holds the secret: the fix is step 2 rerun on it, never a command
        // without it.
        return Err(Error::step(
            codes::SERVICE_PRINCIPAL_NOT_IN_REGISTRY_TENANT,
            "no administrator of tenant B has consented to the app yet: it has no service principal there",
        )
        .with_hint(
            "rerun step 2 on the envelope (consent-link --wait < app.json | acr-grant …) and have tenant B's administrator open the link",
        ));
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

/// A read of the role assignment of the principal the input named, sent before Graph
/// confirmed that principal.
struct EarlyRead {
    /// The input's principal (lower case).
    principal: String,
    /// What the GET of its deterministic assignment answered.
    read: Result<Option<arm::Assigned>>,
}

/// The assignment the input's principal (`hint`) would have, read while Graph names the
/// principal: it saves the round trip of the GET `assign` would send if Graph names the
/// same one; otherwise it is dropped, its error too.
async fn read_early(
    arm: &Api<'_>,
    reg: &Registry,
    role: &Role,
    hint: Option<&str>,
) -> Option<EarlyRead> {
    let principal = hint?.to_owned();
    let read = arm::find_role_assignment(arm, &reg.id, &role.id, &principal).await;
    Some(EarlyRead { principal, read })
}

/// Assigns the role, waiting while ARM does not know the new service principal yet;
/// `early`, when of `sp_id`, stands for the first GET.
async fn assign(
    arm: &Api<'_>,
    reg: &Registry,
    role: &Role,
    sp_id: &str,
    tenant: &str,
    early: Option<EarlyRead>,
) -> Result<arm::Assigned> {
    let label = format!("waiting for Azure to know service principal {sp_id}");
    let result = match early.filter(|e| e.principal.eq_ignore_ascii_case(sp_id)) {
        Some(e) => {
            arm::ensure_role_assignment_after(arm, &reg.id, &role.id, sp_id, &label, e.read).await
        }
        None => arm::ensure_role_assignment(arm, &reg.id, &role.id, sp_id, &label).await,
    };
    result.map_err(|e| {
        if e.is_code("AuthorizationFailed") || e.status() == Some(403) {
            e.context(format!("cannot assign {} on registry {}", role.name, reg.name)).with_hint(format!(
                "assigning a role needs Owner, User Access Administrator or Role Based Access Control Administrator on registry {} (or above) in tenant B ({tenant}): ask its administrator",
                reg.name
            ))
        } else if e.is_timeout() {
            e.with_hint(format!(
                "Azure did not yet know the service principal {sp_id} (PrincipalNotFound) within --timeout {}; rerun later or with a longer --timeout",
                human(arm.deadline().timeout())
            ))
        } else {
            e
        }
    })
}
