//! Azure clouds: their login, Graph and ARM endpoints, token audiences, registry and Key Vault
//! suffixes.
//!
//! `--cloud` (env `XTENANT_CLOUD`) takes a built-in name or the path of a cloud file.
//! A cloud file describes a custom cloud, such as `azure-sim`:
//!
//! ```json
//! {"name": "AzureSim",
//!  "login_endpoint": "https://127.0.0.1:8443", "graph_endpoint": "https://127.0.0.1:8443",
//!  "graph_audience": "https://graph.microsoft.com",
//!  "arm_endpoint": "https://127.0.0.1:8443", "arm_audience": "https://management.azure.com/",
//!  "registry_suffix": "azurecr.sim", "ca_file": "ca.pem", "registry_connect_addr": "127.0.0.1",
//!  "keyvault_suffix": "vault.azure.sim", "keyvault_audience": "https://vault.azure.net",
//!  "keyvault_connect_addr": "127.0.0.1"}
//! ```
//!
//! `ca_file` (relative to the cloud file) is trusted in addition to the system roots;
//! `registry_connect_addr` is where connections to `*.<registry_suffix>` go, while URLs,
//! Host headers and TLS names stay the registry's own; `keyvault_connect_addr` does the same
//! for `*.<keyvault_suffix>` (the Key Vault keys are optional: without them a custom cloud has
//! no Key Vault). `registry_port` is the port its
//! registries' login servers carry (default: the ARM endpoint's port when that names one,
//! as a simulator serving every endpoint on one port does; a built-in cloud has none).
//! Endpoints must be https, except on loopback addresses.
//!
//! A cloud file is read in `file.rs`.

use std::net::IpAddr;
use std::path::Path;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use url::Url;

use crate::error::{Error, Result};
use crate::resolve::{self, Resolve};

mod file;

use file::read_pem;

/// The names of the built-in clouds.
pub const BUILT_IN: [&str; 3] = ["AzureCloud", "AzureChinaCloud", "AzureUSGovernment"];

/// One Azure cloud's endpoints.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// `AzureCloud`, `AzureChinaCloud`, `AzureUSGovernment`, or a custom cloud's name.
    pub name: String,
    /// The Entra authority host, e.g. `https://login.microsoftonline.com`.
    pub login: Url,
    /// Microsoft Graph, e.g. `https://graph.microsoft.com`.
    pub graph: Url,
    /// The resource Graph tokens are issued for.
    pub graph_audience: String,
    /// Azure Resource Manager, e.g. `https://management.azure.com`.
    pub arm: Url,
    /// The resource ARM tokens are issued for.
    pub arm_audience: String,
    /// The registries' DNS suffix without the dot, e.g. `azurecr.io`.
    pub registry_suffix: String,
    /// A CA certificate (PEM) to trust besides the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Where to connect for registry hosts instead of resolving them.
    pub registry_connect_addr: Option<IpAddr>,
    /// The one port a login server of this cloud may name besides 443 (custom clouds only).
    pub registry_port: Option<u16>,
    /// Key Vault's DNS suffix without the dot, e.g. `vault.azure.net`; empty when the cloud
    /// has no Key Vault (a custom cloud file without `keyvault_suffix`).
    pub keyvault_suffix: String,
    /// The resource Key Vault tokens are issued for, e.g. `https://vault.azure.net`.
    pub keyvault_audience: String,
    /// Where to connect for key vault hosts instead of resolving them.
    pub keyvault_connect_addr: Option<IpAddr>,
    /// Host names the user pointed elsewhere (`--resolve`), for any cloud.
    pub resolve: Vec<Resolve>,
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("built-in URL")
}

impl Cloud {
    /// Azure's global cloud.
    pub fn azure_public() -> Self {
        Self::built_in(
            "AzureCloud",
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
            "https://management.azure.com",
            "azurecr.io",
            "vault.azure.net",
        )
    }

    /// Azure operated by 21Vianet in China.
    pub fn azure_china() -> Self {
        Self::built_in(
            "AzureChinaCloud",
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
            "https://management.chinacloudapi.cn",
            "azurecr.cn",
            "vault.azure.cn",
        )
    }

    /// Azure Government (US).
    pub fn azure_us_government() -> Self {
        Self::built_in(
            "AzureUSGovernment",
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
            "https://management.usgovcloudapi.net",
            "azurecr.us",
            "vault.usgovcloudapi.net",
        )
    }

    /// A built-in cloud; Key Vault's audience is `https://` and its DNS suffix, in every cloud.
    fn built_in(
        name: &str,
        login: &str,
        graph: &str,
        arm: &str,
        suffix: &str,
        keyvault_suffix: &str,
    ) -> Self {
        Self {
            name: name.to_owned(),
            login: url(login),
            graph: url(graph),
            graph_audience: graph.to_owned(),
            arm: url(arm),
            arm_audience: arm.to_owned(),
            registry_suffix: suffix.to_owned(),
            ca_pem: None,
            registry_connect_addr: None,
            registry_port: None,
            keyvault_suffix: keyvault_suffix.to_owned(),
            keyvault_audience: format!("https://{keyvault_suffix}"),
            keyvault_connect_addr: None,
            resolve: Vec::new(),
        }
    }

    /// A cloud from `--cloud`: a built-in name (case-insensitive), or a path to a cloud file.
    pub fn from_arg(arg: &str) -> Result<Self> {
        match arg.to_ascii_lowercase().as_str() {
            "azurecloud" | "azurepubliccloud" | "public" => return Ok(Self::azure_public()),
            "azurechinacloud" | "china" => return Ok(Self::azure_china()),
            "azureusgovernment" | "usgov" => return Ok(Self::azure_us_government()),
            _ => {}
        }
        let path = Path::new(arg);
        if arg.contains(std::path::MAIN_SEPARATOR)
            || path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || path.exists()
        {
            return Self::from_file(path);
        }
        Err(Error::usage(format!(
            "unknown cloud {arg:?}: use one of {} or the path of a cloud file (JSON)",
            BUILT_IN.join(", ")
        )))
    }

    /// This cloud reached the way the user says: `resolve` rules (`--resolve`) and a CA file
    /// (`--ca-file`, PEM) trusted besides the system roots and the cloud file's `ca_file`.
    /// An endpoint that names a port other than 443 for a host a rule covers is refused.
    pub fn with_network(mut self, resolve: Vec<Resolve>, ca_file: Option<&Path>) -> Result<Self> {
        for endpoint in [&self.login, &self.graph, &self.arm] {
            resolve::check_url(&resolve, endpoint)?;
        }
        self.resolve = resolve;
        if let Some(path) = ca_file {
            let pem = read_pem(path).map_err(|why| Error::usage(format!("--ca-file: {why}")))?;
            let mut all = self.ca_pem.take().unwrap_or_default();
            if !all.is_empty() && !all.ends_with(b"\n") {
                all.push(b'\n');
            }
            all.extend_from_slice(&pem);
            self.ca_pem = Some(all);
        }
        Ok(self)
    }

    /// The scope for Graph tokens (`<audience>/.default`).
    pub fn graph_scope(&self) -> String {
        format!("{}/.default", self.graph_audience.trim_end_matches('/'))
    }

    /// The scope for ARM tokens (`<audience>/.default`).
    pub fn arm_scope(&self) -> String {
        format!("{}/.default", self.arm_audience.trim_end_matches('/'))
    }

    /// The scope for Key Vault tokens (`<audience>/.default`).
    pub fn keyvault_scope(&self) -> String {
        format!("{}/.default", self.keyvault_audience.trim_end_matches('/'))
    }

    /// The azure_identity cloud configuration (authority host).
    pub fn sdk_config(&self) -> CloudConfiguration {
        match self.name.as_str() {
            "AzureCloud" => CloudConfiguration::AzurePublic,
            "AzureChinaCloud" => CloudConfiguration::AzureChina,
            "AzureUSGovernment" => CloudConfiguration::AzureGovernment,
            _ => {
                let mut c = CustomConfiguration::default();
                self.login
                    .as_str()
                    .trim_end_matches('/')
                    .clone_into(&mut c.authority_host);
                CloudConfiguration::Custom(c)
            }
        }
    }

    /// A Graph v1.0 URL for `path` (which starts with `/`, may carry a query).
    pub fn graph_url(&self, path_and_query: &str) -> Result<Url> {
        join(&self.graph, &format!("/v1.0{path_and_query}"))
    }

    /// An ARM URL for `path_and_query` (which starts with `/`).
    pub fn arm_url(&self, path_and_query: &str) -> Result<Url> {
        join(&self.arm, path_and_query)
    }

    /// Whether `host` (without port) is exactly a registry host of this cloud:
    /// `<name>.<registry suffix>`, the name being a registry name (5 to 50 ASCII letters
    /// and digits, as Azure allows); ASCII case does not matter. Nothing else passes: no
    /// other label, dot, character or form — callers that take a login server with a port
    /// or from a URL use [`crate::registry::LoginServer`], which parses it as a URL first.
    pub fn is_registry_host(&self, host: &str) -> bool {
        let Some((name, suffix)) = host.split_once('.') else {
            return false;
        };
        (REGISTRY_NAME_MIN..=REGISTRY_NAME_MAX).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric())
            && suffix.eq_ignore_ascii_case(&self.registry_suffix)
    }
}

/// The shortest registry name Azure allows (Registries - Check Name Availability: "only
/// alphanumeric characters, … between 5 and 50 characters in length").
pub const REGISTRY_NAME_MIN: usize = 5;
/// The longest registry name Azure allows.
pub const REGISTRY_NAME_MAX: usize = 50;

fn join(base: &Url, path_and_query: &str) -> Result<Url> {
    let s = format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query);
    Url::parse(&s).map_err(|e| Error::usage(format!("cannot build a URL from {s:?}: {e}")))
}

/// Whether a host is on this machine (loopback), where plain http is tolerated.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Endpoints must be https, except on loopback; no credentials, query or fragment.
pub fn check_endpoint(url: &Url) -> std::result::Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(url) => {}
        "http" => return Err("must use https (http only on loopback addresses)".into()),
        other => return Err(format!("has scheme {other:?}; endpoints are https URLs")),
    }
    if url.host_str().is_none() {
        return Err("has no host".into());
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err("must be a plain base URL (no user, query or fragment)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn built_in_clouds_have_their_endpoints() {
        let p = Cloud::from_arg("AzureCloud").unwrap();
        assert_eq!(p.login.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(
            p.graph_url("/applications").unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/applications"
        );
        assert_eq!(
            p.arm_url("/subscriptions?api-version=2022-12-01")
                .unwrap()
                .as_str(),
            "https://management.azure.com/subscriptions?api-version=2022-12-01"
        );
        assert_eq!(p.graph_scope(), "https://graph.microsoft.com/.default");
        assert_eq!(p.arm_scope(), "https://management.azure.com/.default");
        assert_eq!(p.registry_suffix, "azurecr.io");
        assert_eq!(p.keyvault_suffix, "vault.azure.net");
        assert_eq!(p.keyvault_scope(), "https://vault.azure.net/.default");
        assert_eq!(p.sdk_config(), CloudConfiguration::AzurePublic);

        let c = Cloud::from_arg("azurechinacloud").unwrap();
        assert_eq!(c.name, "AzureChinaCloud");
        assert_eq!(c.login.host_str(), Some("login.chinacloudapi.cn"));
        assert_eq!(
            c.graph_scope(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        assert_eq!(
            c.arm_scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(c.registry_suffix, "azurecr.cn");
        assert_eq!(c.keyvault_suffix, "vault.azure.cn");
        assert_eq!(c.keyvault_scope(), "https://vault.azure.cn/.default");
        assert_eq!(c.sdk_config(), CloudConfiguration::AzureChina);

        let g = Cloud::from_arg("AzureUSGovernment").unwrap();
        assert_eq!(g.login.host_str(), Some("login.microsoftonline.us"));
        assert_eq!(g.graph.host_str(), Some("graph.microsoft.us"));
        assert_eq!(g.arm.host_str(), Some("management.usgovcloudapi.net"));
        assert_eq!(g.registry_suffix, "azurecr.us");
        assert_eq!(g.keyvault_suffix, "vault.usgovcloudapi.net");
        assert_eq!(
            g.keyvault_scope(),
            "https://vault.usgovcloudapi.net/.default"
        );
        assert!(g.is_registry_host("myreg.azurecr.us"));
        assert!(!g.is_registry_host("myreg.azurecr.io"));
        assert!(!g.is_registry_host("a.b.azurecr.us"));
        assert_eq!(g.registry_port, None);
    }

    #[test]
    fn registry_hosts_are_a_registry_name_and_the_suffix_exactly() {
        let c = Cloud::azure_public();
        for ok in [
            "myreg.azurecr.io",
            "MyReg2.AzureCR.io",
            &format!("{}.azurecr.io", "a".repeat(50)),
        ] {
            assert!(c.is_registry_host(ok), "{ok}");
        }
        for bad in [
            "",
            "azurecr.io",
            ".azurecr.io",
            "abcd.azurecr.io",
            &format!("{}.azurecr.io", "a".repeat(51)),
            "my-reg.azurecr.io",
            "my_reg.azurecr.io",
            "a.b.azurecr.io",
            "myreg.azurecr.io.",
            "myreg.azurecr.io.evil.com",
            "myreg.azurecr.iox",
            "myreg.azurecr.cn",
            "localhost/myreg.azurecr.io",
            "2130706433/myreg.azurecr.io",
            "127。0。0。1/myreg.azurecr.io",
            "host?myreg.azurecr.io",
            "user@myreg.azurecr.io",
            "myreg.azurecr.io:443",
            "myrég.azurecr.io",
            "myreg\u{3002}azurecr.io",
        ] {
            assert!(!c.is_registry_host(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_cloud_name_is_a_usage_error() {
        let e = Cloud::from_arg("AzureGermanCloud").unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Usage);
        assert!(e.message().contains("AzureChinaCloud"), "{e}");
    }

    pub(super) fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub(super) const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_built_in_cloud_reached_where_the_user_says() {
        let d = tempfile::tempdir().unwrap();
        let ca = write(d.path(), "ca.pem", PEM);
        let rules = Resolve::parse_list(
            "login.chinacloudapi.cn:443:127.0.0.1:8443,*.azurecr.cn:443:127.0.0.1:8443",
        )
        .unwrap();
        let c = Cloud::azure_china().with_network(rules, Some(&ca)).unwrap();
        assert_eq!(c.resolve.len(), 2);
        assert_eq!(c.ca_pem.as_deref(), Some(PEM.as_bytes()));
        assert_eq!(c.sdk_config(), CloudConfiguration::AzureChina);
        // A cloud file's CA and --ca-file are both trusted.
        write(d.path(), "other.pem", PEM);
        let f = write(
            d.path(),
            "cloud.json",
            r#"{"name":"X","login_endpoint":"https://login.example.com","graph_endpoint":"https://graph.example.com",
                "arm_endpoint":"https://arm.example.com:8443","registry_suffix":"azurecr.example","ca_file":"other.pem"}"#,
        );
        let both = Cloud::from_file(&f)
            .unwrap()
            .with_network(Vec::new(), Some(&ca))
            .unwrap();
        assert_eq!(
            String::from_utf8(both.ca_pem.unwrap())
                .unwrap()
                .matches("BEGIN CERTIFICATE")
                .count(),
            2
        );
        // A rule for a host an endpoint reaches on another port is refused.
        let e = Cloud::from_file(&f)
            .unwrap()
            .with_network(
                Resolve::parse_list("arm.example.com:443:127.0.0.1").unwrap(),
                None,
            )
            .unwrap_err();
        assert!(e.message().contains("arm.example.com:8443"), "{e}");
        let e = Cloud::azure_china()
            .with_network(Vec::new(), Some(&d.path().join("none.pem")))
            .unwrap_err();
        assert!(e.message().contains("--ca-file"), "{e}");
        let e = Cloud::azure_china()
            .with_network(Vec::new(), Some(&f))
            .unwrap_err();
        assert!(e.message().contains("no PEM certificate"), "{e}");
    }
}
