//! The workspace's sources against its rules: every exit code is an `ExitCode`; no crate's
//! modules use each other in a circle, and `common`'s layers are used bottom up only; no
//! source file is over 450 lines (beyond a list that may only shrink).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::tree::{root, rust_files};

/// Whether `text` after `at` starts with an integer literal (spaces aside).
fn integer_after(text: &str, at: usize) -> bool {
    text[at..]
        .trim_start()
        .starts_with(|c: char| c.is_ascii_digit())
}

/// No process exit is chosen with a bare number: `common::exit::ExitCode` names the tools'
/// (its `code()` is the one place the numbers are written), `sim-person` has its own `Answer`,
/// and the simulator and the bench end with `ExitCode::SUCCESS` or `FAILURE`.
#[test]
fn no_bare_integer_exit_code() {
    let mut found = Vec::new();
    for krate in CYCLE_CRATES {
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

// ------------------------------------------------------------------ layers

/// `text` without comments, and with every string and character literal emptied: what is
/// left is code, whatever the literals and comments say.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            i += 2;
            while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c[i] == 'r'
            && (i == 0 || !ident(c[i - 1]) || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2]))))
            && matches!(next, Some('"' | '#'))
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while j < c.len() && c[j] == '#' {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() {
                if c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')) {
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += 1;
        } else if c[i] == '\'' && next == Some('\\') {
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            out.push_str("' '");
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// `code` without the items marked `#[cfg(test)]` (a test module may use any layer).
fn without_tests(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find(';'), item.find('{')) {
            (Some(semi), Some(open)) if semi < open => semi + 1,
            (_, Some(open)) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (k, ch) in item[open..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = open + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (Some(semi), None) => semi + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The first identifier of `s` (after spaces).
fn first_ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s
        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The names a path at the crate's root reaches: `x` of `crate::x::…`, or each first name
/// of a group `crate::{x, y::z}`.
fn root_names(after: &str) -> Vec<&str> {
    let after = after.trim_start();
    let Some(group) = after.strip_prefix('{') else {
        return vec![first_ident(after)];
    };
    let mut names = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (k, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(first_ident(&group[start..k]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(first_ident(&group[start..k]));
                start = k + 1;
            }
            _ => {}
        }
    }
    names.retain(|n| !n.is_empty() && *n != "self");
    names
}

/// A crate's top-level modules and which of them each one uses (`crate::x`, `super::x` out
/// of the module, and the crate root's re-exports resolved to their module), tests aside.
fn module_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join(krate).join("src");
    let files = rust_files(&src);
    let module_of = |path: &Path| -> Option<(String, usize)> {
        let rel = path.strip_prefix(&src).ok()?;
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
            return None;
        }
        let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod"));
        Some((parts[0].clone(), depth))
    };
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|p| module_of(p))
        .map(|m| m.0)
        .collect();
    // `pub use x::{A, B}` at the root: `crate::A` is module `x`.
    let mut reexports = BTreeMap::new();
    for root_file in ["lib.rs", "main.rs"] {
        let Ok(text) = std::fs::read_to_string(src.join(root_file)) else {
            continue;
        };
        let code = code_only(&text);
        for (i, _) in code.match_indices("use ") {
            let target = first_ident(&code[i + 4..]);
            if !modules.contains(target) {
                continue;
            }
            let after = &code[i + 4 + target.len()..];
            if let Some(names) = after.strip_prefix("::") {
                for n in root_names(names) {
                    reexports.insert(n.to_owned(), target.to_owned());
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let Some((module, depth)) = module_of(path) else {
            continue;
        };
        let code = without_tests(&code_only(&std::fs::read_to_string(path).unwrap()));
        let uses = graph.entry(module.clone()).or_default();
        let mut reached = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            if code[..i].ends_with(|ch: char| ch.is_alphanumeric() || ch == '_') {
                continue;
            }
            reached.extend(root_names(&code[i + 7..]));
        }
        for (i, _) in code.match_indices("super::") {
            if code[..i].ends_with(|ch: char| ch.is_alphanumeric() || ch == '_' || ch == ':') {
                continue;
            }
            let mut rest = &code[i..];
            let mut ups = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                ups += 1;
                rest = r;
            }
            if ups >= depth {
                reached.extend(root_names(rest));
            }
        }
        for name in reached {
            let target = if modules.contains(name) {
                Some(name)
            } else {
                reexports.get(name).map(String::as_str)
            };
            if let Some(t) = target.filter(|t| *t != module) {
                uses.insert(t.to_owned());
            }
        }
    }
    graph
}

/// The groups of modules that use each other in a circle (Tarjan's strongly connected
/// components of more than one module), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                group.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found.sort();
    s.found
}

/// Module cycles not yet broken, by crate: this list may only shrink. A cycle found that is
/// not here fails the test, and so does an entry here that is no longer a cycle.
const KNOWN_CYCLES: &[(&str, &[&str])] = &[];

/// No crate's top-level modules use each other in a circle (beyond [`KNOWN_CYCLES`]).
#[test]
fn no_module_cycle_in_any_crate() {
    let mut unexpected = Vec::new();
    let mut found_all = Vec::new();
    for krate in CYCLE_CRATES {
        for group in cycles(&module_graph(krate)) {
            let known = KNOWN_CYCLES.iter().any(|(k, g)| {
                *k == krate && g.iter().copied().eq(group.iter().map(String::as_str))
            });
            if !known {
                unexpected.push(format!("{krate}: {}", group.join(" ")));
            }
            found_all.push((krate, group));
        }
    }
    let stale: Vec<String> = KNOWN_CYCLES
        .iter()
        .filter(|(k, g)| {
            !found_all
                .iter()
                .any(|(fk, fg)| fk == k && g.iter().copied().eq(fg.iter().map(String::as_str)))
        })
        .map(|(k, g)| format!("{k}: {}", g.join(" ")))
        .collect();
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "module cycles not in KNOWN_CYCLES:\n{}\nKNOWN_CYCLES entries that are gone (remove them):\n{}",
        unexpected.join("\n"),
        stale.join("\n")
    );
}

/// The crates whose sources the rules cover (each `src`; `tests` holds `sim-person`).
const CYCLE_CRATES: [&str; 8] = [
    "common",
    "entra-app-create",
    "consent-link",
    "acr-grant",
    "aks-sp-update",
    "bench",
    "azure-sim",
    "tests",
];

/// `common`'s layers, bottom up: a module uses only modules of its own layer or below.
/// The order is issue 28's: values (error, secret, validate and the like, the cloud's
/// endpoints among them) → time (deadline, durations) → http → auth → the services (ARM
/// with its long-running operations, Graph, Key Vault, registries) → context → the checks
/// the steps share → driver.
const COMMON_LAYERS: &[(&str, &[&str])] = &[
    (
        "values",
        &[
            "exit", "error", "secret", "envelope", "validate", "target", "json", "odata", "env",
            "resolve", "ui", "cloud",
        ],
    ),
    ("time", &["duration", "interrupt", "wait"]),
    ("http", &["http"]),
    ("auth", &["auth"]),
    (
        "services",
        &[
            "arm", "graph", "keyvault", "registry", "tenants", "app_keys",
        ],
    ),
    ("context", &["cli", "context"]),
    ("shared checks", &["binding", "client_secret", "record"]),
    ("driver", &["driver"]),
];

/// The layer `module` is in, by its position in [`COMMON_LAYERS`].
fn common_layer(module: &str) -> Option<usize> {
    COMMON_LAYERS
        .iter()
        .position(|(_, ms)| ms.contains(&module))
}

/// Every module of `common` has a layer, and uses nothing above it.
#[test]
fn common_uses_only_its_own_layer_and_below() {
    let mut wrong = Vec::new();
    for (module, uses) in module_graph("common") {
        let Some(own) = common_layer(&module) else {
            wrong.push(format!("{module} has no layer in COMMON_LAYERS"));
            continue;
        };
        for u in uses {
            match common_layer(&u) {
                Some(l) if l <= own => {}
                Some(l) => wrong.push(format!(
                    "{module} ({}) uses {u} ({})",
                    COMMON_LAYERS[own].0, COMMON_LAYERS[l].0
                )),
                None => wrong.push(format!("{u} has no layer in COMMON_LAYERS")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The layers keep issue 28's order, each step strictly above the one before: a module
/// moved to another layer (http beside auth again, say) fails here, not only a use.
#[test]
fn common_layers_are_in_the_issues_order() {
    let order: &[&[&str]] = &[
        &["error", "secret", "validate"],
        &["duration", "wait"],
        &["http"],
        &["auth"],
        &["arm", "graph", "keyvault", "registry"],
        &["context"],
        &["driver"],
    ];
    let mut below = None;
    for group in order {
        let layers: Vec<Option<usize>> = group.iter().map(|m| common_layer(m)).collect();
        let first = layers[0];
        assert!(first.is_some(), "{group:?}: no layer");
        assert!(
            layers.iter().all(|l| *l == first),
            "{group:?} are not in one layer: {layers:?}"
        );
        assert!(
            below < first,
            "{group:?} (layer {first:?}) is not above the group before (layer {below:?})"
        );
        below = first;
    }
    // And http, which signs requests, does not use auth, the layer above that gives tokens.
    let graph = module_graph("common");
    assert!(!graph["http"].contains("auth"), "http uses auth");
    assert!(
        graph["auth"].contains("http"),
        "auth implements http's Tokens"
    );
}

// ------------------------------------------------------------------ file length

/// The most lines a source file under `*/src` has: past it, split it by responsibility.
const MAX_LINES: usize = 450;

/// Files over [`MAX_LINES`] not yet split, each with the length it may not grow past: this
/// list may only shrink (a file back under the limit must leave it).
const LONG_FILES: &[(&str, usize)] = &[];

/// No source file under any crate's `src` is over [`MAX_LINES`] lines, beyond [`LONG_FILES`].
#[test]
fn no_source_file_over_the_limit() {
    let mut wrong = Vec::new();
    let mut seen = BTreeSet::new();
    for krate in CYCLE_CRATES {
        let base = root().join(krate);
        for path in rust_files(&base.join("src")) {
            let rel = format!(
                "{krate}/{}",
                path.strip_prefix(&base).unwrap().to_string_lossy()
            );
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            match LONG_FILES.iter().find(|(f, _)| *f == rel) {
                Some((_, cap)) if lines > *cap => {
                    wrong.push(format!(
                        "{rel}: {lines} lines, grown past its {cap}: split it"
                    ));
                }
                Some(_) if lines <= MAX_LINES => {
                    wrong.push(format!("{rel}: {lines} lines: remove it from LONG_FILES"));
                }
                None if lines > MAX_LINES => {
                    wrong.push(format!(
                        "{rel}: {lines} lines, over {MAX_LINES}: split it by responsibility"
                    ));
                }
                Some(_) | None => {}
            }
            seen.insert(rel);
        }
    }
    for (f, _) in LONG_FILES {
        if !seen.contains(*f) {
            wrong.push(format!("{f} is gone: remove it from LONG_FILES"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The code table of docs/development.md ("Code layout"): per crate, its modules in layers,
/// bottom up, separated by `→` (backticked names; a layer may have a name before them).
fn code_table() -> BTreeMap<String, Vec<Vec<String>>> {
    let doc = std::fs::read_to_string(root().join("docs/development.md")).unwrap();
    let section = doc
        .split("\n## Code layout")
        .nth(1)
        .expect("docs/development.md has a `## Code layout` section");
    let section = section.split("\n## ").next().unwrap();
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 2, "a row is | crate | layers |: {line}");
        let krate = ticked(cells[0]).concat();
        let layers = cells[1].split('→').map(ticked).collect();
        table.insert(krate, layers);
    }
    table
}

/// docs/development.md's code table names every module of every crate once, in layers a
/// module never reaches above (what it uses is in its own layer or below); `common`'s row
/// is [`COMMON_LAYERS`].
#[test]
fn the_code_table_matches_the_layout() {
    let table = code_table();
    let mut wrong = Vec::new();
    let listed: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    let crates: BTreeSet<&str> = CYCLE_CRATES.into_iter().collect();
    if listed != crates {
        wrong.push(format!(
            "crates: the table has {listed:?}, the workspace {crates:?}"
        ));
    }
    for (krate, layers) in &table {
        let layer_of = |m: &str| layers.iter().position(|l| l.iter().any(|x| x == m));
        let graph = module_graph(krate);
        let named: Vec<&String> = layers.iter().flatten().collect();
        let named_set: BTreeSet<&str> = named.iter().map(|s| s.as_str()).collect();
        let real: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
        if named.len() != named_set.len() {
            wrong.push(format!("{krate}: a module is named twice"));
        }
        for m in real.difference(&named_set) {
            wrong.push(format!("{krate}: module {m} is not in the table"));
        }
        for m in named_set.difference(&real) {
            wrong.push(format!("{krate}: the table names {m}, which is no module"));
        }
        for (module, uses) in &graph {
            for u in uses {
                if let (Some(a), Some(b)) = (layer_of(module), layer_of(u))
                    && b > a
                {
                    wrong.push(format!("{krate}: {module} uses {u}, a layer above it"));
                }
            }
        }
    }
    let common: Vec<Vec<String>> = COMMON_LAYERS
        .iter()
        .map(|(_, ms)| ms.iter().map(|m| (*m).to_owned()).collect())
        .collect();
    let sorted = |ls: &[Vec<String>]| -> Vec<BTreeSet<String>> {
        ls.iter().map(|l| l.iter().cloned().collect()).collect()
    };
    if table.get("common").map(|l| sorted(l)) != Some(sorted(&common)) {
        wrong.push("common's row is not COMMON_LAYERS".to_owned());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Cargo.lock keeps idna on its unicode-rs back end (`idna_adapter` 1.1, as Cargo.toml says
/// beside `url`): a `cargo update` that moved it back to ICU4X would bring 22 crates and
/// their derive macros into every build. Non-ASCII hosts still work either way
/// (consent-link's `built_in_clouds_give_the_exact_link_without_any_request`).
#[test]
fn the_lock_keeps_idna_on_unicode_rs() {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"idna_adapter\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .expect("idna_adapter is in Cargo.lock");
    assert!(
        version.starts_with("1.1."),
        "idna_adapter {version}: run `cargo update -p idna_adapter --precise 1.1.0` (see Cargo.toml)"
    );
    assert!(
        !lock.contains("\nname = \"icu_normalizer\"\n"),
        "ICU4X is back in Cargo.lock"
    );
}
