//! A string that never shows itself.
//!
//! Client secrets and tokens are wrapped in [`Secret`] from the moment they are read,
//! so `Debug`, `Display`, logs and error messages cannot carry them by accident. The
//! value is reached only through [`Secret::expose`], at the few places that must send
//! or store it.

use std::fmt;

/// A secret value (client secret, token) that redacts itself in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// What every formatting of a [`Secret`] prints.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    /// Wraps a value read from a file, the environment, the envelope or a response.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the places that send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The length in bytes (AKS refuses secrets over 190 bytes).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<azure_core::credentials::Secret> for Secret {
    fn from(s: azure_core::credentials::Secret) -> Self {
        Self(s.secret().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Secret,
        }
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&s)), format!("Some({REDACTED})"));
        let h = format!("{:#?}", Holder { secret: s.clone() });
        assert!(!h.contains("hunter2"), "{h}");
        assert_eq!(s.expose(), "hunter2-very-secret");
        assert_eq!(s.len(), 19);
    }
}
