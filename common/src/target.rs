//! Which resource a write acts on: the one the person names with a flag, or — only with
//! `--targets-from-input` — the one the input object names.
//!
//! An input object may come from another team; a field in it that chose the registry granted
//! on or the cluster reset would let that team pick one of the reader's resources. So a
//! step that writes takes its target from its flag; the object's field is compared with the
//! flag (a different value is a mismatch, refused) and used on its own only when the person
//! says so. Everything here happens before any request.

use crate::envelope::Field;
use crate::error::{Error, Result};
use crate::validate::shown;

/// The flag with which the person lets each input object name its own target.
pub const TARGETS_FROM_INPUT: &str = "--targets-from-input";

/// How the input's value compares with the flag's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Same {
    /// The same target.
    Yes,
    /// Another target.
    No,
    /// Only Azure can tell (a registry's name and an id): compare once the flag's target is found.
    Later,
}

/// A step's target: its field and the flag that names it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The envelope field that names it (e.g. `cluster_id`).
    pub field: Field,
    /// The flag, with how to give it (e.g. `--cluster ID`).
    pub flag: &'static str,
    /// What it is, for messages (e.g. `cluster`).
    pub what: &'static str,
    /// What the step writes on it, for messages (e.g. `is reset`).
    pub write: &'static str,
    /// The fields that belong to the target (the step's output about it, `field` first):
    /// what to remove from an object to use it for another target.
    pub fields: &'static [&'static str],
}

/// The target chosen for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen<T> {
    /// What the write acts on.
    pub target: T,
    /// The input's value, when only Azure can tell whether it names `target` ([`Same::Later`]):
    /// the step compares it with what it found before writing ([`Target::mismatch`]).
    pub confirm: Option<T>,
}

impl Target {
    /// The flag's name alone (`--cluster` of `--cluster ID`).
    fn flag_name(&self) -> &'static str {
        self.flag.split_whitespace().next().unwrap_or(self.flag)
    }

    /// Chooses the target of one object: the flag's (`flag`, parsed) when given, the input's `input` value (parsed by `parse`) only with `trust_input`. A flag
    /// and an input value that `same` says differ are a mismatch; an input value without the
    /// flag or `--targets-from-input` is refused; neither is a missing field.
    pub fn choose<T: std::fmt::Display>(
        &self,
        flag: Option<T>,
        input: Option<&str>,
        trust_input: bool,
        parse: impl Fn(&str) -> Result<T>,
        same: impl Fn(&T, &T) -> Same,
    ) -> Result<Chosen<T>> {
        let name = self.field.name;
        // A well-formed value is shown whole (a parsed name holds no control character); any
        // other as `shown` cuts and escapes it.
        let show =
            |raw: &str| parse(raw).map_or_else(|_| shown(raw), |v| format!("{:?}", v.to_string()));
        match (flag, input) {
            (Some(target), None) => Ok(Chosen {
                target,
                confirm: None,
            }),
            (Some(target), Some(raw)) => {
                let given = format!("{:?}", target.to_string());
                // An input value that is not even a well-formed name is another target too.
                let Ok(claimed) = parse(raw) else {
                    return Err(self.mismatch(&given, &shown(raw)));
                };
                match same(&target, &claimed) {
                    Same::Yes => Ok(Chosen {
                        target,
                        confirm: None,
                    }),
                    Same::No => Err(self.mismatch(&given, &show(raw))),
                    Same::Later => Ok(Chosen {
                        target,
                        confirm: Some(claimed),
                    }),
                }
            }
            (None, Some(raw)) if trust_input => Ok(Chosen {
                target: parse(raw)?,
                confirm: None,
            }),
            (None, Some(raw)) => Err(Error::input(
                name,
                format!(
                    "the input's `{name}` names the {what} {}, but a {what} {write} only when you name it",
                    show(raw),
                    what = self.what,
                    write = self.write,
                ),
            )
            .with_hint(format!(
                "pass {} — the input's `{name}` must then name the same {} — or {TARGETS_FROM_INPUT} to act on the `{name}` of each input object (for reruns on your own files, and fleets)",
                self.flag, self.what
            ))),
            (None, None) => Err(Error::input(
                name,
                format!("`{name}` is missing: pass {}", self.flag),
            )),
        }
    }

    /// The refusal of a flag naming `given` and an input value naming `claimed` (both as
    /// they are to be shown: quoted, escaped), another target.
    pub fn mismatch(&self, given: &str, claimed: &str) -> Error {
        let (name, flag) = (self.field.name, self.flag_name());
        Error::input(
            name,
            format!(
                "{flag} names the {what} {given}, but the input's `{name}` names the {what} {claimed}: a mismatch",
                what = self.what,
            ),
        )
        .with_hint(format!(
            "check that the input is the one meant for this {what}; to act on {flag}'s {what} with it, remove what it says about the other one: jq 'del({})'",
            self.fields
                .iter()
                .map(|f| format!(".{f}"))
                .collect::<Vec<_>>()
                .join(", "),
            what = self.what
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::envelope::fields;

    const T: Target = Target {
        field: fields::CLUSTER_ID,
        flag: "--cluster ID",
        what: "cluster",
        write: "is reset",
        fields: &["cluster_id", "cluster_operation_url"],
    };

    fn parse(v: &str) -> Result<String> {
        if v.starts_with('/') {
            Ok(v.to_ascii_lowercase())
        } else {
            Err(Error::input("cluster_id", "not an id"))
        }
    }

    fn same(a: &String, b: &String) -> Same {
        if a == b {
            Same::Yes
        } else if b.ends_with("later") {
            Same::Later
        } else {
            Same::No
        }
    }

    fn choose(flag: Option<&str>, input: Option<&str>, trust: bool) -> Result<Chosen<String>> {
        T.choose(flag.map(|f| parse(f).unwrap()), input, trust, parse, same)
    }

    fn said(e: &Error) -> String {
        assert_eq!(
            e.kind(),
            &ErrorKind::Input {
                field: "cluster_id".into()
            }
        );
        e.full_message()
    }

    #[test]
    fn the_flag_names_the_target() {
        for trust in [false, true] {
            assert_eq!(choose(Some("/A"), None, trust).unwrap().target, "/a");
            assert_eq!(choose(Some("/A"), Some("/a"), trust).unwrap().target, "/a");
            let m = said(&choose(Some("/a"), Some("/b"), trust).unwrap_err());
            assert!(m.contains("--cluster names") && m.contains("\"/b\""), "{m}");
            assert!(m.contains("`cluster_id`") && m.contains("mismatch"), "{m}");
            assert!(
                m.contains("jq 'del(.cluster_id, .cluster_operation_url)'"),
                "{m}"
            );
            let m = said(&choose(Some("/a"), Some("not\nan id"), trust).unwrap_err());
            assert!(
                m.contains("mismatch") && m.contains(r#""not\nan id""#),
                "{m}"
            );
            // A well-formed value is shown whole, however long.
            let long = format!("/{}", "x".repeat(300));
            let m = said(&choose(Some("/a"), Some(&long), trust).unwrap_err());
            assert!(m.contains(&long), "{m}");
        }
        let later = choose(Some("/a"), Some("/later"), false).unwrap();
        assert_eq!(later.confirm.as_deref(), Some("/later"));
    }

    #[test]
    fn the_input_names_it_only_when_the_person_says_so() {
        let m = said(&choose(None, Some("/b"), false).unwrap_err());
        assert!(
            m.contains("--cluster ID") && m.contains(TARGETS_FROM_INPUT) && m.contains("\"/b\""),
            "{m}"
        );
        assert_eq!(choose(None, Some("/B"), true).unwrap().target, "/b");
        assert!(choose(None, Some("x"), true).is_err());
        let m = said(&choose(None, None, true).unwrap_err());
        assert!(m.contains("missing: pass --cluster ID"), "{m}");
    }
}
