//! The step on one object, and what is written for it: the input, the flags, then the
//! output — or the partial output and `error`. An object that carries an earlier step's
//! error passes through with the flags and a line saying so.
use std::sync::Arc;

use super::input::Item;
use super::{Failed, Fields, Tool, Undo, Verdict};
use crate::context::{Ctx, Shared};
use crate::envelope::{Envelope, ErrorField, Field, fields};
use crate::error::{Error, ErrorKind, Result, codes};
use crate::interrupt::Signal;
use crate::ui;

/// What the driver writes onto every object of the run: the flags given and the cloud.
pub(super) struct Stamp {
    /// The tool's name (`error.step`).
    pub(super) step: &'static str,
    flags: Vec<(Field, String)>,
    cloud: String,
    dry_run: bool,
}

impl Stamp {
    pub(super) fn new<T: Tool>(tool: &T, shared: &Shared) -> Self {
        Self {
            step: T::NAME,
            flags: tool.flags(),
            cloud: shared.http.cloud().name.clone(),
            dry_run: shared.common.dry_run,
        }
    }

    /// The flags' fields and the cloud, written onto the object.
    fn write(&self, out: &mut Envelope) {
        out.set(fields::CLOUD.name, &self.cloud);
        self.write_flags(out);
    }

    /// On an object passed through: the flags, and the cloud only where it has none.
    fn write_passed(&self, out: &mut Envelope) {
        if !out.has(fields::CLOUD.name) {
            out.set(fields::CLOUD.name, &self.cloud);
        }
        self.write_flags(out);
    }

    fn write_flags(&self, out: &mut Envelope) {
        for (field, value) in &self.flags {
            out.set(field.name, value);
        }
    }
}

/// What becomes of one input item.
pub(super) enum Outcome {
    /// An object to write.
    Written(Written),
    /// The input is unusable: nothing more is written.
    Fatal(Error),
}

/// An object to write, and how it came out.
pub(super) struct Written {
    pub(super) object: Envelope,
    pub(super) status: Status,
    /// What only this object holds, removed again if it cannot be delivered.
    pub(super) undo: Option<Undo>,
}

/// How an object came out, for the exit code and the summary.
pub(super) enum Status {
    /// The step succeeded.
    Done {
        /// Whether it changed anything.
        changed: bool,
        /// How a report judged it (for the exit code).
        verdict: Verdict,
    },
    /// The step failed (or was interrupted while it ran).
    Failed(Error),
    /// Passed through with an earlier step's error.
    Skipped {
        /// That error is `Interrupted`.
        interrupted: bool,
        /// The line that says so ([`skipped_line`]).
        line: String,
    },
    /// Not started: the run was interrupted first.
    NotStarted(Error),
}

fn written(object: Envelope, status: Status) -> Outcome {
    Outcome::Written(Written {
        object,
        status,
        undo: None,
    })
}

/// What to do with one item, decided without a request.
pub(super) enum Next<I> {
    /// Written as it is now: passed through, refused, not started, unusable input.
    Write(Outcome),
    /// The step acts on it.
    Act(Envelope, I),
}

/// Decides, without a request, what becomes of `item`; reads its inputs when it is acted on.
pub(super) fn start<T: Tool>(
    tool: &T,
    stamp: &Stamp,
    shared: &Shared,
    item: Item,
) -> Next<T::Inputs> {
    let mut input = match item {
        Item::Fatal(e) => return Next::Write(Outcome::Fatal(e)),
        Item::Failed(e, err) => return Next::Write(failed(stamp, e, &(), err)),
        Item::Object(e) => e,
    };
    let interrupted = shared.interrupt.raised();
    if input.has_error() {
        // A failure of an earlier step passes through; this tool's own failure is retried,
        // so a rerun on a failed output (e.g. a timed-out wait) completes it — but not once
        // interrupted: then it passes through too.
        let origin = input.error();
        if origin.step.as_deref() != Some(stamp.step) || interrupted.is_some() {
            // The flags go on it (the procedure it was part of); its cloud stays as it came.
            stamp.write_passed(&mut input);
            let status = Status::Skipped {
                interrupted: origin.our_code() == Some(codes::INTERRUPTED),
                line: skipped_line(origin.step.as_deref(), origin.code.as_deref()),
            };
            return Next::Write(written(input, status));
        }
        input.remove(fields::ERROR.name);
    }
    if let Some(s) = interrupted {
        return Next::Write(not_started(stamp, input, s));
    }
    let dry_run = stamp.dry_run;
    let cloud = &stamp.cloud;
    if let Err(e) = check_cloud(&input, cloud).and_then(|()| check_dry_run(&input, dry_run)) {
        return Next::Write(failed(stamp, input, &(), e));
    }
    match tool.inputs(&input, shared.http.cloud()) {
        Ok(inputs) => Next::Act(input, inputs),
        Err(e) => {
            let out = failed(stamp, input, &(), e);
            Next::Write(mark_dry_run(out, dry_run, Vec::new()))
        }
    }
}

/// The stderr line for an object passed through: whose error it carries and what to
/// rerun (values from the object: escaped on the way out, and shortened here).
fn skipped_line(step: Option<&str>, code: Option<&str>) -> String {
    let code = code.map(|c| ui::short(c, 48));
    match (step.map(|s| ui::short(s, 48)), code) {
        (Some(s), Some(c)) => format!("skipped: carries {s}'s {c}; rerun {s} on this output"),
        (Some(s), None) => format!("skipped: carries an error of {s}; rerun {s} on this output"),
        (None, Some(c)) => {
            format!("skipped: carries an earlier step's {c}; rerun that step on this output")
        }
        (None, None) => {
            "skipped: carries an earlier step's error; rerun that step on this output".to_owned()
        }
    }
}

/// The step on an object [`start`] gave to act on.
pub(super) async fn act<T: Tool>(
    stamp: &Stamp,
    shared: &Arc<Shared>,
    input: Envelope,
    inputs: T::Inputs,
) -> Outcome {
    if let Some(s) = shared.interrupt.raised() {
        return not_started(stamp, input, s);
    }
    let ctx = Ctx {
        shared: shared.clone(),
        deadline: shared.deadline(),
    };
    let dry_run = stamp.dry_run;
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
            stamp.write(&mut out);
            done.output.write_to(&mut out);
            Outcome::Written(Written {
                object: out,
                status: Status::Done {
                    changed: done.changed,
                    verdict: done.output.verdict(),
                },
                undo: done.output.undelivered(),
            })
        }
        Err(Failed { error, partial }) => failed(stamp, input, &partial, error),
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
fn mark_dry_run(mut outcome: Outcome, dry_run: bool, planned: Vec<serde_json::Value>) -> Outcome {
    let Outcome::Written(Written { object, .. }) = &mut outcome else {
        return outcome;
    };
    if dry_run {
        let mut plan = match object.get(fields::PLAN.name) {
            Some(serde_json::Value::Array(a)) => a,
            _ => Vec::new(),
        };
        plan.extend(planned);
        // At the end, before `error` (moved as it is).
        for f in [&fields::DRY_RUN, &fields::PLAN] {
            object.remove(f.name);
        }
        object.set(fields::DRY_RUN.name, true);
        object.set(fields::PLAN.name, plan);
        object.move_to_end(fields::ERROR.name);
    }
    outcome
}

/// An object that arrived after the interrupt, or was not started before it: written with
/// the flags and `error.code` `Interrupted`, which a rerun of the same command completes.
/// An object a rollout did not start after too many failures ([`super::rollout`]): written
/// with the flags and `error` (`NotStarted`), which a rerun of the same command starts.
pub(super) fn held_back(stamp: &Stamp, mut out: Envelope, e: Error) -> Outcome {
    stamp.write(&mut out);
    out.set_error(&ErrorField::of(stamp.step, &e));
    written(out, Status::NotStarted(e))
}

/// The error of an object the step acted on and failed, if it failed.
pub(super) fn failure(o: &Outcome) -> Option<&Error> {
    match o {
        Outcome::Written(Written {
            status: Status::Failed(e),
            ..
        }) => Some(e),
        _ => None,
    }
}

fn not_started(stamp: &Stamp, mut out: Envelope, s: Signal) -> Outcome {
    let e = Error::interrupted(s, format!("{} did not start on this object", stamp.step));
    stamp.write(&mut out);
    out.set_error(&ErrorField::of(stamp.step, &e));
    written(out, Status::NotStarted(e))
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

/// The object of a failed step: the flags, what the run made, and `error`. Said on stderr
/// at once, but for an interrupt (the run's last line says it; the details with -v).
fn failed(stamp: &Stamp, mut out: Envelope, partial: &dyn Fields, e: Error) -> Outcome {
    if e.is_interrupted() {
        ui::debug(&format!("{} ({})", e.message(), e.code()));
    } else {
        ui::error(&format!("{} ({})", e.message(), e.code()));
        if let Some(h) = e.hint() {
            ui::hint(h);
        }
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
        stamp.write(&mut out);
    }
    partial.write_to(&mut out);
    out.set_error(&ErrorField::of(stamp.step, &e));
    Outcome::Written(Written {
        object: out,
        status: Status::Failed(e),
        undo: partial.undelivered(),
    })
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
        let stamp = Stamp {
            step: "aks-sp-update",
            flags: vec![(fields::CLUSTER_ID, "/subscriptions/s/c".to_owned())],
            cloud: "AzureCloud".into(),
            dry_run: false,
        };
        let e = Error::step(codes::OPERATION_STILL_RUNNING, "still running");
        let made = Made {
            url: "https://arm/op/1",
        };
        let Outcome::Written(Written {
            object: out,
            status: Status::Failed(err),
            ..
        }) = failed(&stamp, input, &made, e)
        else {
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
