//! The pipeline envelope: one JSON object per line, fields the tool does not own kept as they came.
//!
//! Values are held as raw JSON text, so a field a tool does not touch is written back
//! byte for byte (numbers keep their spelling, key order is kept). Typed accessors name
//! the field, the flag that sets it and the step that produces it when a value is
//! missing or of the wrong type.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// A field of the public contract: its name, the flag that sets it, the step that writes it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The envelope key.
    pub name: &'static str,
    /// The flag that sets it, if any (e.g. `--app-id`).
    pub flag: Option<&'static str>,
    /// The step that writes it, if any (e.g. `entra-app-create`).
    pub from: Option<&'static str>,
}

/// The redirect URI of the procedure: the default of `redirect_uri` (steps 1 and 2).
pub const DEFAULT_REDIRECT_URI: &str = "https://www.microsoft.com";

mod error_field;
pub mod fields;

pub use error_field::ErrorField;

/// What a step does with a field it owns: leave it, set it, or remove it (it no longer holds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Change<T> {
    /// Left as the input had it.
    #[default]
    Keep,
    /// Set to this value.
    Set(T),
    /// Removed.
    Remove,
}

/// The value a `--dry-run` writes for an id that does not exist yet (the app a dry run
/// would create, the role assignment it would make): `dry-run:<field>`. A later dry-run
/// step plans against it; no real id has this shape, so no real run can act on it.
pub fn placeholder(field: &Field) -> String {
    format!("{PLACEHOLDER_PREFIX}{}", field.name)
}

const PLACEHOLDER_PREFIX: &str = "dry-run:";

/// Whether `value` is a [`placeholder`].
pub fn is_placeholder(value: &str) -> bool {
    value.starts_with(PLACEHOLDER_PREFIX)
}

/// One envelope object.
#[derive(Clone, Default)]
pub struct Envelope {
    fields: IndexMap<String, Box<RawValue>>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the keys: values may hold secrets.
        f.debug_struct("Envelope")
            .field("keys", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Envelope {
    /// An empty object (a run from flags alone).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one JSON value that must be an object.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let first = text.trim_start().chars().next();
        if first != Some('{') {
            let what = match first {
                Some('[') => "an array",
                Some('"') => "a string",
                Some('t' | 'f') => "a boolean",
                Some('n') => "null",
                _ => "a number",
            };
            return Err(format!("expected a JSON object, got {what}"));
        }
        let fields: IndexMap<String, Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Self { fields })
    }

    /// Whether the field is present and not null.
    pub fn has(&self, name: &str) -> bool {
        self.fields.get(name).is_some_and(|v| v.get() != "null")
    }

    /// The field's value, parsed.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        self.fields
            .get(name)
            .and_then(|v| serde_json::from_str(v.get()).ok())
    }

    /// The field parsed as `T`; `None` when absent or of another shape.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.fields
            .get(name)
            .and_then(|v| serde_json::from_str(v.get()).ok())
    }

    /// The field as a string; `None` when absent or null; an error naming the field when of another type.
    pub fn str(&self, field: &Field) -> Result<Option<String>> {
        let Some(raw) = self.fields.get(field.name) else {
            return Ok(None);
        };
        match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Ok(serde_json::Value::Null) => Ok(None),
            Ok(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Ok(serde_json::Value::String(s)) => Ok(Some(s)),
            _ => Err(Error::input(
                field.name,
                format!(
                    "`{}` must be a string, got {}",
                    field.name,
                    kind_of(raw.get())
                ),
            )),
        }
    }

    /// The field as a string, or an error saying how to provide it.
    pub fn require_str(&self, field: &Field) -> Result<String> {
        self.str(field)?.ok_or_else(|| missing(field))
    }

    /// The field as a secret (the value never appears in errors).
    pub fn secret(&self, field: &Field) -> Result<Option<Secret>> {
        let Some(raw) = self.fields.get(field.name) else {
            return Ok(None);
        };
        match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Ok(serde_json::Value::Null) => Ok(None),
            Ok(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Ok(serde_json::Value::String(s)) => Ok(Some(Secret::new(s))),
            _ => Err(Error::input(
                field.name,
                format!("`{}` must be a string", field.name),
            )),
        }
    }

    /// Sets a field (added at the end, or replaced in place).
    pub fn set(&mut self, name: &str, value: impl Serialize) {
        let raw = serde_json::value::to_raw_value(&value).expect("serializable value");
        self.fields.insert(name.to_owned(), raw);
    }

    /// Applies a [`Change`] to `field`.
    pub fn change<T: Serialize>(&mut self, field: &Field, change: &Change<T>) {
        match change {
            Change::Keep => {}
            Change::Set(v) => self.set(field.name, v),
            Change::Remove => self.remove(field.name),
        }
    }

    /// The flag's value when given, else the field's (flags win over stdin).
    pub fn flag_or_str(&self, field: &Field, flag: Option<&str>) -> Result<Option<String>> {
        match flag {
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => Ok(Some(v.to_owned())),
            None => self.str(field),
        }
    }

    /// [`Envelope::flag_or_str`], or an error saying how to provide it.
    pub fn flag_or_require(&self, field: &Field, flag: Option<&str>) -> Result<String> {
        self.flag_or_str(field, flag)?.ok_or_else(|| missing(field))
    }

    /// Writes the secret into the envelope (the one place it is exposed there).
    pub fn set_secret(&mut self, field: &Field, secret: &Secret) {
        self.set(field.name, secret.expose());
    }

    /// Removes a field.
    pub fn remove(&mut self, name: &str) {
        self.fields.shift_remove(name);
    }

    /// Whether a `--dry-run` wrote the object (`dry_run: true`).
    pub fn is_dry_run(&self) -> bool {
        self.get(fields::DRY_RUN.name)
            .is_some_and(|v| v != serde_json::Value::Bool(false) && !v.is_null())
    }

    /// Whether the object carries an `error` from an earlier step.
    pub fn has_error(&self) -> bool {
        self.has(fields::ERROR.name)
    }

    /// The `error` an earlier step wrote, typed: a claim, so every field of it is optional
    /// and one of another shape reads as absent (an `error` that is no object reads empty).
    pub fn error(&self) -> ErrorField {
        self.get_as(fields::ERROR.name).unwrap_or_default()
    }

    /// Writes `error` (replacing one the object had, in its place).
    pub fn set_error(&mut self, error: &ErrorField) {
        self.set(fields::ERROR.name, error);
    }

    /// Moves `name` to the end, its value untouched (nothing when it is absent).
    pub fn move_to_end(&mut self, name: &str) {
        if let Some(raw) = self.fields.shift_remove(name) {
            self.fields.insert(name.to_owned(), raw);
        }
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The object as one compact line (no trailing newline).
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push('{');
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(k).expect("string"));
            out.push(':');
            minify_into(v.get(), &mut out);
        }
        out.push('}');
        out
    }
}

/// The fields set by the flags given: `(field, value)` for each flag that has a value, in
/// order (what a tool's `Tool::flags` returns).
pub fn given(flags: impl IntoIterator<Item = (Field, Option<String>)>) -> Vec<(Field, String)> {
    flags
        .into_iter()
        .filter_map(|(f, v)| v.map(|v| (f, v)))
        .collect()
}

/// The error for a missing field: which flag sets it, which step writes it.
pub fn missing(field: &Field) -> Error {
    let how = match (field.flag, field.from) {
        (Some(flag), Some(from)) => format!("pass {flag}, or pipe in the output of {from}"),
        (Some(flag), None) => format!("pass {flag} or set `{}` in the input object", field.name),
        (None, Some(from)) => format!("pipe in the output of {from}"),
        (None, None) => format!("set `{}` in the input object", field.name),
    };
    Error::input(field.name, format!("`{}` is missing: {how}", field.name))
}

fn kind_of(raw: &str) -> &'static str {
    match raw.trim_start().chars().next() {
        Some('{') => "an object",
        Some('[') => "an array",
        Some('t' | 'f') => "a boolean",
        Some('n') => "null",
        Some('"') => "a string",
        _ => "a number",
    }
}

/// Copies JSON text without whitespace outside strings (pretty input becomes one line).
///
/// `json` is valid JSON (a value the parser kept raw), whose only whitespace outside strings
/// is JSON's four ASCII bytes. The text between two of them is copied at once, and a string is
/// crossed byte by byte without decoding it: an object passed through is mostly strings.
fn minify_into(json: &str, out: &mut String) {
    let bytes = json.as_bytes();
    // `json[copied..i]` is kept, not yet copied.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // To the closing quote; an escaped byte (`\"`, `\\`) is stepped over.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push_str(&json[copied..i]);
                copied = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&json[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_keeps_the_flags_with_values_in_order() {
        let got = given([
            (fields::APP_ID, Some("a".to_owned())),
            (fields::CLOUD, None),
            (fields::REDIRECT_URI, Some("r".to_owned())),
        ]);
        let names: Vec<(&str, &str)> = got.iter().map(|(f, v)| (f.name, v.as_str())).collect();
        assert_eq!(names, [("app_id", "a"), ("redirect_uri", "r")]);
    }

    #[test]
    fn unknown_fields_pass_through_byte_for_byte() {
        let line = r#"{"z":1.50,"big":123456789012345678901234567890,"nested":{"b":[1,2.0e3,{"x":null}],"a":"é\u00e9\n"},"app_id":"x"}"#;
        let mut e = Envelope::parse(line).unwrap();
        assert_eq!(e.to_line(), line);
        e.set("app_id", "11111111-1111-1111-1111-111111111111");
        e.set("new", true);
        assert_eq!(
            e.to_line(),
            r#"{"z":1.50,"big":123456789012345678901234567890,"nested":{"b":[1,2.0e3,{"x":null}],"a":"é\u00e9\n"},"app_id":"11111111-1111-1111-1111-111111111111","new":true}"#
        );
    }

    #[test]
    fn the_error_is_read_typed_and_moved_byte_for_byte() {
        let line = r#"{"a":1,"error":{"step":"acr-grant","code":5,"extra":2.0e3},"b":2}"#;
        let mut e = Envelope::parse(line).unwrap();
        let error = e.error();
        assert_eq!(
            (error.step.as_deref(), error.code.as_deref()),
            (Some("acr-grant"), None)
        );
        e.move_to_end(fields::ERROR.name);
        assert_eq!(
            e.to_line(),
            r#"{"a":1,"b":2,"error":{"step":"acr-grant","code":5,"extra":2.0e3}}"#
        );
        e.move_to_end("absent");
        assert_eq!(e.keys().count(), 3);
        // An `error` that is no object reads empty; one written is the typed field.
        e.set(fields::ERROR.name, "text");
        assert_eq!(e.error(), ErrorField::default());
        let written = ErrorField::of("s", &Error::usage("m"));
        e.set_error(&written);
        assert_eq!(e.error(), written);
        assert!(
            e.to_line()
                .ends_with(r#""error":{"step":"s","code":"UsageError","message":"m"}}"#)
        );
    }

    #[test]
    fn pretty_input_becomes_one_line() {
        let e =
            Envelope::parse("{\n  \"a\": { \"b\" : [ 1 , \"x y\" ] },\n  \"c\": \"d\"\n}").unwrap();
        assert_eq!(e.to_line(), r#"{"a":{"b":[1,"x y"]},"c":"d"}"#);
    }

    #[test]
    fn non_objects_are_refused() {
        for (text, what) in [
            ("[1]", "array"),
            ("\"s\"", "string"),
            ("3", "number"),
            ("null", "null"),
            ("true", "boolean"),
        ] {
            assert!(Envelope::parse(text).unwrap_err().contains(what), "{text}");
        }
    }

    #[test]
    fn typed_access_names_field_flag_and_step() {
        let e = Envelope::parse(r#"{"app_id":5,"cluster_tenant_id":null}"#).unwrap();
        let err = e.str(&fields::APP_ID).unwrap_err();
        assert_eq!(
            err.kind(),
            &crate::ErrorKind::Input {
                field: "app_id".into()
            }
        );
        assert!(
            err.message().contains("must be a string, got a number"),
            "{err}"
        );
        let err = e.require_str(&fields::CLUSTER_TENANT_ID).unwrap_err();
        assert!(err.message().contains("--cluster-tenant"), "{err}");
        let err = Envelope::new().require_str(&fields::APP_ID).unwrap_err();
        assert!(
            err.message().contains("--app-id") && err.message().contains("entra-app-create"),
            "{err}"
        );
    }

    #[test]
    fn flags_win_over_the_input() {
        let e = Envelope::parse(r#"{"app_id":"a","keep":1}"#).unwrap();
        assert_eq!(
            e.flag_or_str(&fields::APP_ID, Some("b"))
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            e.flag_or_str(&fields::APP_ID, None).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(e.flag_or_str(&fields::APP_ID, Some(" ")).unwrap(), None);
        let err = e
            .flag_or_require(&fields::CLUSTER_TENANT_ID, None)
            .unwrap_err();
        assert!(err.message().contains("--cluster-tenant"), "{err}");
        let mut e = e;
        e.change(&fields::APP_ID, &Change::Set("c"));
        e.change(&fields::CLUSTER_ID, &Change::<String>::Remove);
        e.change(&fields::CLUSTER_ID, &Change::<String>::Keep);
        e.change(&fields::REGISTRY_ID, &Change::Set("r"));
        e.change(&fields::APP_ID, &Change::<String>::Keep);
        assert_eq!(e.to_line(), r#"{"app_id":"c","keep":1,"registry_id":"r"}"#);
        e.change(&fields::REGISTRY_ID, &Change::<String>::Remove);
        assert_eq!(e.to_line(), r#"{"app_id":"c","keep":1}"#);
    }

    #[test]
    fn debug_shows_keys_only() {
        let e = Envelope::parse(r#"{"client_secret":"s3cr3t-value"}"#).unwrap();
        let d = format!("{e:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        let s = e.secret(&fields::CLIENT_SECRET).unwrap().unwrap();
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
