//! The workspace's sources against its rules: every exit code is an `ExitCode`.

use std::path::{Path, PathBuf};

/// The crates whose `src` the rules cover (the simulator depends on no crate of ours).
const CRATES: [&str; 6] = [
    "common",
    "entra-app-create",
    "consent-link",
    "acr-grant",
    "aks-sp-update",
    "bench",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Whether `text` after `at` starts with an integer literal (spaces aside).
fn integer_after(text: &str, at: usize) -> bool {
    text[at..]
        .trim_start()
        .starts_with(|c: char| c.is_ascii_digit())
}

/// No process exit is chosen with a bare number: `common::exit::ExitCode` names them all
/// (its `code()` is the one place the numbers are written).
#[test]
fn no_bare_integer_exit_code() {
    let mut found = Vec::new();
    for krate in CRATES {
        for path in rust_files(&root().join(krate).join("src")) {
            let text = std::fs::read_to_string(&path).unwrap();
            for pattern in [
                "ExitCode::from(",
                "process::exit(",
                "exit_code() ==",
                "exit_code(), ",
                "exit_code().max(",
            ] {
                for (i, _) in text.match_indices(pattern) {
                    if integer_after(&text, i + pattern.len()) {
                        let line = text[..i].lines().count();
                        found.push(format!("{}:{line}: {pattern}…", path.display()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "bare exit codes:\n{}", found.join("\n"));
}
