//! What Key Vault's answers mean: the tenant its challenge names, and its refusals turned
//! into errors that say what to do.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{READ_ROLE, SecretRef, WRITE_ROLE};
use crate::error::{Error, ErrorKind, codes};
use crate::http::{ErrorBody, Response};
use crate::json::{Maybe, lenient};
use crate::secret::Secret;

/// A secret as Key Vault answers a read or a write of it (no `Debug`: it holds the value).
#[derive(Deserialize)]
pub(super) struct SecretBundle {
    /// `https://<vault>/secrets/<name>/<version>`: which version this is.
    pub(super) id: String,
    /// The value, straight into the redacting type (a read decides on it; checked where
    /// it is taken).
    #[serde(default)]
    pub(super) value: Option<Secret>,
    /// Its tags; a tag whose value is not text is left out.
    #[serde(default, deserialize_with = "lenient")]
    tags: BTreeMap<String, Maybe<String>>,
}

impl SecretBundle {
    /// The tags with text values.
    pub(super) fn tags(&mut self) -> BTreeMap<String, String> {
        std::mem::take(&mut self.tags)
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.ok()?)))
            .collect()
    }
}

/// A quoted parameter of a Key Vault challenge (`Bearer authorization="…", resource="…"`).
pub(super) fn challenge_param(resp: &Response, name: &str) -> Option<String> {
    let h = resp.header("www-authenticate")?;
    let key = format!("{name}=\"");
    let start = h.find(&key)? + key.len();
    let quoted = &h[start..];
    Some(quoted[..quoted.find('"')?].to_owned())
}

/// The tenant named in a Key Vault challenge (`Bearer authorization="<login>/<tenant>", ...`).
pub(super) fn challenge_tenant(resp: &Response) -> Option<String> {
    let uri = challenge_param(resp, "authorization")?;
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// What a refusal of the vault means, and what to do about it.
pub(super) fn explain(resp: &Response, r: &SecretRef, tenant: &str, write: bool) -> Error {
    // Key Vault's error body, `{"error": {"code", "message", "innererror": {"code"}}}`.
    let refusal = ErrorBody::parts(&resp.body).unwrap_or_default();
    let code = refusal.code;
    let inner = refusal.inner_code.as_deref().unwrap_or("");
    let azure_message = refusal.message.lines().next().unwrap_or("").to_owned();
    let vault = &r.vault;
    let (what, role) = if write {
        ("write secrets to", WRITE_ROLE)
    } else {
        ("read secrets of", READ_ROLE)
    };
    let status = resp.status;
    // Key Vault's own code when it sent one, else ours (never a code made up here).
    let err = |code: &str, message: String| {
        let kind = ErrorKind::Http { status };
        if code.is_empty() {
            Error::new(kind, codes::KEY_VAULT_ERROR, message)
        } else {
            Error::azure(kind, code, message)
        }
        .with_request_id(resp.header("x-ms-request-id").map(str::to_owned))
    };
    match (status, inner) {
        (401, _) => {
            let vault_tenant = challenge_tenant(resp);
            let msg = match &vault_tenant {
                Some(t) if !t.eq_ignore_ascii_case(tenant) => format!(
                    "key vault {vault} belongs to tenant {t}, but the token was for tenant {tenant}: {azure_message}"
                ),
                _ => format!("key vault {vault} refused the token of tenant {tenant}: {azure_message}"),
            };
            err(&code, msg).with_hint(format!(
                "sign in to the vault's tenant{} with an identity that holds {role} on the vault",
                vault_tenant.map(|t| format!(" ({t})")).unwrap_or_default()
            ))
        }
        (403, "SecretDisabled") => err(
            inner,
            format!("secret {} in key vault {vault} is disabled: {azure_message}", r.name),
        )
        .with_hint("enable that version of the secret, or use another version"),
        (403, _) => err(
            &code,
            format!(
                "the identity may not {what} key vault {vault}: it needs the role {role} on the vault (or on secret {}) [{inner}]",
                r.name
            ),
        )
        .with_hint(format!(
            "ask the vault's owner: az role assignment create --role \"{role}\" --assignee <this identity's app id> --scope <the vault's resource id>; a new assignment takes a few minutes to apply"
        )),
        (404, _) => err(
            &code,
            format!("{r} was not found in key vault {vault}: {azure_message}"),
        ),
        (409, _) => err(
            if inner.is_empty() { &code } else { inner },
            format!(
                "secret {} in key vault {vault} is deleted but recoverable, so its name cannot be reused: {azure_message}",
                r.name
            ),
        )
        .with_hint(format!(
            "recover it (az keyvault secret recover --vault-name {vault} --name {n}), purge it (az keyvault secret purge --vault-name {vault} --name {n}), or write to another secret name",
            n = r.name
        )),
        _ => err(
            &code,
            format!("key vault {vault} answered {status}: {azure_message}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use serde_json::json;

    #[test]
    fn a_secret_bundle_needs_its_id_and_reads_tags_leniently() {
        let body = json!({"value": "s3cret", "id": "https://v.vault.azure.net/secrets/n/0123456789abcdef0123456789abcdef", "attributes": {"enabled": true}, "tags": {"a": "1", "b": 2}});
        let mut b: SecretBundle =
            crate::json::read(&body, codes::KEY_VAULT_BAD_ANSWER, "Key Vault").unwrap();
        assert!(b.id.ends_with("/secrets/n/0123456789abcdef0123456789abcdef"));
        assert_eq!(b.value.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(
            b.tags().into_iter().collect::<Vec<_>>(),
            [("a".to_owned(), "1".to_owned())]
        );
        let Err(e) = crate::json::read::<SecretBundle>(
            &json!({"value": "s3cret"}),
            codes::KEY_VAULT_BAD_ANSWER,
            "Key Vault's answer for v/n",
        ) else {
            panic!("a bundle without an id was read");
        };
        assert_eq!(e.code(), "KeyVaultBadAnswer");
        assert!(e.message().contains("missing field `id`"), "{e}");
        assert!(!e.message().contains("s3cret"), "{e}");
    }

    #[test]
    fn challenge_names_the_vault_tenant() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "www-authenticate",
            "Bearer authorization=\"https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47\", resource=\"https://vault.azure.net\""
                .parse()
                .unwrap(),
        );
        let resp = Response {
            status: 401,
            headers,
            body: json!({"error": {"code": "Unauthorized", "message": "AKV10032: Invalid issuer."}}),
        };
        assert_eq!(
            challenge_tenant(&resp).as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        let r = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef",
            &Cloud::azure_public(),
        )
        .unwrap();
        let e = explain(&resp, &r, "other-tenant", false);
        assert!(
            e.message().contains("72f988bf-86f1-41af-91ab-2d7cd011db47"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains(READ_ROLE));
    }

    /// The recorded RBAC refusal: Key Vault's code, its inner cause named, the role to ask for.
    #[test]
    fn a_recorded_rbac_refusal_names_the_role() {
        let resp = Response {
            status: 403,
            headers: reqwest::header::HeaderMap::new(),
            body: serde_json::from_str(include_str!(
                "../../tests/fixtures/error-bodies/keyvault-403-forbidden-by-rbac.json"
            ))
            .unwrap(),
        };
        let r = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/x",
            &Cloud::azure_public(),
        )
        .unwrap();
        let e = explain(&resp, &r, "t", false);
        assert_eq!((e.code(), e.status()), ("Forbidden", Some(403)));
        assert!(e.message().ends_with("[ForbiddenByRbac]"), "{e}");
        assert!(e.hint().unwrap().contains(READ_ROLE), "{e:?}");
    }

    /// A refusal without a body (a proxy's 401/403/404/409/500): the registered
    /// `KeyVaultError`, never a code made up per status, and never an empty one.
    #[test]
    fn a_refusal_without_a_code_is_key_vault_error() {
        let r = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/x",
            &Cloud::azure_public(),
        )
        .unwrap();
        for status in [401, 403, 404, 409, 500] {
            let resp = Response {
                status,
                headers: reqwest::header::HeaderMap::new(),
                body: serde_json::Value::Null,
            };
            let e = explain(&resp, &r, "t", true);
            assert!(e.is(codes::KEY_VAULT_ERROR), "{status}: {e:?}");
            assert_eq!(e.status(), Some(status));
            assert!(e.message().contains("kv1"), "{e}");
        }
    }

    #[test]
    fn a_deleted_name_is_explained_with_the_way_out() {
        let resp = Response {
            status: 409,
            headers: reqwest::header::HeaderMap::new(),
            body: json!({"error": {"code": "Conflict", "message": "Secret x is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", "innererror": {"code": "ObjectIsDeletedButRecoverable"}}}),
        };
        let r = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/x",
            &Cloud::azure_public(),
        )
        .unwrap();
        let e = explain(&resp, &r, "t", true);
        assert_eq!(e.code(), "ObjectIsDeletedButRecoverable");
        assert_eq!(e.status(), Some(409));
        assert!(e.message().contains("kv1"), "{e}");
        assert!(
            e.hint()
                .unwrap()
                .contains("az keyvault secret recover --vault-name kv1 --name x")
        );
    }
}
