//! The one error type of the tools, and its mapping to exit codes.
//!
//! Kinds are deliberately coarse, as in the Azure SDK: what matters to a user is the
//! `code` (Azure's own error code when Azure answered, else one of ours), a message
//! that says what happened, and a hint that says what to do. The exit code is derived
//! from the kind in one place, [`Error::exit_code`].
//!
//! The registry of our codes is [`codes`]; the envelope's `error` object, as written and
//! read, is [`crate::envelope::ErrorField`].

use std::fmt;

use crate::exit::{ExitCode, Signal};

pub mod codes;

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
    /// SIGINT or SIGTERM stopped the step; a rerun of the same command completes it.
    Interrupted {
        /// The signal (its exit: 130 for SIGINT, 143 for SIGTERM).
        signal: Signal,
    },
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
    detail: Option<String>,
    /// A write was sent and its answer never came: whether it took effect is unknown.
    outcome_unknown: bool,
    /// The retries stopped because the deadline would pass first: another caller with more
    /// time could still succeed.
    cut_by_deadline: bool,
}

impl Error {
    /// A new error of `kind` with one of our codes and `message`: an unknown code does not
    /// compile ([`codes`] is the registry).
    pub fn new(kind: ErrorKind, code: codes::Code, message: impl Into<String>) -> Self {
        Self::azure(kind, code.name, message)
    }

    /// A new error of `kind` with Azure's own `code`, passed through as Azure sent it (never
    /// a code of ours: those are [`codes::Code`]s, through [`Self::new`]).
    pub fn azure(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            code: code.into(),
            message: message.into(),
            hint: None,
            request_id: None,
            detail: None,
            outcome_unknown: false,
            cut_by_deadline: false,
        }))
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, codes::USAGE_ERROR, message)
    }

    /// A missing or malformed field: the message names the field and the fix.
    pub fn input(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Input {
                field: field.to_owned(),
            },
            codes::INVALID_INPUT,
            message,
        )
    }

    /// A credential failure (exit 3) with one of our codes.
    pub fn credential(code: codes::Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Credential, code, message)
    }

    /// A step-specific failure with one of our codes (Azure's own pass through [`Self::azure`]).
    pub fn step(code: codes::Code, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Step, code, message)
    }

    /// A new error of `kind` with this one's code (ours or Azure's, unchanged) and `message`;
    /// nothing else is carried over.
    #[must_use]
    pub fn rekind(&self, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::azure(kind, self.0.code.clone(), message)
    }

    /// The deadline passed.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, codes::TIMEOUT, message)
    }

    /// Whether the deadline passed (the kind, never the code text).
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// SIGINT or SIGTERM stopped the step (code `Interrupted`).
    pub fn interrupted(signal: Signal, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            ErrorKind::Interrupted { signal },
            codes::INTERRUPTED,
            format!("interrupted by {}: {message}", signal.name()),
        )
    }

    /// Whether an interrupt stopped the step (the kind, never the code text).
    pub fn is_interrupted(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Interrupted { .. })
    }

    /// Marks a write whose answer never came: whether it took effect is unknown.
    #[must_use]
    pub fn outcome_unknown(mut self) -> Self {
        self.0.outcome_unknown = true;
        self
    }

    /// Whether a write was sent and whether it took effect is unknown.
    pub fn is_outcome_unknown(&self) -> bool {
        self.0.outcome_unknown
    }

    /// Marks a failure whose retries stopped because the deadline would pass before the next
    /// one: Azure's code is kept (a 503 is still a 503), and a caller with more time than the
    /// one that met it may try again ([`Self::is_cut_by_deadline`]).
    #[must_use]
    pub fn cut_by_deadline(mut self) -> Self {
        self.0.cut_by_deadline = true;
        self
    }

    /// Whether the retries stopped at the deadline of the caller that met the failure.
    pub fn is_cut_by_deadline(&self) -> bool {
        self.0.cut_by_deadline
    }

    /// A local I/O failure about `what`.
    pub fn io(what: &str, err: &std::io::Error) -> Self {
        Self::new(ErrorKind::Io, codes::IO_ERROR, format!("{what}: {err}"))
    }

    /// Adds a hint: what the user can do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// Replaces the code with one of ours (a step that knows better what a failure means).
    #[must_use]
    pub fn with_code(mut self, code: codes::Code) -> Self {
        code.name.clone_into(&mut self.0.code);
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

    /// Keeps Azure's full text (the message holds a short form of it): shown at `-v`.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Azure's full text, when the message shortened it.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
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

    /// Whether this failure has the registered code `code` (exactly: ours are never
    /// spelled another way).
    pub fn is(&self, code: codes::Code) -> bool {
        self.0.code == code.name
    }

    /// The process exit code this failure leads to (see docs/errors.md): the registry's
    /// for one of our codes (wherever it was made), else by kind for Azure's own codes.
    pub fn exit_code(&self) -> ExitCode {
        // The signal decides an interrupt's exit (130 or 143; the registry lists SIGINT's).
        if let ErrorKind::Interrupted { signal } = self.0.kind {
            return ExitCode::Stopped(signal);
        }
        if let Some(c) = codes::find(&self.0.code) {
            return c.exit;
        }
        match self.0.kind {
            ErrorKind::Usage => ExitCode::Usage,
            ErrorKind::Credential => ExitCode::Credential,
            _ => ExitCode::Failure,
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

/// `text` in at most about `max` characters: whole when it fits, else its first sentence
/// when that fits, else cut at a word and ended with `…`. A trailing `[Code]` (a precise
/// cause appended to Azure's message) is kept.
pub fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let (body, tail) = match text.rfind(" [") {
        Some(i) if text.ends_with(']') && text.len() - i < 60 => (&text[..i], &text[i..]),
        _ => (text, ""),
    };
    let room = max.saturating_sub(tail.chars().count()).max(20);
    if let Some(end) = body.find(". ").map(|i| i + 1)
        && body[..end].chars().count() <= room
    {
        return format!("{}{tail}", &body[..end]);
    }
    let cut: String = body.chars().take(room.saturating_sub(1)).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…{tail}", cut.trim_end_matches([' ', ',', ';', ':']))
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
        assert_eq!(Error::usage("x").exit_code(), ExitCode::Usage);
        assert_eq!(
            Error::credential(codes::CREDENTIAL_REJECTED, "x").exit_code(),
            ExitCode::Credential
        );
        assert_eq!(Error::input("app_id", "x").exit_code(), ExitCode::Failure);
        assert_eq!(
            Error::azure(ErrorKind::Http { status: 403 }, "AuthorizationFailed", "x").exit_code(),
            ExitCode::Failure
        );
        assert_eq!(Error::timeout("x").exit_code(), ExitCode::Failure);
        // Azure's own code on a credential failure: by kind.
        assert_eq!(
            Error::azure(ErrorKind::Credential, "AADSTS90002", "x").exit_code(),
            ExitCode::Credential
        );
    }

    /// One of our codes exits as the registry says, whatever kind of failure carried it
    /// (an untrusted certificate met by a request exits 3, as one met by the sign-in).
    #[test]
    fn a_registered_code_exits_as_the_registry_says_from_any_kind() {
        let kinds = [
            ErrorKind::Transport,
            ErrorKind::Credential,
            ErrorKind::Step,
            ErrorKind::Http { status: 400 },
            ErrorKind::OperationFailed,
        ];
        for c in codes::ALL {
            for k in &kinds {
                let e = Error::new(k.clone(), *c, "x");
                assert_eq!(e.exit_code(), c.exit, "{} as {k:?}", c.name);
                assert!(e.is(*c));
            }
        }
        let e = Error::new(ErrorKind::Transport, codes::UNTRUSTED_CERTIFICATE, "x");
        assert_eq!(e.exit_code(), ExitCode::Credential);
        assert!(!e.is(codes::CONNECT_FAILED));
        // An interrupt exits as its signal says (the registry lists SIGINT's 130).
        let term = Error::interrupted(Signal::Term, "x");
        assert_eq!((term.code(), term.exit_code().code()), ("Interrupted", 143));
    }

    /// A failure seen as another kind keeps its code, ours or Azure's, and nothing else.
    #[test]
    fn rekind_keeps_the_code_only() {
        let azure = Error::azure(ErrorKind::Credential, "AADSTS700016", "x")
            .with_hint("h")
            .with_request_id(Some("r".into()));
        let step = azure.rekind(ErrorKind::Step, "y");
        assert_eq!(
            (step.kind(), step.code(), step.message()),
            (&ErrorKind::Step, "AADSTS700016", "y")
        );
        assert_eq!((step.hint(), step.request_id()), (None, None));
        let ours = Error::credential(codes::SIGN_IN_UNAVAILABLE, "x").rekind(ErrorKind::Step, "y");
        assert!(ours.is(codes::SIGN_IN_UNAVAILABLE));
        assert_eq!(ours.exit_code(), codes::SIGN_IN_UNAVAILABLE.exit);
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text() {
        assert_eq!(clip("short.", 20), "short.");
        assert_eq!(
            clip(
                "First sentence here. Then a very long second sentence follows it.",
                30
            ),
            "First sentence here."
        );
        let long = "word ".repeat(60);
        let c = clip(&long, 50);
        assert!(c.chars().count() <= 50 && c.ends_with('…'), "{c}");
        let with_code = format!("{} [NoBackingApplicationObject]", "x ".repeat(100));
        let c = clip(&with_code, 80);
        assert!(
            c.ends_with("… [NoBackingApplicationObject]") && c.chars().count() <= 80,
            "{c}"
        );
    }

    #[test]
    fn full_message_carries_hint_and_request_id() {
        let e = Error::step(codes::OPERATION_FAILED, "it broke.")
            .with_hint("do this")
            .with_request_id(Some("rid".into()));
        assert_eq!(e.full_message(), "it broke. Hint: do this (request id rid)");
        assert!(e.is_code("operationfailed"));
    }
}
