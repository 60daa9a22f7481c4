//! The step's inputs, from the flags and the envelope, all checked before any request.

use common::arm::ResourceId;
use common::client_secret::ClientSecret;
use common::cloud::Cloud;
use common::envelope::{Envelope, fields, is_placeholder, missing, placeholder};
use common::registry::{Image, LoginServer, PROBE_REPOSITORY};
use common::validate;
use common::{Error, Result, Secret};

use crate::operation_ref::OperationRef;
use crate::{Cli, MAX_SECRET_BYTES, named};

/// Where the pull check asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullTarget {
    pub login_server: String,
    pub repository: String,
    pub reference: Option<String>,
}

/// The validated inputs of one object.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub(crate) cluster: ResourceId,
    pub(crate) tenant: String,
    pub(crate) app_id: String,
    /// Whether `--app-id` named the app (the person's word), not only the object.
    pub(crate) app_named: bool,
    /// The client secret, or the vault secret holding it (read in `act`, before any write).
    pub(crate) secret: ClientSecret,
    /// The key id of the secret (`client_secret_key_id`), when the object names it.
    pub(crate) key_id: Option<String>,
    pub(crate) pull: Option<PullTarget>,
    /// Step 3's pull check as the object records it (`pull_proof`, `pull_verified_at`): it
    /// stands for this step's own check only while fresh and of this app, secret and image.
    pub(crate) recorded_check: Option<RecordedCheck>,
    /// The object's `cluster_sp_object_id`: a guess at the app's service principal in tenant
    /// A, only to start reading its role assignments beside the Graph lookup. Untrusted: the
    /// principal the roles go to is always the one Microsoft Graph names for the app.
    pub(crate) sp_hint: Option<String>,
    /// Whether the object says acr-grant assigned the role (it may still be on its way).
    pub(crate) granted: bool,
    /// Whether earlier dry-run steps planned the app or its role (placeholders, nothing to check).
    pub(crate) planned: bool,
    pub(crate) operation: Option<OperationRef>,
    pub(crate) force: bool,
    pub(crate) copy_role_assignments: bool,
    /// `--copy-role-scope`: where roles may be copied besides the cluster's own resources.
    pub(crate) copy_role_scopes: Vec<String>,
    pub(crate) detach: bool,
    pub(crate) remove_legacy_tags: bool,
    /// `--early-read-max-age`: how long a read made before the object came stands for it.
    pub(crate) early_read_max_age: std::time::Duration,
}

/// A pull check an earlier step recorded in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedCheck {
    /// `pull_proof` (see [`common::registry::proof`]).
    pub proof: String,
    /// `pull_verified_at`: when the check was made (part of what the proof binds).
    pub at: String,
}

impl Inputs {
    /// The key id, for messages.
    pub(crate) fn key_text(&self) -> &str {
        self.key_id
            .as_deref()
            .unwrap_or("(key id unknown: the object has no client_secret_key_id)")
    }

    /// Whether the cluster's app `old_app` (a real one) is another app than this one, or a dry
    /// run's planned app: then the old service principal's roles are compared with the new
    /// one's (a planned principal holds none, so the dry run plans every copy).
    pub(crate) fn replaces(&self, old_app: &str) -> bool {
        validate::is_guid(old_app)
            && (is_placeholder(&self.app_id)
                || (validate::is_guid(&self.app_id) && !old_app.eq_ignore_ascii_case(&self.app_id)))
    }
    /// Reads the flags (they win) and `env`, and checks every input; nothing is sent.
    ///
    /// The envelope's `cluster_sp_object_id` only chooses what is read first (`sp_hint`): the
    /// principal the roles are given to is looked up from the app id in tenant A, never taken
    /// from a file.
    pub(crate) fn read(cli: &Cli, env: &Envelope, cloud: &Cloud) -> Result<Self> {
        // The cluster: --cluster (or the three parts); the object's cluster_id only with
        // --targets-from-input, and never another than the flag's.
        let cluster = named::cluster(cli, env)?;
        let tenant = validate::tenant(
            fields::CLUSTER_TENANT_ID.name,
            &env.flag_or_require(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?,
        )?;
        let dry_run = cli.common.dry_run;
        let app_id = validate::guid_or_placeholder(
            &fields::APP_ID,
            &env.flag_or_require(&fields::APP_ID, cli.app_id.as_deref())?,
            dry_run,
        )?;
        let secret = match cli.secret.resolve(env, cli.common.timeout(), cloud)? {
            Some(s) => s,
            // The secret a dry-run step 1 would mint does not exist: planned, redacted.
            None if dry_run && is_placeholder(&app_id) => {
                ClientSecret::Value(Secret::new(placeholder(&fields::CLIENT_SECRET)))
            }
            None => return Err(missing(&fields::CLIENT_SECRET)),
        };
        // Planned by earlier dry-run steps: the app, or its role on the registry, does not
        // exist yet, so the new credential's pull cannot be checked.
        let planned = is_placeholder(&app_id)
            || env
                .str(&fields::ROLE_ASSIGNMENT_ID)
                .ok()
                .flatten()
                .is_some_and(|r| is_placeholder(&r));
        if let ClientSecret::Value(v) = &secret {
            check_length(v)?;
        }
        let key_id = env
            .str(&fields::CLIENT_SECRET_KEY_ID)?
            .map(|k| validate::guid(fields::CLIENT_SECRET_KEY_ID.name, &k))
            .transpose()?;
        let image = env.flag_or_str(&fields::REGISTRY_IMAGE, cli.image.as_deref())?;
        let pull = pull_target(env, image.as_deref(), cloud)?;
        let recorded_check = match (
            env.str(&fields::PULL_PROOF).ok().flatten(),
            env.str(&fields::PULL_VERIFIED_AT).ok().flatten(),
        ) {
            (Some(proof), Some(at)) => Some(RecordedCheck { proof, at }),
            _ => None,
        };
        let sp_hint = env
            .str(&fields::CLUSTER_SP_OBJECT_ID)
            .ok()
            .flatten()
            .filter(|s| validate::is_guid(s))
            .map(|s| s.to_ascii_lowercase());
        let operation = match env.str(&fields::CLUSTER_OPERATION_URL)? {
            Some(v) => Some(OperationRef::parse(&v, cloud, &cluster)?),
            None => None,
        };
        Ok(Self {
            cluster,
            tenant,
            app_id,
            app_named: cli.app_id.is_some(),
            secret,
            key_id,
            pull,
            recorded_check,
            sp_hint,
            granted: env.has(fields::ROLE_ASSIGNMENT_ID.name),
            planned,
            operation,
            force: cli.force,
            copy_role_assignments: !cli.no_copy_role_assignments,
            copy_role_scopes: crate::scopes::from_flags(&cli.copy_role_scope)?,
            detach: cli.detach,
            remove_legacy_tags: cli.remove_legacy_tags,
            early_read_max_age: cli.early_read_max_age,
        })
    }
}

/// Refuses a secret longer than AKS accepts, without showing it.
pub(crate) fn check_length(secret: &Secret) -> Result<()> {
    if secret.len() > MAX_SECRET_BYTES {
        return Err(Error::input(
            fields::CLIENT_SECRET.name,
            format!(
                "`{}` is {} bytes long; AKS accepts a client secret of at most {MAX_SECRET_BYTES} bytes",
                fields::CLIENT_SECRET.name,
                secret.len()
            ),
        )
        .with_code(common::error::codes::SECRET_TOO_LONG)
        .with_hint("mint a shorter secret (entra-app-create --new-secret makes Entra's usual 40-character one)"));
    }
    Ok(())
}

/// The registry and repository to check the pull on, from `registry_login_server` and `registry_image`.
fn pull_target(env: &Envelope, image: Option<&str>, cloud: &Cloud) -> Result<Option<PullTarget>> {
    let server = match env.str(&fields::REGISTRY_LOGIN_SERVER)? {
        Some(s) => Some(login_server(fields::REGISTRY_LOGIN_SERVER.name, &s, cloud)?),
        None => None,
    };
    let image = image
        .map(|v| Image::parse(fields::REGISTRY_IMAGE.name, v, cloud))
        .transpose()?;
    let from_image = image.as_ref().and_then(|i| i.login_server.clone());
    if let (Some(s), Some(i)) = (&server, &from_image)
        && !s.eq_ignore_ascii_case(i)
    {
        return Err(Error::input(
            fields::REGISTRY_IMAGE.name,
            format!(
                "`{}` is in {i}, but the object's registry_login_server is {s}",
                fields::REGISTRY_IMAGE.name
            ),
        ));
    }
    let Some(login_server) = server.or(from_image) else {
        if image.is_some() {
            return Err(Error::input(
                fields::REGISTRY_IMAGE.name,
                format!(
                    "`{}` names no registry: give it as <login server>/<repository>:<tag>, or pipe in the output of acr-grant",
                    fields::REGISTRY_IMAGE.name
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::tests::{ID, PARTS};
    use clap::Parser;

    const APP: &str = "11111111-2222-3333-4444-555555555555";
    const TENANT: &str = "aaaaaaaa-0000-0000-0000-000000000001";

    /// The flags `args`, with the object's cluster_id trusted (the rule is tested on its own).
    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["aks-sp-update", "--targets-from-input"];
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

    fn read(c: &Cli, e: &Envelope) -> Result<Inputs> {
        Inputs::read(c, e, &Cloud::azure_public())
    }

    fn input_err(c: &Cli, e: &Envelope) -> Error {
        read(c, e).unwrap_err()
    }

    #[test]
    fn flags_fill_the_object_and_build_the_id() {
        let c = cli(&[
            &PARTS[..],
            &[
                "--app-id",
                APP,
                "--cluster-tenant",
                "contoso.onmicrosoft.com",
            ],
        ]
        .concat());
        let e = Envelope::parse(r#"{"client_secret":"x","keep":1}"#).unwrap();
        let i = read(&c, &e).unwrap();
        assert_eq!(i.cluster.id(), ID);
        assert_eq!(i.tenant, "contoso.onmicrosoft.com");
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
            let e = input_err(&c, &env(&bad));
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
        let e = input_err(&cli(&[]), &env(&serde_json::json!({"client_secret": long})));
        assert_eq!(e.code(), "SecretTooLong");
        assert!(!e.full_message().contains("SSSS"), "{e}");
        let ok = "S".repeat(MAX_SECRET_BYTES);
        let e = env(&serde_json::json!({"client_secret": ok}));
        assert!(read(&cli(&[]), &e).is_ok());
    }

    #[test]
    fn the_pull_target_comes_from_the_registry_and_image() {
        let c = cli(&["--image", "samples/hello:1.0"]);
        let e = env(&serde_json::json!({"registry_login_server": "MyReg.azurecr.io"}));
        let i = read(&c, &e).unwrap();
        assert_eq!(
            i.pull,
            Some(PullTarget {
                login_server: "myreg.azurecr.io".into(),
                repository: "samples/hello".into(),
                reference: Some("1.0".into())
            })
        );

        let e = env(&serde_json::json!({"registry_login_server": "myreg.azurecr.io"}));
        let i = read(&cli(&[]), &e).unwrap();
        assert_eq!(i.pull.unwrap().repository, PROBE_REPOSITORY);

        let e = env(&serde_json::json!({}));
        let i = read(&cli(&["--image", "other.azurecr.io/x:1"]), &e).unwrap();
        assert_eq!(i.pull.unwrap().login_server, "other.azurecr.io");
    }

    #[test]
    fn the_envelopes_sp_object_id_is_only_a_hint() {
        // Kept only as the guess whose roles are listed first (act gives roles to Graph's
        // principal); a malformed one is no guess, and no error.
        let sp = "99999999-0000-0000-0000-00000000000A";
        let e = env(&serde_json::json!({"cluster_sp_object_id": sp}));
        let i = read(&cli(&[]), &e).unwrap();
        assert_eq!(i.sp_hint.as_deref(), Some(sp.to_ascii_lowercase().as_str()));
        let i = read(
            &cli(&[]),
            &env(&serde_json::json!({"cluster_sp_object_id": "x"})),
        )
        .unwrap();
        assert_eq!(i.sp_hint, None);
    }

    #[test]
    fn a_recorded_check_needs_its_proof_and_its_time() {
        let both = env(
            &serde_json::json!({"pull_proof": "ab", "pull_verified_at": "2026-11-29T16:00:00Z"}),
        );
        assert_eq!(
            read(&cli(&[]), &both).unwrap().recorded_check,
            Some(RecordedCheck {
                proof: "ab".into(),
                at: "2026-11-29T16:00:00Z".into()
            })
        );
        for one in [
            serde_json::json!({"pull_proof": "ab"}),
            serde_json::json!({"pull_verified_at": "2026-11-29T16:00:00Z"}),
            serde_json::json!({"pull_proof": 1, "pull_verified_at": "2026-11-29T16:00:00Z"}),
        ] {
            assert_eq!(
                read(&cli(&[]), &env(&one)).unwrap().recorded_check,
                None,
                "{one}"
            );
        }
    }
}
