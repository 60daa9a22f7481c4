//! The one error type of the tools, and its mapping to exit codes.
//!
//! Kinds are deliberately coarse, as in the Azure SDK: what matters to a user is the
//! `code` (Azure's own error code when Azure answered, else one of ours), a message
//! that says what happened, and a hint that says what to do. The exit code is derived
//! from the kind in one place, [`Error::exit_code`].

use std::fmt;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of a failure; decides the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags or input that is not JSON objects: the run stops, exit 2.
    Usage,
    /// A field of one object is missing or malformed; nothing was sent for it.
    Input {
        /// The envelope field at fault.
        field: String,
    },
    /// No usable credential: exit 3.
    Credential,
    /// Azure answered with an error status.
    Http {
        /// The HTTP status.
        status: u16,
    },
    /// The connection failed (refused, reset, TLS, DNS) after the retries.
    Transport,
    /// The `--timeout` passed before the step could finish.
    Timeout,
    /// A local file could not be read or written.
    Io,
    /// Azure's long-running operation ended `Failed` or `Canceled` (Azure's code, or ours).
    OperationFailed,
    /// The step refused, or found Azure in a state it cannot go on from (the step sets the code).
    Step,
}

/// A failure with an Azure or xtenant error code, a message and an optional hint.
///
/// Boxed inside, so a `Result` stays small on the happy path.
#[derive(Debug, Clone)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    code: String,
    message: String,
    hint: Option<String>,
    request_id: Option<String>,
}

impl Error {
    /// A new error of `kind` with `code` and `message`.
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            code: code.into(),
            message: message.into(),
            hint: None,
            request_id: None,
        }))
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, "UsageError", message)
    }

    /// A missing or malformed field: the message names the field and the fix.
    pub fn input(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Input {
                field: field.to_owned(),
            },
            "InvalidInput",
            message,
        )
    }

    /// A credential failure (exit 3).
    pub fn credential(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Credential, code, message)
    }

    /// A step-specific failure with its own code.
    pub fn step(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Step, code, message)
    }

    /// The deadline passed.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, "Timeout", message)
    }

    /// Azure's long-running operation ended `Failed` or `Canceled`.
    pub fn operation_failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::OperationFailed, code, message)
    }

    /// Whether the deadline passed (the kind, never the code text).
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// A local I/O failure about `what`.
    pub fn io(what: &str, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, "IoError", format!("{what}: {err}"))
    }

    /// Adds a hint: what the user can do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// Replaces the code (a step that knows better what a failure means).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.0.code = code.into();
        self
    }

    /// Replaces the message, keeping kind, code and request id.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    /// Puts context in front of the message: `"{context}: {message}"`.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.0.message = format!("{context}: {}", self.0.message);
        self
    }

    /// Records the service's request id (for support cases).
    #[must_use]
    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.0.request_id = id;
        self
    }

    /// The kind.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The error code: Azure's when Azure answered, else ours.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The message, without the hint.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// The request id Azure gave, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// The HTTP status when Azure answered.
    pub fn status(&self) -> Option<u16> {
        match self.0.kind {
            ErrorKind::Http { status } => Some(status),
            _ => None,
        }
    }

    /// Whether Azure answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        self.0.code.eq_ignore_ascii_case(code)
    }

    /// The process exit code this failure leads to (see the README's table).
    pub fn exit_code(&self) -> u8 {
        match self.0.kind {
            ErrorKind::Usage => 2,
            ErrorKind::Credential => 3,
            _ => 1,
        }
    }

    /// The message with the hint, as written into the envelope's `error.message`.
    pub fn full_message(&self) -> String {
        let mut m = self.0.message.clone();
        if let Some(h) = &self.0.hint {
            m.push_str(" Hint: ");
            m.push_str(h);
        }
        if let Some(r) = &self.0.request_id {
            m.push_str(" (request id ");
            m.push_str(r);
            m.push(')');
        }
        m
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0.message, self.0.code)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_table() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::credential("C", "x").exit_code(), 3);
        assert_eq!(Error::input("app_id", "x").exit_code(), 1);
        assert_eq!(
            Error::new(ErrorKind::Http { status: 403 }, "AuthorizationFailed", "x").exit_code(),
            1
        );
        assert_eq!(Error::timeout("x").exit_code(), 1);
    }

    #[test]
    fn full_message_carries_hint_and_request_id() {
        let e = Error::step("X", "it broke.")
            .with_hint("do this")
            .with_request_id(Some("rid".into()));
        assert_eq!(e.full_message(), "it broke. Hint: do this (request id rid)");
        assert!(e.is_code("x"));
    }
}
