//! README.md's commands, run as a newcomer runs them (issue 25): every ```` ```sh ```` block
//! is taken by a test by its marker (`<!-- test: ID -->`); this file runs the ones no other
//! test does — `make demo` and `make test`, the install, the simulator quick start (verbatim,
//! in a shell with none of the simulator's variables set), and the real-Azure walkthroughs
//! with the simulator's names put in. `ux.rs` runs `pipeline` and `dry-run`, `recovery.rs`
//! runs `recovery`. The docs' blocks are checked the same way: `day_two.rs` runs
//! docs/day-two.md's, `docs.rs` docs/walkthrough.md's, and this file docs/clouds.md's China
//! block (a simulator started by the block, as in the quick start).

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;
use xtenant_tests::readme::{
    README, doc_block, doc_blocks, readme_block, readme_block_for, readme_blocks, repo_root,
};
use xtenant_tests::steps::cluster_pulls;
use xtenant_tests::{Run, TestSim, bin_dir, run_cmd};

/// Every sh block of the README has a marker, and every marker's ID is taken by a test:
/// a `readme_block…("ID"…)` call in `tests/tests/it/*.rs`.
#[test]
fn every_sh_block_of_the_readme_is_run_by_a_test() {
    assert!(readme_blocks().len() >= 6, "{:#?}", readme_blocks());
    let untested = untaken(README, &block_calls());
    assert!(untested.is_empty(), "{}", untested.join("\n"));
}

/// The same for every doc under docs/ with sh blocks: a `doc_block…("docs/NAME.md", "ID"…)`
/// call takes each (`day_two.rs`, `docs.rs`, and here for docs/clouds.md).
#[test]
fn every_sh_block_of_the_docs_is_run_by_a_test() {
    let calls = block_calls();
    let mut untested = Vec::new();
    let mut docs = 0;
    for entry in std::fs::read_dir(repo_root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path.file_name().unwrap().to_string_lossy();
            let doc = format!("docs/{name}");
            docs += usize::from(!doc_blocks(&doc).is_empty());
            untested.extend(untaken(&doc, &calls));
        }
    }
    assert!(
        docs >= 3,
        "the docs with sh blocks: day-two, walkthrough, clouds"
    );
    assert!(untested.is_empty(), "{}", untested.join("\n"));
}

/// Every `readme_block…(…)` and `doc_block…(…)` call of `tests/tests/it/*.rs`, to its first `)`.
fn block_calls() -> Vec<String> {
    let mut calls = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("tests/tests/it")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for at in ["readme_block", "doc_block"] {
            for (i, _) in text.match_indices(at) {
                let call = &text[i..];
                calls.push(call[..call.find(')').unwrap_or(call.len())].to_owned());
            }
        }
    }
    calls
}

/// The blocks of `doc` without a marker or that no call takes (the README's by
/// `readme_block…("ID"`, another doc's by `doc_block…("DOC", "ID"`), each described.
fn untaken(doc: &str, calls: &[String]) -> Vec<String> {
    let takes = |call: &String, id: &str| {
        let id = format!("\"{id}\"");
        if doc == README {
            call.starts_with("readme_block") && call.contains(&id)
        } else {
            call.starts_with("doc_block")
                && call.contains(&format!("\"{doc}\""))
                && call.contains(&id)
        }
    };
    let mut untested = Vec::new();
    for (id, block) in doc_blocks(doc) {
        match id {
            None => untested.push(format!("{doc}: no <!-- test: ID --> marker:\n{block}")),
            Some(id) if !calls.iter().any(|c| takes(c, &id)) => {
                untested.push(format!("{doc}: no test takes {id}:\n{block}"));
            }
            Some(_) => {}
        }
    }
    untested
}

/// `make demo` and `make test` are what the README says: the demo script (which `demo.rs`
/// runs for real) and the whole workspace's tests (which cannot run inside one of them).
#[test]
fn the_readmes_make_commands_run_the_demo_and_every_test() {
    let block = readme_block("make");
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands, ["make demo", "make test"], "{block}");
    let dry = |target: &str| {
        let out = Command::new("make")
            .args(["-n", target])
            .current_dir(repo_root())
            .output()
            .unwrap();
        assert!(out.status.success(), "make -n {target}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let demo = dry("demo");
    assert!(
        demo.contains("cargo build --workspace --bins") && demo.contains("scripts/demo.sh"),
        "{demo}"
    );
    // One cargo build: the tests', which brings every binary a test runs with it.
    let test = dry("test");
    assert!(
        !test.contains("cargo build")
            && test.contains("nextest run --workspace")
            && test.contains("cargo test --workspace"),
        "{test}"
    );
}

/// `make install PREFIX=~/.local` installs the four tools and `azure-sim` with their man
/// pages and completions. The release build is not repeated here (`CARGO=true`; the
/// Makefile takes `CARGO` and `TARGET_DIR` from the environment): the debug binaries stand
/// in for it, and everything after the build runs as written.
#[test]
fn the_readmes_install_installs_the_tools_man_pages_and_completions() {
    let block = readme_block("install");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let target = dir.path().join("target");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(bin_dir(), target.join("release")).unwrap();
    let mut c = Command::new("sh");
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CARGO", "true")
        .env("TARGET_DIR", &target)
        .current_dir(repo_root());
    let r = run_cmd(c, &["-e", "-c", &block], "");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let prefix = home.join(".local");
    for tool in [
        "entra-app-create",
        "consent-link",
        "acr-grant",
        "aks-sp-update",
    ] {
        let bin = prefix.join("bin").join(tool);
        let out = Command::new(&bin).arg("--version").output().unwrap();
        assert!(out.status.success(), "{}", bin.display());
        for f in [
            format!("share/man/man1/{tool}.1"),
            format!("share/bash-completion/completions/{tool}"),
            format!("share/zsh/site-functions/_{tool}"),
            format!("share/fish/vendor_completions.d/{tool}.fish"),
        ] {
            let len = std::fs::metadata(prefix.join(&f)).map_or(0, |m| m.len());
            assert!(len > 100, "{f}: {len} bytes");
        }
    }
    assert!(prefix.join("bin/azure-sim").is_file());
}

/// The process group a shell was started in, stopped when the test ends however it ends
/// (the simulator the quick start puts in the background included).
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

/// The quick start as written, from the repository, in a shell with none of the
/// simulator's variables (nor `XTENANT_AUTH`): the build, the simulator started and its
/// environment exported by `azure-sim --print-env`, the steps by hand and piped, tenant B's
/// administrator accepting, and the cluster pulling at the end.
#[test]
fn the_readmes_simulator_quick_start_works_as_written() {
    let block = readme_block("quick-start");
    let dir = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        std::env::var("PATH").unwrap_or_default(),
        bin_dir().display()
    );
    let mut c = Command::new("sh");
    c.env_clear().env("PATH", path).env("TMPDIR", dir.path());
    // The block's `make build` finds the binaries built: with the settings they were built
    // with (CI's CARGO_INCREMENTAL=0), else it rebuilds every crate of the workspace, under
    // the tests running them (issue 28: 35 s on 2 idle cores).
    for k in [
        "HOME",
        "LANG",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "CARGO_INCREMENTAL",
        "RUSTFLAGS",
    ] {
        if let Some(v) = std::env::var_os(k) {
            c.env(k, v);
        }
    }
    let (status, stdout, stderr, group) = in_own_group(c, &block, dir.path());
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("Yes: cluster aks-prod can now pull "),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("aks-sp-update: cluster aks-prod can now pull"),
        "{stderr}"
    );
    let work = only_dir(dir.path());
    let done = object(&work.join("done.json"));
    assert!(done["cluster_pull_verified"]["image"].is_string(), "{done}");
    let env = std::fs::read_to_string(work.join("sim/sim.env")).unwrap();
    assert!(
        env.contains("CLUSTER_TENANT_DOMAIN=") && !env.contains("XTENANT_AUTH"),
        "the auth comes from --print-env, not the file: {env}"
    );
    // The block's last line stopped the simulator.
    let left = left_running(&group);
    assert!(
        left.is_empty(),
        "the quick start left processes running: {left:?}"
    );
}

/// `sh -e -c block` from the repository as `c` (its environment) sets it up, in a process
/// group of its own, its stdout and stderr kept in files in `dir`: how it exited, its stdout
/// and stderr, and the group (stopped when it is dropped).
fn in_own_group(mut c: Command, block: &str, dir: &Path) -> (ExitStatus, String, String, Group) {
    let out = dir.join("stdout");
    let err = dir.join("stderr");
    c.args(["-e", "-c", block])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0);
    let mut child = c.spawn().unwrap();
    let group = Group(child.id());
    let status = child.wait().unwrap();
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    (status, stdout, stderr, group)
}

/// The processes of `group` still running (not zombies) a moment after its shell ended.
fn left_running(group: &Group) -> Vec<String> {
    std::thread::sleep(std::time::Duration::from_millis(300));
    in_group(group.0)
        .into_iter()
        .filter(|p| {
            p.split_whitespace()
                .nth(2)
                .is_some_and(|s| !s.starts_with('Z'))
        })
        .collect()
}

/// docs/clouds.md's China block as written, in a shell with none of the simulator's
/// variables: the simulator started on the China scenario, its environment exported, and
/// steps 1 and 2 on Azure China's built-in table reaching it through `XTENANT_RESOLVE`: the
/// consent link is on `login.chinacloudapi.cn`; the block's last line stops the simulator.
#[test]
fn the_clouds_china_block_runs_steps_1_and_2_against_the_china_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let sim_dir = dir.path().join("sim");
    let block = doc_block("docs/clouds.md", "china").replace("/tmp/sim", sim_dir.to_str().unwrap());
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("sh");
    c.env_clear()
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("SSL_CERT_FILE", xtenant_tests::system_roots());
    let (status, stdout, stderr, group) = in_own_group(c, &block, dir.path());
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    let o: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(o.get("error").is_none(), "{o}");
    assert_eq!(o["cloud"], "AzureChinaCloud", "{o}");
    let tenant_b = o["registry_tenant_id"].as_str().unwrap();
    assert!(
        o["consent_url"].as_str().unwrap().starts_with(&format!(
            "https://login.chinacloudapi.cn/{tenant_b}/oauth2/authorize?client_id="
        )),
        "{o}"
    );
    assert!(o["client_secret"].is_string(), "{o}");
    let left = left_running(&group);
    assert!(
        left.is_empty(),
        "the block left processes running: {left:?}"
    );
}

/// The processes of process group `group` as `ps` shows them (pgid, pid, state, command).
fn in_group(group: u32) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-e", "-o", "pgid=,pid=,stat=,args="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(&group.to_string()))
        .map(str::to_owned)
        .collect()
}

/// The one directory `mktemp -d` made in `dir`.
fn only_dir(dir: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

fn object(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// bash in `dir` with `set -euo pipefail`, the tools on PATH, the operator's credential
/// (for both teams: the simulator's operator may act in both tenants) and `CLUSTER_ID`.
fn walkthrough(sim: &TestSim, dir: &Path, script: &str) -> Run {
    let mut c = sim.shell("bash");
    c.env("CLUSTER_ID", sim.var("CLUSTER_ID")).current_dir(dir);
    run_cmd(c, &["-euo", "pipefail", "-c", script], "")
}

#[test]
fn the_readmes_two_teams_walkthrough_keeps_the_secret_in_its_file() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let r = walkthrough(&sim, dir.path(), &readme_block_for(&sim, "two-teams"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(cluster_pulls(&sim), "{}", r.stderr);
    let secret_file = dir.path().join("app.secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for f in ["app.json", "granted.json"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(
            !text.contains("\"client_secret\"") && !text.contains(secret.trim()),
            "{f}: {text}"
        );
    }
    assert!(!r.stderr.contains(secret.trim()));
}

#[test]
fn the_readmes_key_vault_walkthrough_keeps_the_secret_in_the_vault() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let r = walkthrough(&sim, dir.path(), &readme_block_for(&sim, "key-vault"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(cluster_pulls(&sim), "{}", r.stderr);
    let app = object(&dir.path().join("app.json"));
    assert!(
        app["client_secret_ref"].is_string() && app.get("client_secret").is_none(),
        "{app}"
    );
    let granted = object(&dir.path().join("granted.json"));
    assert!(
        granted["pull_verified_at"].is_string(),
        "team B verified: {granted}"
    );
    assert!(granted.get("client_secret").is_none(), "{granted}");
}
