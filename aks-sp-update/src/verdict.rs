//! What step 4 says it came to: the image the cluster can now pull (its last line, and the
//! object's `cluster_pull_verified`), and once per run that infrastructure as code declaring
//! another service principal would undo it.

use common::driver::Ctx;
use common::envelope::Change;
use common::registry::proof;
use serde_json::json;

use crate::inputs::Inputs;
use crate::output::Output;

/// The image the object names for the pull check, with its tag or digest.
pub(crate) fn checked_image(inputs: &Inputs) -> Option<String> {
    let t = inputs.pull.as_ref()?;
    let r = t.reference.as_deref()?;
    Some(proof::image_name(&t.login_server, &t.repository, r))
}

/// The operator-side verdict of a step that left the cluster on the object's app and secret:
/// the image it can now pull, checked in this run with that very secret (or by step 3's check
/// that stands for it), and when. Anything else (no image, no check, a resumed reset) removes
/// an earlier verdict; a dry run changes nothing.
pub(crate) fn verdict(inputs: &Inputs, out: &Output, dry_run: bool) -> Change<serde_json::Value> {
    if dry_run {
        return Change::Keep;
    }
    match (
        &out.pull_verified_at,
        &out.cluster_provisioning_state,
        checked_image(inputs),
    ) {
        (Change::Set(at), Some(_), Some(image)) => Change::Set(json!({"image": image, "at": at})),
        _ => Change::Remove,
    }
}

/// What step 4's last line says of the pull: which image the cluster can now pull.
pub(crate) fn can_pull(inputs: &Inputs, verified: &Change<String>) -> String {
    match (verified, &inputs.pull, checked_image(inputs)) {
        (Change::Set(_), _, Some(image)) => format!("can now pull {image}"),
        (Change::Set(_), Some(t), None) => format!(
            "can now get pull tokens from {} (no image checked)",
            t.login_server
        ),
        _ => "runs as the app; its pull was not checked".to_owned(),
    }
}

/// Once per run, on the first object's last line: the cluster's service principal is now the
/// app's, and a Terraform or Bicep apply that declares another one resets it (README, "Clusters
/// managed as code").
pub(crate) fn declared_too(ctx: &Ctx) -> &'static str {
    #[derive(Default)]
    struct Reminded(std::sync::atomic::AtomicBool);
    if ctx
        .state::<Reminded>()
        .0
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        ""
    } else {
        "; a Terraform/Bicep apply would undo it"
    }
}
