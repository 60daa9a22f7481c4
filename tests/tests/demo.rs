//! `make demo` as a user with their own `CARGO_TARGET_DIR` runs it: the demo finds the
//! binaries where cargo put them, not in `./target/debug`.

use std::path::Path;
use std::process::{Command, Stdio};

use xtenant_tests::bin_dir;

#[test]
fn make_demo_works_with_cargo_target_dir_set() {
    demo(&[]);
}

/// `make demo SCENARIO=…`: the whole procedure in the shipped national-cloud scenario
/// (restricted api-versions, Graph read lag, no uniqueName key).
#[test]
fn make_demo_runs_the_national_cloud_scenario() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let file = repo.join("azure-sim/scenarios/national.json");
    let stderr = demo(&[&format!("SCENARIO={}", file.display())]);
    assert!(stderr.contains("this cloud has no api-version"), "{stderr}");
    assert!(stderr.contains("no uniqueName key"), "{stderr}");
}

/// Runs `make demo` (with `extra` make arguments) from a copy of the Makefile; its stderr.
fn demo(extra: &[&str]) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // A copy of the Makefile and the demo script in a folder with no target/ of its own, so
    // that only CARGO_TARGET_DIR can lead the demo to the binaries.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::copy(repo.join("Makefile"), dir.path().join("Makefile")).unwrap();
    std::fs::copy(
        repo.join("scripts/demo.sh"),
        dir.path().join("scripts/demo.sh"),
    )
    .unwrap();
    let target = bin_dir().parent().unwrap().to_path_buf();
    // stdin an empty pipe, as some CI runners give a job: step 1 must still run on its flags.
    let child = Command::new("make")
        .current_dir(dir.path())
        // The binaries are built already (make test builds them first); `true` stands in
        // for cargo so the copy does not start a build of its own.
        .args(["-s", "demo", "CARGO=true"])
        .args(extra)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("XTENANT_CLOUD")
        .env_remove("AZURE_CLIENT_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("can now pull"),
        "the demo ends with the simulator's answer: {stdout}\n{stderr}"
    );
    stderr.into_owned()
}
