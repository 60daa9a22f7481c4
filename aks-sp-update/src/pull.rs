//! The new credential's pull check, before the disruptive reset.

use std::time::Duration;

use common::driver::Ctx;
use common::error::codes;
use common::registry::{Denied, PullAs, PullCheck, proof, wait_for_pull};
use common::wait::now_rfc3339;
use common::{Error, Result, Secret, ui};

use crate::inputs::{Inputs, PullTarget};

/// The app's client secret — as given, or read from the vault the object names (before any
/// write), no longer than AKS accepts — and when its pull was verified, if it was.
pub(crate) async fn new_credential(inputs: &Inputs, ctx: &Ctx) -> Result<(Secret, Option<String>)> {
    let secret = inputs.secret.fetch(ctx, &inputs.app_id).await?;
    crate::inputs::check_length(&secret)?;
    let verified = check_new_credential(inputs, &secret, ctx).await?;
    Ok((secret, verified))
}

/// Checks that the new credential can pull before the disruptive reset (unless `--force`).
/// Returns when the pull was verified, if it was.
async fn check_new_credential(
    inputs: &Inputs,
    secret: &Secret,
    ctx: &Ctx,
) -> Result<Option<String>> {
    if inputs.planned {
        ui::info(
            "would check the new credential's pull (dry run: the app or its role is only planned)",
        );
        return Ok(None);
    }
    if let Some(target) = &inputs.pull {
        if let Some(at) = recorded_check_stands(inputs, secret, target) {
            return Ok(Some(at));
        }
        if pull_check(ctx, inputs, secret, target, inputs.force, inputs.granted).await? {
            return Ok(Some(now_rfc3339()));
        }
    } else if inputs.force {
        ui::warn(
            "the object names no registry (registry_login_server): the new credential's pull is not checked (--force)",
        );
    } else {
        // Step 4 before step 3: nothing shows the new credential can pull, and the reset
        // would leave the cluster unable to pull from the other tenant.
        return Err(Error::step(
            "PullNotVerified",
            format!(
                "nothing in the input shows that app {} can pull from the registry: the object names no registry (registry_login_server), so the reset of cluster {} could leave it unable to pull",
                inputs.app_id, inputs.cluster.name
            ),
        )
        .with_hint("run acr-grant --verify first and pipe its output here (it names the registry), or pass --force to reset without the check"));
    }
    Ok(None)
}

/// The time of step 3's recorded pull check when it stands for this one: its proof is of
/// this app, this secret and this image, made at most [`proof::FRESH_FOR`] ago. Anything
/// else (no proof, another image, credential or app, an older or a future check) and the
/// pull is checked again.
fn recorded_check_stands(inputs: &Inputs, secret: &Secret, t: &PullTarget) -> Option<String> {
    let recorded = inputs.recorded_check.as_ref()?;
    let Some(reference) = &t.reference else {
        ui::debug("the pull is checked again: no image to compare step 3's check with");
        return None;
    };
    let image = proof::image_name(&t.login_server, &t.repository, reference);
    let why = proof::stale(
        &recorded.proof,
        secret,
        &inputs.app_id,
        &image,
        &recorded.at,
        time::OffsetDateTime::now_utc(),
    );
    match why {
        None => {
            ui::info(&format!(
                "app {} pulled {image} at {} (acr-grant --verify, with this secret): not checked again",
                inputs.app_id, recorded.at
            ));
            Some(recorded.at.clone())
        }
        Some(why) => {
            ui::debug(&format!("the pull is checked again: {why}"));
            None
        }
    }
}

/// How long a pull check waits for a role the object says was just assigned.
const PROPAGATION_GRACE: Duration = Duration::from_secs(120);

/// The pull check with the new credential; `true` when the pull would work.
async fn pull_check(
    ctx: &Ctx,
    inputs: &Inputs,
    secret: &Secret,
    t: &PullTarget,
    force: bool,
    granted: bool,
) -> Result<bool> {
    let what = t.reference.as_ref().map_or_else(
        || format!("{} (token only)", t.repository),
        |r| format!("{}:{r}", t.repository),
    );
    ui::debug(&format!(
        "checking that app {} can pull {what} from {}",
        inputs.app_id, t.login_server
    ));
    // A role assigned by acr-grant (the object names it) may still be on its way to the
    // registry: "no pull yet" is waited out for a while then, with progress.
    let grace = if granted {
        PROPAGATION_GRACE.min(ctx.deadline().remaining())
    } else {
        Duration::ZERO
    };
    let label = format!(
        "waiting until app {} can pull from {}",
        inputs.app_id, t.login_server
    );
    let pull = PullAs {
        login_server: &t.login_server,
        app_id: &inputs.app_id,
        secret,
        repository: &t.repository,
        reference: t.reference.as_deref(),
    };
    let looked = wait_for_pull(
        ctx.http(),
        pull,
        ctx.deadline(),
        &label,
        |denied, waited| {
            (matches!(denied, Denied::NoPullRole | Denied::ManifestRefused(_)) && waited < grace)
                .then(|| "the role has not reached the registry yet".to_owned())
        },
    )
    .await;
    let refusal = match looked {
        Ok(PullCheck::Allowed) => {
            ui::info(&format!("the app's credential can pull {what} from {}", t.login_server));
            return Ok(true);
        }
        Ok(PullCheck::Denied(d)) => Error::step(
            codes::PULL_VERIFICATION_FAILED.name,
            format!("the new credential cannot pull from {}: {}", t.login_server, d.explain()),
        )
        .with_hint("grant and verify first with acr-grant --verify (it waits for a new role to reach the registry); --force resets anyway"),
        // Interrupted: no reset is posted, --force or not.
        Err(e) if e.is_interrupted() => return Err(e),
        Err(e) if e.is_code(codes::REGISTRY_NETWORK_DENIED.name) => {
            let hint = format!(
                "the cluster's nodes may well be allowed where this machine is not: --force resets without this check; or {}",
                e.hint().unwrap_or("check from an allowed address")
            );
            e.with_hint(hint)
        }
        Err(e) => e.context(format!("checking the pull from {}", t.login_server)),
    };
    if force {
        ui::warn(&format!(
            "{} (--force: resetting anyway)",
            refusal.message()
        ));
        Ok(false)
    } else {
        let hint = refusal.hint().unwrap_or("--force resets anyway").to_owned();
        Err(refusal.with_hint(format!("{hint}; nothing was changed")))
    }
}
