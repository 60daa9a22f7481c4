//! The app's keys as the read that showed its record showed them: Azure's own answer (not a
//! claim) of which keys an entry's displaced keys (`was`) can still be.
//!
//! A key the app no longer has cannot be what a cluster authenticates with, and no prune can
//! delete it: an entry need not keep naming it for a prune's sake. But the cluster may hold
//! it (another run's reset to it may have landed before it was removed): an entry that named
//! it is not trusted as held, and must stay so, or a rerun would skip the reset that mends a
//! cluster holding a removed key. So [`Entry::without_gone`] drops such keys from `was`
//! but keeps the least of them while no other key of `was` is left: an entry with a `was`
//! key is never trusted (a reset, never "nothing to do" nor a confirmed switch).
//!
//! The keys are read in the same answer as the tags a write is made from (one version of one
//! object): an entry naming a key minted after an older read of the keys is never taken for
//! one naming a removed key. Graph mints a key's id (`addPassword`): a removed id does not
//! come back.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::Entry;
use crate::graph::PasswordCredential;
use crate::json::object;
use crate::validate::is_guid;

/// The part of an application's body that names its keys (`$select=…,passwordCredentials`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    password_credentials: Option<Vec<PasswordCredential>>,
}

/// The key ids (lower case) of the app's password credentials, or unknown (the read did not
/// ask for them, or one had no key id): then every key may be the app's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppKeys(Option<BTreeSet<String>>);

impl AppKeys {
    /// The keys `ids` (any case).
    pub fn known<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        Self(Some(ids.into_iter().map(str::to_ascii_lowercase).collect()))
    }

    /// The keys in an application's body (`passwordCredentials`); unknown when it has none of
    /// that field, or a credential without a key id that is a GUID.
    pub fn from_app(body: &Value) -> Self {
        match object::<Credentials>(body).and_then(|c| c.password_credentials) {
            Some(creds) if creds.iter().all(|c| is_guid(&c.key_id)) => {
                Self::known(creds.iter().map(|c| c.key_id.as_str()))
            }
            _ => Self::default(),
        }
    }

    /// Whether the app may have the key `k`: it has it, or its keys are unknown.
    pub fn may_have(&self, k: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|ids| ids.contains(&k.to_ascii_lowercase()))
    }
}

impl Entry {
    /// The entry without the displaced keys (`was`) the app no longer has, but the least of
    /// them while no other `was` key is left (the entry stays one never trusted as held; see
    /// the module's docs). Its confirmed and pending keys stay.
    #[must_use]
    pub fn without_gone(mut self, keys: &AppKeys) -> Self {
        let (live, gone): (Vec<String>, Vec<String>) =
            self.was.into_iter().partition(|k| keys.may_have(k));
        self.was = live;
        if self.was.is_empty() {
            self.was.extend(gone.into_iter().min());
        }
        self.normalized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const B: &str = "bbbbbbbb-0000-4000-8000-000000000001";
    const C: &str = "cccccccc-0000-4000-8000-000000000001";

    fn was(keys: &[&str]) -> Entry {
        Entry {
            pending: Some("dddddddd-0000-4000-8000-000000000001".into()),
            was: keys.iter().map(|&k| k.to_owned()).collect(),
            ..Entry::default()
        }
    }

    #[test]
    fn removed_keys_go_but_one_stays_while_no_other_keeps_the_entry_unconfirmed() {
        let keys = AppKeys::known([C.to_uppercase().as_str()]);
        assert_eq!(
            was(&[A, B, C]).without_gone(&keys),
            was(&[C]),
            "C is the app's"
        );
        assert_eq!(
            was(&[B, A]).without_gone(&keys),
            was(&[A]),
            "the least stays"
        );
        assert_eq!(was(&[]).without_gone(&keys), was(&[]));
        let unknown = AppKeys::default();
        assert_eq!(was(&[A, B]).without_gone(&unknown), was(&[A, B]));
    }

    #[test]
    fn the_keys_are_unknown_unless_every_credential_names_one() {
        let app =
            |creds: Value| AppKeys::from_app(&json!({"id": "o", "passwordCredentials": creds}));
        assert!(!app(json!([{"keyId": A}])).may_have(B));
        assert!(app(json!([{"keyId": A}])).may_have(&A.to_uppercase()));
        assert!(!app(json!([])).may_have(A), "an app without keys has none");
        assert!(app(json!([{"keyId": A}, {"hint": "x"}])).may_have(B));
        assert!(AppKeys::from_app(&json!({"id": "o", "tags": []})).may_have(B));
    }
}
