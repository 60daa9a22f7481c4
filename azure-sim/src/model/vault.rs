//! Key vaults and their secrets (`vaults[]`): each secret's versions, oldest first, with the
//! values in memory only (the state dump carries their SHA-256). Served by `keyvault/`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{GenericResource, Place, State, default_location, split_arm_id};
use crate::crypto::sha256_hex;

fn default_retention() -> u32 {
    90
}
fn default_true() -> bool {
    true
}

/// A key vault (Azure RBAC permission model, soft delete on).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Vault {
    /// ARM id (authoritative; name, subscription, group and tenant are derived from it).
    pub id: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// How long a deleted secret stays recoverable.
    #[serde(default = "default_retention")]
    pub soft_delete_retention_days: u32,
    #[serde(default)]
    pub secrets: Vec<VaultSecret>,
    #[serde(default, skip_deserializing)]
    pub name: String,
    #[serde(default, skip_deserializing)]
    pub tenant_id: String,
}

/// A secret: its versions, oldest first, and whether it is deleted (recoverable).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VaultSecret {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<SecretVersion>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
}

/// One version of a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SecretVersion {
    /// 32 lower-case hex digits.
    pub version: String,
    /// The value: in memory only, never written to the state dump.
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
    #[serde(default)]
    pub value_sha256: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Unix seconds.
    #[serde(default)]
    pub nbf: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub updated: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Derive names and tenants, hash scenario values, and make each vault a resource ARM knows
/// (a role-assignment scope); `sub_tenant` maps lower-case subscription ids to tenants.
pub(crate) fn normalize(
    state: &mut State,
    sub_tenant: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for v in &mut state.vaults {
        let (sub, rg, name) = split_arm_id(&v.id);
        anyhow::ensure!(
            !sub.is_empty() && !rg.is_empty() && valid_vault_name(&name),
            "bad key vault id {} (a vault name is 3-24 letters, digits and hyphens)",
            v.id
        );
        v.tenant_id = Place::of(&v.id, "key vault", sub_tenant)?.tenant;
        v.name = name.to_ascii_lowercase();
        for s in &mut v.secrets {
            for ver in &mut s.versions {
                if let Some(value) = &ver.value {
                    ver.value_sha256 = sha256_hex(value.as_bytes());
                }
            }
        }
        if !state
            .resources
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&v.id))
        {
            state.resources.push(GenericResource {
                id: v.id.clone(),
                location: v.location.clone(),
                properties: None,
            });
        }
    }
    Ok(())
}

/// Key Vault's naming rule: 3-24 characters, letters, digits and hyphens, starting with a letter,
/// not ending with a hyphen, no two hyphens in a row.
fn valid_vault_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::valid_vault_name;

    #[test]
    fn vault_names() {
        assert!(valid_vault_name("contoso-kv"));
        assert!(!valid_vault_name("kv"));
        assert!(!valid_vault_name("1kv"));
        assert!(!valid_vault_name("kv-"));
        assert!(!valid_vault_name("a--b"));
        assert!(!valid_vault_name("a.b.c"));
        assert!(!valid_vault_name(&"a".repeat(25)));
    }
}
