//! The whole procedure with the client secret kept in Azure Key Vault (`entra-app-create
//! --secret-keyvault`): end to end, reruns, two teams handing over through the vault, the
//! rotation example, missing vault rights, a tampered reference, and entra-app-create killed
//! at every request around the vault write. In that mode no step writes the secret to
//! stdout, to a file, or to stderr.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::auth::Credentials;
use common::cloud::Cloud;
use common::http::{Http, build_client};
use common::keyvault::{SecretRef, get_secret};
use common::wait::Deadline;
use serde_json::{Value, json};
use xtenant_tests::clock::later;
use xtenant_tests::steps::{Kill, Step, app_key_ids, census, par_map, run_killed_at, run_step};
use xtenant_tests::world::rotate;
use xtenant_tests::{Leniency, Run, TestSim, line, run_cmd};

/// The default secret name for the default app (`xtenant-acr-pull`).
const SECRET_NAME: &str = "xtenant-acr-pull-client-secret";

fn sim() -> TestSim {
    TestSim::start()
}

/// For kill points counted in one run and used in the next: Azure's waits (the new app
/// backing its principal, Graph's write lag on it) would make the count vary.
fn steady_sim() -> TestSim {
    TestSim::start_with(|c| {
        c.lenient.insert(Leniency::Replication);
        c.lenient.insert(Leniency::GraphLag);
    })
}

/// The value of the vault secret `reference`, read as the operator.
fn value_of(sim: &TestSim, reference: &str) -> String {
    let cloud = Arc::new(Cloud::from_file(Path::new(&sim.var("XTENANT_CLOUD"))).unwrap());
    let client = build_client(&cloud).unwrap();
    let creds = Arc::new(Credentials::client_secret(
        &sim.var("AZURE_CLIENT_ID"),
        common::Secret::new(sim.var("AZURE_CLIENT_SECRET")),
        Arc::clone(&cloud),
        client.clone(),
    ));
    let http = Http::new(client, Arc::clone(&cloud), creds, false);
    let r = SecretRef::parse("client_secret_ref", reference, &cloud).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(get_secret(
        &http,
        &sim.var("CLUSTER_TENANT_ID"),
        &r,
        Deadline::after(Duration::from_secs(30)),
    ))
    .unwrap()
    .expose()
    .to_owned()
}

/// The vault's secret `name` in the simulator's state (versions oldest first).
fn vault_secret(sim: &TestSim, name: &str) -> Value {
    sim.state()["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn versions(sim: &TestSim, name: &str) -> usize {
    vault_secret(sim, name)["versions"]
        .as_array()
        .map_or(0, Vec::len)
}

fn vault_flag(sim: &TestSim) -> [String; 2] {
    ["--secret-keyvault".into(), sim.var("KEYVAULT_URL")]
}

fn step_in_vault_mode(sim: &TestSim, step: Step, extra: &[&str], input: &str) -> Run {
    let mut args: Vec<String> = Vec::new();
    if step == Step::App {
        args.extend(vault_flag(sim));
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_step(sim, step, &args, input)
}

fn object(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap()
}

/// Asserts that `runs` never show `secret` on stdout or stderr.
fn nowhere(secret: &str, runs: &[&Run]) {
    for r in runs {
        assert!(!r.stdout.contains(secret), "the secret is on stdout");
        assert!(!r.stderr.contains(secret), "the secret is on stderr");
    }
}

/// Asserts that no file under `dir` holds `secret`.
fn in_no_file(dir: &Path, secret: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            in_no_file(&p, secret);
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            assert!(!text.contains(secret), "{} holds the secret", p.display());
        }
    }
}

#[test]
fn the_whole_procedure_through_the_vault_and_every_rerun_writes_nothing() {
    let sim = sim();
    let r1 = step_in_vault_mode(&sim, Step::App, &[], "");
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let o1 = object(&r1.stdout);
    assert!(o1.get("client_secret").is_none(), "{o1}");
    let reference = o1["client_secret_ref"].as_str().unwrap().to_owned();
    assert!(
        reference.starts_with(&format!(
            "{}/secrets/{SECRET_NAME}/",
            sim.var("KEYVAULT_URL")
        )),
        "{reference}"
    );
    // Stored with the client secret's end date, its content type and tags naming app and key.
    let stored = &vault_secret(&sim, SECRET_NAME)["versions"][0];
    let end = time::OffsetDateTime::parse(
        o1["client_secret_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(stored["exp"], end.unix_timestamp());
    assert_eq!(stored["content_type"], "Microsoft Entra client secret");
    assert_eq!(stored["tags"]["app_id"], o1["app_id"]);
    assert_eq!(stored["tags"]["key_id"], o1["client_secret_key_id"]);
    let secret = value_of(&sim, &reference);

    let mut out = r1.stdout.clone();
    let mut runs = vec![r1];
    for s in &Step::ALL[1..] {
        let r = step_in_vault_mode(&sim, *s, &[], &out);
        assert_eq!(r.code, 0, "{}: {}", s.bin(), r.stderr);
        out.clone_from(&r.stdout);
        runs.push(r);
    }
    let end_state = object(&out);
    assert!(end_state["pull_verified_at"].is_string(), "{end_state}");
    assert_eq!(end_state["client_secret_ref"], json!(reference));
    assert!(xtenant_tests::steps::cluster_pulls(&sim));

    // Every step rerun on the pipeline's output sends only reads; step 1 keeps the secret.
    sim.sim().clear_requests();
    for s in Step::ALL {
        let r = step_in_vault_mode(&sim, s, &[], &out);
        assert_eq!(r.code, 0, "{} rerun: {}", s.bin(), r.stderr);
        runs.push(r);
    }
    assert!(sim.writes().is_empty(), "reruns wrote: {:?}", sim.writes());
    assert_eq!(versions(&sim, SECRET_NAME), 1);
    // Run from flags alone (a Makefile recipe): the vault's current version is found and kept.
    let again = step_in_vault_mode(&sim, Step::App, &[], "");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(object(&again.stdout)["client_secret_ref"], json!(reference));
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    // A new secret is a new version.
    let minted = step_in_vault_mode(&sim, Step::App, &["--new-secret"], &out);
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let m = object(&minted.stdout);
    assert_ne!(m["client_secret_ref"], json!(reference));
    assert_ne!(m["client_secret_key_id"], end_state["client_secret_key_id"]);
    assert_eq!(versions(&sim, SECRET_NAME), 2);
    let new_secret = value_of(&sim, m["client_secret_ref"].as_str().unwrap());
    runs.extend([again, minted]);
    let all: Vec<&Run> = runs.iter().collect();
    nowhere(&secret, &all);
    nowhere(&new_secret, &all);
}

#[test]
fn a_secret_minted_beside_a_refused_service_principal_is_in_the_vault_and_the_rerun_keeps_it() {
    // A new app's secret is minted beside its service principal (it is stored the moment
    // it is minted): the principal refused, the failed object carries the reference.
    let sim = sim();
    sim.sim()
        .add_fault(json!({"method": "PATCH", "path": "servicePrincipals", "status": 403,
            "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
            "count": 0}))
        .unwrap();
    let r1 = step_in_vault_mode(&sim, Step::App, &[], "");
    assert_eq!(r1.code, 1, "{}", r1.stderr);
    let o1 = object(&r1.stdout);
    assert_eq!(o1["error"]["code"], "Authorization_RequestDenied", "{o1}");
    assert!(
        o1.get("client_secret").is_none() && o1.get("cluster_sp_object_id").is_none(),
        "{o1}"
    );
    let reference = o1["client_secret_ref"].as_str().unwrap().to_owned();
    assert_eq!(versions(&sim, SECRET_NAME), 1);
    assert_eq!(
        vault_secret(&sim, SECRET_NAME)["versions"][0]["tags"]["key_id"],
        o1["client_secret_key_id"]
    );
    let app_id = o1["app_id"].as_str().unwrap();
    assert_eq!(
        app_key_ids(&sim, app_id),
        [o1["client_secret_key_id"].as_str().unwrap()]
    );
    let secret = value_of(&sim, &reference);

    // The rerun on it: the service principal, and the secret kept (no new version).
    sim.sim().clear_faults();
    sim.sim().clear_requests();
    let r2 = step_in_vault_mode(&sim, Step::App, &[], &r1.stdout);
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    let o2 = object(&r2.stdout);
    let writes = sim.writes();
    assert_eq!(writes.len(), 1, "only the service principal: {writes:?}");
    assert!(
        writes[0]["path"]
            .as_str()
            .unwrap()
            .contains("servicePrincipals"),
        "{writes:?}"
    );
    assert_eq!(o2["client_secret_ref"], json!(reference));
    assert!(o2["cluster_sp_object_id"].is_string(), "{o2}");
    assert_eq!(versions(&sim, SECRET_NAME), 1);
    assert_eq!(app_key_ids(&sim, app_id).len(), 1);
    nowhere(&secret, &[&r1, &r2]);
}

#[test]
fn two_teams_hand_over_through_the_vault_and_no_file_holds_the_secret() {
    // The README's Key Vault walkthrough: team A, then B (which reads the secret to verify), then A.
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let shell = |script: &str| {
        let mut c = sim.shell("bash");
        c.env("TMPDIR", dir.path()).current_dir(dir.path());
        run_cmd(c, &["-euo", "pipefail", "-c", script], "")
    };
    let team_a = shell(&format!(
        "entra-app-create --cluster-tenant {} --secret-keyvault {} > app.json",
        sim.var("CLUSTER_TENANT_ID"),
        sim.var("KEYVAULT_URL")
    ));
    assert_eq!(team_a.code, 0, "{}", team_a.stderr);
    let team_b = shell(&format!(
        "consent-link --registry-tenant {} --create < app.json | acr-grant --registry {} --verify > granted.json",
        sim.var("REGISTRY_TENANT_ID"),
        sim.var("REGISTRY_NAME")
    ));
    assert_eq!(team_b.code, 0, "{}", team_b.stderr);
    let team_a_again = shell(&format!(
        "aks-sp-update --cluster {} < granted.json > done.json",
        sim.var("CLUSTER_ID")
    ));
    assert_eq!(team_a_again.code, 0, "{}", team_a_again.stderr);
    let done: Value = serde_json::from_str(
        std::fs::read_to_string(dir.path().join("done.json"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert!(done["pull_verified_at"].is_string(), "{done}");
    let secret = value_of(&sim, done["client_secret_ref"].as_str().unwrap());
    nowhere(&secret, &[&team_a, &team_b, &team_a_again]);
    in_no_file(dir.path(), &secret);
    assert!(xtenant_tests::steps::cluster_pulls(&sim));
}

#[test]
fn missing_vault_rights_and_a_tampered_reference_stop_before_any_write() {
    let sim = sim();
    let r1 = step_in_vault_mode(&sim, Step::App, &[], "");
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let r2 = run_step(&sim, Step::Consent, &[], &r1.stdout);
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    let handed = object(&r2.stdout);

    // Another secret of the reader's vault, not tagged as this app's: an envelope naming it
    // is refused before the secret goes anywhere.
    let other = step_in_vault_mode(&sim, Step::App, &["--unique-name", "other-app"], "");
    assert_eq!(other.code, 0, "{}", other.stderr);
    let foreign = object(&other.stdout)["client_secret_ref"].clone();
    let mut tampered = handed.clone();
    tampered["client_secret_ref"] = foreign;
    sim.sim().clear_requests();
    for step in [Step::Grant, Step::Reset] {
        let mut input = tampered.clone();
        if step == Step::Reset {
            input["registry_login_server"] = json!(sim.var("REGISTRY_LOGIN_SERVER"));
        }
        let r = run_step(&sim, step, &[], &line(&input));
        assert_eq!(r.code, 1, "{}: {}", step.bin(), r.stdout);
        let e = &object(&r.stdout)["error"];
        assert!(
            e["message"].as_str().unwrap().contains("client_secret_ref")
                && e["message"]
                    .as_str()
                    .unwrap()
                    .contains("not the client secret of app"),
            "{e}"
        );
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let registry_token_requests = sim
        .requests()
        .iter()
        .filter(|r| r["host"].as_str().unwrap_or("").contains("azurecr"))
        .count();
    assert_eq!(
        registry_token_requests, 0,
        "the foreign secret went to a registry"
    );

    // Without a role on the vault: the error names Key Vault Secrets User and the vault.
    let officer = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/a1a1a1a1-7a00-4000-8000-000000000005",
        sim.var("KEYVAULT_ID")
    );
    sim.sim().clear_requests();
    let status = delete_role_assignment(&sim, &officer);
    assert!(status < 300, "{status}");
    sim.sim().clear_requests();
    let r = run_step(&sim, Step::Grant, &[], &r2.stdout);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &object(&r.stdout)["error"];
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("Key Vault Secrets User") && message.contains("contoso-kv"),
        "{e}"
    );
    assert_eq!(e["code"], "Forbidden", "{e}");
    assert!(
        sim.writes().is_empty(),
        "acr-grant wrote before reading the secret: {:?}",
        sim.writes()
    );
}

/// Deletes a role assignment as the operator (ARM); the HTTP status.
fn delete_role_assignment(sim: &TestSim, id: &str) -> u16 {
    let cloud = Arc::new(Cloud::from_file(Path::new(&sim.var("XTENANT_CLOUD"))).unwrap());
    let client = build_client(&cloud).unwrap();
    let creds = Arc::new(Credentials::client_secret(
        &sim.var("AZURE_CLIENT_ID"),
        common::Secret::new(sim.var("AZURE_CLIENT_SECRET")),
        Arc::clone(&cloud),
        client.clone(),
    ));
    let http = Http::new(client, cloud, creds, false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let arm = http.arm(
            &sim.var("CLUSTER_TENANT_ID"),
            Deadline::after(Duration::from_secs(30)),
        );
        let url = arm.url(&format!("{id}?api-version=2022-04-01")).unwrap();
        match arm
            .write(arm.request(reqwest::Method::DELETE, url))
            .await
            .unwrap()
        {
            common::http::Sent::Done(r) => r.status,
            common::http::Sent::Skipped => 0,
        }
    })
}

#[test]
fn rotation_through_the_vault_makes_the_new_secret_current_only_after_its_pull_is_verified() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let mut out = String::new();
    for s in Step::ALL {
        let r = step_in_vault_mode(&sim, s, &[], &out);
        assert_eq!(r.code, 0, "{}: {}", s.bin(), r.stderr);
        out = r.stdout;
    }
    let old = object(&out);
    let env_file = dir.path().join("envelope.json");
    std::fs::write(&env_file, &out).unwrap();
    sim.sim().clear_requests();
    // The vault secret, the cluster and the registry are named by the person, as flags.
    let vault_secret_url = format!("{}/secrets/{SECRET_NAME}", sim.var("KEYVAULT_URL"));
    let r = rotate(
        &sim,
        &[
            "--secret-keyvault",
            &vault_secret_url,
            "--image",
            &sim.var("REGISTRY_IMAGE"),
            env_file.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new = object(&std::fs::read_to_string(&env_file).unwrap());
    assert!(new.get("client_secret").is_none(), "{new}");
    assert_ne!(new["client_secret_key_id"], old["client_secret_key_id"]);
    let reference = new["client_secret_ref"].as_str().unwrap();
    assert!(
        reference.contains(&format!("/secrets/{SECRET_NAME}/")),
        "{reference}"
    );
    // The vault's secret: a second version, the new key's; the old secret removed from the app.
    let main = vault_secret(&sim, SECRET_NAME);
    assert_eq!(main["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        main["versions"][1]["tags"]["key_id"],
        new["client_secret_key_id"]
    );
    assert_eq!(
        app_key_ids(&sim, new["app_id"].as_str().unwrap()),
        vec![new["client_secret_key_id"].as_str().unwrap().to_owned()]
    );
    assert!(xtenant_tests::steps::cluster_pulls(&sim));
    // Order: staged → pulled with it → only then the new version of the vault's secret.
    let log = sim.requests();
    let put = |name: &str| {
        log.iter().position(|q| {
            q["method"] == "PUT" && q["path"].as_str().unwrap_or("") == format!("/secrets/{name}")
        })
    };
    let staged = put(&format!("{SECRET_NAME}-next")).expect("the new secret was staged");
    let current = put(SECRET_NAME).expect("the new secret became current");
    let pulled = log
        .iter()
        .enumerate()
        .skip(staged)
        .find(|(_, q)| {
            q["host"].as_str().unwrap_or("").contains("azurecr")
                && q["path"] == "/oauth2/token"
                && q["status"] == 200
        })
        .map(|(i, _)| i)
        .expect("the pull was checked with the new secret");
    assert!(
        staged < pulled && pulled < current,
        "{staged} {pulled} {current}"
    );
    let secret = value_of(&sim, reference);
    nowhere(&secret, &[&r]);
    in_no_file(dir.path(), &secret);
}

/// The requests (method, path) an undisturbed `entra-app-create ARGS` makes, in the log's order.
fn undisturbed(args: &dyn Fn(&TestSim) -> Vec<String>) -> Vec<(String, String)> {
    let sim = steady_sim();
    let r = run_cmd(
        sim.cmd("entra-app-create"),
        &args(&sim).iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    sim.requests()
        .iter()
        .map(|q| {
            (
                q["method"].as_str().unwrap().to_owned(),
                q["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn entra_app_create_killed_around_the_vault_write_loses_nothing_the_vault_holds() {
    let args = |sim: &TestSim| -> Vec<String> {
        let mut a = Step::App.args(sim);
        a.extend(vault_flag(sim));
        a
    };
    // The requests an undisturbed run makes, to know where each kill point is.
    let plan = undisturbed(&args);
    let at = |what: &str, is: &dyn Fn(&str, &str) -> bool| {
        plan.iter()
            .position(|(m, p)| is(m, p))
            .unwrap_or_else(|| panic!("no {what}: {plan:?}"))
            + 1
    };
    let mint = at("mint", &|_, p| p.ends_with("/addPassword"));
    let store = at("store", &|m, p| m == "PUT" && p.starts_with("/secrets/"));
    // A new app's service principal is written beside the secret's requests (vault read,
    // mint, store), before them in the log.
    let principal = at("principal", &|m, p| {
        m == "PATCH" && p.contains("servicePrincipals")
    });
    assert!(
        principal < mint && mint < store,
        "the secret is stored after it is minted: {plan:?}"
    );
    let points: Vec<(u64, Kill)> = (1..=plan.len() as u64)
        .flat_map(|k| [(k, Kill::AnswerLost), (k, Kill::RequestLost)])
        .collect();
    par_map(&points, 4, |&(k, how)| {
        let sim = steady_sim();
        let ctx = format!(
            "killed at request {k}/{} {:?} ({how:?})",
            plan.len(),
            plan[k as usize - 1]
        );
        let killed = run_killed_at(&sim, "entra-app-create", &args(&sim), "", k, how);
        assert!(killed.is_none(), "{ctx}: it ended first");
        // Minted but never stored (the answer of addPassword lost, or the vault write lost):
        // that secret is lost, as README says, and --prune-secrets removes it. Held at the
        // service principal's upsert, the secret's requests beside it went on until the kill:
        // how far is read from the simulator (once a request that had arrived is handled).
        let lost = if k as usize == principal {
            std::thread::sleep(Duration::from_millis(200));
            census(&sim).passwords == 1 && versions(&sim, SECRET_NAME) == 0
        } else {
            (k as usize == mint && how == Kill::AnswerLost)
                || (k as usize > mint
                    && k as usize <= store
                    && !(k as usize == store && how == Kill::AnswerLost))
        };
        // The same command again, from flags alone.
        let r = run_cmd(
            sim.cmd("entra-app-create"),
            &args(&sim).iter().map(String::as_str).collect::<Vec<_>>(),
            "",
        );
        assert_eq!(r.code, 0, "{ctx}: {}", r.stderr);
        let o = object(&r.stdout);
        assert!(o.get("client_secret").is_none(), "{ctx}: {o}");
        let keys = app_key_ids(&sim, o["app_id"].as_str().unwrap());
        assert_eq!(keys.len(), if lost { 2 } else { 1 }, "{ctx}: {keys:?}");
        assert_eq!(
            versions(&sim, SECRET_NAME),
            1,
            "{ctx}: one version in the vault"
        );
        let current = &vault_secret(&sim, SECRET_NAME)["versions"][0];
        assert_eq!(
            current["tags"]["key_id"], o["client_secret_key_id"],
            "{ctx}"
        );
        let mut out = r.stdout;
        if lost {
            let pruned = step_in_vault_mode(&sim, Step::App, &["--prune-secrets"], &out);
            assert_eq!(pruned.code, 0, "{ctx}: {}", pruned.stderr);
            out = pruned.stdout;
            assert_eq!(
                app_key_ids(&sim, o["app_id"].as_str().unwrap()).len(),
                1,
                "{ctx}"
            );
        }
        // The rest of the procedure reads the secret from the vault and ends pulling (on
        // Azure's clock moved on: its reset ends within a few ticks).
        later(&sim, || {
            for s in &Step::ALL[1..] {
                let r = step_in_vault_mode(&sim, *s, &[], &out);
                assert_eq!(r.code, 0, "{ctx}: {}: {}", s.bin(), r.stderr);
                out = r.stdout;
            }
        });
        assert!(xtenant_tests::steps::cluster_pulls(&sim), "{ctx}");
    });
    println!(
        "figure: kill points tried (entra-app-create --secret-keyvault): {}",
        points.len()
    );
}

#[test]
fn a_secret_bound_for_a_terminal_gets_advice_on_stderr() {
    // `script` gives entra-app-create a terminal as stdout; stderr goes to a file.
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let run_on_terminal = |extra: &str| {
        let err = dir.path().join("stderr");
        let command = format!(
            "{} --cluster-tenant {} {extra} 2>{}",
            xtenant_tests::bin_path("entra-app-create").display(),
            sim.var("CLUSTER_TENANT_ID"),
            err.display()
        );
        let mut c = sim.cmd("entra-app-create");
        c.current_dir(dir.path());
        let mut script = Command::new("script");
        script
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))));
        let r = run_cmd(script, &["-qec", &command, "/dev/null"], "");
        assert_eq!(r.code, 0, "{}", r.stdout);
        (r.stdout, std::fs::read_to_string(err).unwrap())
    };
    let (terminal, stderr) = run_on_terminal("");
    assert!(terminal.contains("client_secret"), "{terminal}");
    assert!(
        stderr.contains("about to be written to this terminal")
            && stderr.contains("--secret-keyvault"),
        "{stderr}"
    );
    let (terminal, stderr) =
        run_on_terminal(&format!("--secret-keyvault {}", sim.var("KEYVAULT_URL")));
    assert!(
        terminal.contains("client_secret_ref") && !terminal.contains("\"client_secret\""),
        "{terminal}"
    );
    assert!(
        !stderr.contains("about to be written to this terminal"),
        "{stderr}"
    );
}

#[test]
fn a_reference_to_another_version_than_the_objects_key_is_refused_before_any_write() {
    // Issue 23: the version a client_secret_ref names must be tagged with the object's key
    // id; an envelope pointing at another version (here the next one, of a newer key of the
    // same app) is refused by steps 3 and 4, naming client_secret_ref, with nothing written.
    let sim = sim();
    let r1 = step_in_vault_mode(&sim, Step::App, &[], "");
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let first = object(&r1.stdout);
    let r2 = step_in_vault_mode(&sim, Step::App, &["--new-secret"], &r1.stdout);
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    let second = object(&r2.stdout);
    assert_ne!(
        first["client_secret_key_id"],
        second["client_secret_key_id"]
    );
    let consented = step_in_vault_mode(&sim, Step::Consent, &[], &r1.stdout);
    assert_eq!(consented.code, 0, "{}", consented.stderr);
    let mut forged = object(&consented.stdout);
    forged["client_secret_ref"] = second["client_secret_ref"].clone();
    let secrets = [
        value_of(&sim, first["client_secret_ref"].as_str().unwrap()),
        value_of(&sim, second["client_secret_ref"].as_str().unwrap()),
    ];
    let before = sim.writes().len();
    for step in [Step::Grant, Step::Reset] {
        let r = step_in_vault_mode(&sim, step, &[], &line(&forged));
        assert_eq!(r.code, 1, "{}", r.stderr);
        let e = &r.object()["error"];
        assert_eq!(e["code"], "SecretNotBound", "{e}");
        let m = e["message"].as_str().unwrap();
        assert!(
            m.starts_with("client_secret_ref:") && m.contains("key_id"),
            "{m}"
        );
        for s in &secrets {
            nowhere(s, &[&r]);
        }
    }
    assert_eq!(sim.writes().len(), before, "{:?}", &sim.writes()[before..]);
    // The object as written goes through.
    let r = step_in_vault_mode(&sim, Step::Grant, &[], &consented.stdout);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
