//! The step's inputs, from flags and the envelope, all checked before any request.
//!
//! Length: over 400 lines with its tests (about 230 of code). The registry is `named.rs`.

use common::arm::ResourceId;
use common::client_secret::ClientSecret;
use common::cloud::Cloud;
use common::envelope::{Envelope, fields};
use common::error::{Error, Result};
use common::registry::Image;
use common::validate::{self, shown};

use crate::Cli;
use crate::named::{self, Named, RegistryRef};

/// The repository a pull token is asked for when no image is given.
pub(crate) use common::registry::PROBE_REPOSITORY as DEFAULT_REPOSITORY;

/// What `--verify` checks with.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    /// The client secret, or the vault secret holding it (read in `act`).
    pub secret: ClientSecret,
    pub image: Option<Image>,
    pub repository: String,
    /// The object's `cluster_tenant_id`: where the app is registered (tenant A), in which the
    /// secret is proven to be its key before the role is assigned. `None`: the home tenant its
    /// service principal in tenant B names.
    pub home_tenant: Option<String>,
    /// The object's `client_secret_key_id`: which of the app's keys the secret is said to be.
    pub key_id: Option<String>,
}

/// What `--verify` checks with: the app's secret (flags win), the image or repository.
/// A dry run verifies nothing, and the secret a dry-run step 1 would mint does not exist:
/// there, no secret is no check.
fn verify_check(
    cli: &Cli,
    env: &Envelope,
    cloud: &Cloud,
    image: Option<Image>,
    repository: String,
) -> Result<Option<Check>> {
    match cli.secret.resolve(env, cli.common.timeout(), cloud)? {
        Some(secret) => Ok(Some(Check {
            secret,
            image,
            repository,
            home_tenant: env
                .str(&fields::CLUSTER_TENANT_ID)?
                .map(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, &t))
                .transpose()?,
            key_id: env
                .str(&fields::CLIENT_SECRET_KEY_ID)?
                .map(|k| validate::guid(fields::CLIENT_SECRET_KEY_ID.name, &k))
                .transpose()?,
        })),
        None if cli.common.dry_run => Ok(None),
        None => Err(Error::input(
            fields::CLIENT_SECRET.name,
            "--verify needs the app's client secret: pipe in the output of entra-app-create (client_secret or client_secret_ref), or pass --client-secret-file PATH, --client-secret-env VAR or --client-secret-ref URL",
        )),
    }
}

/// The role asked for, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleRequest {
    /// The role's name.
    pub name: String,
    /// Given with `--role` (the reader's choice): any role. From the envelope: a pull role only.
    pub from_flag: bool,
}

/// What the input said before the flags, to tell whether an old `pull_verified_at` still holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Earlier {
    registry_id: Option<String>,
    app_id: Option<String>,
}

impl Earlier {
    /// Whether the input's registry and app were `registry_id` and `app_id`.
    pub(crate) fn same(&self, registry_id: &str, app_id: &str) -> bool {
        self.registry_id
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(registry_id))
            && self
                .app_id
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(app_id))
    }
}

/// Every input of one object, validated.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub(crate) tenant: String,
    pub(crate) app_id: String,
    pub(crate) registry: RegistryRef,
    pub(crate) subscription: Option<String>,
    /// `None` for auto.
    pub(crate) role: Option<RoleRequest>,
    pub(crate) check: Option<Check>,
    /// The input's `registry_sp_object_id`, to compare with what Graph says.
    pub(crate) known_sp: Option<String>,
    /// The same, when a GUID (lower case): untrusted, it only chooses what is read early
    /// (the role assignment it would have, beside Graph's lookup). The role goes to the
    /// principal Graph names, whatever this says.
    pub(crate) sp_hint: Option<String>,
    /// The input's registry and app.
    pub(crate) earlier: Earlier,
    /// The input's `registry_id` when `--registry` gave a name: the registry found must have this id.
    pub(crate) claimed: Option<ResourceId>,
}

impl Inputs {
    /// Reads the flags (they win) and `env`, and checks every input.
    pub(crate) fn read(cli: &Cli, env: &Envelope, cloud: &Cloud) -> Result<Self> {
        let tenant = validate::tenant(
            fields::REGISTRY_TENANT_ID.name,
            &env.flag_or_require(&fields::REGISTRY_TENANT_ID, cli.registry_tenant.as_deref())?,
        )?;
        let app_id = validate::guid_or_placeholder(
            &fields::APP_ID,
            &env.flag_or_require(&fields::APP_ID, cli.app_id.as_deref())?,
            cli.common.dry_run,
        )?;
        // The input's registry: its role_name was chosen for it.
        let earlier = Earlier {
            registry_id: env.str(&fields::REGISTRY_ID).ok().flatten(),
            app_id: env.str(&fields::APP_ID).ok().flatten(),
        };
        // The registry: --registry; the object's registry_id only with --targets-from-input,
        // and never another than the flag's.
        let Named { registry, claimed } = Named::choose(cli, env)?;
        let subscription = named::registry_subscription(cli, &registry)?;
        let role = match cli.role.as_deref() {
            Some(flag) => role_name(flag)?.map(|name| RoleRequest {
                name,
                from_flag: true,
            }),
            // The input's registry, if it names one, is this one (another is refused above).
            None => env
                .str(&fields::ROLE_NAME)?
                .map(|r| role_name(&r))
                .transpose()?
                .flatten()
                .map(|name| RoleRequest {
                    name,
                    from_flag: false,
                }),
        };
        let known_sp = env
            .str(&fields::REGISTRY_SP_OBJECT_ID)?
            .map(|s| {
                validate::guid_or_placeholder(
                    &fields::REGISTRY_SP_OBJECT_ID,
                    &s,
                    cli.common.dry_run,
                )
            })
            .transpose()?;
        let sp_hint = known_sp
            .as_deref()
            .filter(|s| validate::is_guid(s))
            .map(str::to_ascii_lowercase);
        let image = cli
            .image
            .as_deref()
            .map(|i| Image::parse("image", i, cloud))
            .transpose()?;
        let repository = match (&image, cli.repository.as_deref()) {
            (Some(i), _) => i.repository.clone(),
            (None, Some(r)) => repository(r)?,
            (None, None) => DEFAULT_REPOSITORY.to_owned(),
        };
        let check = if cli.verify {
            verify_check(cli, env, cloud, image, repository)?
        } else {
            None
        };
        Ok(Self {
            tenant,
            app_id,
            registry,
            subscription,
            role,
            check,
            known_sp,
            sp_hint,
            earlier,
            claimed,
        })
    }

    /// Refuses the registry found when the input's `registry_id` names another (see [`Named::confirm`]).
    pub(crate) fn confirm(&self, found_id: &str) -> Result<()> {
        Named::confirm_parts(&self.registry, self.claimed.as_ref(), found_id)
    }
}

/// The role to assign: `None` for auto.
fn role_name(value: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    if v.is_empty() || v.len() > 512 || v.chars().any(char::is_control) {
        return Err(Error::input(
            fields::ROLE_NAME.name,
            format!(
                "`role_name` must be auto or a role name such as AcrPull, got {}",
                shown(value)
            ),
        ));
    }
    Ok(Some(v.to_owned()))
}

/// A repository name: lower-case path components of letters, digits and `. _ -`.
fn repository(value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::input(
            "repository",
            format!(
                "--repository must be a repository name such as samples/hello (lower-case letters, digits, . _ - and /), got {}",
                shown(value)
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
