//! The cloud the simulator presents: where clients address each service, which token
//! audiences each service accepts, and the DNS suffixes of registries and key vaults.
//!
//! - `AzureSim` (the default): every service at `https://127.0.0.1:PORT` (the written cloud
//!   file), registries at `<name>.azurecr.sim:PORT`, vaults at `<name>.vault.azure.sim:PORT`,
//!   and the public cloud's audiences.
//! - `AzureChinaCloud`: Azure operated by 21Vianet under its real names — Entra at
//!   `login.chinacloudapi.cn`, Graph at `microsoftgraph.chinacloudapi.cn`, ARM at
//!   `management.chinacloudapi.cn`, registries `<name>.azurecr.cn`, vaults
//!   `<name>.vault.azure.cn` — all on port 443 in every URL it writes, with China's audiences
//!   only: a token for a public-cloud audience is refused, as a national cloud refuses it.
//!   Clients reach it through a resolve override to `127.0.0.1:PORT` (`XTENANT_RESOLVE` in
//!   `sim.env`) and trust `ca.pem`, whose certificate names those hosts. Sources: the crate
//!   README, "The China cloud".

use serde::{Deserialize, Serialize};

/// Which cloud a scenario presents (the state's `cloud`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CloudName {
    /// The simulator's own cloud on `127.0.0.1` (public-cloud audiences).
    #[default]
    AzureSim,
    /// Azure operated by 21Vianet, under its real host names.
    AzureChinaCloud,
}

/// China's hosts and audiences (Azure CLI `cloud.py` `AZURE_CHINA_CLOUD`; README sources).
mod china {
    pub(super) const LOGIN: &str = "login.chinacloudapi.cn";
    pub(super) const GRAPH: &str = "microsoftgraph.chinacloudapi.cn";
    pub(super) const ARM: &str = "management.chinacloudapi.cn";
    pub(super) const REGISTRY_SUFFIX: &str = "azurecr.cn";
    pub(super) const KEYVAULT_SUFFIX: &str = "vault.azure.cn";
    pub(super) const STS: &str = "https://sts.chinacloudapi.cn";
    pub(super) const GRAPH_AUDIENCES: &[&str] = &[
        "https://microsoftgraph.chinacloudapi.cn",
        "00000003-0000-0000-c000-000000000000",
    ];
    pub(super) const ARM_AUDIENCES: &[&str] = &[
        "https://management.chinacloudapi.cn",
        "https://management.core.chinacloudapi.cn",
    ];
    pub(super) const KEYVAULT_AUDIENCE: &str = "https://vault.azure.cn";
}

/// The public cloud's audiences, which the local cloud uses.
mod public {
    pub(super) const STS: &str = "https://sts.windows.net";
    pub(super) const GRAPH_AUDIENCES: &[&str] = &[
        "https://graph.microsoft.com",
        "00000003-0000-0000-c000-000000000000",
    ];
    pub(super) const ARM_AUDIENCES: &[&str] = &[
        "https://management.azure.com",
        "https://management.core.windows.net",
    ];
    pub(super) const KEYVAULT_AUDIENCE: &str = "https://vault.azure.net";
}

/// The local cloud's registry suffix.
const SIM_REGISTRY_SUFFIX: &str = "azurecr.sim";
/// The local cloud's Key Vault suffix.
const SIM_KEYVAULT_SUFFIX: &str = "vault.azure.sim";
/// The audience a registry's token exchange accepts besides ARM's (ACR's own resource id).
const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";

/// Which service a host name addresses, when it is one of the cloud's named hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostService {
    /// The cloud's login host.
    Entra,
    /// Its Graph host.
    Graph,
    /// Its ARM host.
    Arm,
    /// A registry's login server, by registry name.
    Registry(String),
    /// A key vault's host, by vault name.
    KeyVault(String),
}

/// The presented cloud, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    /// Which one.
    pub name: CloudName,
    /// `https://127.0.0.1:PORT` (the listening URL).
    local_url: String,
    /// The listening port (written into local registry and vault hosts).
    port: u16,
}

impl Presented {
    /// The cloud `name` served at `local_url` (`https://IP:PORT`).
    pub(crate) fn new(name: CloudName, local_url: &str, port: u16) -> Self {
        Self {
            name,
            local_url: local_url.to_owned(),
            port,
        }
    }

    /// The listening URL (`https://127.0.0.1:PORT`): the control API's, and every service's
    /// in the local cloud.
    pub(crate) fn local_url(&self) -> String {
        self.local_url.clone()
    }

    /// The listening port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    fn china(&self) -> bool {
        self.name == CloudName::AzureChinaCloud
    }

    /// The base URL of Entra (login), without a trailing slash.
    pub(crate) fn login_url(&self) -> String {
        self.base(china::LOGIN)
    }

    /// The base URL of Microsoft Graph.
    pub(crate) fn graph_url(&self) -> String {
        self.base(china::GRAPH)
    }

    /// The base URL of ARM.
    pub(crate) fn arm_url(&self) -> String {
        self.base(china::ARM)
    }

    fn base(&self, china_host: &str) -> String {
        if self.china() {
            format!("https://{china_host}")
        } else {
            self.local_url.clone()
        }
    }

    /// The registry DNS suffix (`azurecr.sim` or `azurecr.cn`).
    pub(crate) fn registry_suffix(&self) -> &'static str {
        if self.china() {
            china::REGISTRY_SUFFIX
        } else {
            SIM_REGISTRY_SUFFIX
        }
    }

    /// The Key Vault DNS suffix (`vault.azure.sim` or `vault.azure.cn`).
    pub(crate) fn keyvault_suffix(&self) -> &'static str {
        if self.china() {
            china::KEYVAULT_SUFFIX
        } else {
            SIM_KEYVAULT_SUFFIX
        }
    }

    /// `:PORT` for local registry and vault hosts; nothing for China's (port 443).
    fn port_suffix(&self) -> String {
        if self.china() {
            String::new()
        } else {
            format!(":{}", self.port)
        }
    }

    /// A registry's login server as the cloud writes it (`name.azurecr.sim:PORT`, `name.azurecr.cn`).
    pub(crate) fn login_server(&self, name: &str) -> String {
        format!("{name}.{}{}", self.registry_suffix(), self.port_suffix())
    }

    /// A vault's base URL (`https://name.vault.azure.sim:PORT`, `https://name.vault.azure.cn`).
    pub(crate) fn vault_url(&self, name: &str) -> String {
        format!(
            "https://{name}.{}{}",
            self.keyvault_suffix(),
            self.port_suffix()
        )
    }

    /// The token issuer's base (`https://sts.windows.net`, `https://sts.chinacloudapi.cn`).
    pub(crate) fn sts(&self) -> &'static str {
        if self.china() {
            china::STS
        } else {
            public::STS
        }
    }

    /// The audiences Microsoft Graph accepts (the local cloud also its own URL, as before).
    pub(crate) fn graph_audiences(&self) -> Vec<&str> {
        if self.china() {
            china::GRAPH_AUDIENCES.to_vec()
        } else {
            let mut v = public::GRAPH_AUDIENCES.to_vec();
            v.push(self.local_url.as_str());
            v
        }
    }

    /// The audiences ARM accepts.
    pub(crate) fn arm_audiences(&self) -> &'static [&'static str] {
        if self.china() {
            china::ARM_AUDIENCES
        } else {
            public::ARM_AUDIENCES
        }
    }

    /// Key Vault's audience.
    pub(crate) fn keyvault_audience(&self) -> &'static str {
        if self.china() {
            china::KEYVAULT_AUDIENCE
        } else {
            public::KEYVAULT_AUDIENCE
        }
    }

    /// The audiences a registry's token exchange accepts: ARM's and ACR's own.
    pub(crate) fn registry_audiences(&self) -> Vec<&'static str> {
        let mut v = self.arm_audiences().to_vec();
        v.push(ACR_AUDIENCE);
        v
    }

    /// Every resource the cloud's Entra issues tokens for.
    pub(crate) fn resources(&self) -> Vec<&str> {
        let mut v = self.graph_audiences();
        v.extend_from_slice(self.arm_audiences());
        v.push(ACR_AUDIENCE);
        v.push(self.keyvault_audience());
        v
    }

    /// The service a host (lowercase, without port) names: the cloud's login, Graph and ARM
    /// hosts (China only; the local cloud routes those by path) and registry and vault hosts.
    pub(crate) fn service_of(&self, host: &str) -> Option<HostService> {
        let label = |suffix: &str| {
            host.strip_suffix(suffix)
                .and_then(|h| h.strip_suffix('.'))
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        };
        if let Some(name) = label(self.registry_suffix()) {
            return Some(HostService::Registry(name));
        }
        if let Some(name) = label(self.keyvault_suffix()) {
            return Some(HostService::KeyVault(name));
        }
        if !self.china() {
            return None;
        }
        match host {
            china::LOGIN => Some(HostService::Entra),
            china::GRAPH => Some(HostService::Graph),
            china::ARM => Some(HostService::Arm),
            _ => None,
        }
    }

    /// The DNS names the server certificate must carry besides `localhost` and `127.0.0.1`.
    pub(crate) fn certificate_names(&self) -> Vec<String> {
        let mut v = vec![
            format!("*.{}", self.registry_suffix()),
            format!("*.{}", self.keyvault_suffix()),
        ];
        if self.china() {
            v.extend([china::LOGIN, china::GRAPH, china::ARM].map(str::to_owned));
        }
        v
    }

    /// `XTENANT_RESOLVE` for clients of the China cloud: each of its hosts to `ip:port`
    /// (`None` for the local cloud, which clients reach by its URL).
    pub(crate) fn resolve_rules(&self, ip: std::net::IpAddr) -> Option<String> {
        if !self.china() {
            return None;
        }
        let to = std::net::SocketAddr::new(ip, self.port);
        let hosts = [
            china::LOGIN.to_owned(),
            china::GRAPH.to_owned(),
            china::ARM.to_owned(),
            format!("*.{}", china::REGISTRY_SUFFIX),
            format!("*.{}", china::KEYVAULT_SUFFIX),
        ];
        Some(
            hosts
                .iter()
                .map(|h| format!("{h}:443:{to}"))
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{CloudName, HostService, Presented};

    #[test]
    fn the_local_cloud_is_the_listening_url_with_public_audiences() {
        let p = Presented::new(CloudName::AzureSim, "https://127.0.0.1:9", 9);
        assert_eq!(p.arm_url(), "https://127.0.0.1:9");
        assert_eq!(p.login_server("fab"), "fab.azurecr.sim:9");
        assert_eq!(p.vault_url("kv"), "https://kv.vault.azure.sim:9");
        assert!(p.arm_audiences().contains(&"https://management.azure.com"));
        assert_eq!(p.service_of("management.chinacloudapi.cn"), None);
        assert_eq!(
            p.service_of("fab.azurecr.sim"),
            Some(HostService::Registry("fab".into()))
        );
        assert!(p.resolve_rules([127, 0, 0, 1].into()).is_none());
    }

    #[test]
    fn china_is_its_real_names_on_443_with_its_own_audiences() {
        let p = Presented::new(CloudName::AzureChinaCloud, "https://127.0.0.1:9", 9);
        assert_eq!(p.login_url(), "https://login.chinacloudapi.cn");
        assert_eq!(p.graph_url(), "https://microsoftgraph.chinacloudapi.cn");
        assert_eq!(p.arm_url(), "https://management.chinacloudapi.cn");
        assert_eq!(p.login_server("fab"), "fab.azurecr.cn");
        assert_eq!(p.vault_url("kv"), "https://kv.vault.azure.cn");
        assert_eq!(p.keyvault_audience(), "https://vault.azure.cn");
        assert!(
            p.arm_audiences()
                .contains(&"https://management.core.chinacloudapi.cn")
        );
        assert!(!p.resources().contains(&"https://graph.microsoft.com"));
        assert!(!p.resources().contains(&"https://management.azure.com"));
        assert_eq!(
            p.service_of("microsoftgraph.chinacloudapi.cn"),
            Some(HostService::Graph)
        );
        assert_eq!(
            p.service_of("kv.vault.azure.cn"),
            Some(HostService::KeyVault("kv".into()))
        );
        assert_eq!(p.service_of("azurecr.cn"), None);
        assert_eq!(p.service_of("login.chinacloudapi.cn.evil"), None);
        assert_eq!(
            p.resolve_rules([127, 0, 0, 1].into()).unwrap(),
            "login.chinacloudapi.cn:443:127.0.0.1:9,microsoftgraph.chinacloudapi.cn:443:127.0.0.1:9,management.chinacloudapi.cn:443:127.0.0.1:9,*.azurecr.cn:443:127.0.0.1:9,*.vault.azure.cn:443:127.0.0.1:9"
        );
    }
}
