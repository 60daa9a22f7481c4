//! The flags of `aks-sp-update`.

use std::time::Duration;

use clap::Parser;
use common::arm::ResourceId;
use common::cli::{CommonArgs, SecretArgs};
use common::envelope::{Field, fields, given};
use common::validate::clap_duration;

use common::arm::clusters::CLUSTER_TYPE;

/// Switch an AKS cluster (tenant A) to the multitenant app's service principal, safely
///
/// Reads JSON objects on stdin (the output of acr-grant, or nothing: then the flags
/// alone) and for each, on the cluster --cluster names (or, with --targets-from-input,
/// the object's cluster_id): reads the cluster and refuses a managed-identity cluster; checks
/// that the app's credential gets a pull token from the registry the object names
/// (registry_login_server); before a switch from another app, gives the new service
/// principal the roles in tenant A a cluster needs that the one it runs as has at the
/// cluster's own resources (unless --no-copy-role-assignments; see --copy-role-scope);
/// posts resetServicePrincipalProfile and follows the
/// operation — the reset reimages every node of the cluster (a node image upgrade: pods
/// restart, PodDisruptionBudgets apply), which stderr says before the post ("reimages 12
/// nodes in 3 pools") and the --dry-run plan notes, and takes minutes a node: without
/// --timeout it is waited for 10 minutes a node, at least an hour; reads the cluster back to confirm, and records on the app (its tags in tenant
/// A; the cluster gets no write but the reset) the key id of the secret the cluster now
/// holds. A cluster already on the app is left alone only when ARM shows it Succeeded on
/// the app and that record names the object's client_secret_key_id. Writes cluster_id,
/// cluster_provisioning_state, and while the reset is unfinished cluster_operation_url: a
/// rerun with that object resumes the operation. With --probe-image, the cluster itself
/// then pulls an image, in a short-lived pod run through AKS run command
/// (cluster_pull_probe); --probe-only does only that.
#[derive(Debug, Parser)]
#[command(
    name = "aks-sp-update",
    version,
    override_usage = "aks-sp-update [OPTIONS] --cluster ID < ENVELOPE\n       aks-sp-update [OPTIONS] -g GROUP -n NAME [--subscription SUB] < ENVELOPE"
)]
pub struct Cli {
    /// The cluster's ARM id (/subscriptions/…/resourceGroups/…/providers/Microsoft.ContainerService/managedClusters/…)
    #[arg(long, value_name = "ID", conflicts_with_all = ["resource_group", "name", "subscription"])]
    pub cluster: Option<String>,

    /// The cluster's resource group, as az aks takes it (with -n, instead of --cluster)
    ///
    /// The subscription is --subscription; else, with --auth cli, the Azure CLI's default
    /// (az account set); else the one subscription of tenant A (--cluster-tenant) that holds
    /// a cluster of this group and name, looked up before the run (refused, naming them, when
    /// several do).
    #[arg(short = 'g', long, value_name = "GROUP", requires = "name")]
    pub resource_group: Option<String>,

    /// The cluster's name (with -g)
    #[arg(short = 'n', long, value_name = "NAME", requires = "resource_group")]
    pub name: Option<String>,

    /// The cluster's subscription, its id or name (with -g and -n)
    #[arg(long, visible_alias = "cluster-subscription", value_name = "SUB", requires_all = ["resource_group", "name"])]
    pub subscription: Option<String>,

    /// The cluster's id as looked up for -g and -n before the run (see [`crate::lookup`]).
    #[arg(skip)]
    pub(crate) looked_up: std::sync::OnceLock<common::Result<String>>,

    /// Trust the input's cluster_id: reset the cluster each input object names (for reruns on your own files, and fleets)
    ///
    /// Without it the cluster is the one --cluster (or --resource-group, --name and
    /// --cluster-subscription) names, and an input object whose cluster_id names another
    /// cluster is refused: a file from another team cannot choose which cluster is reset.
    /// With --cluster too, the input's cluster_id must name the same cluster.
    #[arg(long)]
    pub targets_from_input: bool,

    /// Tenant A, the cluster's tenant: id or verified domain (cluster_tenant_id)
    #[arg(long, value_name = "TENANT")]
    pub cluster_tenant: Option<String>,

    /// The app's client id the cluster switches to (app_id)
    #[arg(long, value_name = "GUID")]
    pub app_id: Option<String>,

    #[command(flatten)]
    pub secret: SecretArgs,

    /// Reset even if the cluster already uses this app id (e.g. a new secret), even if the pull check fails
    #[arg(long)]
    pub force: bool,

    /// Do not give the new service principal the role assignments in tenant A the old one has (they are copied by default, before the reset)
    #[arg(long)]
    pub no_copy_role_assignments: bool,

    /// The default (kept for compatibility): copy the old service principal's role assignments in tenant A
    #[arg(long, hide = true, conflicts_with = "no_copy_role_assignments")]
    pub copy_role_assignments: bool,

    /// A scope where a role the cluster's identity needs may be copied besides its own resources (repeatable)
    ///
    /// Before a switch, the roles of the service principal the cluster runs as that a
    /// cluster's identity needs (Network Contributor, Private DNS Zone Contributor, …: the
    /// AKS documentation's list) are copied to the app's at or below the cluster's own
    /// resources (its subnets and virtual networks, private DNS zone, outbound IPs, node
    /// resource group) and at or below each scope named here (an ARM id under a
    /// subscription, e.g. a virtual network in another resource group). Privileged roles
    /// are never copied.
    #[arg(long, value_name = "ARM_ID", value_parser = crate::scopes::flag_value)]
    pub copy_role_scope: Vec<String>,

    /// Also remove the cluster's xtenant-* tags (the record of earlier versions, now kept on the app): a cluster write (ManagedClusters_UpdateTags, a managed-cluster update on AKS)
    #[arg(long)]
    pub remove_legacy_tags: bool,

    /// How long a read of the cluster made before its object arrived stands for it, at most 30s (0: every object reads afresh)
    ///
    /// While it waits for its first object, aks-sp-update reads the cluster --cluster names
    /// and the role assignments of the service principal it runs as. The object uses those
    /// answers only if it came within this time (judged on this machine's clock), and the
    /// assignments stand for later objects as long. Shorter makes the tool more careful
    /// (e.g. when something else may change the cluster meanwhile); longer than 30s is refused.
    #[arg(long, env = common::env::XTENANT_EARLY_READ_MAX_AGE, value_name = "DURATION", default_value = "30s", value_parser = early_read_max_age)]
    pub early_read_max_age: Duration,

    /// Post the reset and return at once: the object gets cluster_operation_url and error OperationStillRunning; rerun it to follow
    #[arg(long)]
    pub detach: bool,

    /// In a run of many objects: stop starting new resets after N failed; the rest are written with error NotStarted, which a rerun of the same command on the output starts
    ///
    /// Each reset reimages every node of its cluster, so a fleet is rolled out to see a
    /// failure before it is touched: the first object runs alone (a canary), then up to
    /// --jobs at once, and after N failures no new reset starts (those already running
    /// finish). The rerun on the output retries the failed objects, starts the NotStarted
    /// ones, and only reads the ones already done.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: u32,

    /// An image to check the pull with, <login server>/<repository>:<tag> or <repository>:<tag> (registry_image)
    ///
    /// Without it, the pull check asks for a token on the repository xtenant/verify and
    /// stops at the token; a registry whose grant is limited to some repositories (ABAC
    /// conditions) needs an image from one of them.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// After the step (alone with --probe-only; in the report with --status), let the cluster itself pull IMAGE: <login server>/<repository>:<tag>, or <repository>:<tag> of the object's registry
    ///
    /// Through AKS run command, the cluster runs a short kubectl script in a pod of AKS's
    /// own (namespace aks-command): it makes, if missing, the namespace xtenant-probe (left
    /// in place, empty), deletes any pod a probe interrupted earlier left there (label
    /// xtenant.io/probe), runs one pod of IMAGE with imagePullPolicy Always, waits for the
    /// kubelet's verdict (pulled, whatever the container then does, or ErrImagePull /
    /// ImagePullBackOff with the kubelet's message), and deletes the pod. Nothing else is
    /// written in the cluster. The verdict goes to cluster_pull_probe {image, pulled, node,
    /// at, message}; a failed pull is the object's error (ClusterPullFailed) with a hint
    /// read from the kubelet's message: credentials, network, or a missing image. Rights:
    /// Microsoft.ContainerService/managedClusters/runcommand/action and
    /// …/managedClusters/commandResults/read on the cluster (Contributor has both); on a
    /// cluster with Microsoft Entra integration the command runs as the operator, with a
    /// token of the operator's identity for the AKS AAD server application
    /// (6dae42f8-4368-4678-94ff-3960e28e3630), which then needs Kubernetes rights to create
    /// the namespace and pods in it. A cluster with run command disabled
    /// (apiServerAccessProfile.disableRunCommand) is refused (RunCommandRefused), never
    /// reported as pulled.
    #[arg(long, value_name = "IMAGE")]
    pub probe_image: Option<String>,

    /// Only the probe of --probe-image: no pull check with the app's credential, no reset, no record (needs only the cluster and its tenant)
    #[arg(
        long,
        requires = "probe_image",
        conflicts_with_all = ["force", "detach", "image", "app_id", "no_copy_role_assignments", "copy_role_scope"]
    )]
    pub probe_only: bool,

    #[command(flatten)]
    pub status: StatusArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// The read-only report (`--status`) and its flags.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Report on each cluster, read-only: its app, its key and when it expires, tenant B's principal and pull role, the nodes a reset would reimage
    ///
    /// For each cluster (--cluster, each input object's cluster_id, or --all) writes the
    /// object with `status`: the app ARM shows it running as, the key id its record names
    /// and whether that key still exists on the app and when it expires (Microsoft Graph),
    /// whether the app's service principal in tenant B exists and holds a pull role on the
    /// registry (with --registry-tenant / --registry or the object's registry_tenant_id /
    /// registry_id; `unknown`, saying which right would tell, without an identity there),
    /// and how many nodes the next reset would reimage. One line per cluster on stderr and a
    /// summary at the end. Nothing is written to Azure, except with --probe-image: then each
    /// cluster also pulls IMAGE itself, in a short-lived pod run through AKS run command and
    /// deleted after (see --probe-image: what it makes in the cluster, the rights it needs);
    /// the kubelet's verdict goes to status.probe, and a pull that failed (or a probe that
    /// could not run) makes the cluster broken, with a hint read from the kubelet's message.
    /// Exit 0: every cluster healthy; 1: one is broken (key gone or expired, principal or
    /// role gone, on another app, no pull from inside) or could not be read; 4: nothing is
    /// broken, but a key expires within --warn-within.
    #[arg(long, conflicts_with_all = ["force", "detach", "no_copy_role_assignments", "copy_role_assignments", "copy_role_scope", "probe_only"])]
    pub status: bool,

    /// With --status: every cluster in tenant A (--cluster-tenant) that runs as an app these tools made (tagged xtenant:managed); reads no input
    #[arg(long, requires_all = ["status", "cluster_tenant"], conflicts_with_all = ["cluster", "resource_group", "app_id"])]
    pub all: bool,

    /// With --status: report a key that expires within this long (exit 4 when nothing is broken)
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = clap_duration)]
    pub warn_within: Duration,

    /// With --status: tenant B, where the app's service principal and pull role are checked (registry_tenant_id)
    #[arg(long, value_name = "TENANT", requires = "status")]
    pub registry_tenant: Option<String>,

    /// With --status: the registry's ARM id whose pull role is checked (registry_id)
    #[arg(long = "registry", value_name = "ID", requires = "status")]
    pub registry: Option<String>,
}

impl Cli {
    /// The cluster's id the flags give: `--cluster`, or built from `-g` and `-n` with the
    /// subscription they name (see [`Cli::known_subscription`]) or the one looked up for them.
    pub(crate) fn cluster_id(&self) -> common::Result<Option<String>> {
        if let Some(c) = &self.cluster {
            return Ok(Some(c.clone()));
        }
        let (Some(rg), Some(name)) = (&self.resource_group, &self.name) else {
            return Ok(None);
        };
        let Some(sub) = self.known_subscription() else {
            return match self.looked_up.get() {
                Some(found) => found.clone().map(Some),
                None => Err(common::Error::input(
                    fields::CLUSTER_ID.name,
                    format!(
                        "the subscription of cluster {rg}/{name} is not known: pass --subscription"
                    ),
                )),
            };
        };
        let id = ResourceId::new(
            fields::CLUSTER_ID.name,
            &sub,
            rg.trim(),
            CLUSTER_TYPE,
            name.trim(),
        )?;
        Ok(Some(id.id()))
    }

    /// The subscription of `-g`/`-n` known without a request: `--subscription` as an id, or
    /// with `--auth cli` (and no `--subscription`) the Azure CLI's default subscription.
    pub(crate) fn known_subscription(&self) -> Option<String> {
        match self.subscription.as_deref().map(str::trim) {
            Some(s) if common::validate::is_guid(s) => Some(s.to_ascii_lowercase()),
            None if self.common.auth == common::auth::AuthMethod::Cli => {
                common::auth::cli_default_subscription()
            }
            // A name is looked up.
            _ => None,
        }
    }

    /// The envelope fields the flags given set (a cluster whose parts are malformed is
    /// refused by the inputs, and not written).
    pub(crate) fn fields(&self) -> Vec<(Field, String)> {
        let cluster = self.cluster_id().ok().flatten();
        given([
            (fields::CLUSTER_ID, cluster),
            (fields::CLUSTER_TENANT_ID, self.cluster_tenant.clone()),
            (fields::APP_ID, self.app_id.clone()),
            (fields::REGISTRY_IMAGE, self.image.clone()),
            (
                fields::REGISTRY_TENANT_ID,
                self.status.registry_tenant.clone(),
            ),
            (fields::REGISTRY_ID, self.status.registry.clone()),
        ])
    }
}

/// The longest an early read stands for an object (early.rs): the default early-read
/// window, and the most `--early-read-max-age` may say (it can only make the tool more
/// careful). The cluster's state and principal decide the step, so an object that came much
/// later (step 2 waited for a consent) reads it afresh; what is copied to a new principal is
/// what the old one holds now, not what it held long ago.
pub(crate) const EARLY_READ_MAX_AGE: Duration = Duration::from_secs(30);

/// Parses `--early-read-max-age` / `XTENANT_EARLY_READ_MAX_AGE` (clap's value parser: a bad
/// value is a usage error, exit 2, before anything is sent): a duration from `0` to
/// [`EARLY_READ_MAX_AGE`]. A longer one is refused, not clamped: the setting exists to make
/// the tool more careful, so a value that asks for less care is a mistake to point out.
pub(crate) fn early_read_max_age(value: &str) -> Result<Duration, String> {
    let setting = format!(
        "{} (--early-read-max-age)",
        common::env::XTENANT_EARLY_READ_MAX_AGE
    );
    let most = common::duration::human(EARLY_READ_MAX_AGE);
    let Some(age) = common::validate::parse_duration(value) else {
        return Err(format!(
            "{setting} must be a duration from 0 to {most}, such as 5s or 300ms (0: every object reads afresh)"
        ));
    };
    if age > EARLY_READ_MAX_AGE {
        return Err(format!(
            "{setting} may only shorten how long a read made before an object arrived stands for it: at most {most} (the default); give {most} or less, or unset it"
        ));
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_three_parts_build_the_cluster_id() {
        let c = Cli::try_parse_from([
            "aks-sp-update",
            "-g",
            "rg",
            "-n",
            "aks1",
            "--subscription",
            "00000000-0000-0000-0000-00000000000A",
            "--cluster-tenant",
            "contoso.onmicrosoft.com",
        ])
        .unwrap();
        let written: Vec<_> = c.fields().into_iter().map(|(f, v)| (f.name, v)).collect();
        assert_eq!(
            written,
            [
                ("cluster_id", "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1".to_owned()),
                ("cluster_tenant_id", "contoso.onmicrosoft.com".to_owned()),
            ]
        );
    }

    #[test]
    fn the_setting_takes_0_to_30s_and_refuses_more_or_nonsense_naming_itself() {
        assert_eq!(early_read_max_age("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(early_read_max_age("0"), Ok(Duration::ZERO));
        assert_eq!(early_read_max_age("0s"), Ok(Duration::ZERO));
        assert_eq!(early_read_max_age("30s"), Ok(EARLY_READ_MAX_AGE));
        assert_eq!(early_read_max_age("5"), Ok(Duration::from_secs(5)));
        for (bad, says) in [
            ("31s", "at most 30s"),
            ("30.5s", "at most 30s"),
            ("1m", "at most 30s"),
            ("soon", "must be a duration"),
            ("-1s", "must be a duration"),
            ("", "must be a duration"),
        ] {
            let e = early_read_max_age(bad).expect_err(bad);
            assert!(e.contains("XTENANT_EARLY_READ_MAX_AGE"), "{bad}: {e}");
            assert!(e.contains("--early-read-max-age"), "{bad}: {e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
