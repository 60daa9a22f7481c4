//! Every dependency a workspace crate declares is used by that crate (issue 28): a
//! `[dependencies]` entry must be named in the crate's `src/`, a `[dev-dependencies]` entry
//! in its `src/`, `tests/`, `benches/` or `examples/`. No tool to install: the manifests are
//! read as text, the sources searched for `name::`, `use name` or `extern crate name`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::tree::{root, rust_files};

/// Dependencies declared for what they do, not for a path the code names, each with its reason.
/// (None now: regex-syntax was one, for tracing-subscriber's env-filter, which is gone.)
const USED_WITHOUT_A_PATH: &[(&str, &str, &str)] = &[];

/// The workspace's member directories, from the root Cargo.toml's `members`.
fn members() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let start = text.find("members = [").expect("workspace members");
    let list = &text[start + "members = [".len()..];
    let list = &list[..list.find(']').expect("end of members")];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The dependency names of each section of a manifest (`[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, target-specific ones folded in), as `section -> names`.
fn declared(manifest: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(h) = line.strip_prefix('[') {
            let h = h.trim_end_matches(']');
            h.rsplit('.').next().unwrap_or(h).clone_into(&mut section);
            continue;
        }
        if !section.ends_with("dependencies") || line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            // `foo.workspace = true` or `foo = …`
            let name = key.split('.').next().unwrap_or(key).trim_matches('"');
            out.entry(section.clone())
                .or_default()
                .push(name.to_owned());
        }
    }
    out
}

fn sources(crate_dir: &Path, dirs: &[&str]) -> String {
    let mut files = Vec::new();
    for d in dirs {
        let dir = crate_dir.join(d);
        if dir.is_dir() {
            files.extend(rust_files(&dir));
        }
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `code` names crate `ident` as a path: `ident::`, `use ident`, `extern crate ident`,
/// the name not part of a longer identifier.
fn names(code: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(ident).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = &code[i + ident.len()..];
        let whole = !before.is_some_and(is_ident) && !after.starts_with(is_ident);
        let prefix = code[..i].trim_end();
        whole
            && (after.starts_with("::")
                || prefix.ends_with("use")
                || prefix.ends_with("extern crate")
                || (prefix.ends_with("::") && before == Some(':')))
    })
}

#[test]
fn every_declared_dependency_is_used_by_its_crate() {
    let mut unused = Vec::new();
    let mut checked = 0;
    for member in members() {
        let dir = root().join(&member);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let lib = sources(&dir, &["src", "build.rs"]);
        let all = sources(&dir, &["src", "tests", "benches", "examples"]);
        for (section, deps) in declared(&manifest) {
            let code = if section == "dependencies" {
                &lib
            } else {
                &all
            };
            for dep in deps {
                checked += 1;
                let ident = dep.replace('-', "_");
                let excused = USED_WITHOUT_A_PATH
                    .iter()
                    .any(|(m, d, _)| *m == member && *d == dep);
                if !excused && !names(code, &ident) {
                    unused.push(format!("{member}: [{section}] {dep}"));
                }
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} dependencies found: is the manifest reader broken?"
    );
    assert!(
        unused.is_empty(),
        "declared but never named in the crate's code (remove them, or list one in \
         USED_WITHOUT_A_PATH with the reason):\n  {}",
        unused.join("\n  ")
    );
}

#[test]
fn every_workspace_dependency_is_declared_by_a_member() {
    let root_manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members: Vec<String> = members()
        .iter()
        .map(|m| std::fs::read_to_string(root().join(m).join("Cargo.toml")).unwrap())
        .collect();
    let declared_by_members: Vec<String> = members
        .iter()
        .flat_map(|m| declared(m).into_values().flatten())
        .collect();
    let workspace = declared(&root_manifest);
    let listed = &workspace["dependencies"];
    assert!(listed.len() > 20, "{listed:?}");
    let orphans: Vec<&String> = listed
        .iter()
        .filter(|d| !declared_by_members.contains(d))
        .collect();
    assert!(
        orphans.is_empty(),
        "[workspace.dependencies] no member declares: {orphans:?}"
    );
}

#[test]
fn the_reader_finds_uses_and_not_lookalikes() {
    assert!(names("use serde::Deserialize;", "serde"));
    assert!(names("let x = uuid::Uuid::new_v4();", "uuid"));
    assert!(names("use {anyhow, tokio};", "tokio") || names("tokio::spawn", "tokio"));
    assert!(names("extern crate tracing;", "tracing"));
    assert!(!names("use serde_json::Value;", "serde"));
    assert!(!names("// no tracing here", "tracing"));
    assert!(!names("let my_uuid::x", "uuid"));
    let m = "[dependencies]\nanyhow.workspace = true\nfoo-bar = \"1\"\n\n[dev-dependencies]\n\
             tempfile.workspace = true\n[lints]\nworkspace = true\n";
    let d = declared(m);
    assert_eq!(d["dependencies"], ["anyhow", "foo-bar"]);
    assert_eq!(d["dev-dependencies"], ["tempfile"]);
    assert_eq!(d.len(), 2);
}
