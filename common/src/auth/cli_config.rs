//! The Azure CLI's own configuration, read without running `az` (seconds per start): its
//! active cloud and its default subscription.

use serde::Deserialize;

use super::source::process_var;
use crate::env;
use crate::error::{Error, Result, codes};

/// The clouds the Azure CLI knows by these names (`az cloud list`).
const CLI_CLOUDS: [&str; 3] = ["AzureCloud", "AzureChinaCloud", "AzureUSGovernment"];

/// The Azure CLI's active cloud as its config file says, without running `az` (seconds per
/// start): `[cloud] name` in `$AZURE_CONFIG_DIR/config` (default `~/.azure/config`), and
/// `AzureCloud` (the CLI's default) when the file or the key is absent. Also the path read.
fn cli_active_cloud(var: impl Fn(&str) -> Option<String>) -> (String, std::path::PathBuf) {
    let path = cli_config_dir(&var).join("config");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            s.trim().to_ascii_lowercase().clone_into(&mut section);
        } else if section == "cloud"
            && let Some((k, v)) = line.split_once(['=', ':'])
            && k.trim().eq_ignore_ascii_case("name")
            && !v.trim().is_empty()
        {
            return (v.trim().to_owned(), path);
        }
    }
    ("AzureCloud".to_owned(), path)
}

/// The Azure CLI's configuration folder: `$AZURE_CONFIG_DIR`, default `~/.azure`.
fn cli_config_dir(var: &impl Fn(&str) -> Option<String>) -> std::path::PathBuf {
    var(env::AZURE_CONFIG_DIR).map_or_else(
        || {
            std::path::PathBuf::from(
                var("HOME")
                    .or_else(|| var("USERPROFILE"))
                    .unwrap_or_default(),
            )
            .join(".azure")
        },
        std::path::PathBuf::from,
    )
}

/// The Azure CLI's default subscription (`az account set`), as its `azureProfile.json` says
/// (the one `az aks` commands act in), without running `az`: its id, if there is one.
pub fn cli_default_subscription() -> Option<String> {
    cli_default_subscription_with(process_var)
}

fn cli_default_subscription_with(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let text = std::fs::read_to_string(cli_config_dir(&var).join("azureProfile.json")).ok()?;
    // The CLI writes it with a byte order mark.
    let profile: Profile = serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    profile
        .subscriptions
        .into_iter()
        .find(|s| s.is_default)
        .and_then(|s| s.id)
        .filter(|id| crate::validate::is_guid(id))
        .map(|id| id.to_ascii_lowercase())
}

/// The part of the CLI's `azureProfile.json` read here.
#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    subscriptions: Vec<ProfileSubscription>,
}

/// One subscription the CLI knows.
#[derive(Deserialize)]
struct ProfileSubscription {
    id: Option<String>,
    #[serde(rename = "isDefault", default)]
    is_default: bool,
}

/// `--auth cli` takes its tokens from the Azure CLI's active cloud, whatever `--cloud` says: a
/// mismatch (a China user who never ran `az cloud set`) is refused here with the one command
/// that fixes it, instead of a confusing token failure later. Only the clouds the CLI knows
/// by name are compared (a custom cloud file's name is ours, not the CLI's).
pub(super) fn check_cli_cloud(wanted: &str, var: impl Fn(&str) -> Option<String>) -> Result<()> {
    let Some(wanted) = CLI_CLOUDS.iter().find(|c| c.eq_ignore_ascii_case(wanted)) else {
        return Ok(());
    };
    let (active, path) = cli_active_cloud(var);
    if active.eq_ignore_ascii_case(wanted) {
        return Ok(());
    }
    Err(Error::credential(
        codes::CLI_CLOUD_MISMATCH,
        format!(
            "--auth cli: the Azure CLI's active cloud is {active} ({}), not {wanted}",
            path.display()
        ),
    )
    .with_hint(format!(
        "az cloud set --name {wanted} (then az login, if you have not logged in to {wanted})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn the_cli_cloud_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let var = |k: &str| (k == env::AZURE_CONFIG_DIR).then(|| d.clone());
        // No config file: the CLI's default, AzureCloud.
        assert!(check_cli_cloud("AzureCloud", var).is_ok());
        let e = check_cli_cloud("AzureChinaCloud", var).unwrap_err();
        assert_eq!(e.code(), codes::CLI_CLOUD_MISMATCH.name);
        assert_eq!(e.exit_code(), ExitCode::Credential);
        assert!(
            e.hint()
                .unwrap()
                .starts_with("az cloud set --name AzureChinaCloud"),
            "{e:?}"
        );
        std::fs::write(
            dir.path().join("config"),
            "[core]\nname = x\n\n[cloud]\nname = AzureChinaCloud\n",
        )
        .unwrap();
        assert!(check_cli_cloud("AzureChinaCloud", var).is_ok());
        let e = check_cli_cloud("AzureUSGovernment", var).unwrap_err();
        assert!(
            e.message().contains("AzureChinaCloud") && e.message().contains("config"),
            "{e}"
        );
        assert!(
            e.hint()
                .unwrap()
                .contains("az cloud set --name AzureUSGovernment")
        );
        // A custom cloud (a cloud file) is not compared.
        assert!(check_cli_cloud("AzureSim", var).is_ok());
    }

    #[test]
    fn the_cli_default_subscription_is_read_from_its_profile() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let var = |k: &str| (k == env::AZURE_CONFIG_DIR).then(|| d.clone());
        assert_eq!(cli_default_subscription_with(var), None);
        std::fs::write(
            dir.path().join("azureProfile.json"),
            "\u{feff}{\"subscriptions\":[{\"id\":\"11111111-1111-1111-1111-111111111111\",\"isDefault\":false},{\"id\":\"22222222-2222-2222-2222-22222222222A\",\"isDefault\":true}]}",
        )
        .unwrap();
        assert_eq!(
            cli_default_subscription_with(var).as_deref(),
            Some("22222222-2222-2222-2222-22222222222a")
        );
    }
}
