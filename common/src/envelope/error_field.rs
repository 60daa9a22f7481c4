//! The envelope's `error` object: `{step, code, message}`, plus `hint` (what to do) and
//! `request_id` (Azure's, for a support case) when there are. One type writes it and reads it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, codes};
use crate::json::lenient;

/// The envelope's `error`, as written and as read back.
///
/// Read from an input object it is a claim of whoever wrote the envelope: every field is
/// optional, and one that is not a string reads as absent (never an error of the run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorField {
    /// The step that failed (a tool's name).
    #[serde(default, deserialize_with = "lenient")]
    pub step: Option<String>,
    /// Azure's code, or one of ours ([`codes`]).
    #[serde(default, deserialize_with = "lenient")]
    pub code: Option<String>,
    /// What happened (the message alone: the hint is its own field).
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    /// What to do about it.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub hint: Option<String>,
    /// Azure's request id.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<String>,
}

impl ErrorField {
    /// The `error` that `step` writes for `e`.
    pub fn of(step: &str, e: &Error) -> Self {
        Self {
            step: Some(step.to_owned()),
            code: Some(e.code().to_owned()),
            message: Some(e.message().to_owned()),
            hint: e.hint().map(str::to_owned),
            request_id: e.request_id().map(str::to_owned),
        }
    }

    /// Its code when it is one of ours (`None` for Azure's own, or none).
    pub fn our_code(&self) -> Option<codes::Code> {
        self.code.as_deref().and_then(codes::find)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of ours goes out as its name and comes back as the same code.
    #[test]
    fn every_code_round_trips_through_the_envelope() {
        for c in codes::ALL {
            let e = Error::step(*c, "it broke").with_hint("do this");
            let written = serde_json::to_string(&ErrorField::of("acr-grant", &e)).unwrap();
            assert_eq!(
                written,
                format!(
                    r#"{{"step":"acr-grant","code":"{}","message":"it broke","hint":"do this"}}"#,
                    c.name
                )
            );
            let read: ErrorField = serde_json::from_str(&written).unwrap();
            assert_eq!(read.our_code(), Some(*c), "{written}");
            assert_eq!(read, ErrorField::of("acr-grant", &e));
        }
    }

    #[test]
    fn an_input_error_of_any_shape_reads_without_failing() {
        let read: ErrorField =
            serde_json::from_str(r#"{"step":7,"code":"AuthorizationFailed","message":null,"hint":{"a":1},"request_id":["r"],"extra":[1]}"#).unwrap();
        assert_eq!(read.step, None);
        assert!(read.message.is_none() && read.hint.is_none() && read.request_id.is_none());
        assert_eq!(read.code.as_deref(), Some("AuthorizationFailed"));
        assert_eq!(read.our_code(), None, "Azure's own code is not ours");
        let e = Error::azure(crate::error::ErrorKind::Http { status: 403 }, "X", "m")
            .with_request_id(Some("rid".into()));
        assert_eq!(
            serde_json::to_value(ErrorField::of("s", &e)).unwrap(),
            serde_json::json!({"step": "s", "code": "X", "message": "m", "request_id": "rid"})
        );
    }
}
