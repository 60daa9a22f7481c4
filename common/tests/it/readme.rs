//! The documentation against the code: the envelope's fields (docs/envelope.md), the error
//! codes (docs/errors.md, and README.md's Troubleshooting: what to run after each), the
//! README's shape (its sections, in order, and at most 2,500 words), its exit codes, and
//! every relative link of README.md and docs/ leading to a file and heading that exist.

use std::collections::BTreeSet;
use std::path::Path;

use common::envelope::fields;
use common::error::codes;
use common::exit::ExitCode;

use crate::tree::{root, rust_files};

fn doc(name: &str) -> String {
    let p = root().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn readme() -> String {
    doc("README.md")
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
fn the_envelope_docs_table_lists_exactly_the_fields() {
    let text = doc("docs/envelope.md");
    let rows = table_after(&text, "# The envelope");
    let in_readme: Vec<String> = rows.iter().flat_map(|r| spans(&r[0])).collect();
    let in_code: Vec<String> = fields::ALL.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(
        in_readme.iter().collect::<BTreeSet<_>>(),
        in_code.iter().collect::<BTreeSet<_>>(),
        "docs/envelope.md's table vs common::envelope::fields::ALL"
    );
    assert_eq!(in_readme.len(), in_code.len(), "a field listed twice");
}

#[test]
fn the_error_docs_table_lists_exactly_the_codes() {
    let text = doc("docs/errors.md");
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
        "docs/errors.md's table vs common::error::codes::ALL"
    );
    let names: BTreeSet<&str> = codes::ALL.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), codes::ALL.len(), "a code listed twice");
}

/// Our codes are `codes::Code`s (`Error::new`, `credential`, `step`, `with_code`: the
/// compiler checks those); `Error::azure` passes Azure's own code through as Azure sent it,
/// so outside tests it is never given a literal, which would be a code of ours unregistered.
#[test]
fn no_code_is_made_from_a_literal_outside_the_registry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ctor = "Error::azure(";
    let mut literal = Vec::new();
    for krate in [
        "common",
        "entra-app-create",
        "consent-link",
        "acr-grant",
        "aks-sp-update",
    ] {
        for path in rust_files(&root.join(krate).join("src")) {
            let text = std::fs::read_to_string(&path).unwrap();
            // Tests stand in for Azure ("Boom", "AuthorizationFailed").
            let text = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, _) in text.match_indices(ctor) {
                if let Some(code) = second_argument(&text[i + ctor.len()..])
                    && code.starts_with('"')
                {
                    literal.push(format!("{}: {code}", path.display()));
                }
            }
        }
    }
    assert!(
        literal.is_empty(),
        "Error::azure given a literal code (register it in common::error::codes and use Error::new): {literal:#?}"
    );
}

/// The second argument of a call whose arguments start `args` (up to its comma or `)`).
fn second_argument(args: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut at = None;
    for (i, c) in args.char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' if depth == 0 => return None,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                at = Some(i + 1);
                break;
            }
            _ => {}
        }
    }
    let rest = args[at?..].trim_start();
    let end = rest.find([',', ')']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

#[test]
fn the_second_argument_is_found_past_braces() {
    assert_eq!(
        second_argument("ErrorKind::Http { status: 4, x: 1 }, \"Lit\", m)"),
        Some("\"Lit\"")
    );
    assert_eq!(second_argument("kind, code, msg)"), Some("code"));
    assert_eq!(second_argument("only)"), None);
}

/// The README's sections, in the order a newcomer needs them (issue 25).
const SECTIONS: &[&str] = &[
    "What it does",
    "Install",
    "Try it against the simulator",
    "Real Azure",
    "Day two",
    "Security",
    "Troubleshooting",
    "Exit codes",
];

/// The most words the README may have: every word counts, code blocks and tables included.
const MAX_WORDS: usize = 2500;

#[test]
fn the_readme_is_for_users_in_order_and_short() {
    let text = readme();
    let head: Vec<&str> = text.lines().take(6).collect();
    assert!(
        head.iter().any(|l| l.starts_with("make demo"))
            && head.iter().any(|l| l.starts_with("make test")),
        "the README starts with make demo and make test: {head:#?}"
    );
    let sections: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("## ")).collect();
    assert_eq!(sections, SECTIONS, "the README's sections");
    let words = text.split_whitespace().count();
    assert!(
        words <= MAX_WORDS,
        "README.md has {words} words (at most {MAX_WORDS}): move evidence and detail to docs/"
    );
}

#[test]
fn the_readmes_troubleshooting_says_what_to_run_after_every_code() {
    let text = readme();
    let rows = table_after(&text, "## Troubleshooting");
    let mut seen: Vec<&str> = Vec::new();
    for row in &rows {
        assert!(
            row.len() == 2 && !row[1].is_empty(),
            "a row says what to run: {row:?}"
        );
        for name in spans(&row[0]) {
            let code = codes::find(&name)
                .unwrap_or_else(|| panic!("{name} in Troubleshooting is not a code of the tools"));
            assert!(!seen.contains(&code.name), "{name} listed twice");
            seen.push(code.name);
        }
    }
    let missing: Vec<&str> = codes::ALL
        .iter()
        .map(|c| c.name)
        .filter(|n| !seen.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "codes the README's Troubleshooting does not say what to run after: {missing:?}"
    );
    // The row that says "rerun" lists exactly the codes a rerun may complete.
    let rerun: BTreeSet<String> = rows
        .iter()
        .find(|r| r[1].starts_with("the same command again on the failed output"))
        .map(|r| spans(&r[0]).into_iter().collect())
        .expect("a row: the same command again on the failed output");
    let resumable: BTreeSet<String> = codes::ALL
        .iter()
        .filter(|c| c.resumable)
        .map(|c| c.name.to_owned())
        .collect();
    assert_eq!(rerun, resumable, "the rerun row vs the resumable codes");
}

/// The exit codes of a table's first column ("130, 143" is two).
fn exit_codes(text: &str, heading: &str) -> BTreeSet<u8> {
    table_after(text, heading)
        .iter()
        .flat_map(|r| {
            r[0].split(',')
                .map(|c| {
                    c.trim()
                        .parse::<u8>()
                        .unwrap_or_else(|_| panic!("exit code {c:?} under {heading}"))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_readmes_exit_codes_are_the_references_and_cover_every_code() {
    let in_readme = exit_codes(&readme(), "## Exit codes");
    let in_docs = exit_codes(&doc("docs/errors.md"), "## Exit codes");
    assert_eq!(in_readme, in_docs, "README vs docs/errors.md");
    for c in codes::ALL {
        let exit = c.exit.code();
        assert!(in_readme.contains(&exit), "{}'s exit {exit}", c.name);
    }
    assert!(in_readme.contains(&0));
}

/// README's exit-code table lists exactly the codes of [`ExitCode`].
#[test]
fn readme_exit_codes_match_the_exit_code_type() {
    let in_readme = exit_codes(&readme(), "## Exit codes");
    let in_code: BTreeSet<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(
        in_readme, in_code,
        "README's exit-code table vs ExitCode::ALL"
    );
}

/// A heading's anchor as GitHub makes it: lower case, spaces to hyphens, punctuation
/// other than hyphens and underscores dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_relative_link_of_the_readme_and_docs_leads_to_a_file_and_heading() {
    let root = root();
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let dir = file.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let link = &rest[..end];
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, frag) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            let rel = target.canonicalize().ok().and_then(|t| {
                t.strip_prefix(root.canonicalize().unwrap())
                    .ok()
                    .map(|p| p.display().to_string())
            });
            let name = format!("{}: {link}", file.display());
            let Some(rel) = rel else {
                broken.push(format!("{name} (no such file)"));
                continue;
            };
            if !frag.is_empty() && Path::new(&rel).extension().is_some_and(|e| e == "md") {
                let heads = anchors(&std::fs::read_to_string(root.join(&rel)).unwrap());
                if !heads.contains(frag) {
                    broken.push(format!("{name} (no heading #{frag} in {rel})"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found");
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}
