//! The step on one object, and what is written for it: the input, the flags, then the
//! output — or the partial output and `error`.
use std::sync::Arc;

use serde_json::json;

use super::input::Item;
use super::{Failed, Fields, Tool, Verdict};
use crate::context::{Ctx, Shared};
use crate::envelope::{Envelope, Field, fields};
use crate::error::{Error, ErrorKind, Result};
use crate::interrupt::Signal;
use crate::ui;

pub(super) enum Outcome {
    /// The object to write, with this step's error if it failed, and how a report judged it.
    Written(Envelope, Option<Error>, Verdict),
    /// The input is unusable: nothing more is written.
    Fatal(Error),
}

pub(super) async fn one<T: Tool>(tool: &T, shared: &Arc<Shared>, item: Item) -> Outcome {
    let mut input = match item {
        Item::Fatal(e) => return Outcome::Fatal(e),
        Item::Failed(e, err) => {
            let cloud = shared.http.cloud().name.clone();
            return failed(T::NAME, e, &tool.flags(), &cloud, &(), err);
        }
        Item::Object(e) => e,
    };
    let interrupted = shared.interrupt.raised();
    if input.has_error() {
        // A failure of an earlier step passes through untouched; this tool's own failure
        // is retried, so a rerun on a failed output (e.g. a timed-out wait) completes it —
        // but not once interrupted: then it passes through as it came.
        let own = input
            .get(fields::ERROR.name)
            .and_then(|e| e.get("step").and_then(|s| s.as_str().map(str::to_owned)));
        if own.as_deref() != Some(T::NAME) || interrupted.is_some() {
            return Outcome::Written(input, None, Verdict::Fine);
        }
        input.remove(fields::ERROR.name);
    }
    let flags = tool.flags();
    let cloud = shared.http.cloud().name.clone();
    if let Some(s) = interrupted {
        return not_started(T::NAME, input, &flags, &cloud, s);
    }
    let dry_run = shared.common.dry_run;
    if let Err(e) = check_cloud(&input, &cloud).and_then(|()| check_dry_run(&input, dry_run)) {
        return failed(T::NAME, input, &flags, &cloud, &(), e);
    }
    let inputs = match tool.inputs(&input, shared.http.cloud()) {
        Ok(i) => i,
        Err(e) => {
            let out = failed(T::NAME, input, &flags, &cloud, &(), e);
            return mark_dry_run(out, dry_run, Vec::new());
        }
    };
    if let Some(s) = shared.interrupt.raised() {
        return not_started(T::NAME, input, &flags, &cloud, s);
    }
    let ctx = Ctx {
        shared: shared.clone(),
        deadline: shared.deadline(),
    };
    let (result, planned) = crate::http::collect_plan(T::act(&inputs, &ctx)).await;
    let out = match result {
        Ok(done) => {
            if dry_run {
                ui::info(&format!("{} (dry run)", done.summary));
            } else {
                let state = if done.changed { "changed" } else { "unchanged" };
                ui::info(&format!("{} ({state})", done.summary));
            }
            let mut out = input;
            write_flags(&mut out, &flags, &cloud);
            done.output.write_to(&mut out);
            Outcome::Written(out, None, done.output.verdict())
        }
        Err(Failed { error, partial }) => failed(T::NAME, input, &flags, &cloud, &partial, error),
    };
    mark_dry_run(out, dry_run, planned)
}
/// An object a `--dry-run` wrote holds placeholders and writes never made: only another
/// `--dry-run` may take it.
fn check_dry_run(input: &Envelope, dry_run: bool) -> Result<()> {
    if input.is_dry_run() && !dry_run {
        return Err(Error::input(
            fields::DRY_RUN.name,
            "`dry_run` is true: this object was written by a --dry-run, so its writes were never made and its new ids are placeholders",
        )
        .with_hint("run the earlier steps again without --dry-run, or add --dry-run to this step to extend the plan"));
    }
    Ok(())
}

/// In a dry run: `dry_run: true`, and `planned` added to the input's `plan`.
fn mark_dry_run(outcome: Outcome, dry_run: bool, planned: Vec<serde_json::Value>) -> Outcome {
    let Outcome::Written(mut object, err, verdict) = outcome else {
        return outcome;
    };
    if dry_run {
        let mut plan = match object.get(fields::PLAN.name) {
            Some(serde_json::Value::Array(a)) => a,
            _ => Vec::new(),
        };
        plan.extend(planned);
        // At the end, before `error`.
        let error = object.get(fields::ERROR.name);
        for f in [&fields::DRY_RUN, &fields::PLAN, &fields::ERROR] {
            object.remove(f.name);
        }
        object.set(fields::DRY_RUN.name, true);
        object.set(fields::PLAN.name, plan);
        if let Some(e) = error {
            object.set(fields::ERROR.name, e);
        }
    }
    Outcome::Written(object, err, verdict)
}

/// An object that arrived after the interrupt, or was not started before it: written with
/// the flags and `error.code` `Interrupted`, which a rerun of the same command completes.
fn not_started(
    step: &str,
    mut out: Envelope,
    flags: &[(Field, String)],
    cloud: &str,
    s: Signal,
) -> Outcome {
    let e = Error::interrupted(s, format!("{step} did not start on this object"));
    write_flags(&mut out, flags, cloud);
    out.set(fields::ERROR.name, error_object(step, &e));
    Outcome::Written(out, Some(e), Verdict::Fine)
}

/// An object made in another cloud is refused, never adopted: the fix is the flag.
fn check_cloud(input: &Envelope, cloud: &str) -> Result<()> {
    match input.str(&fields::CLOUD)? {
        Some(c) if !c.eq_ignore_ascii_case(cloud) => Err(Error::input(
            fields::CLOUD.name,
            format!(
                "`cloud` is {c:?} but the tool runs in {cloud:?}: the cloud is chosen by --cloud (or XTENANT_CLOUD), never by the input; pass the --cloud this object was made with to every step, or remove `cloud` from the object"
            ),
        )),
        _ => Ok(()),
    }
}

/// The flags' fields and the cloud, written onto the object.
fn write_flags(out: &mut Envelope, flags: &[(Field, String)], cloud: &str) {
    out.set(fields::CLOUD.name, cloud);
    for (field, value) in flags {
        out.set(field.name, value);
    }
}

fn failed(
    step: &str,
    mut out: Envelope,
    flags: &[(Field, String)],
    cloud: &str,
    partial: &dyn Fields,
    e: Error,
) -> Outcome {
    ui::error(&format!("{} ({})", e.message(), e.code()));
    if let Some(h) = e.hint() {
        ui::hint(h);
    }
    if let Some(d) = e.detail() {
        ui::debug(&format!("Azure said: {d}"));
    }
    if let Some(r) = e.request_id() {
        ui::debug(&format!("request id: {r}"));
    }
    if matches!(e.kind(), ErrorKind::Input { .. }) {
        ui::debug("nothing was sent for this object");
    }
    // The cloud of a refused object is kept as it came: it is what the error is about.
    if !matches!(e.kind(), ErrorKind::Input { field } if field == fields::CLOUD.name) {
        write_flags(&mut out, flags, cloud);
    }
    partial.write_to(&mut out);
    out.set(fields::ERROR.name, error_object(step, &e));
    Outcome::Written(out, Some(e), Verdict::Fine)
}

/// `error`: `{step, code, message}`, plus `hint` (what to do) and `request_id` (Azure's,
/// for a support case) when there are.
fn error_object(step: &str, e: &Error) -> serde_json::Value {
    let mut obj = json!({"step": step, "code": e.code(), "message": e.message()});
    if let Some(h) = e.hint() {
        obj["hint"] = json!(h);
    }
    if let Some(r) = e.request_id() {
        obj["request_id"] = json!(r);
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::run::pick_cloud;

    struct Made {
        url: &'static str,
    }

    impl Fields for Made {
        fn write_to(&self, object: &mut Envelope) {
            object.set(fields::CLUSTER_OPERATION_URL.name, self.url);
        }
    }

    #[test]
    fn a_failed_object_carries_the_flags_and_the_partial_output() {
        let input = Envelope::parse(r#"{"app_id":"a","keep":1}"#).unwrap();
        let flags = [(fields::CLUSTER_ID, "/subscriptions/s/c".to_owned())];
        let e = Error::step("OperationStillRunning", "still running");
        let Outcome::Written(out, Some(err), _) = failed(
            "aks-sp-update",
            input,
            &flags,
            "AzureCloud",
            &Made {
                url: "https://arm/op/1",
            },
            e,
        ) else {
            panic!("not written")
        };
        assert_eq!(err.code(), "OperationStillRunning");
        assert_eq!(
            out.to_line(),
            r#"{"app_id":"a","keep":1,"cloud":"AzureCloud","cluster_id":"/subscriptions/s/c","cluster_operation_url":"https://arm/op/1","error":{"step":"aks-sp-update","code":"OperationStillRunning","message":"still running"}}"#
        );
    }

    #[test]
    fn the_cloud_comes_from_the_flag_never_from_the_input() {
        // Before, the first object's `cloud` chose the built-in cloud when --cloud was not given.
        assert_eq!(pick_cloud(None).unwrap().name, "AzureCloud");
        assert_eq!(
            pick_cloud(Some("AzureUSGovernment")).unwrap().name,
            "AzureUSGovernment"
        );
        let other = Envelope::parse(r#"{"cloud":"AzureUSGovernment"}"#).unwrap();
        let e = check_cloud(&other, "AzureCloud").unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::Input {
                field: "cloud".into()
            }
        );
        assert!(e.message().contains("--cloud"), "{e}");
        assert!(check_cloud(&other, "azureusgovernment").is_ok());
        assert!(check_cloud(&Envelope::new(), "AzureCloud").is_ok());
    }
}
