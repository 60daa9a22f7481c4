//! Hashing, randomness and the simulator's JSON Web Tokens.
//!
//! Every token the simulator issues (Entra access tokens, registry refresh and access tokens)
//! is an HS256 JWT signed with a key made at start, so tokens from an earlier run never verify.
//! Secrets are kept only as SHA-256 hex digests and compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// The SHA-256 digest of `data`, lower-case hex.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest(&SHA256, data).as_ref())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whether two hex digests are equal, compared in constant time: every byte pair is looked
/// at, wherever they differ (`black_box` keeps the compiler from stopping at the first).
pub(crate) fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| std::hint::black_box(diff | (x ^ y)))
            == 0
}

/// `n` random bytes from the system generator.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut v)
        .unwrap_or_else(|_| panic!("the system random generator failed"));
    v
}

/// A random string of `len` characters from `alphabet`.
pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    random_bytes(len)
        .into_iter()
        .map(|b| char::from(alphabet[usize::from(b) % alphabet.len()]))
        .collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";

/// A client secret shaped like Entra's: 40 characters, a 3-character hint, then `8Q~`.
///
/// Returns `(secret, hint)`. Only `_ . - ~` besides letters and digits, and `~` never first,
/// so the value is safe unquoted in a shell assignment.
pub(crate) fn new_client_secret() -> (String, String) {
    let hint = random_string(3, ALNUM);
    let rest = random_string(34, SECRET_CHARS);
    (format!("{hint}8Q~{rest}"), hint)
}

/// A random alphanumeric string (authorization codes, `jti`, trace ids).
pub(crate) fn random_alnum(len: usize) -> String {
    random_string(len, ALNUM)
}

/// Why a token did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// Not three base64url parts with JSON header and payload.
    Malformed,
    /// The signature does not match the simulator's key.
    BadSignature,
}

/// The per-start HMAC key that signs every token, and the claims of the tokens it already
/// verified: a tool sends the same token with each of its requests, and decoding it again
/// (base64, JSON, HMAC) was a twentieth of the simulator's CPU in the tests (issue 28). The key
/// never changes, so a token that verified once verifies again, with the same claims.
pub(crate) struct JwtKey {
    key: hmac::Key,
    verified: Mutex<HashMap<String, Arc<Value>>>,
}

/// How many verified tokens [`JwtKey`] remembers (emptied when full: a memo, not a store).
const VERIFIED_MEMO: usize = 4096;

impl JwtKey {
    /// A fresh random key.
    pub(crate) fn random() -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &random_bytes(32)),
            verified: Mutex::default(),
        }
    }

    /// Sign `claims` as a compact HS256 JWT.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "HS256", "kid": "azure-sim"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let tag = hmac::sign(&self.key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Verify a token's signature and return its claims (expiry is the caller's business).
    pub(crate) fn verify(&self, token: &str) -> Result<Arc<Value>, JwtError> {
        let token = token.trim();
        if let Some(claims) = lock(&self.verified).get(token) {
            return Ok(claims.clone());
        }
        let claims = Arc::new(self.verify_whole(token)?);
        let mut m = lock(&self.verified);
        if m.len() >= VERIFIED_MEMO {
            m.clear();
        }
        m.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    fn verify_whole(&self, token: &str) -> Result<Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let claims = decode_part(p).ok_or(JwtError::Malformed)?;
        decode_part(h).ok_or(JwtError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let input = &token[..h.len() + 1 + p.len()];
        hmac::verify(&self.key, input.as_bytes(), &sig).map_err(|_| JwtError::BadSignature)?;
        Ok(claims)
    }
}

/// The payload of a JWT without checking its signature (client assertions from other issuers).
pub(crate) fn decode_unverified(token: &str) -> Option<Value> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    decode_part(h)?;
    decode_part(p)
}

fn decode_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.is_object().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::{JwtError, JwtKey, decode_unverified, digest_eq, new_client_secret, sha256_hex};
    use serde_json::json;

    #[test]
    fn jwt_round_trip_and_tamper() {
        let k = JwtKey::random();
        let t = k.sign(&json!({"aud": "x", "n": 1}));
        assert_eq!(k.verify(&t).unwrap()["n"], 1);
        assert_eq!(decode_unverified(&t).unwrap()["aud"], "x");
        let other = JwtKey::random();
        assert_eq!(other.verify(&t), Err(JwtError::BadSignature));
        assert_eq!(k.verify("a.b"), Err(JwtError::Malformed));
    }

    #[test]
    fn secret_shape() {
        let (s, hint) = new_client_secret();
        assert_eq!(s.len(), 40);
        assert!(s.starts_with(&hint));
        assert_eq!(&s[3..6], "8Q~");
        assert_eq!(sha256_hex(b"abc").len(), 64);
    }

    #[test]
    fn digest_eq_compares_every_byte() {
        let a = sha256_hex(b"abc");
        assert!(digest_eq(&a, &sha256_hex(b"abc")));
        assert!(!digest_eq(&a, &sha256_hex(b"abd")));
        let mut last = a.clone();
        last.replace_range(63.., if a.ends_with('0') { "1" } else { "0" });
        assert!(!digest_eq(&a, &last), "a difference in the last byte");
        assert!(!digest_eq(&a, &a[..63]), "a prefix");
        assert!(!digest_eq("", &a));
        assert!(digest_eq("", ""));
    }
}
