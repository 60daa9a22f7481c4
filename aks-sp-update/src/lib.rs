//! `aks-sp-update`: step 4 of the procedure, the reset of an AKS cluster's service principal.
//!
//! The one disruptive step, so everything that can be checked is checked before the
//! reset is posted: the inputs, that the cluster uses a service principal at all, that
//! the new credential gets a pull token from the registry, and which of the old service
//! principal's role assignments in tenant A the new one lacks. The reset is a
//! long-running operation; its URL is written to the object while unfinished, and a
//! rerun with that object resumes it instead of posting again.

mod cluster;
mod reset;
mod roles;

use clap::Parser;
use common::arm::ResourceId;
use common::cli::{CommonArgs, SecretArgs};
use common::cloud::Cloud;
use common::driver::{Ctx, Done, Tool};
use common::envelope::{Envelope, Field, fields, missing};
use common::registry::{Image, LoginServer};
use common::validate::{self, shown};
use common::{Error, Result, Secret};
use url::Url;

/// The AKS api-version of every cluster call.
pub const AKS_API: &str = "2025-10-01";
/// The ARM type of a cluster.
pub const CLUSTER_TYPE: &str = "Microsoft.ContainerService/managedClusters";
/// AKS refuses longer client secrets ("make sure the secret isn't longer than 190 bytes").
pub const MAX_SECRET_BYTES: usize = 190;
/// The repository the pull check asks a token for when no image is named.
pub const PROBE_REPOSITORY: &str = "xtenant/pull-check";
/// The image the pull check uses (set by `--image`, or by `acr-grant --verify --image`).
pub const REGISTRY_IMAGE: Field = fields::REGISTRY_IMAGE;

/// Switch an AKS cluster (tenant A) to the multitenant app's service principal, safely
///
/// Reads JSON objects on stdin (the output of acr-grant, or nothing: then the flags
/// alone) and for each: reads the cluster and refuses a managed-identity cluster; checks
/// that the app's credential gets a pull token from the registry the object names
/// (registry_login_server); lists the role assignments in tenant A the old service
/// principal has and the new one lacks (and with --copy-role-assignments creates them);
/// posts resetServicePrincipalProfile and follows the operation; reads the cluster back to
/// confirm. Writes cluster_id, cluster_provisioning_state, and while the reset is
/// unfinished cluster_operation_url: a rerun with that object resumes the operation.
#[derive(Debug, Parser)]
#[command(name = "aks-sp-update", version)]
pub struct Cli {
    /// The cluster's ARM id (/subscriptions/…/resourceGroups/…/providers/Microsoft.ContainerService/managedClusters/…)
    #[arg(long, value_name = "ID", conflicts_with_all = ["resource_group", "name", "cluster_subscription"])]
    pub cluster: Option<String>,

    /// The cluster's resource group (with --name and --cluster-subscription, instead of --cluster)
    #[arg(long, value_name = "GROUP", requires_all = ["name", "cluster_subscription"])]
    pub resource_group: Option<String>,

    /// The cluster's name (with --resource-group and --cluster-subscription)
    #[arg(long, value_name = "NAME", requires_all = ["resource_group", "cluster_subscription"])]
    pub name: Option<String>,

    /// The cluster's subscription id (with --resource-group and --name)
    #[arg(long, value_name = "GUID", requires_all = ["resource_group", "name"])]
    pub cluster_subscription: Option<String>,

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

    /// Give the new service principal the role assignments in tenant A the old one has, before the reset
    #[arg(long)]
    pub copy_role_assignments: bool,

    /// Post the reset and return at once: the object gets cluster_operation_url and error OperationStillRunning; rerun it to follow
    #[arg(long)]
    pub detach: bool,

    /// An image to check the pull with, <login server>/<repository>:<tag> or <repository>:<tag> (registry_image)
    ///
    /// Without it, the pull check asks for a token on the repository xtenant/pull-check and
    /// stops at the token; a registry whose grant is limited to some repositories (ABAC
    /// conditions) needs an image from one of them.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where the pull check asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullTarget {
    pub login_server: String,
    pub repository: String,
    pub reference: Option<String>,
}

/// The validated inputs of one object.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub cluster: ResourceId,
    pub tenant: String,
    pub app_id: String,
    pub secret: Secret,
    /// The new service principal's object id in tenant A, when the object names it for this app.
    pub new_sp: Option<String>,
    pub pull: Option<PullTarget>,
    pub operation: Option<Url>,
}

impl Inputs {
    /// The fields a rerun needs to resume, for a failed object (the driver writes the input, not the flags).
    pub(crate) fn resumable(&self, e: Error, operation: Option<&Url>) -> Error {
        e.with_field(fields::CLUSTER_ID.name, self.cluster.id())
            .with_field(fields::CLUSTER_TENANT_ID.name, self.tenant.as_str())
            .with_field(fields::APP_ID.name, self.app_id.as_str())
            .with_field(
                fields::CLUSTER_OPERATION_URL.name,
                operation.map_or(serde_json::Value::Null, |u| u.as_str().into()),
            )
    }
}

impl Cli {
    /// Applies the flags to `env` and checks every input; nothing is sent.
    pub(crate) fn inputs(&self, env: &mut Envelope, cloud: &Cloud) -> Result<Inputs> {
        // The cluster: --cluster, or the three parts, or the object's cluster_id.
        if let Some(c) = &self.cluster {
            env.set(fields::CLUSTER_ID.name, c);
        } else if let (Some(rg), Some(name), Some(sub)) =
            (&self.resource_group, &self.name, &self.cluster_subscription)
        {
            let id = ResourceId::new(
                fields::CLUSTER_ID.name,
                sub.trim(),
                rg.trim(),
                CLUSTER_TYPE,
                name.trim(),
            )?;
            env.set(fields::CLUSTER_ID.name, id.id());
        }
        let cluster = ResourceId::parse(
            fields::CLUSTER_ID.name,
            &env.require_str(&fields::CLUSTER_ID)?,
            CLUSTER_TYPE,
        )?;

        env.apply_flag(&fields::CLUSTER_TENANT_ID, self.cluster_tenant.as_deref());
        let tenant = validate::tenant(
            fields::CLUSTER_TENANT_ID.name,
            &env.require_str(&fields::CLUSTER_TENANT_ID)?,
        )?;

        let before = env.str(&fields::APP_ID).ok().flatten();
        env.apply_flag(&fields::APP_ID, self.app_id.as_deref());
        let app_id = validate::guid(fields::APP_ID.name, &env.require_str(&fields::APP_ID)?)?;
        // The object's cluster_sp_object_id belongs to the object's app: not to another one given by --app-id.
        let same_app = before.is_none_or(|b| b.trim().eq_ignore_ascii_case(&app_id));

        let secret = self
            .secret
            .resolve(env, self.common.timeout)?
            .ok_or_else(|| missing(&fields::CLIENT_SECRET))?;
        if secret.len() > MAX_SECRET_BYTES {
            return Err(Error::input(
                fields::CLIENT_SECRET.name,
                format!(
                    "`{}` is {} bytes long; AKS accepts a client secret of at most {MAX_SECRET_BYTES} bytes",
                    fields::CLIENT_SECRET.name,
                    secret.len()
                ),
            )
            .with_code("SecretTooLong")
            .with_hint("mint a shorter secret (entra-app-create --new-secret makes Entra's usual 40-character one)"));
        }

        let new_sp = match env.str(&fields::CLUSTER_SP_OBJECT_ID)? {
            Some(v) if same_app => Some(validate::guid(fields::CLUSTER_SP_OBJECT_ID.name, &v)?),
            _ => None,
        };

        env.apply_flag(&REGISTRY_IMAGE, self.image.as_deref());
        let pull = pull_target(env, cloud)?;

        let operation = match env.str(&fields::CLUSTER_OPERATION_URL)? {
            Some(v) => Some(operation_url(&v, cloud)?),
            None => None,
        };
        Ok(Inputs {
            cluster,
            tenant,
            app_id,
            secret,
            new_sp,
            pull,
            operation,
        })
    }
}

/// The registry and repository to check the pull on, from `registry_login_server` and `registry_image`.
fn pull_target(env: &Envelope, cloud: &Cloud) -> Result<Option<PullTarget>> {
    let server = match env.str(&fields::REGISTRY_LOGIN_SERVER)? {
        Some(s) => Some(login_server(fields::REGISTRY_LOGIN_SERVER.name, &s, cloud)?),
        None => None,
    };
    let image = match env.str(&REGISTRY_IMAGE)? {
        Some(v) => Some(Image::parse(REGISTRY_IMAGE.name, &v, cloud)?),
        None => None,
    };
    let from_image = image.as_ref().and_then(|i| i.login_server.clone());
    if let (Some(s), Some(i)) = (&server, &from_image)
        && !s.eq_ignore_ascii_case(i)
    {
        return Err(Error::input(
            REGISTRY_IMAGE.name,
            format!(
                "`{}` is in {i}, but the object's registry_login_server is {s}",
                REGISTRY_IMAGE.name
            ),
        ));
    }
    let Some(login_server) = server.or(from_image) else {
        if image.is_some() {
            return Err(Error::input(
                REGISTRY_IMAGE.name,
                format!(
                    "`{}` names no registry: give it as <login server>/<repository>:<tag>, or pipe in the output of acr-grant",
                    REGISTRY_IMAGE.name
                ),
            ));
        }
        return Ok(None);
    };
    Ok(Some(match image {
        Some(i) => PullTarget {
            login_server,
            repository: i.repository,
            reference: Some(i.reference),
        },
        None => PullTarget {
            login_server,
            repository: PROBE_REPOSITORY.to_owned(),
            reference: None,
        },
    }))
}

/// A registry login server of this cloud (see [`LoginServer`]); the app's secret goes there.
fn login_server(field: &str, value: &str, cloud: &Cloud) -> Result<String> {
    LoginServer::parse(field, value, cloud).map(|s| s.to_string())
}

/// An operation URL from an earlier run: it must be on this cloud's ARM endpoint, where the ARM token may go.
fn operation_url(value: &str, cloud: &Cloud) -> Result<Url> {
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
    Ok(url)
}

impl Tool for Cli {
    const NAME: &'static str = "aks-sp-update";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    async fn run(&self, input: Envelope, ctx: &Ctx) -> Result<Done> {
        let mut env = input;
        let inputs = self.inputs(&mut env, ctx.cloud())?;
        reset::run(self, env, &inputs, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";
    const APP: &str = "11111111-2222-3333-4444-555555555555";
    const TENANT: &str = "aaaaaaaa-0000-0000-0000-000000000001";

    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["aks-sp-update"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    fn env(extra: &serde_json::Value) -> Envelope {
        let mut base = serde_json::json!({"cluster_id": ID, "cluster_tenant_id": TENANT, "app_id": APP, "client_secret": "s3cr3t"});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Envelope::parse(&base.to_string()).unwrap()
    }

    fn input_err(c: &Cli, mut e: Envelope) -> Error {
        c.inputs(&mut e, &Cloud::azure_public()).unwrap_err()
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_fill_the_object_and_build_the_id() {
        let c = cli(&[
            "--resource-group",
            "rg",
            "--name",
            "aks1",
            "--cluster-subscription",
            "00000000-0000-0000-0000-00000000000A",
            "--app-id",
            APP,
            "--cluster-tenant",
            "contoso.onmicrosoft.com",
        ]);
        let mut e = Envelope::parse(r#"{"client_secret":"x","keep":1}"#).unwrap();
        let i = c.inputs(&mut e, &Cloud::azure_public()).unwrap();
        assert_eq!(i.cluster.id(), ID);
        assert_eq!(e.get("cluster_id").unwrap(), ID);
        assert_eq!(
            e.get("cluster_tenant_id").unwrap(),
            "contoso.onmicrosoft.com"
        );
        assert_eq!(i.pull, None);
        assert_eq!(i.operation, None);
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let c = cli(&[]);
        for (bad, field) in [
            (
                serde_json::json!({"cluster_id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a"}),
                "cluster_id",
            ),
            (
                serde_json::json!({"cluster_id": ID.replace("ContainerService/managedClusters", "ContainerRegistry/registries")}),
                "cluster_id",
            ),
            (
                serde_json::json!({"cluster_id": format!("{ID}/agentPools/x")}),
                "cluster_id",
            ),
            (
                serde_json::json!({"cluster_tenant_id": "not a tenant"}),
                "cluster_tenant_id",
            ),
            (serde_json::json!({"app_id": "msi"}), "app_id"),
            (serde_json::json!({"client_secret": null}), "client_secret"),
            (
                serde_json::json!({"cluster_sp_object_id": "x"}),
                "cluster_sp_object_id",
            ),
            (
                serde_json::json!({"registry_login_server": "evil.example.com"}),
                "registry_login_server",
            ),
            (
                serde_json::json!({"registry_image": "hello:1"}),
                "registry_image",
            ),
            (
                serde_json::json!({"registry_login_server": "areg1.azurecr.io", "registry_image": "breg1.azurecr.io/hello:1"}),
                "registry_image",
            ),
            (
                serde_json::json!({"cluster_operation_url": "https://evil.example.com/op"}),
                "cluster_operation_url",
            ),
            (
                serde_json::json!({"cluster_operation_url": "http://management.azure.com/op"}),
                "cluster_operation_url",
            ),
        ] {
            let e = input_err(&c, env(&bad));
            assert_eq!(
                e.kind(),
                &common::ErrorKind::Input {
                    field: field.into()
                },
                "{bad}: {e}"
            );
            assert!(e.message().contains(field), "{bad}: {e}");
        }
    }

    #[test]
    fn an_oversized_secret_is_refused_without_showing_it() {
        let long = "S".repeat(MAX_SECRET_BYTES + 1);
        let e = input_err(&cli(&[]), env(&serde_json::json!({"client_secret": long})));
        assert_eq!(e.code(), "SecretTooLong");
        assert!(!e.full_message().contains("SSSS"), "{e}");
        let ok = "S".repeat(MAX_SECRET_BYTES);
        let mut e = env(&serde_json::json!({"client_secret": ok}));
        assert!(cli(&[]).inputs(&mut e, &Cloud::azure_public()).is_ok());
    }

    #[test]
    fn the_pull_target_comes_from_the_registry_and_image() {
        let c = cli(&["--image", "samples/hello:1.0"]);
        let mut e = env(&serde_json::json!({"registry_login_server": "MyReg.azurecr.io"}));
        let i = c.inputs(&mut e, &Cloud::azure_public()).unwrap();
        assert_eq!(
            i.pull,
            Some(PullTarget {
                login_server: "myreg.azurecr.io".into(),
                repository: "samples/hello".into(),
                reference: Some("1.0".into())
            })
        );
        assert_eq!(e.get("registry_image").unwrap(), "samples/hello:1.0");

        let mut e = env(&serde_json::json!({"registry_login_server": "myreg.azurecr.io"}));
        let i = cli(&[]).inputs(&mut e, &Cloud::azure_public()).unwrap();
        assert_eq!(i.pull.unwrap().repository, PROBE_REPOSITORY);

        let mut e = env(&serde_json::json!({}));
        let i = cli(&["--image", "other.azurecr.io/x:1"])
            .inputs(&mut e, &Cloud::azure_public())
            .unwrap();
        assert_eq!(i.pull.unwrap().login_server, "other.azurecr.io");
    }

    #[test]
    fn the_sp_object_id_is_used_only_for_its_own_app() {
        let sp = "99999999-0000-0000-0000-000000000001";
        let mut e = env(&serde_json::json!({"cluster_sp_object_id": sp}));
        assert_eq!(
            cli(&[])
                .inputs(&mut e, &Cloud::azure_public())
                .unwrap()
                .new_sp
                .as_deref(),
            Some(sp)
        );
        let mut e = env(&serde_json::json!({"cluster_sp_object_id": sp}));
        let other = cli(&["--app-id", "22222222-2222-3333-4444-555555555555"]);
        assert_eq!(
            other.inputs(&mut e, &Cloud::azure_public()).unwrap().new_sp,
            None
        );
    }

    #[test]
    fn operation_urls_must_be_arm_urls_of_the_cloud() {
        let c = Cloud::azure_public();
        let u = "https://management.azure.com/subscriptions/s/providers/Microsoft.ContainerService/locations/eastus/operations/1?api-version=2016-03-30";
        assert_eq!(operation_url(u, &c).unwrap().as_str(), u);
        for bad in [
            "https://management.azure.com.evil.com/x",
            "https://user:pw@management.azure.com/x",
            "https://management.azure.com:8443/x",
            "nope",
        ] {
            assert!(operation_url(bad, &c).is_err(), "{bad}");
        }
    }

    #[test]
    fn resumable_errors_carry_the_url_or_drop_it() {
        let mut e = env(&serde_json::json!({}));
        let i = cli(&[]).inputs(&mut e, &Cloud::azure_public()).unwrap();
        let url = Url::parse("https://management.azure.com/op/1").unwrap();
        let err = i.resumable(Error::step("OperationStillRunning", "x"), Some(&url));
        let extra = err.extra_fields();
        assert!(
            extra.contains(&("cluster_operation_url".into(), url.as_str().into())),
            "{extra:?}"
        );
        assert!(extra.contains(&("cluster_id".into(), ID.into())));
        assert!(!format!("{extra:?}").contains("s3cr3t"));
        let err = i.resumable(Error::step("Failed", "x"), None);
        assert!(
            err.extra_fields()
                .contains(&("cluster_operation_url".into(), serde_json::Value::Null))
        );
    }
}
