//! Which of an app's keys ([`crate::app_keys`]) the secret in hand is.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ClaimedKey, Claims, mint_hint, not_bound};
use crate::app_keys::{Key, Registration};
use crate::error::Result;
use crate::secret::Secret;

/// Which of `reg`'s keys `secret` is, by what is claimed: an error naming the field otherwise.
pub(crate) fn match_key(
    claims: &Claims<'_>,
    claimed: Option<ClaimedKey<'_>>,
    reg: &Registration,
    secret: &Secret,
    now: OffsetDateTime,
) -> Result<Key> {
    let (app, tenant) = (claims.app_id, claims.tenant);
    let Some(claimed) = claimed else {
        let fits: Vec<&Key> = reg
            .keys
            .iter()
            .filter(|k| !k.expired(now) && k.fits(secret) == Some(true))
            .collect();
        return match fits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(not_bound(
                "client_secret",
                format!("the secret in hand is none of app {app}'s current keys in tenant {tenant} (no key's hint is how it begins)"),
                mint_hint(app, tenant),
            )),
            many => Err(not_bound(
                "client_secret_key_id",
                format!(
                    "the secret in hand could be any of app {app}'s keys {} (their hints are alike), and the object names none",
                    many.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>().join(", ")
                ),
                "give the secret's key id as client_secret_key_id (entra-app-create's output names it)".to_owned(),
            )),
        };
    };
    let field = claimed.field;
    let Some(key) = reg
        .keys
        .iter()
        .find(|k| k.key_id.eq_ignore_ascii_case(claimed.id))
    else {
        return Err(not_bound(
            field,
            format!(
                "app {app} has no key {} in tenant {tenant}: it was removed (e.g. by entra-app-create --prune-secrets after a rotation) or is another app's key",
                claimed.id
            ),
            mint_hint(app, tenant),
        ));
    };
    if let Some(end) = key.end.filter(|_| key.expired(now)) {
        let end = end.format(&Rfc3339).unwrap_or_default();
        return Err(not_bound(
            field,
            format!("key {} of app {app} expired at {end}", key.key_id),
            mint_hint(app, tenant),
        ));
    }
    match key.fits(secret) {
        Some(true) => Ok(key.clone()),
        Some(false) => Err(not_bound(
            field,
            format!(
                "the secret in hand is not key {} of app {app} (it does not begin as Graph's hint of that key): the object names another secret than the one given",
                key.key_id
            ),
            format!(
                "give key {}'s own secret, or the envelope written with the secret in hand (its client_secret_key_id names its key)",
                key.key_id
            ),
        )),
        // No hint to compare: the key is told only when it is the app's one current key.
        None if reg.keys.iter().filter(|k| !k.expired(now)).count() == 1 => Ok(key.clone()),
        None => Err(not_bound(
            field,
            format!(
                "Microsoft Graph shows no hint for key {} of app {app}, so the secret in hand cannot be told from the app's other keys",
                key.key_id
            ),
            mint_hint(app, tenant),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::error::{Error, codes};
    use serde_json::Value;
    use serde_json::json;

    const APP: &str = "11111111-2222-3333-4444-555555555555";
    const K1: &str = "aaaaaaaa-0000-0000-0000-000000000001";
    const K2: &str = "aaaaaaaa-0000-0000-0000-000000000002";

    fn now() -> OffsetDateTime {
        OffsetDateTime::parse("2026-11-29T16:00:00Z", &Rfc3339).unwrap()
    }

    fn reg(keys: &Value) -> Registration {
        Registration::parse(&json!({"id": "obj", "passwordCredentials": keys}), APP).unwrap()
    }

    fn claims(key_id: Option<&str>) -> Claims<'_> {
        Claims {
            tenant: "tenant-a",
            app_id: APP,
            key_id,
            settled: false,
        }
    }

    fn field_of(e: &Error) -> &str {
        assert_eq!(e.code(), codes::SECRET_NOT_BOUND.name, "{e}");
        e.message().split(':').next().unwrap()
    }

    #[test]
    fn the_claimed_key_must_exist_be_current_and_fit_the_secret() {
        let r = reg(&json!([
            {"keyId": K1.to_uppercase(), "hint": "abc", "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
            {"keyId": K2, "hint": "xyz", "endDateTime": "2026-11-01T00:00:00Z"},
        ]));
        let s = Secret::new("abc-the-secret");
        let k1 = Some(ClaimedKey {
            id: K1,
            field: "client_secret_key_id",
        });
        assert_eq!(
            match_key(&claims(Some(K1)), k1, &r, &s, now())
                .unwrap()
                .key_id,
            K1
        );
        // Another secret than the key's.
        let e = match_key(&claims(Some(K1)), k1, &r, &Secret::new("abd-other"), now()).unwrap_err();
        assert_eq!(field_of(&e), "client_secret_key_id");
        assert!(
            !e.full_message().contains("abd-other") && e.message().contains("not key"),
            "{e}"
        );
        // A key the app does not have (rotated out), named by a vault tag.
        let gone = Some(ClaimedKey {
            id: "aaaaaaaa-0000-0000-0000-000000000009",
            field: "client_secret_ref",
        });
        let e = match_key(&claims(None), gone, &r, &s, now()).unwrap_err();
        assert_eq!(field_of(&e), "client_secret_ref");
        assert!(e.message().contains("has no key"), "{e}");
        // An expired key.
        let k2 = Some(ClaimedKey {
            id: K2,
            field: "client_secret_key_id",
        });
        let e = match_key(&claims(Some(K2)), k2, &r, &Secret::new("xyz-1"), now()).unwrap_err();
        assert!(e.message().contains("expired"), "{e}");
    }

    #[test]
    fn without_a_claimed_key_the_hint_finds_the_one_key() {
        let r = reg(&json!([
            {"keyId": K1, "hint": "abc"},
            {"keyId": K2, "hint": "abc"},
            {"keyId": "aaaaaaaa-0000-0000-0000-000000000003", "hint": "qrs"},
        ]));
        assert_eq!(
            match_key(&claims(None), None, &r, &Secret::new("qrs-secret"), now())
                .unwrap()
                .key_id,
            "aaaaaaaa-0000-0000-0000-000000000003"
        );
        let e = match_key(&claims(None), None, &r, &Secret::new("abc-secret"), now()).unwrap_err();
        assert_eq!(field_of(&e), "client_secret_key_id");
        let e = match_key(&claims(None), None, &r, &Secret::new("zzz-secret"), now()).unwrap_err();
        assert_eq!(field_of(&e), "client_secret");
        // No hint: told only when it is the app's one current key.
        let one = reg(&json!([{"keyId": K1}]));
        let k1 = Some(ClaimedKey {
            id: K1,
            field: "client_secret_key_id",
        });
        assert!(match_key(&claims(Some(K1)), k1, &one, &Secret::new("s"), now()).is_ok());
        let two = reg(&json!([{"keyId": K1}, {"keyId": K2}]));
        assert!(match_key(&claims(Some(K1)), k1, &two, &Secret::new("s"), now()).is_err());
    }

    #[test]
    fn a_key_settles_within_a_minute_of_its_start() {
        let r =
            reg(&json!([{"keyId": K1, "startDateTime": "2026-11-29T15:59:50Z"}, {"keyId": K2}]));
        assert_eq!(r.keys[0].settling(now()), Duration::from_secs(50));
        assert_eq!(
            r.keys[0].settling(now() + time::Duration::minutes(5)),
            Duration::ZERO
        );
        assert_eq!(
            r.keys[1].settling(now()),
            Duration::ZERO,
            "no start: not new"
        );
    }
}
