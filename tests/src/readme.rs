//! The shell blocks of README.md and docs/*.md, as the tests run them. Each ```` ```sh ````
//! block of a doc follows a marker `<!-- test: ID -->`; the test that runs the block takes it
//! by its doc and ID (`doc_block("docs/day-two.md", "ID")`, `doc_block_for(&sim, doc, "ID")`;
//! the README's: `readme_block("ID")`, `readme_block_for(&sim, "ID")`), and
//! `tests/tests/it/readme.rs` checks that every block is taken by some test.

use crate::TestSim;

pub use crate::repo_root;

/// The README, as the doc paths below name it.
pub const README: &str = "README.md";

/// The text of the doc at `doc` (a path from the repository's root).
pub fn doc_text(doc: &str) -> String {
    let p = repo_root().join(doc);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every ```` ```sh ```` block of the doc `doc`, in order, with the ID of the marker on the
/// line before it (`None`: no marker).
pub fn doc_blocks(doc: &str) -> Vec<(Option<String>, String)> {
    let text = doc_text(doc);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "```sh" {
            let id = i
                .checked_sub(1)
                .and_then(|j| lines[j].trim().strip_prefix("<!-- test: "))
                .and_then(|rest| rest.strip_suffix(" -->"))
                .map(|id| id.trim().to_owned());
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim() == "```")
                .unwrap_or_else(|| panic!("{doc} line {}: a sh block that never ends", i + 1));
            out.push((id, lines[i + 1..end].join("\n") + "\n"));
            i = end;
        }
        i += 1;
    }
    out
}

/// The sh block of `doc` marked `<!-- test: ID -->`, as written.
pub fn doc_block(doc: &str, id: &str) -> String {
    let blocks: Vec<String> = doc_blocks(doc)
        .into_iter()
        .filter(|(i, _)| i.as_deref() == Some(id))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "{doc} has {} sh blocks marked <!-- test: {id} -->",
        blocks.len()
    );
    blocks.into_iter().next().unwrap_or_default()
}

/// Every sh block of the README ([`doc_blocks`]).
pub fn readme_blocks() -> Vec<(Option<String>, String)> {
    doc_blocks(README)
}

/// The README's block `id` ([`doc_block`]).
pub fn readme_block(id: &str) -> String {
    doc_block(README, id)
}

/// The README's block `id` with the simulator's names ([`doc_block_for`]).
pub fn readme_block_for(sim: &TestSim, id: &str) -> String {
    doc_block_for(sim, README, id)
}

/// The block `id` of `doc` with its example names made the simulator's: the tenants
/// (`contoso.onmicrosoft.com` or `A`, `fabrikam.onmicrosoft.com` or `B`), the registry
/// (`fabrikamacr`, `myacr`), its image, the cluster's id and the vault. Shell variables
/// (`"$CLUSTER_ID"`) stay: the test's shell sets them.
pub fn doc_block_for(sim: &TestSim, doc: &str, id: &str) -> String {
    let a = sim.var("CLUSTER_TENANT_ID");
    let b = sim.var("REGISTRY_TENANT_ID");
    let registry = sim.var("REGISTRY_NAME");
    let image = sim.var("REGISTRY_IMAGE");
    let mut text = doc_block(doc, id)
        .replace("contoso.onmicrosoft.com", &a)
        .replace("fabrikam.onmicrosoft.com", &b)
        .replace("fabrikamacr.azurecr.io/samples/hello:1.0", &image)
        .replace("myacr.azurecr.io/samples/hello:1.0", &image)
        .replace(
            "/subscriptions/…/resourceGroups/aks/providers/Microsoft.ContainerService/managedClusters/aks-prod",
            &sim.var("CLUSTER_ID"),
        )
        .replace("https://kv-platform.vault.azure.net", &sim.var("KEYVAULT_URL"));
    for (word, value) in [
        ("--cluster-tenant A", a.as_str()),
        ("--registry-tenant B", b.as_str()),
        ("--registry fabrikamacr", registry.as_str()),
        ("--registry myacr", registry.as_str()),
    ] {
        let flag = word.rsplit_once(' ').map_or(word, |(f, _)| f);
        text = replace_word(&text, word, &format!("{flag} {value}"));
    }
    text
}

/// The commands of a block: its lines, a line ending in `\` with the next, blank lines and
/// whole-line comments left out.
pub fn commands(block: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for l in block.lines() {
        if open && let Some(last) = out.last_mut() {
            last.push('\n');
            last.push_str(l);
        } else if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            out.push(l.to_owned());
        }
        open = l.trim_end().ends_with('\\');
    }
    out
}

/// `text` with `word` replaced where it ends at a space, a line's end or the text's end.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let after = &rest[at + word.len()..];
        out.push_str(&rest[..at]);
        if after.is_empty() || after.starts_with([' ', '\n']) {
            out.push_str(with);
        } else {
            out.push_str(word);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{commands, replace_word};

    #[test]
    fn a_blocks_commands_join_continued_lines_and_leave_comments_out() {
        assert_eq!(
            commands("# team A\na --x \\\n  | b # a note\n\nc\n"),
            ["a --x \\\n  | b # a note", "c"]
        );
    }

    #[test]
    fn a_word_is_replaced_only_whole() {
        assert_eq!(
            replace_word(
                "--cluster-tenant A | x --cluster-tenant AB\n--cluster-tenant A",
                "--cluster-tenant A",
                "--cluster-tenant T"
            ),
            "--cluster-tenant T | x --cluster-tenant AB\n--cluster-tenant T"
        );
    }
}
