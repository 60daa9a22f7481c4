//! Following the reset: the cluster's running operation waited out, the operation of the
//! reset (or the envelope's `cluster_operation_url`) followed, and the cluster read back.

use common::arm::ResourceId;
use common::arm::{OperationKind, follow_operation};
use common::cloud::Cloud;
use common::driver::{Ctx, Done};
use common::envelope::{Change, fields};
use common::http::Api;
use common::record::Entry;
use common::validate::shown;
use common::wait::{Deadline, Poll, human, poll_until};
use common::{Error, ErrorKind, Result, ui};
use url::Url;

use crate::act::{Fail, Output, key_text, resumable};
use crate::cluster;
use crate::inputs::Inputs;
use crate::record;
use common::arm::clusters::ManagedCluster;

/// An operation URL from an earlier run, checked as far as the flags and the envelope allow:
/// an operation of `Microsoft.ContainerService` in the cluster's own subscription, on this
/// cloud's ARM endpoint. Its location is checked against the cluster once it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperationRef {
    /// The URL, as given.
    pub url: Url,
    /// How it reports the end (`…/operations/{id}`: a status; `…/operationresults/{id}`: 202 until done).
    pub kind: OperationKind,
    /// The location it names (lower case).
    pub location: String,
}

/// The envelope's `cluster_operation_url`. A claim by whoever wrote the envelope: it is
/// followed (a read) only when it has the shape of the operation AKS answers a reset with
/// (`{ARM}/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{location}/operations/{id}`,
/// or `…/operationresults/{id}`, as in the recorded `ManagedClustersResetServicePrincipalProfile`
/// example) in the cluster's subscription; anything else, e.g. another ARM URL that answers
/// 200 without a status, is refused here, before any request.
impl OperationRef {
    /// Checks `value` (see the type); refused naming the field.
    pub(crate) fn parse(value: &str, cloud: &Cloud, cluster: &ResourceId) -> Result<Self> {
        let field = fields::CLUSTER_OPERATION_URL.name;
        let bad = |why: &str| {
            Error::input(field, format!("`{field}` {why}: {}", shown(value)))
                .with_hint("remove the field to post the reset again, or pass the object exactly as aks-sp-update wrote it")
        };
        let url = Url::parse(value.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        let same_origin = url.scheme() == cloud.arm.scheme()
            && url.host_str().is_some_and(|h| {
                cloud
                    .arm
                    .host_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(h))
            })
            && url.port_or_known_default() == cloud.arm.port_or_known_default();
        if !same_origin {
            return Err(bad(&format!(
                "is not on this cloud's Resource Manager endpoint ({})",
                cloud.arm.origin().ascii_serialization()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(bad("carries credentials or a fragment"));
        }
        let not_aks = || {
            bad(&format!(
                "is not an operation of Microsoft.ContainerService in the cluster's subscription {}              (…/subscriptions/{}/providers/Microsoft.ContainerService/locations/<location>/operations/<id>)",
                cluster.subscription, cluster.subscription
            ))
        };
        // The path below the endpoint's own (a custom cloud's endpoint may have one).
        let base = cloud.arm.path().trim_end_matches('/');
        let path = url.path().strip_prefix(base).ok_or_else(not_aks)?;
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let word = |i: usize, w: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(w));
        let plain =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let kind = match segs.get(6).map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("operations") => OperationKind::Status,
            Some("operationresults") => OperationKind::Location,
            _ => return Err(not_aks()),
        };
        let shaped = segs.len() == 8
            && word(0, "subscriptions")
            && word(1, &cluster.subscription)
            && word(2, "providers")
            && word(3, "Microsoft.ContainerService")
            && word(4, "locations")
            && plain(segs[5])
            && plain(segs[7]);
        if !shaped {
            return Err(not_aks());
        }
        Ok(Self {
            kind,
            location: segs[5].to_ascii_lowercase(),
            url,
        })
    }
}

/// ARM, to wait for a reset of `cluster` with: until `--timeout` when it was given; else for
/// [`ManagedCluster::reset_wait`] from now (at least an hour: AKS reimages node after node).
pub(crate) fn for_the_reset<'a>(ctx: &Ctx, arm: &Api<'a>, cluster: &ManagedCluster) -> Api<'a> {
    if ctx.common().timeout.is_some() {
        return arm.clone();
    }
    let wait = cluster::reset_wait(cluster).max(arm.deadline().remaining());
    arm.until(Deadline::watched(wait, arm.deadline().interrupt()))
}

/// Says, before the reset is posted, what it does to the nodes and how long it is waited for
/// (not in a dry run: its plan says it).
pub(crate) fn announce(ctx: &Ctx, name: &str, waiting: &Api<'_>, cluster: &ManagedCluster) {
    if ctx.dry_run() {
        return;
    }
    let given = if ctx.common().timeout.is_some() {
        "--timeout "
    } else {
        ""
    };
    ui::info(&format!(
        "resetting cluster {name} now: {} (waiting up to {given}{})",
        cluster::disruption(cluster),
        human(waiting.deadline().timeout())
    ));
}

/// Waits until no operation runs on the cluster (up to --timeout); the cluster as it is then.
pub(crate) async fn settle(
    arm: &Api<'_>,
    inputs: &Inputs,
    cluster: ManagedCluster,
) -> Result<ManagedCluster> {
    if !cluster.in_progress() {
        return Ok(cluster);
    }
    let name = &inputs.cluster.name;
    ui::info(&format!(
        "cluster {name} is {}: an operation is running on it (perhaps a reset an interrupted run posted); waiting for it to end",
        cluster.provisioning_state()
    ));
    let label = format!("waiting for the running operation on cluster {name}");
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if c.in_progress() {
            Poll::Pending(c.provisioning_state().to_owned(), None)
        } else if c.provisioning_state().eq_ignore_ascii_case("Succeeded") {
            Poll::Ready(c)
        } else {
            // It ended Failed or Canceled: the progress line says so, never "done".
            let status = format!("it ended {}", c.provisioning_state());
            Poll::Ended(c, status)
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::step(common::error::codes::CLUSTER_BUSY, e.message()).with_hint(format!(
                "another operation is running on cluster {name}; nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        }
    })
}

/// What following the envelope's `cluster_operation_url` came to.
pub(crate) enum Resumed {
    /// The envelope's reset finished: the output.
    Done(Done<Output>),
    /// The operation does not stand for the envelope's reset (the record names no reset
    /// pending with its key and this operation): the step goes on as if there were no URL.
    NotThisReset(Box<ManagedCluster>),
}

/// Follows an operation an earlier run posted, instead of posting again.
///
/// The URL is a claim by whoever wrote the envelope: it may cause a read (the operation,
/// then the cluster), never on its own a skipped reset or a record entry. Its shape and
/// subscription were checked with the inputs; its location must be the cluster's. When it
/// ends, the cluster must run as the app (else `ResetNotApplied`), and the object's key is
/// recorded only when the entry on the app names a reset pending with that very key and this
/// operation (or a switch from another app); otherwise the step goes on as without the URL,
/// and resets the cluster unless the record already names the key.
pub(crate) async fn resume(
    ctx: &Ctx,
    inputs: &Inputs,
    arm: &Api<'_>,
    cluster: &ManagedCluster,
    entry: Option<&Entry>,
    op: &OperationRef,
) -> Result<Resumed, Fail> {
    let name = &inputs.cluster.name;
    if !cluster.in_location(&op.location) {
        let field = fields::CLUSTER_OPERATION_URL.name;
        return Err(Error::input(
            field,
            format!(
                "`{field}` names an operation in location {}, but cluster {name} is in {}: it is not the cluster's operation",
                op.location,
                cluster.location.as_deref().unwrap_or("no location")
            ),
        )
        .with_hint("remove the field to post the reset again, or pass the object exactly as aks-sp-update wrote it")
        .into());
    }
    if !record::is_pending_reset(inputs, entry, &op.url) {
        ui::info(&format!(
            "cluster_operation_url is not a reset of cluster {name} to app {}'s secret {} that the record on the app names as pending: not followed",
            inputs.app_id,
            key_text(inputs)
        ));
        return Ok(Resumed::NotThisReset(Box::new(cluster.clone())));
    }
    ui::info(&format!(
        "resuming the reset of cluster {name} from cluster_operation_url"
    ));
    match follow(arm, inputs, &op.url, op.kind).await {
        Ok(()) => {}
        // Operations expire: a cluster that already runs as the app is what the operation was for.
        Err(f) if f.error.status() == Some(404) && cluster.uses(&inputs.app_id) => {
            ui::debug(&format!(
                "the operation is gone ({}); the cluster already uses the app",
                f.error.code()
            ));
        }
        Err(f) => return Err(f),
    }
    let done = confirm(arm, inputs, Some(&op.url)).await?;
    let recorded = record::record_confirmed(ctx, inputs).await;
    Ok(Resumed::Done(Done {
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state().to_owned()),
            cluster_operation_url: Change::Remove,
            pull_verified_at: Change::Keep,
            cluster_pull_verified: Change::Keep,
        },
        changed: false,
        summary: format!(
            "the reset of cluster {name} to app {} with secret {} finished (state {}{recorded})",
            inputs.app_id,
            key_text(inputs),
            done.provisioning_state()
        ),
    }))
}

/// Follows the operation; its failures say whether a rerun should resume it.
pub(crate) async fn follow(
    arm: &Api<'_>,
    inputs: &Inputs,
    op: &Url,
    kind: OperationKind,
) -> Result<(), Fail> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    match follow_operation(arm, op, kind, &label).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::Timeout => still_running(inputs, op, &format!("not finished after {}", human(arm.deadline().timeout()))),
            // The operation ended Failed or Canceled: Azure's code; a rerun posts again.
            ErrorKind::OperationFailed => resumable(e.context(format!("the reset of cluster {}", inputs.cluster.name)), None),
            ErrorKind::Http { status: 404 } => resumable(
                e.context("the reset's operation is unknown").with_hint("operations expire; a rerun reads the cluster and posts the reset again if needed"),
                None,
            ),
            _ => resumable(e, Some(op)),
        }),
    }
}

/// Waits for the cluster to leave its in-progress state (a reset accepted without an operation URL).
pub(crate) async fn wait_for_cluster(arm: &Api<'_>, inputs: &Inputs) -> Result<()> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if c.in_progress() {
            Poll::Pending(c.provisioning_state().to_owned(), None)
        } else {
            Poll::Ready(())
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::new(ErrorKind::Timeout, "OperationStillRunning", e.message())
        } else {
            e
        }
    })
}

/// Reads the cluster back: it must run as the app, and be Succeeded.
pub(crate) async fn confirm(
    arm: &Api<'_>,
    inputs: &Inputs,
    op: Option<&Url>,
) -> Result<ManagedCluster, Fail> {
    let c = cluster::get(arm, &inputs.cluster)
        .await
        .map_err(|e| resumable(e, op))?;
    if !c.uses(&inputs.app_id) || !c.provisioning_state().eq_ignore_ascii_case("Succeeded") {
        let now_uses = c.client_id().unwrap_or("no service principal");
        return Err(resumable(
            Error::step(
                common::error::codes::RESET_NOT_APPLIED,
                format!(
                    "after the reset, cluster {} uses {now_uses} in state {} (expected app {} in state Succeeded)",
                    inputs.cluster.name, c.provisioning_state(), inputs.app_id
                ),
            )
            .with_hint("check the cluster's activity log; a rerun posts the reset again"),
            None,
        ));
    }
    Ok(c)
}

/// The error of a reset left running: the object keeps the URL, and a rerun resumes.
pub(crate) fn still_running(inputs: &Inputs, op: &Url, why: &str) -> Fail {
    resumable(
        Error::step(common::error::codes::OPERATION_STILL_RUNNING, format!("the reset of cluster {} is still running ({why})", inputs.cluster.name))
            .with_hint("rerun aks-sp-update on this object: it follows cluster_operation_url instead of posting again"),
        Some(op),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::arm::clusters::CLUSTER_TYPE;

    const ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";

    #[test]
    fn operation_urls_must_be_aks_operations_in_the_clusters_subscription() {
        let c = Cloud::azure_public();
        let id = ResourceId::parse("cluster_id", ID, CLUSTER_TYPE).unwrap();
        let sub = "00000000-0000-0000-0000-00000000000a";
        // The recorded 202 of ManagedClustersResetServicePrincipalProfile (Location), and
        // the Azure-AsyncOperation form AKS answers beside it.
        let location = format!(
            "https://management.azure.com/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/eastus/operationresults/00000000-0000-0000-0000-000000000000?api-version=2017-08-31"
        );
        let status = format!(
            "https://management.azure.com/subscriptions/{}/providers/microsoft.containerservice/locations/EastUS/operations/43feeb4b-0000-4000-8000-000000000001?api-version=2016-03-30&t=1&c=x&s=y&h=z",
            sub.to_uppercase()
        );
        let op = OperationRef::parse(&location, &c, &id).unwrap();
        assert_eq!(
            (op.url.as_str(), op.kind, op.location.as_str()),
            (location.as_str(), OperationKind::Location, "eastus")
        );
        let op = OperationRef::parse(&status, &c, &id).unwrap();
        assert_eq!(
            (op.kind, op.location.as_str()),
            (OperationKind::Status, "eastus")
        );
        for bad in [
            "https://management.azure.com.evil.com/x".to_owned(),
            "https://user:pw@management.azure.com/x".to_owned(),
            "https://management.azure.com:8443/x".to_owned(),
            "nope".to_owned(),
            // Issue 23, attack 2: an ARM URL that answers 200 without a status.
            "https://management.azure.com/subscriptions?api-version=2022-12-01".to_owned(),
            format!("https://management.azure.com{ID}?api-version=2025-10-01"),
            location.replace(sub, "00000000-0000-0000-0000-00000000000b"),
            location.replace("ContainerService", "Resources"),
            location.replace("operationresults", "deployments"),
            location.replace("operationresults/", "operationresults/x/"),
            location.replace("/eastus/", "/east%2Fus/"),
            location.replace("?api", "#f?api"),
        ] {
            let e = OperationRef::parse(&bad, &c, &id).unwrap_err();
            assert!(e.message().contains("cluster_operation_url"), "{bad}: {e}");
        }
    }
}
