//! [`Image`]: an image reference, its registry (if named) a [`LoginServer`] of the cloud.

use super::LoginServer;
use crate::cloud::Cloud;
use crate::error::{Error, Result};
use crate::validate::shown;

/// An image reference: registry, repository, tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The login server, when the reference names one (validated as a [`LoginServer`],
    /// kept as its text).
    pub login_server: Option<String>,
    /// The repository, e.g. `samples/hello`.
    pub repository: String,
    /// The tag or `sha256:` digest.
    pub reference: String,
}

impl Image {
    /// Parses `<login server>/<repo>:<tag>`, `<repo>:<tag>` or `…@sha256:…`.
    pub fn parse(field: &str, value: &str, cloud: &Cloud) -> Result<Self> {
        let bad = |why: &str| {
            Error::input(
                field,
                format!(
                    "`{field}` {why}: {} (expected <login server>/<repository>:<tag> or <repository>:<tag>)",
                    shown(value)
                ),
            )
        };
        let v = value.trim();
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("is not an image reference"));
        }
        let (rest, reference) = if let Some((r, d)) = v.split_once('@') {
            (r, d.to_owned())
        } else {
            match v.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r, t.to_owned()),
                _ => return Err(bad("has no tag")),
            }
        };
        // The first component names a registry when it looks like a host (Docker's rule:
        // a dot, a port, or `localhost`); it must then be a login server of this cloud.
        let (login_server, repository) = match rest.split_once('/') {
            Some((host, repo))
                if host.contains('.')
                    || host.contains(':')
                    || host.eq_ignore_ascii_case("localhost") =>
            {
                let server = LoginServer::parse(field, host, cloud).map_err(|_| {
                    bad(&format!(
                        "names a registry outside this cloud (not <name>.{})",
                        cloud.registry_suffix
                    ))
                })?;
                (Some(server.to_string()), repo.to_owned())
            }
            _ => (None, rest.to_owned()),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|p| {
                !p.is_empty()
                    && p != "."
                    && p != ".."
                    && p.bytes().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c)
                    })
            });
        if !repo_ok {
            return Err(bad(
                "has an invalid repository (lower-case letters, digits, . _ - and /)",
            ));
        }
        let ref_ok = if let Some(hex) = reference.strip_prefix("sha256:") {
            hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit())
        } else {
            !reference.is_empty()
                && reference.len() <= 128
                && reference
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
        };
        if !ref_ok {
            return Err(bad("has an invalid tag or digest"));
        }
        Ok(Self {
            login_server,
            repository,
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::sim_cloud;

    #[test]
    fn image_registries_are_login_servers_of_the_cloud() {
        let sim = sim_cloud();
        let i = Image::parse(
            "registry_image",
            "FabrikamACR.azurecr.sim:8443/samples/hello:1",
            &sim,
        )
        .unwrap();
        assert_eq!(
            i.login_server.as_deref(),
            Some("fabrikamacr.azurecr.sim:8443")
        );
        for bad in [
            "localhost/samples/hello:1",
            "localhost:8443/samples/hello:1",
            "127.0.0.1:8443/samples/hello:1",
            "fabrikamacr.azurecr.sim.evil.com/samples/hello:1",
            "fabrikamacr.azurecr.sim:9/samples/hello:1",
            "user@fabrikamacr.azurecr.sim/samples/hello:1",
        ] {
            let e = Image::parse("registry_image", bad, &sim).unwrap_err();
            assert!(e.message().contains("registry_image"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_image_references() {
        let c = Cloud::azure_public();
        assert_eq!(
            Image::parse("image", "myreg.azurecr.io/samples/hello:1.0", &c).unwrap(),
            Image {
                login_server: Some("myreg.azurecr.io".into()),
                repository: "samples/hello".into(),
                reference: "1.0".into()
            }
        );
        assert_eq!(
            Image::parse("image", "hello:latest", &c)
                .unwrap()
                .login_server,
            None
        );
        let digest = format!("hello@sha256:{}", "a".repeat(64));
        assert_eq!(
            Image::parse("image", &digest, &c).unwrap().reference,
            format!("sha256:{}", "a".repeat(64))
        );
        for bad in [
            "hello",
            "docker.io/library/x:1",
            "UPPER:1",
            "a/../b:1",
            "x:",
            "a b:1",
            "x:bad tag",
        ] {
            let e = Image::parse("image", bad, &c).unwrap_err();
            assert!(e.message().contains("image"), "{bad}");
        }
    }
}
