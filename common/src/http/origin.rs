//! Origins: where a URL taken from an answer may be followed with a credential.
//!
//! A `nextLink` or an operation URL comes from a response body or header; following it
//! sends the service's bearer token. So it is followed only on the origin (scheme, host,
//! port) it is expected on, compared exactly after URL parsing — never by text.

use url::Url;

use crate::error::{Error, Result};
use crate::validate::shown;

/// Whether `a` and `b` have the same origin: scheme, host and port (default ports resolved).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    let (oa, ob) = (a.origin(), b.origin());
    oa.is_tuple() && oa == ob
}

/// Refuses `found` unless it is on the origin of `expected`; the error (code
/// `UntrustedOrigin`) names `what` and both origins, and nothing is sent.
pub fn check_origin(found: &Url, expected: &Url, what: &str) -> Result<()> {
    if same_origin(found, expected) {
        return Ok(());
    }
    Err(Error::step(
        crate::error::codes::UNTRUSTED_ORIGIN,
        format!(
            "{what} points to {}, not to {}: not followed, and no credential was sent there",
            shown(&found.origin().ascii_serialization()),
            expected.origin().ascii_serialization()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let arm = u("https://management.azure.com/");
        for same in [
            "https://management.azure.com/subscriptions?x=1",
            "https://MANAGEMENT.azure.com:443/op",
        ] {
            assert!(same_origin(&u(same), &arm), "{same}");
        }
        for other in [
            "http://management.azure.com/op",
            "https://management.azure.com:444/op",
            "https://management.azure.com./op",
            "https://management.azure.com.evil.com/op",
            "https://evil.com/management.azure.com/op",
            "https://management.azure.com@evil.com/op",
            "https://127.0.0.1/op",
            "data:text/plain,management.azure.com",
        ] {
            assert!(!same_origin(&u(other), &arm), "{other}");
            let e = check_origin(&u(other), &arm, "the nextLink").unwrap_err();
            assert_eq!(e.code(), "UntrustedOrigin");
            assert!(e.message().contains("the nextLink"), "{e}");
        }
        // Opaque origins are never equal, not even to themselves.
        let d = u("data:text/plain,x");
        assert!(!same_origin(&d, &d));
    }
}
