//! The probe's inputs: the step's (unless `--probe-only`), the cluster and its tenant, and the
//! image as a full reference of a registry of this cloud.

use common::cloud::Cloud;
use common::envelope::{Envelope, fields};
use common::registry::{Image, LoginServer};
use common::validate;
use common::{Error, Result};

use super::Planned;
use crate::inputs::Inputs;
use crate::{Cli, named};

/// The flag the image comes from (it has no envelope field of its own).
const FLAG: &str = "--probe-image";

/// Reads one object's inputs: the step's, unless `--probe-only`, and the probe's image.
pub(crate) fn plan(cli: &Cli, env: &Envelope, cloud: &Cloud) -> Result<Planned> {
    let image = cli
        .probe_image
        .as_deref()
        .map(|v| probe_image(v, env, cli.targets_from_input, cloud))
        .transpose()?;
    if !cli.probe_only {
        let step = Inputs::read(cli, env, cloud)?;
        return Ok(Planned {
            cluster: step.cluster.clone(),
            tenant: step.tenant.clone(),
            image,
            step: Some(step),
        });
    }
    // A run command acts on the cluster: the one the person named, as for the reset.
    let cluster = named::cluster(cli, env)?;
    let tenant = validate::tenant(
        fields::CLUSTER_TENANT_ID.name,
        &env.flag_or_require(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?,
    )?;
    Ok(Planned {
        step: None,
        cluster,
        tenant,
        image,
    })
}

/// `--probe-image` as a full reference: a registry of this cloud, named in it or — with
/// `--targets-from-input` (`trust`: the person's own files) — taken from the object's
/// `registry_login_server`. The image runs in the cluster: a file from another team never
/// chooses its registry.
pub(crate) fn probe_image(
    value: &str,
    env: &Envelope,
    trust: bool,
    cloud: &Cloud,
) -> Result<String> {
    let image = Image::parse(FLAG, value, cloud)?;
    let server = match image.login_server {
        Some(s) => s,
        None => match env.str(&fields::REGISTRY_LOGIN_SERVER)? {
            Some(s) if trust => {
                LoginServer::parse(fields::REGISTRY_LOGIN_SERVER.name, &s, cloud)?.to_string()
            }
            Some(s) => {
                return Err(Error::input(
                    FLAG,
                    format!(
                        "`{FLAG}` {} names no registry, and the registry whose image runs in the cluster is one you name: the object's registry_login_server ({}) is taken only with --targets-from-input",
                        validate::shown(value),
                        validate::shown(&s)
                    ),
                )
                .with_hint(format!(
                    "give {FLAG} <login server>/<repository>:<tag>, or --targets-from-input for your own files"
                )));
            }
            None => {
                return Err(Error::input(
                    FLAG,
                    format!(
                        "`{FLAG}` {} names no registry and the object has no registry_login_server: give <login server>/<repository>:<tag>",
                        validate::shown(value)
                    ),
                ));
            }
        },
    };
    let sep = if image.reference.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    Ok(format!(
        "{server}/{}{sep}{}",
        image.repository, image.reference
    ))
}

#[cfg(test)]
mod tests {
    use super::plan;
    use crate::Cli;
    use clap::Parser;
    use common::cloud::Cloud;
    use common::envelope::Envelope;

    const ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";
    const TENANT: &str = "aaaaaaaa-0000-0000-0000-000000000001";

    /// The flags `args`, the object's cluster_id trusted (as a rerun on one's own output).
    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["aks-sp-update", "--targets-from-input"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    fn env(v: &serde_json::Value) -> Envelope {
        Envelope::parse(&v.to_string()).unwrap()
    }

    #[test]
    fn probe_only_needs_the_cluster_and_its_tenant_alone() {
        let c = cli(&[
            "--probe-only",
            "--probe-image",
            "myreg.azurecr.io/samples/hello:1.0",
        ]);
        let p = plan(
            &c,
            &env(&serde_json::json!({"cluster_id": ID, "cluster_tenant_id": TENANT})),
            &Cloud::azure_public(),
        )
        .unwrap();
        assert!(p.step.is_none());
        assert_eq!(p.cluster.name, "aks1");
        assert_eq!(
            p.image.as_deref(),
            Some("myreg.azurecr.io/samples/hello:1.0")
        );
        let e = plan(
            &c,
            &env(&serde_json::json!({"cluster_id": ID})),
            &Cloud::azure_public(),
        )
        .unwrap_err();
        assert!(e.message().contains("cluster_tenant_id"), "{e}");
        // The run command acts on the cluster the person names: the object's alone is refused.
        let named = |args: &[&str]| {
            let mut v = vec![
                "aks-sp-update",
                "--probe-only",
                "--probe-image",
                "myreg.azurecr.io/x:1",
            ];
            v.extend_from_slice(args);
            let c = Cli::try_parse_from(v).unwrap();
            let other = ID.replace("/aks1", "/aks2");
            plan(
                &c,
                &env(
                    &serde_json::json!({"cluster_id": other, "cluster_tenant_id": TENANT, "registry_login_server": "myreg.azurecr.io"}),
                ),
                &Cloud::azure_public(),
            )
        };
        for args in [&[][..], &["--cluster", ID]] {
            let e = named(args).unwrap_err();
            assert_eq!(
                e.kind(),
                &common::ErrorKind::Input {
                    field: "cluster_id".into()
                },
                "{args:?}: {e}"
            );
        }
    }

    #[test]
    fn a_bare_image_takes_the_objects_registry() {
        let c = cli(&["--probe-only", "--probe-image", "samples/hello:1.0"]);
        let with = serde_json::json!({"cluster_id": ID, "cluster_tenant_id": TENANT, "registry_login_server": "MyReg.azurecr.io"});
        let p = plan(&c, &env(&with), &Cloud::azure_public()).unwrap();
        assert_eq!(
            p.image.as_deref(),
            Some("myreg.azurecr.io/samples/hello:1.0")
        );
        let digest = format!("samples/hello@sha256:{}", "a".repeat(64));
        let c = cli(&["--probe-only", "--probe-image", &digest]);
        let p = plan(&c, &env(&with), &Cloud::azure_public()).unwrap();
        assert_eq!(p.image.unwrap(), format!("myreg.azurecr.io/{digest}"));
        // A file from another team does not choose the registry: its login server is taken
        // only with --targets-from-input.
        let untrusted = Cli::try_parse_from([
            "aks-sp-update",
            "--probe-only",
            "--cluster",
            ID,
            "--probe-image",
            "samples/hello:1.0",
        ])
        .unwrap();
        let e = plan(&untrusted, &env(&with), &Cloud::azure_public()).unwrap_err();
        assert!(
            e.message().contains("--probe-image") && e.message().contains("--targets-from-input"),
            "{e}"
        );
        let c = cli(&["--probe-only", "--probe-image", "samples/hello:1.0"]);
        let without = serde_json::json!({"cluster_id": ID, "cluster_tenant_id": TENANT});
        let e = plan(&c, &env(&without), &Cloud::azure_public()).unwrap_err();
        assert!(
            e.message().contains("--probe-image") && e.message().contains("names no registry"),
            "{e}"
        );
        for bad in [
            "evil.example.com/x:1",
            "x'y:1",
            "samples/hello",
            "samples/hello:a b",
        ] {
            let c = cli(&["--probe-only", "--probe-image", bad]);
            let e = plan(&c, &env(&with), &Cloud::azure_public()).unwrap_err();
            assert!(e.message().contains("--probe-image"), "{bad}: {e}");
        }
    }

    #[test]
    fn probe_only_needs_the_image_and_no_step_flags() {
        for args in [
            vec!["aks-sp-update", "--probe-only"],
            vec![
                "aks-sp-update",
                "--probe-only",
                "--probe-image",
                "x:1",
                "--force",
            ],
            vec![
                "aks-sp-update",
                "--probe-only",
                "--probe-image",
                "x:1",
                "--detach",
            ],
        ] {
            assert!(Cli::try_parse_from(args.clone()).is_err(), "{args:?}");
        }
    }
}
