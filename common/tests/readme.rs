//! README.md's tables against the code: the envelope's fields, and the error codes.

use std::collections::BTreeSet;
use std::path::Path;

use common::envelope::fields;
use common::error::codes;
use common::exit::ExitCode;

fn readme() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The rows of the first table after `heading`, as cells.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The `code` spans of a cell.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readmes_envelope_table_lists_exactly_the_fields() {
    let text = readme();
    let rows = table_after(&text, "## The envelope");
    let in_readme: Vec<String> = rows.iter().flat_map(|r| spans(&r[0])).collect();
    let in_code: Vec<String> = fields::ALL.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(
        in_readme.iter().collect::<BTreeSet<_>>(),
        in_code.iter().collect::<BTreeSet<_>>(),
        "README's envelope table vs common::envelope::fields::ALL"
    );
    assert_eq!(in_readme.len(), in_code.len(), "a field listed twice");
}

#[test]
fn the_readmes_error_table_lists_exactly_the_codes() {
    let text = readme();
    let rows = table_after(&text, "## Error codes");
    let in_readme: Vec<(String, u8, bool)> = rows
        .iter()
        .map(|r| {
            let name = spans(&r[0]).pop().unwrap_or_default();
            let exit = r[1]
                .parse()
                .unwrap_or_else(|_| panic!("exit of {name}: {r:?}"));
            let resumable = match r[2].as_str() {
                "yes" => true,
                "no" => false,
                other => panic!("resumable of {name}: {other:?}"),
            };
            (name, exit, resumable)
        })
        .collect();
    let in_code: Vec<(String, u8, bool)> = codes::ALL
        .iter()
        .map(|c| (c.name.to_owned(), c.exit.code(), c.resumable))
        .collect();
    assert_eq!(
        in_readme, in_code,
        "README's error table vs common::error::codes::ALL"
    );
    let names: BTreeSet<&str> = codes::ALL.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), codes::ALL.len(), "a code listed twice");
}

/// Every code a tool or `common` makes with a literal is in the registry (Azure's own
/// codes are matched with `is_code`, never made).
#[test]
fn every_code_the_code_makes_is_registered() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut unknown = Vec::new();
    for krate in [
        "common",
        "entra-app-create",
        "consent-link",
        "acr-grant",
        "aks-sp-update",
    ] {
        for path in rust_files(&root.join(krate).join("src")) {
            let text = std::fs::read_to_string(&path).unwrap();
            // Tests make codes of their own ("Boom", "X").
            let text = text.split("#[cfg(test)]").next().unwrap_or("");
            for ctor in ["Error::step(", "Error::credential(", ".with_code("] {
                for (i, _) in text.match_indices(ctor) {
                    let rest = text[i + ctor.len()..].trim_start();
                    let Some(lit) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let code = &lit[..lit.find('"').unwrap_or(0)];
                    if codes::find(code).is_none() {
                        unknown.push(format!("{}: {code}", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "codes not in common::error::codes: {unknown:#?}"
    );
}

/// The `.rs` files under `dir`, in its subfolders too (`http/`, `registry/`, …).
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// README's exit-code table lists exactly the codes of [`ExitCode`].
#[test]
fn readme_exit_codes_match_the_exit_code_type() {
    let text = readme();
    let rows = table_after(&text, "## Exit codes");
    let mut in_readme: Vec<u8> = rows
        .iter()
        .flat_map(|r| {
            r[0].split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("exit code {r:?}"))
                })
                .collect::<Vec<u8>>()
        })
        .collect();
    let mut in_code: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
    in_readme.sort_unstable();
    in_code.sort_unstable();
    assert_eq!(
        in_readme, in_code,
        "README's exit-code table vs ExitCode::ALL"
    );
}
