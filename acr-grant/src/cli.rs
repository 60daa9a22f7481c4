//! The flags of `acr-grant`.

use clap::Parser;
use common::cli::{CommonArgs, SecretArgs};
use common::envelope::{Field, fields, given};

/// Assign the pull role on a registry in tenant B to the app's service principal there, and prove the pull works
///
/// Reads envelope objects (NDJSON) on stdin and writes each back, for the registry --registry
/// names (or, with --targets-from-input, each object's registry_id), with
/// registry_id, registry_login_server, registry_sp_object_id, role_name, role_assignment_id
/// and, with --verify, pull_verified_at. With nothing on stdin it runs once on the flags.
///
/// The role is assigned to the app's service principal in the registry's tenant (looked up
/// by app id in Microsoft Graph), at the registry's scope, with a deterministic name, so a
/// rerun creates nothing. `--role auto` picks AcrPull for a registry in legacy mode and
/// Container Registry Repository Reader for one in ABAC mode (roleAssignmentMode
/// AbacRepositoryPermissions), which ignores AcrPull.
///
/// With --verify the app's own credential (app id + client secret, HTTP Basic) asks the
/// registry's token service for a pull token on a repository, checks that the token really
/// grants pull, and with --image fetches the image's manifest with it; the wait for the new
/// role to reach the registry ends as soon as the pull works, or at --timeout. Without
/// --image the token is asked for --repository (default xtenant/verify): with a
/// registry-wide role any repository name proves the grant, and no image is needed. A refused
/// credential counts as not yet propagated for 2 minutes at most (a new secret takes a moment to
/// work), then fails the check, saying which part is wrong.
#[derive(Debug, Parser)]
#[command(
    name = "acr-grant",
    version,
    override_usage = "acr-grant [OPTIONS] --registry NAME|ID < ENVELOPE"
)]
pub struct Cli {
    /// The registry: its name (searched in tenant B's subscriptions) or its full ARM id [field: registry_id]
    #[arg(long, value_name = "NAME|ID")]
    pub registry: Option<String>,

    /// Trust the input's registry_id: grant on (with --revoke: revoke on, for the input's app_id) the registry each input object names (for reruns on your own files, and fleets)
    ///
    /// Without it the registry is the one --registry names, and an input object whose
    /// registry_id names another registry is refused: a file from another team cannot choose
    /// which registry is granted on. With --registry too, the input's registry_id must name
    /// the same registry.
    #[arg(long)]
    pub targets_from_input: bool,

    /// Look the registry name up in this subscription only (a GUID)
    #[arg(long, value_name = "GUID")]
    pub registry_subscription: Option<String>,

    /// Tenant B, the registry's tenant: a GUID or a verified domain [field: registry_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub registry_tenant: Option<String>,

    /// The multitenant app's client id [field: app_id]
    #[arg(long, value_name = "GUID")]
    pub app_id: Option<String>,

    /// The role to assign: auto (AcrPull, or Container Registry Repository Reader on an ABAC registry) or a role name [field: role_name, kept for the same registry; default: auto]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// Prove that the app's credential can pull from the registry (needs the client secret)
    #[arg(long)]
    pub verify: bool,

    /// Verify with this image: <login server>/<repository>:<tag> or <repository>:<tag> (or @sha256:…)
    #[arg(long, value_name = "IMAGE", requires = "verify")]
    pub image: Option<String>,

    /// Without --image, the repository the pull token is asked for [default: xtenant/verify]
    #[arg(
        long,
        value_name = "REPOSITORY",
        requires = "verify",
        conflicts_with = "image"
    )]
    pub repository: Option<String>,

    /// Offboarding: remove the app's pull role on the registry (--registry, --app-id); refused while a cluster runs as the app (unless --force)
    ///
    /// The undo of step 3, first of the three (acr-grant --revoke, consent-link --remove,
    /// entra-app-create --delete). The registry and the app are the ones the flags name (the
    /// input's registry_id and app_id only with --targets-from-input). Removed: the
    /// assignments of the app's service principal in tenant B at the registry itself whose
    /// role grants only pull (what this tool gives); anything else that still lets it pull is
    /// named in a warning. Before the removal, tenant A (--cluster-tenant or the input's
    /// cluster_tenant_id) is read: while a cluster there runs as the app, or when that cannot
    /// be told, nothing is removed (AppInUse) unless --force. Nothing to remove is success.
    /// Works with --dry-run.
    #[arg(long, conflicts_with_all = ["verify", "role", "image", "repository"])]
    pub revoke: bool,

    /// With --revoke: act while clusters still run as the app, or when that cannot be told
    #[arg(long, requires = "revoke")]
    pub force: bool,

    /// With --revoke: tenant A, where the clusters that may still run as the app are looked for [field: cluster_tenant_id]
    #[arg(long, value_name = "TENANT", requires = "revoke")]
    pub cluster_tenant: Option<String>,

    #[command(flatten)]
    pub secret: SecretArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

impl Cli {
    /// The envelope fields the flags given set.
    pub(crate) fn fields(&self) -> Vec<(Field, String)> {
        given([
            (fields::REGISTRY_TENANT_ID, self.registry_tenant.clone()),
            (fields::APP_ID, self.app_id.clone()),
            (fields::REGISTRY_ID, self.registry.clone()),
            (fields::ROLE_NAME, self.role.clone()),
            (fields::CLUSTER_TENANT_ID, self.cluster_tenant.clone()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn image_and_repository_need_verify() {
        assert!(Cli::try_parse_from(["acr-grant", "--image", "hello:1"]).is_err());
        assert!(Cli::try_parse_from(["acr-grant", "--repository", "x"]).is_err());
        assert!(
            Cli::try_parse_from([
                "acr-grant",
                "--verify",
                "--image",
                "hello:1",
                "--repository",
                "x"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["acr-grant", "--verify", "--image", "hello:1"]).is_ok());
    }
}
