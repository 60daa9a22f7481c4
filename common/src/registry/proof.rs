//! The proof of a pull check, recorded in the envelope so that the next step need not repeat it.
//!
//! `acr-grant --verify` writes, beside `pull_verified_at` and `registry_image`, a
//! `pull_proof`: HMAC-SHA256, keyed by the client secret, of the app id, the image and the
//! time. It binds the check to the credential without revealing it (a reader without the
//! secret cannot make or check one, and it says nothing about the secret). `aks-sp-update`
//! skips its own pull check only when the proof matches its own app id, secret and image
//! and is at most [`FRESH_FOR`] old; any difference, or an older proof, and it checks again.
//!
//! What it saves is two requests and their round trips. What it does not do is make the
//! check depend on a stranger: an object naming a secret also carries what a proof of it
//! would be, so the proof is only as trustworthy as the object; it replaces a check made
//! moments ago with the same credential and image, never `--force`'s decision.

use std::fmt::Write as _;
use std::time::Duration;

use ring::hmac;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secret::Secret;

/// How long a recorded pull check stands in for a new one.
pub const FRESH_FOR: Duration = Duration::from_secs(300);

/// An image as the proof names it (and `registry_image` holds it):
/// `<login server>/<repository>:<tag>`, or `…@sha256:…` for a digest.
pub fn image_name(login_server: &str, repository: &str, reference: &str) -> String {
    let sep = if reference.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    format!("{login_server}/{repository}{sep}{reference}")
}

/// The proof of a pull of `image` (`<login server>/<repository>:<tag>`, or `@digest`) by
/// `app_id` with `secret`, checked at `at` (RFC 3339): lowercase hex.
pub fn make(secret: &Secret, app_id: &str, image: &str, at: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let message = format!(
        "xtenant pull proof v1\n{}\n{}\n{at}",
        app_id.to_ascii_lowercase(),
        canonical(image)
    );
    let tag = hmac::sign(&key, message.as_bytes());
    tag.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// `image` as the proof binds it: the login server and repository in lowercase (names
/// are compared so), the tag or digest as given (a tag is case-sensitive: `V1` is not `v1`).
fn canonical(image: &str) -> String {
    let name_end = image.rfind('/').unwrap_or(0);
    let split = image
        .find('@')
        .or_else(|| image[name_end..].rfind(':').map(|i| name_end + i))
        .unwrap_or(image.len());
    let (name, reference) = image.split_at(split);
    format!("{}{reference}", name.to_ascii_lowercase())
}

/// Why a recorded proof does not stand for a new check (`None`: it does).
pub fn stale(
    proof: &str,
    secret: &Secret,
    app_id: &str,
    image: &str,
    at: &str,
    now: OffsetDateTime,
) -> Option<String> {
    let Ok(when) = OffsetDateTime::parse(at, &Rfc3339) else {
        return Some(format!("pull_verified_at {at:?} is not an RFC 3339 time"));
    };
    let age = now - when;
    // A clock a little ahead elsewhere is tolerated; a proof from the future is not.
    if age < -time::Duration::seconds(60) {
        return Some(format!("pull_verified_at {at} is in the future"));
    }
    if age > FRESH_FOR {
        return Some(format!(
            "the check at {at} is older than {} s",
            FRESH_FOR.as_secs()
        ));
    }
    let expected = make(secret, app_id, image, at);
    let same = expected.len() == proof.len()
        && expected
            .bytes()
            .zip(proof.to_ascii_lowercase().bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    (!same).then(|| "the recorded check was made with another credential, app or image".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-11-29T16:00:00Z";
    const IMG: &str = "reg.azurecr.io/samples/hello:1.0";

    fn now(secs: i64) -> OffsetDateTime {
        OffsetDateTime::parse(AT, &Rfc3339).unwrap() + time::Duration::seconds(secs)
    }

    #[test]
    fn names_compare_in_any_case_and_tags_exactly() {
        let s = Secret::new("the-secret");
        let p = make(&s, "app", "Reg.AzureCR.io/Samples/Hello:V1", AT);
        assert_eq!(p, make(&s, "app", "reg.azurecr.io/samples/hello:V1", AT));
        assert_ne!(p, make(&s, "app", "reg.azurecr.io/samples/hello:v1", AT));
        assert_eq!(
            canonical("reg.azurecr.io:5000/a/b:T"),
            "reg.azurecr.io:5000/a/b:T"
        );
        assert_eq!(canonical("REG.io:5000/A/B"), "reg.io:5000/a/b");
        assert_eq!(canonical("R.io/A@sha256:AB"), "r.io/a@sha256:AB");
    }

    #[test]
    fn a_fresh_proof_of_the_same_check_stands_and_any_difference_does_not() {
        let s = Secret::new("the-secret");
        let p = make(&s, "APP", IMG, AT);
        assert_eq!(p.len(), 64);
        assert!(!p.contains("the-secret"));
        assert_eq!(stale(&p, &s, "app", IMG, AT, now(10)), None);
        assert_eq!(
            stale(&p.to_ascii_uppercase(), &s, "app", IMG, AT, now(299)),
            None
        );
        let other = Secret::new("another-secret");
        assert!(
            stale(&p, &other, "app", IMG, AT, now(10)).is_some(),
            "another secret"
        );
        assert!(
            stale(&p, &s, "app2", IMG, AT, now(10)).is_some(),
            "another app"
        );
        assert!(
            stale(
                &p,
                &s,
                "app",
                "reg.azurecr.io/samples/hello:2.0",
                AT,
                now(10)
            )
            .is_some(),
            "another image"
        );
        assert!(
            stale(&p, &s, "app", IMG, "2026-11-29T16:00:01Z", now(10)).is_some(),
            "another time"
        );
        assert!(
            stale(&p, &s, "app", IMG, AT, now(301))
                .unwrap()
                .contains("older")
        );
        assert!(
            stale(&p, &s, "app", IMG, AT, now(-120))
                .unwrap()
                .contains("future")
        );
        assert!(stale(&p, &s, "app", IMG, "yesterday", now(0)).is_some());
    }
}
