//! The report's inputs: which cluster, in which tenant, compared with which app, and where
//! tenant B's checks look. Every value from an envelope here only causes reads.

use std::time::Duration;

use common::arm::ResourceId;
use common::cloud::Cloud;
use common::envelope::{Envelope, fields};
use common::registry::access::REGISTRY_TYPE;
use common::validate;
use common::{Error, Result};

use common::arm::clusters::CLUSTER_TYPE;

use crate::Cli;

/// The checked inputs of one report.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The cluster reported on.
    pub(crate) cluster: ResourceId,
    /// Tenant A.
    pub(crate) tenant: String,
    /// The app the object says the cluster runs as (`app_id`): a cluster on another is broken.
    pub(crate) app_id: Option<String>,
    /// Tenant B, when named.
    pub(crate) registry_tenant: Option<String>,
    /// The registry whose pull role is checked, when named.
    pub(crate) registry: Option<ResourceId>,
    /// A key that ends within this is reported as expiring.
    pub(crate) warn_within: Duration,
    /// `--probe-image`, as a full reference: the cluster itself pulls it (a run command).
    pub(crate) probe_image: Option<String>,
}

impl Inputs {
    /// The flags (they win) and the object's fields; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope, cloud: &Cloud) -> Result<Self> {
        let cluster = if cli.probe_image.is_some() && !cli.status.all {
            // The probe is a write (a run command): only in the cluster the person names.
            crate::named::probed(cli, env)?
        } else {
            let cluster = match cli.cluster_id()? {
                Some(id) => id,
                None => env.require_str(&fields::CLUSTER_ID).map_err(|e| {
                    e.with_hint("pass --cluster ID, pipe in objects with cluster_id, or --all")
                })?,
            };
            ResourceId::parse(fields::CLUSTER_ID.name, &cluster, CLUSTER_TYPE)?
        };
        let tenant = validate::tenant(
            fields::CLUSTER_TENANT_ID.name,
            &env.flag_or_require(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?,
        )?;
        let app_id = env
            .flag_or_str(&fields::APP_ID, cli.app_id.as_deref())?
            .map(|a| validate::guid(fields::APP_ID.name, &a))
            .transpose()?;
        let registry_tenant = env
            .flag_or_str(
                &fields::REGISTRY_TENANT_ID,
                cli.status.registry_tenant.as_deref(),
            )?
            .map(|t| validate::tenant(fields::REGISTRY_TENANT_ID.name, &t))
            .transpose()?;
        let registry = env
            .flag_or_str(&fields::REGISTRY_ID, cli.status.registry.as_deref())?
            .map(|r| {
                ResourceId::parse(fields::REGISTRY_ID.name, &r, REGISTRY_TYPE).map_err(|e| {
                    if cli.status.registry.is_some() {
                        Error::usage(format!(
                            "--registry takes the registry's ARM id (/subscriptions/…/providers/{REGISTRY_TYPE}/NAME): {}",
                            e.message()
                        ))
                    } else {
                        e
                    }
                })
            })
            .transpose()?;
        let probe_image = cli
            .probe_image
            .as_deref()
            .map(|v| crate::probe::probe_image(v, env, cli.targets_from_input, cloud))
            .transpose()?;
        Ok(Self {
            probe_image,
            cluster,
            tenant,
            app_id,
            registry_tenant,
            registry,
            warn_within: cli.status.warn_within,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";
    const T: &str = "aaaaaaaa-0000-0000-0000-000000000001";

    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["aks-sp-update", "--status"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    #[test]
    fn the_cluster_and_tenant_come_from_the_flags_or_the_object() {
        let e = Envelope::parse(&format!(
            r#"{{"cluster_id":"{ID}","cluster_tenant_id":"{T}","client_secret":"never read"}}"#
        ))
        .unwrap();
        let i = Inputs::read(&cli(&[]), &e, &Cloud::azure_public()).unwrap();
        assert_eq!(i.cluster.id(), ID);
        assert_eq!(i.warn_within, Duration::from_secs(30 * 86_400));
        assert_eq!(
            (i.app_id, i.registry, i.registry_tenant),
            (None, None, None)
        );
        let i = Inputs::read(&cli(&["--warn-within", "7d"]), &e, &Cloud::azure_public()).unwrap();
        assert_eq!(i.warn_within, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn bad_values_name_their_field() {
        for (obj, field) in [
            (format!(r#"{{"cluster_tenant_id":"{T}"}}"#), "cluster_id"),
            (format!(r#"{{"cluster_id":"{ID}"}}"#), "cluster_tenant_id"),
            (
                format!(r#"{{"cluster_id":"{ID}","cluster_tenant_id":"{T}","app_id":"msi"}}"#),
                "app_id",
            ),
            (
                format!(
                    r#"{{"cluster_id":"{ID}","cluster_tenant_id":"{T}","registry_id":"/subscriptions/x"}}"#
                ),
                "registry_id",
            ),
        ] {
            let e = Inputs::read(
                &cli(&[]),
                &Envelope::parse(&obj).unwrap(),
                &Cloud::azure_public(),
            )
            .unwrap_err();
            assert!(e.message().contains(field), "{obj}: {e}");
        }
    }

    #[test]
    fn status_flags_need_status_and_all_needs_the_tenant() {
        let parse = |a: &[&str]| {
            let mut v = vec!["aks-sp-update"];
            v.extend_from_slice(a);
            Cli::try_parse_from(v)
        };
        assert!(parse(&["--all"]).is_err());
        assert!(parse(&["--status", "--all"]).is_err());
        assert!(parse(&["--status", "--all", "--cluster-tenant", T]).is_ok());
        assert!(parse(&["--status", "--all", "--cluster-tenant", T, "--cluster", ID]).is_err());
        assert!(parse(&["--registry-tenant", T]).is_err());
        assert!(parse(&["--status", "--force"]).is_err());
        assert!(parse(&["--status", "--detach"]).is_err());
        assert!(parse(&["--status", "--probe-only", "--probe-image", "x:1"]).is_err());
    }

    #[test]
    fn the_probe_image_is_a_full_reference_of_the_objects_registry() {
        let e = Envelope::parse(&format!(
            r#"{{"cluster_id":"{ID}","cluster_tenant_id":"{T}","registry_login_server":"myreg.azurecr.io"}}"#
        ))
        .unwrap();
        let cloud = Cloud::azure_public();
        let mine = ["--targets-from-input", "--probe-image", "samples/hello:1.0"];
        let i = Inputs::read(&cli(&mine), &e, &cloud).unwrap();
        assert_eq!(
            i.probe_image.as_deref(),
            Some("myreg.azurecr.io/samples/hello:1.0")
        );
        // The probe runs a command in the cluster: the object's alone does not name it, nor
        // the registry whose image runs there.
        let err =
            Inputs::read(&cli(&["--probe-image", "samples/hello:1.0"]), &e, &cloud).unwrap_err();
        assert!(err.full_message().contains("--targets-from-input"), "{err}");
        let named = ["--cluster", ID, "--probe-image", "samples/hello:1.0"];
        let err = Inputs::read(&cli(&named), &e, &cloud).unwrap_err();
        assert!(
            err.message().contains("--probe-image")
                && err.message().contains("--targets-from-input"),
            "{err}"
        );
        let full = [
            "--cluster",
            ID,
            "--probe-image",
            "myreg.azurecr.io/samples/hello:1.0",
        ];
        assert!(Inputs::read(&cli(&full), &e, &cloud).is_ok());
        let bare = Envelope::parse(&format!(
            r#"{{"cluster_id":"{ID}","cluster_tenant_id":"{T}"}}"#
        ))
        .unwrap();
        let err = Inputs::read(&cli(&mine), &bare, &cloud).unwrap_err();
        assert!(err.message().contains("--probe-image"), "{err}");
        let evil = [
            "--targets-from-input",
            "--probe-image",
            "evil.example.com/x:1",
        ];
        let err = Inputs::read(&cli(&evil), &e, &cloud).unwrap_err();
        assert!(err.message().contains("--probe-image"), "{err}");
    }
}
