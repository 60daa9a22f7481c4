//! The certificate authority and the server certificate made at start.
//!
//! The leaf covers `127.0.0.1`, `localhost` and the presented cloud's names: `*.azurecr.sim` and
//! `*.vault.azure.sim`, or in China `login.chinacloudapi.cn`, `microsoftgraph.chinacloudapi.cn`,
//! `management.chinacloudapi.cn`, `*.azurecr.cn` and `*.vault.azure.cn` — so a client trusting
//! `ca.pem` can reach the simulator by IP, each service by its host, each registry by its login
//! server name and each key vault by its host.

use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA's PEM and a server TLS configuration.
pub(crate) struct Tls {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

/// Make a CA and a leaf certificate signed by it, valid for `localhost`, `127.0.0.1`, the
/// listening address `ip` and `names`.
pub(crate) fn make(names: &[String], ip: std::net::IpAddr) -> anyhow::Result<Tls> {
    let now = time::OffsetDateTime::now_utc();
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "azure-sim CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "azure-sim");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(365);
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca_cert = ca.self_signed(&ca_key).context("self-signing the CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let mut dns = vec!["localhost".to_string()];
    dns.extend_from_slice(names);
    let mut leaf = CertificateParams::new(dns)?;
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    leaf.subject_alt_names.push(SanType::IpAddress(loopback));
    if ip != loopback {
        leaf.subject_alt_names.push(SanType::IpAddress(ip));
    }
    leaf.distinguished_name
        .push(DnType::CommonName, "azure-sim");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::days(90);
    let leaf_key = KeyPair::generate().context("generating the server key")?;
    let leaf_cert = leaf
        .signed_by(&leaf_key, &issuer)
        .context("signing the server certificate")?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                leaf_cert.der().clone(),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .context("server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}
