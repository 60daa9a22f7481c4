//! The new credential's pull check, before the disruptive reset.

use std::time::Duration;

use common::binding::{Claims, Key};
use common::driver::Ctx;
use common::envelope::is_placeholder;
use common::error::codes;
use common::registry::{Denied, PullAs, PullCheck, proof, wait_for_pull};
use common::wait::now_rfc3339;
use common::{Error, Result, Secret, ui};

use crate::inputs::{Inputs, PullTarget};

/// The app's client secret — as given, or read from the vault the object names — proven to
/// be the key of the app the object names, in tenant A (see [`common::binding`]: a sign-in as
/// the app, its registration and the key's hint; `--force` does not skip it), and its key. A
/// planned app (dry run) has no key to prove. Once per run and secret: every later call (the
/// pull check, the reset) finds it in the run's memos without a request.
pub(crate) async fn bind(inputs: &Inputs, ctx: &Ctx) -> Result<(Secret, Option<Key>)> {
    if is_placeholder(&inputs.app_id) {
        return Ok((inputs.secret.fetch(ctx, &inputs.app_id).await?, None));
    }
    let claims = Claims {
        tenant: &inputs.tenant,
        app_id: &inputs.app_id,
        key_id: inputs.key_id.as_deref(),
        // acr-grant gave the app's principal in tenant B a role: the app is minutes old at
        // least, so one Graph does not show in tenant A is mistyped, refused at once.
        settled: inputs.granted,
    };
    let bound = inputs.secret.fetch_bound(ctx, &claims).await?;
    Ok((bound.secret, Some(bound.key)))
}

/// The app's client secret — proven by [`bind`], no longer than AKS accepts — and when its
/// pull was verified, if it was.
pub(crate) async fn new_credential(inputs: &Inputs, ctx: &Ctx) -> Result<(Secret, Option<String>)> {
    let (secret, key) = bind(inputs, ctx).await?;
    crate::inputs::check_length(&secret)?;
    // A new key may still be refused by the registry for a while, as by Entra.
    let settling = key.map_or(Duration::ZERO, |k| {
        k.settling(time::OffsetDateTime::now_utc())
    });
    let verified = check_new_credential(inputs, &secret, settling, ctx).await?;
    Ok((secret, verified))
}

/// The hint for a reset AKS refused for its credential (`ServicePrincipalValidationClientError`,
/// `AADSTS7000215`): which credential it refused (app `app` in `tenant`, key `key_id`), and
/// what to run.
pub(crate) fn reset_refused(e: Error, app: &str, key_id: Option<&str>, tenant: &str) -> Error {
    let text = format!("{} {}", e.message(), e.detail().unwrap_or(""));
    let secret_refused = text.contains("AADSTS7000215") || text.contains("AADSTS7000222");
    if e.hint().is_some() || !(e.is_code("ServicePrincipalValidationClientError") || secret_refused)
    {
        return e;
    }
    let key = key_id.map_or_else(
        || "the secret in hand".to_owned(),
        |k| format!("secret {k}"),
    );
    let hint = if secret_refused {
        format!(
            "AKS refused app {app}'s {key} (not a current secret of the app, or one minted moments ago that has not reached AKS yet): \
             rerun in a minute if it is new; otherwise mint one with `entra-app-create --cluster-tenant {tenant} --app-id {app} --new-secret`, \
             then run acr-grant --verify and aks-sp-update on its output"
        )
    } else {
        format!(
            "AKS could not validate app {app} in tenant {tenant} (its service principal there, with {key}): rerun \
             `entra-app-create --cluster-tenant {tenant} --app-id {app}` (it makes the service principal), wait a minute, and rerun"
        )
    };
    e.with_hint(hint)
}

/// Checks that the new credential can pull before the disruptive reset (unless `--force`),
/// waiting up to `settling` while the registry refuses a new key's secret. Returns when the
/// pull was verified, if it was.
async fn check_new_credential(
    inputs: &Inputs,
    secret: &Secret,
    settling: Duration,
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
        if pull_check(ctx, inputs, secret, target, settling).await? {
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
            codes::PULL_NOT_VERIFIED,
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
                "the app pulled {image} at {} (acr-grant --verify, this secret): not checked again",
                recorded.at
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
    settling: Duration,
) -> Result<bool> {
    let (force, granted) = (inputs.force, inputs.granted);
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
    let label = format!("waiting until the app can pull from {}", t.login_server);
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
        |denied, waited| match denied {
            Denied::NoPullRole | Denied::ManifestRefused(_) if waited < grace => {
                Some("the role has not reached the registry yet".to_owned())
            }
            Denied::Credentials(_) if waited < settling => Some(
                "the registry does not accept the new secret yet (it takes seconds to spread)"
                    .to_owned(),
            ),
            _ => None,
        },
    )
    .await;
    let refusal = match looked {
        Ok(PullCheck::Allowed) => {
            ui::info(&format!(
                "the app's credential can pull {what} from {}",
                t.login_server
            ));
            return Ok(true);
        }
        Ok(PullCheck::Denied(d)) => Error::step(
            codes::PULL_VERIFICATION_FAILED,
            format!("the new credential cannot pull {what}: {}", d.explain()),
        )
        .with_hint(denied_hint(&d, t)),
        // Interrupted: no reset is posted, --force or not.
        Err(e) if e.is_interrupted() => return Err(e),
        Err(e) if e.is(codes::REGISTRY_NETWORK_DENIED) => {
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

/// What to run when the pull was refused, by what refused it.
fn denied_hint(d: &Denied, t: &PullTarget) -> String {
    match d {
        Denied::ImageMissing => {
            let registry = t.login_server.split('.').next().unwrap_or(&t.login_server);
            format!(
                "push it, or --image a tag that exists: az acr repository show-tags -n {registry} --repository {}",
                t.repository
            )
        }
        Denied::Credentials(_) => "run consent-link --wait and acr-grant --verify on this object first".to_owned(),
        Denied::NoPullRole | Denied::ManifestRefused(_) => {
            "run acr-grant --verify on this object first (it gives the role and waits for it to work)".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "11111111-2222-3333-4444-555555555555";
    const KEY: &str = "aaaaaaaa-0000-0000-0000-000000000001";

    #[test]
    fn a_refused_reset_names_the_credential_and_what_to_run() {
        let refused = Error::azure(
            common::ErrorKind::Http { status: 400 },
            "ServicePrincipalValidationClientError",
            "Azure Resource Manager answered 400: AADSTS7000215: Invalid client secret provided.",
        );
        let e = reset_refused(refused, APP, Some(KEY), "tenant-a");
        let hint = e.hint().unwrap();
        assert!(
            hint.contains(APP) && hint.contains(KEY) && hint.contains("--new-secret"),
            "{hint}"
        );
        let missing = Error::azure(
            common::ErrorKind::Http { status: 400 },
            "ServicePrincipalValidationClientError",
            "Service principal clientID: x not found in Active Directory tenant t",
        );
        let hint = reset_refused(missing, APP, None, "tenant-a")
            .hint()
            .unwrap()
            .to_owned();
        assert!(
            hint.contains("service principal") && hint.contains("the secret in hand"),
            "{hint}"
        );
        // Anything else, or an error that already says what to do, is left as it is.
        let other = Error::step(codes::CLUSTER_BUSY, "busy");
        assert!(reset_refused(other, APP, Some(KEY), "t").hint().is_none());
        let hinted = Error::azure(
            common::ErrorKind::Http { status: 400 },
            "ServicePrincipalValidationClientError",
            "x",
        )
        .with_hint("h");
        assert_eq!(reset_refused(hinted, APP, None, "t").hint(), Some("h"));
    }
}
