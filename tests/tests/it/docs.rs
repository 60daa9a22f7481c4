//! docs/walkthrough.md's commands, run as written (issue 28/25: every claim in the docs is
//! one a test checks), with the simulator's names put in: the one-person pipeline signed in
//! through the Azure CLI (a stand-in `az` that asks the simulator for the operator's token),
//! the cluster's own pull, and the two-teams and Key Vault blocks (the README's, which
//! `readme.rs` runs). docs/clouds.md's China block runs in `readme.rs`, beside the quick start
//! it follows.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Stdio;

use xtenant_tests::readme::{commands, doc_block, doc_block_for, readme_block};
use xtenant_tests::steps::{Step, cluster_pulls, pods, run_steps};
use xtenant_tests::{Run, TestSim, person, run_cmd};

/// The walkthrough's two-teams and Key Vault blocks are the README's, command for command
/// (their comments differ): the README's tests run them.
#[test]
fn the_walkthroughs_two_teams_and_key_vault_blocks_are_the_readmes() {
    assert_eq!(
        commands(&doc_block("docs/walkthrough.md", "two-teams")),
        commands(&readme_block("two-teams"))
    );
    assert_eq!(
        commands(&doc_block("docs/walkthrough.md", "key-vault")),
        commands(&readme_block("key-vault"))
    );
}

/// bash in `dir` with `pipefail`, the tools on PATH, the operator's credential and
/// `CLUSTER_ID`.
fn shell(sim: &TestSim, dir: &Path, script: &str) -> Run {
    let mut c = sim.shell("bash");
    c.env("CLUSTER_ID", sim.var("CLUSTER_ID")).current_dir(dir);
    run_cmd(c, &["-o", "pipefail", "-c", script], "")
}

/// The cluster proves the pull: step 4 with `--probe-image` on `granted.json` (steps 1–3),
/// then `--probe-only` on its output `done.json`, which pulls again without a second reset.
#[test]
fn the_walkthroughs_probe_commands_pull_from_inside_the_cluster() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    std::fs::write(dir.path().join("granted.json"), granted).unwrap();
    let block = doc_block_for(&sim, "docs/walkthrough.md", "probe");
    let [reset, again] = <[String; 2]>::try_from(commands(&block)).expect("two commands");
    let inside = format!(
        "cluster aks-prod pulled {} from inside (node aks-nodepool1-",
        sim.var("REGISTRY_IMAGE")
    );
    let r = shell(&sim, dir.path(), &reset);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.object()["cluster_pull_probe"]["pulled"],
        true,
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains(&inside), "{}", r.stderr);
    assert_eq!(sim.resets(), 1);
    std::fs::write(dir.path().join("done.json"), &r.stdout).unwrap();
    let r = shell(&sim, dir.path(), &again);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.object()["cluster_pull_probe"]["pulled"],
        true,
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains(&inside), "{}", r.stderr);
    assert_eq!(sim.resets(), 1, "--probe-only resets nothing");
    assert!(pods(&sim).is_empty(), "the probes' pods are deleted");
}

/// A stand-in for the Azure CLI signed in to both tenants: `az account get-access-token -o
/// json --scope S --tenant T` answered with a token the simulator gives its operator (the
/// credential in `SIM_OPERATOR_ID`/`_SECRET`, never the tools'), each call noted in `az.log`.
const STAND_IN_AZ: &str = r#"#!/bin/sh
scope= tenant=
while [ $# -gt 0 ]; do
  case $1 in --scope) scope=$2; shift ;; --tenant) tenant=$2; shift ;; esac
  shift
done
echo "$tenant $scope" >> "$AZ_LOG"
login=$(jq -r .login_endpoint "$XTENANT_CLOUD") ca=$(jq -r .ca_file "$XTENANT_CLOUD")
printf %s "$SIM_OPERATOR_SECRET" | curl -sSf --cacert "$ca" "$login/$tenant/oauth2/v2.0/token" \
  --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$SIM_OPERATOR_ID" \
  --data-urlencode "scope=$scope" --data-urlencode client_secret@- \
  | jq '{accessToken: .access_token, expires_on: (now + .expires_in | floor), tokenType: "Bearer"}'
"#;

/// One person in both tenants, signed in with the Azure CLI: the pipeline as written, with
/// `consent-link --wait` until tenant B's administrator opens the link it prints. Each step
/// asked the CLI for a token in its own tenant (the tools hold no credential of their own),
/// and the cluster pulls at the end.
#[test]
fn the_walkthroughs_one_person_pipeline_signs_in_with_the_azure_cli() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let az = dir.path().join("az");
    std::fs::write(&az, STAND_IN_AZ).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("az.log");
    let block = doc_block_for(&sim, "docs/walkthrough.md", "one-person");
    let mut c = sim.shell("bash");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        c.get_envs()
            .find(|(k, _)| *k == "PATH")
            .and_then(|(_, v)| v)
            .unwrap()
            .to_string_lossy()
    );
    c.env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("XTENANT_AUTH")
        .env("PATH", path)
        .env("AZURE_CONFIG_DIR", dir.path())
        .env("AZ_LOG", &log)
        .env("SIM_OPERATOR_ID", sim.var("AZURE_CLIENT_ID"))
        .env("SIM_OPERATOR_SECRET", sim.var("AZURE_CLIENT_SECRET"))
        .env("CLUSTER_ID", sim.var("CLUSTER_ID"))
        .current_dir(dir.path())
        .args(["-o", "pipefail", "-c", &block])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // Tenant B's administrator opens the link consent-link prints, as it waits.
    let ca = std::path::PathBuf::from(sim.var("SIM_CA_FILE"));
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(start) = l.find("https://")
                && l.contains("/oauth2/authorize?")
            {
                let url = l[start..].split_whitespace().next().unwrap().to_owned();
                person::consent(&url, &ca, "accept").expect("accept the consent");
            }
            text.push_str(&l);
            text.push('\n');
        }
        text
    });
    let out = child.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    };
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let o = r.object();
    assert!(o["pull_verified_at"].is_string(), "{o}");
    assert_eq!(o["cluster_provisioning_state"], "Succeeded", "{o}");
    assert!(cluster_pulls(&sim));
    let asked = std::fs::read_to_string(&log).unwrap();
    for tenant in ["CLUSTER_TENANT_ID", "REGISTRY_TENANT_ID"] {
        assert!(asked.contains(&sim.var(tenant)), "{tenant}: {asked}");
    }
    assert!(!r.stderr.contains(&sim.var("AZURE_CLIENT_SECRET")));
}
