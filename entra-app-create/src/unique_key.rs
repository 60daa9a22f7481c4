//! Whether Graph refused the `applications(uniqueName='…')` key, in whichever shape: the
//! signal to find the app by its tag instead (clouds without the key or its upsert).

use common::Error;

/// Which use of the `applications(uniqueName='…')` key a refusal answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUse {
    /// `GET applications(uniqueName='…')`.
    Read,
    /// `PATCH applications(uniqueName='…')` with `Prefer: create-if-missing`.
    Upsert,
}

/// Whether Graph refused the `applications(uniqueName='…')` key itself (this cloud has no such
/// key, or no upsert by it), whatever shape the refusal takes, rather than the request.
///
/// The upsert is documented for the global service only on some of Microsoft's pages
/// (learn.microsoft.com/zh-cn/graph/api/application-upsert) and for every cloud on others, and
/// no refusal from a national cloud is on record, so every shape Graph uses for an unsupported
/// key, segment or method counts: 400 (`Request_BadRequest`, `BadRequest`,
/// `Request_UnsupportedQuery`: "'uniqueName' is not a valid alternate key …", microsoft/
/// api-guidelines `graph/patterns/alternate-key.md`; "Resource not found for the segment …"),
/// 405 and 501; on the upsert also 404 (with `Prefer: create-if-missing`, where the upsert
/// exists, an absent app is created, never "not found"). A 400 on the upsert counts only when it
/// names the key, the segment or the query: otherwise it is about the body and is the step's
/// error, as are 401, 403, 409, 429 and 5xx (retried first), whatever they say.
pub(crate) fn refuses_unique_name_key(e: &Error, on: KeyUse) -> bool {
    let Some(status) = e.status() else {
        return false;
    };
    match status {
        405 | 501 => true,
        404 => on == KeyUse::Upsert,
        // A GET by key carries nothing else that could be wrong.
        400 if on == KeyUse::Read => true,
        400 => {
            let m = e.message().to_ascii_lowercase();
            e.is_code("Request_UnsupportedQuery")
                || e.is_code("UnsupportedQuery")
                || [
                    "alternate key",
                    "uniquename",
                    "segment",
                    "unsupported query",
                ]
                .iter()
                .any(|k| m.contains(k))
        }
        _ => false,
    }
}

/// The first 200 characters of an answer's message, for one line of stderr.
pub(crate) fn short(m: &str) -> String {
    let mut s: String = m.chars().take(200).collect();
    if s.len() < m.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{KeyUse, refuses_unique_name_key};
    use common::Error;
    use common::error::ErrorKind;

    fn http(status: u16, code: &str, message: &str) -> Error {
        Error::azure(ErrorKind::Http { status }, code, message)
    }

    #[test]
    fn every_shape_of_a_refused_key_counts_and_real_errors_do_not() {
        let refusals = [
            (
                400,
                "Request_BadRequest",
                "'uniqueName' is not a valid alternate key for the resource type 'application'.",
            ),
            (
                400,
                "BadRequest",
                "Resource not found for the segment 'applications(uniqueName='x')'.",
            ),
            (400, "Request_UnsupportedQuery", "Unsupported query."),
            (
                400,
                "400",
                "'uniqueName' is not a valid alternate key for the resource type 'application'.",
            ),
            (
                405,
                "Request_BadRequest",
                "The HTTP method 'PATCH' is not allowed.",
            ),
            (
                501,
                "NotImplemented",
                "The requested feature is not implemented.",
            ),
        ];
        for (status, code, message) in refusals {
            let e = http(status, code, message);
            assert!(refuses_unique_name_key(&e, KeyUse::Read), "{e}");
            assert!(refuses_unique_name_key(&e, KeyUse::Upsert), "{e}");
        }
        // Where the upsert exists, Prefer: create-if-missing never answers 404.
        let nf = http(
            404,
            "Request_ResourceNotFound",
            "Resource 'x' does not exist.",
        );
        assert!(refuses_unique_name_key(&nf, KeyUse::Upsert));
        // A 400 on the upsert that is about the body is the step's error.
        let body = http(
            400,
            "Request_BadRequest",
            "Property 'displayName' is required and cannot be empty.",
        );
        assert!(!refuses_unique_name_key(&body, KeyUse::Upsert));
        assert!(refuses_unique_name_key(&body, KeyUse::Read));
        for (status, code) in [
            (401, "InvalidAuthenticationToken"),
            (403, "Authorization_RequestDenied"),
            (409, "Request_MultipleObjectsWithSameKeyValue"),
            (429, "TooManyRequests"),
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
        ] {
            let e = http(status, code, "'uniqueName' is not a valid alternate key");
            assert!(!refuses_unique_name_key(&e, KeyUse::Read), "{e}");
            assert!(!refuses_unique_name_key(&e, KeyUse::Upsert), "{e}");
        }
        let transport = Error::new(
            ErrorKind::Transport,
            common::error::codes::CONNECT_FAILED,
            "uniqueName",
        );
        assert!(!refuses_unique_name_key(&transport, KeyUse::Read));
    }
}
