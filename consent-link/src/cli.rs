//! The flags of `consent-link`.

use clap::Parser;
use common::cli::CommonArgs;
use common::envelope::{Field, fields, given};

use crate::link::Form;

/// Print the admin-consent link for tenant B; optionally wait for the consent, or create the service principal
///
/// Step 2 of the cross-tenant pull procedure. An administrator of tenant B (the registry's
/// tenant) opens the link, signs in and clicks Accept (consent on behalf of the
/// organization); that creates the app's service principal in tenant B, which step 3
/// (acr-grant) gives the pull role to.
///
/// Writes `consent_url` (also shown on stderr). When the input carries `cluster_tenant_id`
/// (tenant A, the app's home), the app is first read there: a single-tenant app, an unknown
/// app id or an unregistered redirect URI is reported now rather than on the consent page.
/// Without `--wait` or `--create` and without `cluster_tenant_id`, nothing is sent anywhere.
///
/// --wait polls tenant B (with a credential for tenant B) until the service principal
/// exists, up to --timeout, then writes `registry_sp_object_id`.
/// --create makes the service principal in tenant B directly (Graph upsert by appId), in the
/// tenant --registry-tenant names (the input's registry_tenant_id only with
/// --targets-from-input, never another than the flag's); it
/// needs Application.ReadWrite.All there (an administrator's rights), else it fails with an
/// explanation. Both together: create when allowed, otherwise wait for an administrator to
/// consent. Either way, a service principal that already exists is taken as is (no write).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "consent-link",
    version,
    override_usage = "consent-link [OPTIONS] --registry-tenant TENANT < ENVELOPE"
)]
pub struct Cli {
    /// Tenant B, the registry's tenant: its id or a verified domain [field: registry_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub registry_tenant: Option<String>,

    /// The multitenant app's client id, from step 1 [field: app_id]
    #[arg(long, value_name = "GUID")]
    pub app_id: Option<String>,

    /// Tenant A, the app's home tenant: check the app there before giving the link [field: cluster_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub cluster_tenant: Option<String>,

    /// Where the consent page sends the administrator afterwards; must be one of the app's web
    /// redirect URIs, exactly as registered (it is sent as given, only percent-encoded)
    /// [default: https://www.microsoft.com] [field: redirect_uri]
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,

    /// Which consent endpoint the link uses
    #[arg(long, value_enum, default_value_t = Form::Authorize)]
    pub form: Form,

    /// Also open the link in a browser ($BROWSER, a :-separated list with %s for the URL, else xdg-open/open); failing to is only a warning
    #[arg(long)]
    pub open: bool,

    /// Wait (up to --timeout) until the app's service principal exists in tenant B, then write registry_sp_object_id
    #[arg(long)]
    pub wait: bool,

    /// Create the app's service principal in tenant B directly instead of waiting for a person (needs admin rights there); with --wait, wait for the consent when not allowed
    #[arg(long)]
    pub create: bool,

    /// Tenant B may be tenant A (the registry and the cluster really are in one tenant); without it the same tenant twice is refused
    #[arg(long)]
    pub same_tenant: bool,

    /// Offboarding: delete the app's service principal in tenant B (--registry-tenant, --app-id), undoing the consent; refused while a cluster runs as the app (unless --force)
    ///
    /// The undo of step 2, second of the three (acr-grant --revoke, consent-link --remove,
    /// entra-app-create --delete). The tenant and the app are the ones the flags name (the
    /// input's registry_tenant_id and app_id only with --targets-from-input). Before the
    /// delete, tenant A (--cluster-tenant or the input's cluster_tenant_id) is read: while a
    /// cluster there runs as the app, or when that cannot be told (no tenant A, no identity
    /// or Reader there), nothing is removed (AppInUse, naming them) unless --force. Already
    /// gone is success. Revoke the pull role first: a deleted principal's role assignments
    /// are left behind. Works with --dry-run.
    #[arg(long, conflicts_with_all = ["wait", "create", "open", "form", "redirect_uri"])]
    pub remove: bool,

    /// With --remove: act while clusters still run as the app, or when that cannot be told
    #[arg(long, requires = "remove")]
    pub force: bool,

    /// Trust the input's registry_tenant_id (and, with --remove, app_id): --create makes, and --remove deletes, the service principal in the tenant each input object names (for reruns on your own files, and fleets)
    ///
    /// Without it --create and --remove act only in the tenant --registry-tenant names (and
    /// --remove on the app --app-id names), and an input object whose registry_tenant_id
    /// names another tenant is refused: a file from another team cannot choose the tenant the
    /// app is brought into or removed from. The link and --wait only read, and take the
    /// input's registry_tenant_id as before.
    #[arg(long)]
    pub targets_from_input: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

impl Cli {
    /// The envelope fields the flags given set.
    pub(crate) fn fields(&self) -> Vec<(Field, String)> {
        given([
            (fields::REGISTRY_TENANT_ID, self.registry_tenant.clone()),
            (fields::APP_ID, self.app_id.clone()),
            (fields::CLUSTER_TENANT_ID, self.cluster_tenant.clone()),
            (fields::REDIRECT_URI, self.redirect_uri.clone()),
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
}
