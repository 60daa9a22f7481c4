//! A custom cloud's file (`--cloud <path>`): read, every endpoint checked, its CA loaded.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use super::{Cloud, check_endpoint};
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudFile {
    name: String,
    login_endpoint: String,
    graph_endpoint: String,
    graph_audience: Option<String>,
    arm_endpoint: String,
    arm_audience: Option<String>,
    registry_suffix: String,
    ca_file: Option<PathBuf>,
    registry_connect_addr: Option<String>,
    registry_port: Option<u16>,
    keyvault_suffix: Option<String>,
    keyvault_audience: Option<String>,
    keyvault_connect_addr: Option<String>,
}

impl Cloud {
    /// Reads a custom cloud file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read cloud file {shown}: {e}")))?;
        let f: CloudFile = serde_json::from_str(&text)
            .map_err(|e| Error::usage(format!("cloud file {shown} is not valid: {e}")))?;
        let bad = |what: String| Error::usage(format!("cloud file {shown}: {what}"));
        if f.name.trim().is_empty() {
            return Err(bad("`name` is empty".into()));
        }
        let endpoint = |key: &str, value: &str| -> Result<Url> {
            let u = Url::parse(value)
                .map_err(|e| bad(format!("`{key}` is not a URL ({e}): {value:?}")))?;
            check_endpoint(&u).map_err(|why| bad(format!("`{key}` {why}: {value:?}")))?;
            Ok(u)
        };
        let login = endpoint("login_endpoint", &f.login_endpoint)?;
        let graph = endpoint("graph_endpoint", &f.graph_endpoint)?;
        let arm = endpoint("arm_endpoint", &f.arm_endpoint)?;
        let suffix = f.registry_suffix.trim_start_matches('.').to_owned();
        if suffix.is_empty() || !suffix.contains('.') {
            return Err(bad(format!(
                "`registry_suffix` must be a DNS suffix such as azurecr.io, got {suffix:?}"
            )));
        }
        let ca_pem = match f.ca_file {
            Some(ca) => {
                let ca = if ca.is_relative() {
                    path.parent().unwrap_or(Path::new(".")).join(ca)
                } else {
                    ca
                };
                let pem = read_pem(&ca).map_err(|why| bad(format!("`ca_file` {why}")))?;
                Some(pem)
            }
            None => None,
        };
        let registry_connect_addr = match f.registry_connect_addr {
            Some(a) => {
                let ip = a
                    .parse::<IpAddr>()
                    .or_else(|_| a.parse::<std::net::SocketAddr>().map(|s| s.ip()))
                    .map_err(|_| {
                        bad(format!(
                            "`registry_connect_addr` must be an IP address, got {a:?}"
                        ))
                    })?;
                Some(ip)
            }
            None => None,
        };
        let registry_port = f.registry_port.or_else(|| arm.port());
        let (keyvault_suffix, keyvault_audience, keyvault_connect_addr) = keyvault_keys(
            f.keyvault_suffix,
            f.keyvault_audience,
            f.keyvault_connect_addr,
        )
        .map_err(bad)?;
        Ok(Self {
            name: f.name,
            graph_audience: f.graph_audience.unwrap_or_else(|| f.graph_endpoint.clone()),
            arm_audience: f.arm_audience.unwrap_or_else(|| f.arm_endpoint.clone()),
            login,
            graph,
            arm,
            registry_suffix: suffix,
            ca_pem,
            registry_connect_addr,
            registry_port,
            keyvault_suffix,
            keyvault_audience,
            keyvault_connect_addr,
            resolve: Vec::new(),
        })
    }
}

/// A PEM file holding at least one certificate; the error says which file and why.
pub(super) fn read_pem(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(pem)
}

/// The cloud file's optional Key Vault keys: suffix, audience (default `https://<suffix>`) and
/// connect address; an audience or address without a suffix is a mistake worth naming.
fn keyvault_keys(
    suffix: Option<String>,
    audience: Option<String>,
    connect: Option<String>,
) -> std::result::Result<(String, String, Option<IpAddr>), String> {
    let Some(suffix) = suffix else {
        if audience.is_some() || connect.is_some() {
            return Err(
                "`keyvault_audience` and `keyvault_connect_addr` need `keyvault_suffix` (e.g. vault.azure.net)"
                    .into(),
            );
        }
        return Ok((String::new(), String::new(), None));
    };
    let suffix = suffix.trim_start_matches('.').to_ascii_lowercase();
    let dns_ok = suffix.contains('.')
        && suffix.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !dns_ok {
        return Err(format!(
            "`keyvault_suffix` must be a DNS suffix such as vault.azure.net, got {suffix:?}"
        ));
    }
    let audience = audience.unwrap_or_else(|| format!("https://{suffix}"));
    let aud_url = Url::parse(&audience)
        .map_err(|e| format!("`keyvault_audience` is not a URL ({e}): {audience:?}"))?;
    if aud_url.scheme() != "https" || aud_url.host_str().is_none() {
        return Err(format!(
            "`keyvault_audience` must be an https URL such as https://vault.azure.net, got {audience:?}"
        ));
    }
    let connect = match connect {
        Some(a) => Some(
            a.parse::<IpAddr>()
                .map_err(|_| format!("`keyvault_connect_addr` must be an IP address, got {a:?}"))?,
        ),
        None => None,
    };
    Ok((suffix, audience, connect))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::tests::{PEM, write};
    use crate::exit::ExitCode;
    use azure_core::cloud::CloudConfiguration;

    #[test]
    fn custom_cloud_file() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "ca.pem", PEM);
        let f = write(
            d.path(),
            "cloud.json",
            r#"{"name":"AzureSim","login_endpoint":"https://127.0.0.1:8443","graph_endpoint":"https://127.0.0.1:8443",
                "graph_audience":"https://graph.microsoft.com","arm_endpoint":"https://127.0.0.1:8443",
                "arm_audience":"https://management.azure.com/","registry_suffix":"azurecr.sim","ca_file":"ca.pem",
                "registry_connect_addr":"127.0.0.1","keyvault_suffix":"vault.azure.sim",
                "keyvault_audience":"https://vault.azure.net","keyvault_connect_addr":"127.0.0.1"}"#,
        );
        let c = Cloud::from_arg(f.to_str().unwrap()).unwrap();
        assert_eq!(c.name, "AzureSim");
        assert_eq!(
            c.graph_url("/me").unwrap().as_str(),
            "https://127.0.0.1:8443/v1.0/me"
        );
        assert_eq!(c.arm_scope(), "https://management.azure.com/.default");
        assert_eq!(c.graph_scope(), "https://graph.microsoft.com/.default");
        assert_eq!(c.ca_pem.as_deref(), Some(PEM.as_bytes()));
        assert_eq!(c.registry_connect_addr, Some("127.0.0.1".parse().unwrap()));
        assert!(c.is_registry_host("fabrikamacr.azurecr.sim"));
        assert_eq!(c.keyvault_suffix, "vault.azure.sim");
        assert_eq!(c.keyvault_scope(), "https://vault.azure.net/.default");
        assert_eq!(c.keyvault_connect_addr, Some("127.0.0.1".parse().unwrap()));
        assert!(matches!(c.sdk_config(), CloudConfiguration::Custom(_)));
        // No registry_port: the ARM endpoint's port (one port serves everything).
        assert_eq!(c.registry_port, Some(8443));
        let f = write(
            d.path(),
            "cloud2.json",
            r#"{"name":"X","login_endpoint":"https://login.example.com","graph_endpoint":"https://graph.example.com",
                "arm_endpoint":"https://arm.example.com","registry_suffix":"azurecr.example","registry_port":5000}"#,
        );
        assert_eq!(Cloud::from_file(&f).unwrap().registry_port, Some(5000));
        let f = write(
            d.path(),
            "cloud3.json",
            r#"{"name":"X","login_endpoint":"https://login.example.com","graph_endpoint":"https://graph.example.com",
                "arm_endpoint":"https://arm.example.com","registry_suffix":"azurecr.example"}"#,
        );
        assert_eq!(Cloud::from_file(&f).unwrap().registry_port, None);
    }

    #[test]
    fn custom_cloud_file_errors() {
        let d = tempfile::tempdir().unwrap();
        let base = r#""name":"X","login_endpoint":"https://login.example.com","graph_endpoint":"https://graph.example.com","arm_endpoint":"https://arm.example.com","registry_suffix":"azurecr.example""#;
        let cases = [
            ("missing.json", None, "cannot read cloud file"),
            ("notjson.json", Some("{".to_owned()), "not valid"),
            (
                "unknownkey.json",
                Some(format!("{{{base},\"graf\":1}}")),
                "unknown field",
            ),
            (
                "http.json",
                Some(format!(
                    "{{{}}}",
                    base.replace("https://arm.example.com", "http://arm.example.com")
                )),
                "must use https",
            ),
            (
                "httploop.json",
                Some(format!(
                    "{{{}}}",
                    base.replace("https://arm.example.com", "http://127.0.0.1:9")
                )),
                "",
            ),
            (
                "ftp.json",
                Some(format!(
                    "{{{}}}",
                    base.replace("https://graph.example.com", "ftp://graph.example.com")
                )),
                "scheme",
            ),
            (
                "suffix.json",
                Some(format!("{{{}}}", base.replace("azurecr.example", "local"))),
                "registry_suffix",
            ),
            (
                "noca.json",
                Some(format!("{{{base},\"ca_file\":\"nope.pem\"}}")),
                "ca_file",
            ),
            (
                "badaddr.json",
                Some(format!(
                    "{{{base},\"registry_connect_addr\":\"localhost\"}}"
                )),
                "registry_connect_addr",
            ),
            (
                "kvsuffix.json",
                Some(format!("{{{base},\"keyvault_suffix\":\"vault\"}}")),
                "keyvault_suffix",
            ),
            (
                "kvaudience.json",
                Some(format!(
                    "{{{base},\"keyvault_suffix\":\"vault.example\",\"keyvault_audience\":\"http://vault.example\"}}"
                )),
                "keyvault_audience",
            ),
            (
                "kvaddr.json",
                Some(format!(
                    "{{{base},\"keyvault_suffix\":\"vault.example\",\"keyvault_connect_addr\":\"localhost\"}}"
                )),
                "keyvault_connect_addr",
            ),
            (
                "kvorphan.json",
                Some(format!(
                    "{{{base},\"keyvault_audience\":\"https://vault.example\"}}"
                )),
                "keyvault_suffix",
            ),
            (
                "noname.json",
                Some(format!("{{{}}}", base.replace("\"X\"", "\" \""))),
                "name",
            ),
        ];
        for (name, text, expected) in cases {
            let p = match text {
                Some(t) => write(d.path(), name, &t),
                None => d.path().join(name),
            };
            let r = Cloud::from_file(&p);
            if expected.is_empty() {
                assert!(r.is_ok(), "{name}: {:?}", r.err());
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.exit_code(), ExitCode::Usage, "{name}");
                assert!(e.message().contains(expected), "{name}: {e}");
            }
        }
    }
}
