//! AKS run command, as the probe uses it: read what the cluster allows, post the command, and
//! follow its result until it ends.
//!
//! `POST …/managedClusters/{name}/runCommand` (`{"command", "clusterToken"?}`) answers 202 with
//! a `location`; `GET` there answers 202 while the command runs and then 200 `{"id",
//! "properties": {"provisioningState", "exitCode", "startedAt", "finishedAt", "logs",
//! "reason"}}` (REST reference "Managed Clusters - Run Command" / "Get Command Result"). A
//! cluster with AKS-managed Microsoft Entra integration (or without local accounts) runs the
//! command as whoever its `clusterToken` names: a token for the AKS AAD server application,
//! obtained here with the operator's own identity, as `az aks command invoke` does.

use common::arm::ResourceId;
use common::http::{Api, ApiVersions, Sent};
use common::json::{lenient, null_as_default, read, typed};
use common::wait::{Poll, poll_until};
use common::{Error, Result, Secret};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use common::arm::clusters;
use common::arm::clusters::{CLUSTER_TYPE, ManagedCluster};

/// The AKS AAD server application: the audience of a `clusterToken`, the same in every cloud.
pub(crate) const AKS_SERVER_APP: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// The api-versions of run command (in the stable specs since 2021-05-01).
const RUN_COMMAND_API: ApiVersions = ApiVersions {
    resource_type: CLUSTER_TYPE,
    pinned: "2025-10-01",
    oldest: "2021-05-01",
};

/// What the cluster's ARM properties say about running a command in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Access {
    /// `apiServerAccessProfile.disableRunCommand`.
    pub disabled: bool,
    /// `aadProfile.managed`: the command runs as the `clusterToken`'s principal.
    pub entra: bool,
    /// `disableLocalAccounts`: without a `clusterToken` AKS has no account to run it as.
    pub no_local_accounts: bool,
}

impl Access {
    /// Reads them from the cluster.
    pub(crate) fn of(c: &ManagedCluster) -> Self {
        let p = &c.properties;
        Self {
            disabled: p
                .api_server_access_profile
                .as_ref()
                .and_then(|a| a.disable_run_command)
                .unwrap_or(false),
            entra: p
                .aad_profile
                .as_ref()
                .and_then(|a| a.managed)
                .unwrap_or(false),
            no_local_accounts: p.disable_local_accounts.unwrap_or(false),
        }
    }

    /// Whether the command needs a `clusterToken`.
    pub(crate) fn needs_token(&self) -> bool {
        self.entra || self.no_local_accounts
    }
}

/// Reads the cluster's run command settings.
pub(crate) async fn access(arm: &Api<'_>, cluster: &ResourceId) -> Result<Access> {
    Ok(Access::of(&clusters::get(arm, cluster).await?))
}

/// A command's end, as the result says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    /// `Succeeded` (the command ran; see `exit_code`), `Failed` or `Canceled` (it could not).
    pub state: String,
    pub exit_code: Option<i64>,
    pub logs: String,
    /// Why it could not run (a `Failed` result).
    pub reason: Option<String>,
}

/// A command result's body (`…/commandResults/{id}`, the recorded `RunCommandResult*`
/// examples): strict about what the probe decides on (its state, exit code and reason).
#[derive(Debug, Default, Deserialize)]
struct ResultBody {
    #[serde(default, deserialize_with = "null_as_default")]
    properties: ResultProperties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties {
    provisioning_state: Option<String>,
    exit_code: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    logs: Option<String>,
    reason: Option<String>,
}

impl Finished {
    /// The result's properties, once they are terminal (`None` while it runs); a result
    /// whose state, exit code or reason does not fit is an error naming the field.
    pub(crate) fn from_value(v: &Value) -> Result<Option<Self>> {
        let b: ResultBody = read(
            v,
            common::error::codes::UNEXPECTED_ARM_ANSWER,
            "AKS's run command result",
        )?;
        let p = b.properties;
        let Some(state) = p.provisioning_state.filter(|s| common::arm::is_terminal(s)) else {
            return Ok(None);
        };
        Ok(Some(Self {
            state,
            exit_code: p.exit_code,
            logs: p.logs.unwrap_or_default(),
            reason: p.reason.filter(|r| !r.is_empty()),
        }))
    }

    /// The state a result still running shows, for the progress line (`Running` when it
    /// shows none: it informs, decides nothing).
    fn progress(v: &Value) -> String {
        typed::<ResultBody>(v)
            .ok()
            .and_then(|b| b.properties.provisioning_state)
            .unwrap_or_else(|| "Running".to_owned())
    }

    /// Whether the command ran (whatever its exit code).
    pub(crate) fn ran(&self) -> bool {
        self.state.eq_ignore_ascii_case("Succeeded")
    }
}

/// Posts `command` to run in `cluster` and follows it to its end; `None` in a dry run (the
/// post is reported, not sent).
pub(crate) async fn run(
    arm: &Api<'_>,
    cluster: &ResourceId,
    command: &str,
    token: Option<&Secret>,
) -> Result<Option<Finished>> {
    let mut body = json!({"command": command});
    if let Some(t) = token {
        body["clusterToken"] = json!(t.expose());
    }
    let sent = arm
        .with_api_version(&RUN_COMMAND_API, |v| {
            let body = body.clone();
            async move {
                let url = arm.url(&format!("{}/runCommand?api-version={v}", cluster.id()))?;
                // A POST: never resent after an unknown outcome (a second probe would start).
                arm.write(arm.request(Method::POST, url).json(body)).await
            }
        })
        .await?;
    let Sent::Done(r) = sent else {
        return Ok(None);
    };
    let location = r
        .header("location")
        .and_then(|l| Url::parse(l).ok())
        .ok_or_else(|| {
            Error::step(
                common::error::codes::UNEXPECTED_ARM_ANSWER,
                format!(
                    "AKS accepted the run command on cluster {} (status {}) without a location to read its result from",
                    cluster.name, r.status
                ),
            )
        })?;
    check_location(arm, cluster, &location)?;
    let label = format!("running the probe in cluster {}", cluster.name);
    poll_until(&label, arm.deadline(), || {
        let location = location.clone();
        async move {
            let r = arm
                .read(arm.request(Method::GET, location).accept(&[202]))
                .await?;
            let state = Finished::progress(&r.body);
            if r.status == 202 {
                return Ok(Poll::Pending(state, r.retry_after()));
            }
            Ok(match Finished::from_value(&r.body)? {
                Some(f) if f.state.eq_ignore_ascii_case("Succeeded") => Poll::Ready(f),
                // The command could not run: the progress line ends so, never "done".
                Some(f) => {
                    let status = format!("could not run ({})", f.state);
                    Poll::Ended(f, status)
                }
                None => Poll::Pending(state, r.retry_after()),
            })
        }
    })
    .await
    .map(Some)
}

/// The result's location must be this cluster's `commandResults/{id}` on the ARM endpoint:
/// the ARM token goes there.
fn check_location(arm: &Api<'_>, cluster: &ResourceId, location: &Url) -> Result<()> {
    arm.check_origin(location, "the run command's result location")?;
    let prefix = format!("{}/commandResults/", cluster.id()).to_ascii_lowercase();
    let path = location.path().to_ascii_lowercase();
    let ok = path.strip_prefix(&prefix).is_some_and(|id| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|c| c.is_ascii_alphanumeric())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::step(
            common::error::codes::UNTRUSTED_ORIGIN,
            format!(
                "the run command's result location is not a command result of cluster {}: {}",
                cluster.name,
                location.path()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{Access, Finished};
    use common::arm::clusters::ManagedCluster;
    use serde_json::Value;

    fn cluster(v: &Value) -> ManagedCluster {
        ManagedCluster::from_value(&v["responses"]["200"]["body"], "example").unwrap()
    }

    fn example(file: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/recordings/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_the_spec_examples() {
        let ok = example("RunCommandResultSucceed.json");
        let f = Finished::from_value(&ok["responses"]["200"]["body"])
            .unwrap()
            .unwrap();
        assert!(f.ran(), "the examples spell it in lower case");
        assert_eq!(f.exit_code, Some(0));
        assert_eq!(f.logs, "namespace dummy created");
        let failed = example("RunCommandResultFailed.json");
        let f = Finished::from_value(&failed["responses"]["200"]["body"])
            .unwrap()
            .unwrap();
        assert!(!f.ran());
        assert_eq!(f.reason.as_deref(), Some("ImagePullBackoff"));
        assert_eq!(f.exit_code, None);
        let running = serde_json::json!({"properties": {"provisioningState": "Running"}});
        assert_eq!(Finished::from_value(&running).unwrap(), None);
        let odd =
            serde_json::json!({"properties": {"provisioningState": "Succeeded", "exitCode": "0"}});
        let e = Finished::from_value(&odd).unwrap_err();
        assert!(e.message().contains("at `properties.exitCode`"), "{e}");
        assert_eq!(Finished::progress(&serde_json::json!(null)), "Running");

        let disabled = example("ManagedClustersCreate_DisableRunCommand.json");
        let a = Access::of(&cluster(&disabled));
        assert!(a.disabled && !a.needs_token());
        let get = example("ManagedClustersGet.json");
        assert_eq!(Access::of(&cluster(&get)), Access::default());
    }
}
