//! What the simulator writes for its clients: the `sim.env` lines (rendered from the state's
//! template, with the secrets minted at start) and the custom cloud file.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{
    CLUSTER_EGRESS_IP, CLUSTER_WRITER_APP_ID, Ids, OPERATOR_APP_ID, READER_APP_ID, SIM_SECRET_NAME,
    SUB_A, SUB_B, TENANT_A, TENANT_B, VAULT_NAME, now,
};
use crate::cloud::{CloudName, Presented};
use crate::crypto::{new_client_secret, sha256_hex};
use crate::model::{PasswordCredential, State};

/// The `sim.env` template: the ids and names the tests and examples use.
pub(super) fn env_template(ids: &Ids) -> Map<String, Value> {
    let mut env = Map::new();
    for (k, v) in [
        ("AZURE_CLIENT_ID", OPERATOR_APP_ID.to_string()),
        ("READER_CLIENT_ID", READER_APP_ID.to_string()),
        (
            "CLUSTER_WRITER_CLIENT_ID",
            CLUSTER_WRITER_APP_ID.to_string(),
        ),
        ("CLUSTER_TENANT_ID", TENANT_A.to_string()),
        ("REGISTRY_TENANT_ID", TENANT_B.to_string()),
        (
            "CLUSTER_TENANT_DOMAIN",
            "contoso-aks.onmicrosoft.com".to_string(),
        ),
        (
            "REGISTRY_TENANT_DOMAIN",
            "fabrikam-acr.onmicrosoft.com".to_string(),
        ),
        ("CLUSTER_SUBSCRIPTION_ID", SUB_A.to_string()),
        ("REGISTRY_SUBSCRIPTION_ID", SUB_B.to_string()),
        ("CLUSTER_ID", ids.cluster.clone()),
        ("CLUSTER_NAME", "aks-prod".to_string()),
        ("CLUSTER_EGRESS_IP", CLUSTER_EGRESS_IP.to_string()),
        ("MSI_CLUSTER_ID", ids.msi_cluster.clone()),
        ("REGISTRY_ID", ids.acr.clone()),
        ("REGISTRY_NAME", "fabrikamacr".to_string()),
        (
            "REGISTRY_LOGIN_SERVER",
            "{login_server:fabrikamacr}".to_string(),
        ),
        ("ABAC_REGISTRY_ID", ids.abac.clone()),
        ("ABAC_REGISTRY_NAME", "fabrikamabac".to_string()),
        (
            "REGISTRY_IMAGE",
            "{login_server:fabrikamacr}/samples/hello:1.0".to_string(),
        ),
        ("SUBNET_ID", ids.subnet.clone()),
        ("KEYVAULT_ID", ids.vault.clone()),
        ("KEYVAULT_NAME", VAULT_NAME.to_string()),
        ("KEYVAULT_URL", format!("{{vault_url:{VAULT_NAME}}}")),
    ] {
        env.insert(k.into(), Value::String(v));
    }
    env
}

/// For every `X_CLIENT_ID` in the env template naming an app, replace that app's
/// `azure-sim` secret with a fresh one; returns `X_CLIENT_SECRET` → secret.
pub(crate) fn mint_env_secrets(state: &mut State) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let pairs: Vec<(String, String)> = state
        .env_template
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .filter(|(k, _)| k.ends_with("_CLIENT_ID"))
        .collect();
    for (key, app_id) in pairs {
        let Some(app) = state
            .applications
            .iter_mut()
            .find(|a| a.app_id.eq_ignore_ascii_case(&app_id))
        else {
            continue;
        };
        let (secret, hint) = new_client_secret();
        app.password_credentials
            .retain(|p| p.display_name.as_deref() != Some(SIM_SECRET_NAME));
        app.password_credentials.push(PasswordCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name: Some(SIM_SECRET_NAME.into()),
            hint,
            start: now() - time::Duration::minutes(5),
            end: now() + time::Duration::days(365),
            secret_sha256: sha256_hex(secret.as_bytes()),
            minted: None,
            secret: None,
        });
        out.insert(
            format!("{}_CLIENT_SECRET", key.trim_end_matches("_CLIENT_ID")),
            secret,
        );
    }
    out
}

/// Render one template value: `{url}`, `{port}`, `{dir}`, `{login_server:NAME}` and
/// `{vault_url:NAME}` as the presented cloud writes them.
fn render(v: &str, cloud: &Presented, dir: &str) -> String {
    let mut s = v
        .replace("{url}", &cloud.local_url())
        .replace("{port}", &cloud.port().to_string())
        .replace("{dir}", dir);
    for (tag, make) in [
        (
            "{login_server:",
            Presented::login_server as fn(&Presented, &str) -> String,
        ),
        ("{vault_url:", Presented::vault_url),
    ] {
        let mut from = 0;
        while let Some(start) = s[from..].find(tag).map(|i| i + from) {
            let Some(len) = s[start..].find('}') else {
                break;
            };
            let name = s[start + tag.len()..start + len].to_ascii_lowercase();
            let text = make(cloud, &name);
            s.replace_range(start..=start + len, &text);
            from = start + text.len();
        }
    }
    s
}

/// The `sim.env` pairs, in order. For the China cloud the tools take `--cloud AzureChinaCloud`
/// with `XTENANT_RESOLVE` (its hosts to the listening address `ip`) and `XTENANT_CA_FILE`.
pub(crate) fn env_pairs(
    state: &State,
    secrets: &BTreeMap<String, String>,
    cloud: &Presented,
    ip: std::net::IpAddr,
    dir: &str,
    cloud_file: &str,
    ca_file: &str,
) -> Vec<(String, String)> {
    let mut out = match cloud.resolve_rules(ip) {
        Some(rules) => vec![
            ("XTENANT_CLOUD".to_string(), "AzureChinaCloud".to_string()),
            ("XTENANT_RESOLVE".to_string(), rules),
            ("XTENANT_CA_FILE".to_string(), ca_file.to_string()),
        ],
        None => vec![("XTENANT_CLOUD".to_string(), cloud_file.to_string())],
    };
    out.push(("SIM_URL".to_string(), cloud.local_url()));
    out.push(("SIM_CA_FILE".to_string(), ca_file.to_string()));
    for (k, v) in &state.env_template {
        let text = match v {
            Value::String(s) => render(s, cloud, dir),
            other => other.to_string(),
        };
        out.push((k.clone(), text));
        if let Some(prefix) = k.strip_suffix("_CLIENT_ID")
            && let Some(s) = secrets.get(&format!("{prefix}_CLIENT_SECRET"))
        {
            out.push((format!("{prefix}_CLIENT_SECRET"), s.clone()));
        }
    }
    out
}

/// A `KEY=value` line, single-quoting the value when the shell would otherwise mangle it.
pub(crate) fn env_line(k: &str, v: &str) -> String {
    let safe = !v.is_empty()
        && !v.starts_with('~')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+,=~-".contains(c));
    if safe {
        format!("{k}={v}\n")
    } else {
        format!("{k}='{}'\n", v.replace('\'', "'\\''"))
    }
}

/// The custom cloud file: the local cloud at `url`, or China's real endpoints (usable with
/// the resolve override of `sim.env`, as `--cloud AzureChinaCloud` is).
pub(crate) fn cloud_json(url: &str, ca_file: &str, cloud: &Presented) -> Value {
    let local = cloud.name == CloudName::AzureSim;
    let mut v = json!({
        "name": if local { "AzureSim" } else { "AzureChinaSim" },
        "login_endpoint": cloud.login_url(),
        "graph_endpoint": cloud.graph_url(),
        "graph_audience": cloud.graph_audiences()[0],
        "arm_endpoint": cloud.arm_url(),
        "arm_audience": format!("{}/", cloud.arm_audiences()[0]),
        "registry_suffix": cloud.registry_suffix(),
        "ca_file": ca_file,
        "keyvault_suffix": cloud.keyvault_suffix(),
        "keyvault_audience": cloud.keyvault_audience(),
    });
    if local {
        // Registries and vaults are named hosts served at the one local address.
        v["registry_connect_addr"] = json!("127.0.0.1");
        v["keyvault_connect_addr"] = json!("127.0.0.1");
        assert_eq!(cloud.login_url(), url);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::{env_line, render};
    use crate::cloud::{CloudName, Presented};

    #[test]
    fn env_quoting() {
        assert_eq!(env_line("A", "abc8Q~x-y_z."), "A=abc8Q~x-y_z.\n");
        assert_eq!(env_line("A", "a b"), "A='a b'\n");
        assert_eq!(env_line("A", "it's"), "A='it'\\''s'\n");
    }

    #[test]
    fn template() {
        let local = Presented::new(CloudName::AzureSim, "https://127.0.0.1:7", 7);
        assert_eq!(
            render("{login_server:FAB}/x {vault_url:kv} {url}", &local, "d"),
            "fab.azurecr.sim:7/x https://kv.vault.azure.sim:7 https://127.0.0.1:7"
        );
        let china = Presented::new(CloudName::AzureChinaCloud, "https://127.0.0.1:7", 7);
        assert_eq!(
            render("{login_server:fab}/x {login_server:b}", &china, "d"),
            "fab.azurecr.cn/x b.azurecr.cn"
        );
    }
}
