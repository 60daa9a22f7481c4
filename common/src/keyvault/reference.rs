//! A Key Vault secret's reference ([`SecretRef`]): parsed and validated, so that a bearer
//! token for the vault goes to the vault's own host only.

use std::fmt;

use reqwest::Method;
use url::Url;

use super::API_VERSION;
use crate::cloud::{BUILT_IN, Cloud};
use crate::error::{Error, Result};
use crate::http::{Auth, Request, Service, check_origin};

/// A secret in a key vault: `https://<vault>.<suffix>/secrets/<name>[/<version>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// `https://<vault>.<suffix>[:port]`, no trailing slash.
    pub(super) base: String,
    pub(super) vault: String,
    pub(super) name: String,
    pub(super) version: Option<String>,
    /// The envelope field or flag it came from, named in errors about it.
    pub(super) field: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/secrets/{}", self.base, self.name)?;
        if let Some(v) = &self.version {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Whether `name` is a key vault name: 3-24 letters, digits and hyphens, starting with a
/// letter, not ending with a hyphen, no two hyphens in a row.
pub fn is_vault_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether `name` is a secret name: 1-127 letters, digits and hyphens.
pub fn is_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether `v` is a secret version: 32 hex digits.
pub(super) fn is_version(v: &str) -> bool {
    v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit())
}

/// The vault's base URL and name, after checking everything but the path.
fn parse_vault(field: &str, value: &str, cloud: &Cloud) -> Result<(Url, String, String)> {
    let bad = |why: String| Error::input(field, format!("{field} {value:?} {why}"));
    if cloud.keyvault_suffix.is_empty() {
        return Err(Error::input(
            field,
            format!(
                "cloud {} has no Key Vault: add keyvault_suffix (and keyvault_audience) to its cloud file",
                cloud.name
            ),
        ));
    }
    let example = format!("https://myvault.{}/secrets/NAME", cloud.keyvault_suffix);
    if !value.is_ascii()
        || value
            .chars()
            .any(|c| c.is_ascii_control() || c.is_ascii_whitespace() || "\\%".contains(c))
        || value.contains("/.")
    {
        return Err(bad(format!(
            "has characters a key vault URL never has; give it as {example}"
        )));
    }
    let url = Url::parse(value).map_err(|e| bad(format!("is not a URL ({e}); give {example}")))?;
    if url.scheme() != "https" {
        return Err(bad(format!("must be an https URL such as {example}")));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad(format!(
            "must not carry user info, a query or a fragment; give it as {example}"
        )));
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(bad(format!(
            "must name a key vault host (<vault>.{}), not an address",
            cloud.keyvault_suffix
        )));
    };
    let host = host.to_ascii_lowercase();
    let vault = host
        .strip_suffix(&cloud.keyvault_suffix)
        .and_then(|rest| rest.strip_suffix('.'))
        .filter(|name| is_vault_name(name))
        .ok_or_else(|| {
            bad(format!(
                "is not a key vault of cloud {}: its host must be <vault>.{} with a vault name of 3-24 letters, digits and hyphens",
                cloud.name, cloud.keyvault_suffix
            ))
        })?
        .to_owned();
    // A custom cloud (the simulator) serves its vaults on its ARM endpoint's port; no other
    // port is taken, so a reference cannot aim the vault's name at another local server.
    let custom_port = cloud
        .arm
        .port()
        .filter(|_| !BUILT_IN.contains(&cloud.name.as_str()));
    let base = match url.port() {
        None | Some(443) => format!("https://{host}"),
        Some(p) if custom_port == Some(p) => format!("https://{host}:{p}"),
        Some(p) => {
            return Err(bad(format!(
                "names port {p}; Key Vault in {} listens on {} only",
                cloud.name,
                custom_port.map_or_else(|| "443".to_owned(), |c| format!("443 and {c}"))
            )));
        }
    };
    Ok((url, base, vault))
}

impl SecretRef {
    /// Parses a secret identifier `https://<vault>.<suffix>/secrets/<name>[/<version>]` from
    /// `field` (an envelope field or flag, named in the error).
    pub fn parse(field: &str, value: &str, cloud: &Cloud) -> Result<Self> {
        let (url, base, vault) = parse_vault(field, value, cloud)?;
        let segs: Vec<&str> = url.path().split('/').skip(1).collect();
        let (name, version) = match segs.as_slice() {
            ["secrets", name] => (*name, None),
            ["secrets", name, version] => (*name, Some(*version)),
            _ => {
                return Err(Error::input(
                    field,
                    format!(
                        "{field} {value:?} is not a secret identifier: its path must be /secrets/NAME or /secrets/NAME/VERSION"
                    ),
                ));
            }
        };
        Self::build(field, value, base, vault, name, version)
    }

    /// Parses where to write a secret: a vault URL (then the secret is `default_name`) or a
    /// vault URL with `/secrets/<name>`; a version is refused (writing makes a new one).
    pub fn parse_target(
        field: &str,
        value: &str,
        cloud: &Cloud,
        default_name: &str,
    ) -> Result<Self> {
        let (url, base, vault) = parse_vault(field, value, cloud)?;
        let segs: Vec<&str> = url.path().split('/').skip(1).collect();
        let name = match segs.as_slice() {
            [] | [""] => default_name,
            ["secrets", name] | ["secrets", name, ""] => name,
            _ => {
                return Err(Error::input(
                    field,
                    format!(
                        "{field} {value:?} must be a vault URL, optionally with /secrets/NAME (no version: writing makes a new one)"
                    ),
                ));
            }
        };
        Self::build(field, value, base, vault, name, None)
    }

    fn build(
        field: &str,
        value: &str,
        base: String,
        vault: String,
        name: &str,
        version: Option<&str>,
    ) -> Result<Self> {
        if !is_secret_name(name) {
            return Err(Error::input(
                field,
                format!(
                    "{field} {value:?}: secret name {name:?} is not valid: use 1-127 letters, digits and hyphens"
                ),
            ));
        }
        if let Some(v) = version
            && !is_version(v)
        {
            return Err(Error::input(
                field,
                format!(
                    "{field} {value:?}: version {v:?} is not a Key Vault version (32 hex digits)"
                ),
            ));
        }
        Ok(Self {
            base,
            vault,
            name: name.to_owned(),
            version: version.map(str::to_ascii_lowercase),
            field: field.to_owned(),
        })
    }

    /// The vault's name.
    pub fn vault(&self) -> &str {
        &self.vault
    }

    /// The vault's URL, e.g. `https://myvault.vault.azure.net`.
    pub fn vault_url(&self) -> &str {
        &self.base
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, if the reference names one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The same secret at `version`.
    #[must_use]
    pub fn at_version(&self, version: &str) -> Self {
        Self {
            version: Some(version.to_ascii_lowercase()),
            ..self.clone()
        }
    }

    /// A request to this secret's vault, as Key Vault's own service: refused (code
    /// `UntrustedOrigin`) unless `url` is on the vault's origin, so its token goes nowhere else.
    pub(super) fn request(&self, method: Method, url: Url, auth: Auth) -> Result<Request> {
        let origin = Url::parse(&self.base).map_err(|e| {
            Error::usage(format!("cannot parse the vault URL {:?}: {e}", self.base))
        })?;
        check_origin(
            &url,
            &origin,
            &format!("the URL for key vault {}", self.vault),
        )?;
        Ok(Request::new(method, url, Service::KeyVault, auth))
    }

    pub(super) fn url(&self, suffix: &str) -> Result<Url> {
        let s = format!("{self}{suffix}?api-version={API_VERSION}");
        Url::parse(&s).map_err(|e| Error::usage(format!("cannot build a URL from {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn sim_cloud() -> Cloud {
        let mut c = Cloud::azure_public();
        c.name = "AzureSim".into();
        c.arm = Url::parse("https://127.0.0.1:8443").unwrap();
        c.keyvault_suffix = "vault.azure.sim".into();
        c
    }

    #[test]
    fn parses_identifiers_of_the_clouds_vaults() {
        let p = Cloud::azure_public();
        let r = SecretRef::parse(
            "client_secret_ref",
            "https://Contoso-KV.vault.azure.net/secrets/app-1/0123456789abcdef0123456789ABCDEF",
            &p,
        )
        .unwrap();
        assert_eq!(r.vault(), "contoso-kv");
        assert_eq!(r.name(), "app-1");
        assert_eq!(r.version(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(
            r.to_string(),
            "https://contoso-kv.vault.azure.net/secrets/app-1/0123456789abcdef0123456789abcdef"
        );
        let latest =
            SecretRef::parse("f", "https://kv1.vault.azure.net:443/secrets/x", &p).unwrap();
        assert_eq!(latest.version(), None);
        assert_eq!(latest.vault_url(), "https://kv1.vault.azure.net");
        let china = Cloud::azure_china();
        assert!(SecretRef::parse("f", "https://kv1.vault.azure.cn/secrets/x", &china).is_ok());
        assert!(SecretRef::parse("f", "https://kv1.vault.azure.net/secrets/x", &china).is_err());
        let sim = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.sim:8443/secrets/x",
            &sim_cloud(),
        )
        .unwrap();
        assert_eq!(sim.vault_url(), "https://kv1.vault.azure.sim:8443");
        // Only the simulator's own port: not another local server's.
        assert!(
            SecretRef::parse(
                "f",
                "https://kv1.vault.azure.sim:9443/secrets/x",
                &sim_cloud()
            )
            .is_err()
        );
    }

    /// A vault request is Key Vault's own, and only on the vault's origin: a URL elsewhere
    /// (another vault included) is refused before anything is sent.
    #[test]
    fn requests_go_only_to_the_vaults_own_origin() {
        let cloud = sim_cloud();
        let r = SecretRef::parse(
            "client_secret_ref",
            "https://kv1.vault.azure.sim:8443/secrets/x",
            &cloud,
        )
        .unwrap();
        let req = r
            .request(Method::GET, r.url("").unwrap(), Auth::None)
            .unwrap();
        assert_eq!(req.service, Service::KeyVault);
        for other in [
            "https://kv2.vault.azure.sim:8443/secrets/x",
            "https://kv1.vault.azure.sim/secrets/x",
            "https://kv1.vault.azure.sim:8444/secrets/x",
            "http://kv1.vault.azure.sim:8443/secrets/x",
            "https://127.0.0.1:8443/secrets/x",
        ] {
            let Err(e) = r.request(Method::GET, Url::parse(other).unwrap(), Auth::None) else {
                panic!("{other} was not refused");
            };
            assert_eq!(e.code(), "UntrustedOrigin", "{other}: {e}");
            assert!(e.message().contains("key vault kv1"), "{e}");
        }
    }

    #[test]
    fn refuses_anything_that_could_send_the_token_elsewhere() {
        let p = Cloud::azure_public();
        for bad in [
            "http://kv1.vault.azure.net/secrets/x",
            "https://user@kv1.vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net@evil.com/secrets/x",
            "https://evil.com\\@kv1.vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net.evil.com/secrets/x",
            "https://evil.com/kv1.vault.azure.net/secrets/x",
            "https://evil.com?kv1.vault.azure.net/secrets/x",
            "https://evil.com#kv1.vault.azure.net/secrets/x",
            "https://a.b.vault.azure.net/secrets/x",
            "https://vault.azure.net/secrets/x",
            "https://127.0.0.1/secrets/x",
            "https://2130706433/secrets/x",
            "https://[::1]/secrets/x",
            "https://kv1\u{ff0e}vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net:8443/secrets/x",
            "https://kv1.vault.azure.net/secrets/x?api-version=1",
            "https://kv1.vault.azure.net/secrets/../keys/x",
            "https://kv1.vault.azure.net/secrets/%2e%2e/x",
            "https://kv1.vault.azure.net/keys/x",
            "https://kv1.vault.azure.net/secrets/a_b",
            "https://kv1.vault.azure.net/secrets/x/notaversion",
            "https://kv1.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef/more",
            "https://k.vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net",
            " https://kv1.vault.azure.net/secrets/x",
        ] {
            let e = SecretRef::parse("client_secret_ref", bad, &p).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Input { field } if field == "client_secret_ref"),
                "{bad}: {e:?}"
            );
            assert!(e.message().contains("client_secret_ref"), "{bad}: {e}");
        }
        let e = SecretRef::parse("f", "https://kv1.vault.azure.net/secrets/x", &{
            let mut c = sim_cloud();
            c.keyvault_suffix.clear();
            c
        })
        .unwrap_err();
        assert!(e.message().contains("keyvault_suffix"), "{e}");
    }

    #[test]
    fn write_targets_default_the_name_and_refuse_a_version() {
        let p = Cloud::azure_public();
        let t = SecretRef::parse_target(
            "secret_keyvault",
            "https://kv1.vault.azure.net/",
            &p,
            "xtenant-app",
        )
        .unwrap();
        assert_eq!(
            t.to_string(),
            "https://kv1.vault.azure.net/secrets/xtenant-app"
        );
        let t = SecretRef::parse_target(
            "secret_keyvault",
            "https://kv1.vault.azure.net/secrets/mine",
            &p,
            "d",
        )
        .unwrap();
        assert_eq!(t.name(), "mine");
        assert!(
            SecretRef::parse_target(
                "secret_keyvault",
                "https://kv1.vault.azure.net/secrets/mine/0123456789abcdef0123456789abcdef",
                &p,
                "d"
            )
            .is_err()
        );
        assert!(
            SecretRef::parse_target(
                "secret_keyvault",
                "https://kv1.vault.azure.net/",
                &p,
                "bad_name"
            )
            .is_err()
        );
    }
}
