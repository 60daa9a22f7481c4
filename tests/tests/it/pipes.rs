//! What the shared driver says about a pipe (issues 25 and 26): an object passed through
//! says so in one line and takes the step's flags; a step whose output cannot be delivered
//! says so, exits non-zero, and step 1 removes the secret it minted into it; a multi-object
//! run ends with one summary line.

use std::process::Stdio;

use serde_json::{Value, json};
use xtenant_tests::steps::census;
use xtenant_tests::{TestSim, line};

/// Issue 25, finding 5: `entra-app-create … | consent-link --bad-flag`. Step 2 exits at
/// once on its usage error (here before step 1 writes: the order a typo gives, made
/// certain); step 1 cannot deliver its object, exits non-zero, names the key it minted,
/// and removes it from the app again: no secret is left that nobody holds.
#[test]
fn a_typo_in_step_2_leaves_no_secret_minted_by_step_1() {
    let sim = TestSim::start();
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut step2 = sim.cmd("consent-link");
    step2
        .arg("--bad-flag")
        .stdin(reader)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out2 = step2.output().expect("step 2");
    drop(step2); // the pipe's last reader
    assert_eq!(out2.status.code(), Some(2), "a usage error");

    let mut step1 = sim.cmd("entra-app-create");
    step1
        .args(["--cluster-tenant", &sim.var("CLUSTER_TENANT_ID")])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    let out1 = step1.output().expect("step 1");
    let err = String::from_utf8_lossy(&out1.stderr);
    assert_eq!(out1.status.code(), Some(141), "{err}");
    assert!(
        err.contains("entra-app-create: error: stdout is closed (the next command ended)"),
        "{err}"
    );
    // The key it minted, by id: the one the simulator saw added, then removed.
    let requests = sim.requests();
    let added: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").ends_with("/addPassword"))
        .collect();
    assert_eq!(added.len(), 1, "one secret minted");
    let removed: Vec<&Value> = requests
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap_or("")
                .ends_with("/removePassword")
        })
        .collect();
    assert_eq!(removed.len(), 1, "and removed again: {err}");
    let key = err
        .lines()
        .find_map(|l| l.split("the new client secret ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no key id named: {err}"));
    // One added, one removed and none left (below): the key named is the one step 1 minted.
    assert!(
        key.len() == 36 && key.matches('-').count() == 4,
        "the warning names the key by id: {err}"
    );
    assert!(
        err.contains("was in that object alone: removed it from the app again"),
        "{err}"
    );
    let left = census(&sim);
    assert_eq!(
        (left.apps, left.passwords),
        (1, 0),
        "the app stays (a rerun takes it), without the orphaned key: {left:?}"
    );
}

/// Issue 25, finding 3: a step that receives an earlier step's error says so in one line
/// (the step and code from the object, escaped and shortened), writes its flags onto it,
/// writes nothing to Azure, and exits 1.
#[test]
fn every_object_passed_through_says_so_and_takes_the_flags() {
    let sim = TestSim::start();
    let tenant_b = sim.var("REGISTRY_TENANT_ID");
    let interrupted = json!({"app_id": "a", "error": {"step": "consent-link", "code": "Interrupted", "message": "m"}});
    let hostile_step = format!("x\nconsent-link: done\u{1b}[2J{}", "y".repeat(300));
    let hostile = json!({"error": {"step": hostile_step, "code": 7}});
    let input = format!("{}{}", line(&interrupted), line(&hostile));
    let r = sim.run("acr-grant", &["--registry-tenant", &tenant_b], &input);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "acr-grant: skipped: carries consent-link's Interrupted; rerun consent-link on this output"
    );
    assert!(
        lines[1].starts_with(
            "acr-grant: skipped: carries an error of x\\nconsent-link: done\\u{1b}[2Jyyy"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("…; rerun x\\n") && lines[1].len() < 200,
        "{}",
        lines[1]
    );
    assert_eq!(
        lines.len(),
        3,
        "one line each, and the summary: {}",
        r.stderr
    );
    let objects = r.objects();
    for (got, sent) in objects.iter().zip([&interrupted, &hostile]) {
        for (k, v) in sent.as_object().unwrap() {
            assert_eq!(&got[k], v, "{k} kept as it came");
        }
        assert_eq!(
            got["registry_tenant_id"], tenant_b,
            "the step's flags: {got}"
        );
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

/// Issue 26: every multi-object run ends with one summary line; a one-object run says
/// only what it did.
#[test]
fn a_multi_object_run_ends_with_one_summary_line() {
    let sim = TestSim::start();
    let ok = json!({"app_id": "00000000-0000-4000-8000-000000000001"});
    let bad = json!({"app_id": "not a guid"});
    let passed = json!({"error": {"step": "entra-app-create", "code": "Timeout", "message": "m"}});
    let args = ["--registry-tenant", "fabrikam.example.com"];
    let input = format!("{}{}{}", line(&ok), line(&bad), line(&passed));
    let r = sim.run("consent-link", &args, &input);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().last(),
        Some(
            "consent-link: summary: 3 objects: 0 changed, 1 unchanged, 1 failed, 1 skipped, 0 not started"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("summary:").count(), 1);
    let one = sim.run("consent-link", &args, &line(&ok));
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(!one.stderr.contains("summary:"), "{}", one.stderr);
}
