//! The flags of `entra-app-create`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use common::cli::CommonArgs;
use common::envelope::{Field, fields, given};

/// Create (or find) the multitenant app for cross-tenant registry pulls, its service principal in the
/// cluster's tenant, and a client secret
///
/// Reads envelope objects on stdin (or runs once on the flags alone), writes them to stdout with
/// app_id, app_object_id, cluster_sp_object_id, client_secret, client_secret_key_id and
/// client_secret_expires_at added. Rerunning on its own output changes nothing.
#[derive(Debug, Parser)]
#[command(
    name = "entra-app-create",
    version,
    override_usage = "entra-app-create [OPTIONS] --cluster-tenant TENANT [< ENVELOPE]"
)]
#[command(group(clap::ArgGroup::new("force_target").args(["prune_secrets", "delete"]).multiple(true)))]
pub struct Cli {
    /// Tenant A, the cluster's tenant and the app's home: a tenant id or a verified domain [field: cluster_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub cluster_tenant: Option<String>,

    /// The app's display name, used when creating it (renames an existing app when given) [default: xtenant-acr-pull] [field: app_display_name]
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,

    /// The app's uniqueName, the key reruns find it by [default: the display name in lower case, other characters as '-'] [field: app_unique_name]
    #[arg(long, value_name = "NAME")]
    pub unique_name: Option<String>,

    /// The app's web redirect URI (the admin-consent page returns there) [default: https://www.microsoft.com] [field: redirect_uri]
    #[arg(long, value_name = "URL", value_parser = parse_redirect_uri)]
    pub redirect_uri: Option<String>,

    /// How long a new client secret is valid, e.g. 90d (the tenant's policy may allow less)
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_lifetime)]
    pub secret_lifetime: Duration,

    /// The display name of a new client secret
    #[arg(long, value_name = "NAME", default_value = "xtenant", value_parser = parse_secret_name)]
    pub secret_name: String,

    /// Mint a new client secret even when the input holds a working one (a rotation's first step)
    #[arg(long)]
    pub new_secret: bool,

    /// Remove every client secret of the app except the one in the output (a rotation's last step); a secret the record on the app names for a cluster is kept
    #[arg(long)]
    pub prune_secrets: bool,

    /// With --prune-secrets: remove secrets clusters use too, or when the clusters cannot be listed (a warning names them); with --delete: delete the app while clusters run as it, or when that cannot be told
    #[arg(long, requires = "force_target")]
    pub force: bool,

    /// Offboarding: delete the app (--app-id) in tenant A, its secrets and its service principal there with it; refused while a cluster runs as it (unless --force)
    ///
    /// The undo of step 1, last of the three (acr-grant --revoke, consent-link --remove,
    /// entra-app-create --delete). Only an app these tools made (tag xtenant:managed) is
    /// deleted. Before the delete, the clusters of every subscription of tenant A the identity
    /// sees are listed: while one runs as the app, or when they cannot be listed, nothing is
    /// deleted (AppInUse, naming them) unless --force. An app already gone is success; the
    /// output keeps app_id and drops the secret. Entra keeps a deleted app 30 days in its
    /// deleted items. Works with --dry-run.
    #[arg(long, conflicts_with_all = ["new_secret", "prune_secrets", "secret_file", "no_secret_output", "secret_keyvault", "adopt", "display_name", "unique_name", "redirect_uri"])]
    pub delete: bool,

    /// With --delete: the app to delete is each input object's app_id (for your own files; otherwise name it with --app-id)
    #[arg(long, requires = "delete")]
    pub targets_from_input: bool,

    /// Also write the client secret to PATH (mode 0600, replaced atomically, never through a symlink); a rerun reuses the secret saved there
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Keep client_secret out of stdout; later steps read it with --client-secret-file (requires --secret-file, or the secret would be lost)
    #[arg(long, requires = "secret_file")]
    pub no_secret_output: bool,

    /// Store the client secret in this Azure Key Vault, and write client_secret_ref (its identifier with the version) instead of client_secret: a vault URL (https://VAULT.vault.azure.net), optionally with /secrets/NAME [default name: the app's unique name + "-client-secret"]; needs Key Vault Secrets Officer on the vault
    ///
    /// The secret never reaches stdout or a file: later steps read it from the vault (Key Vault
    /// Secrets User). A rerun that keeps the secret writes no new version; a new secret is a new
    /// version. The vault is named only here, never by an input object.
    #[arg(long, value_name = "URL", conflicts_with_all = ["secret_file", "no_secret_output"])]
    pub secret_keyvault: Option<String>,

    /// The client id of an existing app to use [field: app_id]; with --adopt, an app this tool did not create may be changed
    #[arg(long, value_name = "GUID")]
    pub app_id: Option<String>,

    /// Take over an existing app named by --app-id or --unique-name that this tool did not create: fix it (multitenant, redirect URI), mark it as managed, and let later runs change it
    #[arg(long)]
    pub adopt: bool,

    /// Tenant B, the registry's tenant, when known: refused if it is tenant A (unless --same-tenant) [field: registry_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub registry_tenant: Option<String>,

    /// Tenant B may be tenant A: the registry and the cluster really are in one tenant
    #[arg(long)]
    pub same_tenant: bool,

    /// The cluster's ARM id, when known: warns if --cluster-tenant does not hold it [field: cluster_id]
    #[arg(long, value_name = "ARM_ID")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_redirect_uri(value: &str) -> Result<String, String> {
    // Keep the text as given: Entra compares redirect URIs as strings, and Url would add a '/'.
    common::validate::redirect_uri("redirect_uri", value)
        .map(|_| value.trim().to_owned())
        .map_err(|e| e.message().to_owned())
}

fn parse_lifetime(value: &str) -> Result<Duration, String> {
    let d = common::validate::clap_duration(value)?;
    if d < Duration::from_secs(60) {
        return Err(format!(
            "'{value}' is too short for a secret's lifetime: give at least a minute, e.g. 90d"
        ));
    }
    Ok(d)
}

fn parse_secret_name(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 256 || v.chars().any(char::is_control) {
        return Err(
            "a secret name must be 1 to 256 characters without control characters".to_owned(),
        );
    }
    Ok(v.to_owned())
}

impl Cli {
    /// The envelope fields the flags given set.
    pub(crate) fn fields(&self) -> Vec<(Field, String)> {
        given([
            (fields::CLUSTER_TENANT_ID, self.cluster_tenant.clone()),
            (fields::APP_DISPLAY_NAME, self.display_name.clone()),
            (fields::APP_UNIQUE_NAME, self.unique_name.clone()),
            (fields::REDIRECT_URI, self.redirect_uri.clone()),
            (fields::APP_ID, self.app_id.clone()),
            (fields::REGISTRY_TENANT_ID, self.registry_tenant.clone()),
            (fields::CLUSTER_ID, self.cluster.clone()),
        ])
    }
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
    fn flag_values_are_checked_by_the_parser() {
        let ok = Cli::try_parse_from(["entra-app-create", "--cluster-tenant", "t.onmicrosoft.com"])
            .unwrap();
        assert_eq!(ok.redirect_uri, None);
        assert_eq!(ok.secret_lifetime, Duration::from_secs(365 * 86_400));
        assert_eq!(ok.secret_name, "xtenant");
        for bad in [
            &["--secret-lifetime", "ten days"][..],
            &["--secret-lifetime", "10s"],
            &["--redirect-uri", "http://x.com"],
            &["--redirect-uri", "https://x.com/#f"],
            &["--secret-name", ""],
            &["--no-secret-output"],
            &[
                "--secret-keyvault",
                "https://kv1.vault.azure.net",
                "--secret-file",
                "s",
            ],
        ] {
            let args = std::iter::once("entra-app-create").chain(bad.iter().copied());
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(
                e.exit_code(),
                i32::from(common::exit::ExitCode::Usage.code()),
                "{bad:?}"
            );
        }
        // The redirect URI is kept as typed (no trailing slash added).
        let c = Cli::try_parse_from([
            "entra-app-create",
            "--redirect-uri",
            "https://app.example/cb",
        ])
        .unwrap();
        assert_eq!(c.redirect_uri.as_deref(), Some("https://app.example/cb"));
    }
}
