//! entra-app-create against azure-sim: the real binary, the simulator's state and request log.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::azure::{NewApp, Operator, apps_tagged, key_ids};
use xtenant_tests::{Run, TestSim, line, run_cmd, said};

const BIN: &str = "entra-app-create";
const UNIQUE: &str = "xtenant-acr-pull";

fn tenant(sim: &TestSim) -> String {
    sim.var("CLUSTER_TENANT_ID")
}

/// Runs the tool on the flags alone, tenant A given.
fn first_run(sim: &TestSim, extra: &[&str]) -> Run {
    let t = tenant(sim);
    let mut args = vec!["--cluster-tenant", t.as_str(), "--timeout", "60s"];
    args.extend_from_slice(extra);
    sim.run(BIN, &args, "")
}

/// Runs the tool on `input` (a previous output).
fn rerun(sim: &TestSim, input: &Value, extra: &[&str]) -> Run {
    let mut args = vec!["--timeout", "60s"];
    args.extend_from_slice(extra);
    sim.run(BIN, &args, &line(input))
}

fn apps_named(sim: &TestSim, unique: &str) -> Vec<Value> {
    sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["unique_name"].as_str() == Some(unique))
        .cloned()
        .collect()
}

fn app_by_id(sim: &TestSim, app_id: &str) -> Value {
    sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == app_id)
        .cloned()
        .unwrap_or_else(|| panic!("no app {app_id} in the sim"))
}

fn sps_of(sim: &TestSim, app_id: &str) -> Vec<Value> {
    sim.state()["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["app_id"] == app_id)
        .cloned()
        .collect()
}

fn str_of<'a>(o: &'a Value, field: &str) -> &'a str {
    o[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {o}"))
}

#[test]
fn first_run_creates_one_app_one_sp_one_secret_and_a_rerun_writes_nothing() {
    let sim = TestSim::start();
    let t = tenant(&sim);
    assert!(apps_named(&sim, UNIQUE).is_empty());

    let run = first_run(&sim, &[]);
    let out = run.ok();
    // Those Azure made (a write refused while the new app replicates is tried again).
    let writes: Vec<String> = sim
        .writes()
        .iter()
        .filter(|w| w["status"].as_u64().is_some_and(|s| s < 300))
        .map(|w| format!("{} {}", w["method"], w["path"]))
        .collect();
    assert_eq!(
        writes.len(),
        3,
        "app upsert, SP upsert, addPassword: {writes:#?}"
    );

    assert_eq!(out["cluster_tenant_id"], t.as_str());
    assert_eq!(out["app_display_name"], "xtenant-acr-pull");
    assert_eq!(out["app_unique_name"], UNIQUE);
    assert!(out["cloud"].is_string(), "{out}");
    let app_id = str_of(&out, "app_id");

    let apps = apps_named(&sim, UNIQUE);
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(app["app_id"], app_id);
    assert_eq!(app["id"], out["app_object_id"]);
    assert_eq!(app["tenant_id"], t.as_str());
    assert_eq!(app["sign_in_audience"], "AzureADMultipleOrgs");
    assert_eq!(app["redirect_uris"], json!(["https://www.microsoft.com"]));
    assert_eq!(key_ids(app), [str_of(&out, "client_secret_key_id")]);
    let pc = &app["password_credentials"][0];
    assert_eq!(pc["display_name"], "xtenant");
    assert!(str_of(&out, "client_secret").starts_with(pc["hint"].as_str().unwrap()));
    // The end date asked for: a year from now (the sim keeps Graph's whole seconds).
    let expires = str_of(&out, "client_secret_expires_at");
    let end = time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .unwrap();
    let days = (end - time::OffsetDateTime::now_utc()).whole_days();
    assert!((364..=365).contains(&days), "{expires}");

    let sps = sps_of(&sim, app_id);
    assert_eq!(sps.len(), 1, "{sps:#?}");
    assert_eq!(sps[0]["tenant_id"], t.as_str());
    assert_eq!(sps[0]["id"], out["cluster_sp_object_id"]);

    // Rerun on the output: reads only, the same object back.
    sim.sim().clear_requests();
    let again = rerun(&sim, &out, &[]).ok();
    assert!(
        sim.writes().is_empty(),
        "a rerun must not write: {:#?}",
        sim.writes()
    );
    assert_eq!(again, out);
    assert_eq!(apps_named(&sim, UNIQUE).len(), 1);
    assert_eq!(key_ids(&app_by_id(&sim, app_id)).len(), 1);
    assert_eq!(sps_of(&sim, app_id).len(), 1);
}

#[test]
fn new_secret_adds_exactly_one_and_prune_leaves_exactly_the_outputs() {
    let sim = TestSim::start();
    let first = first_run(&sim, &[]).ok();
    let app_id = str_of(&first, "app_id");

    let rotated = rerun(&sim, &first, &["--new-secret", "--secret-name", "rotation"]).ok();
    assert_eq!(rotated["app_id"], first["app_id"]);
    assert_ne!(
        rotated["client_secret_key_id"],
        first["client_secret_key_id"]
    );
    assert_ne!(rotated["client_secret"], first["client_secret"]);
    let keys = key_ids(&app_by_id(&sim, app_id));
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&str_of(&rotated, "client_secret_key_id").to_owned()));

    sim.sim().clear_requests();
    let pruned = rerun(&sim, &rotated, &["--prune-secrets"]).ok();
    assert_eq!(pruned, rotated);
    let removes: Vec<Value> = sim.writes();
    assert_eq!(removes.len(), 1, "{removes:#?}");
    assert!(
        removes[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/removePassword"),
        "{removes:#?}"
    );
    assert_eq!(
        key_ids(&app_by_id(&sim, app_id)),
        [str_of(&rotated, "client_secret_key_id")]
    );

    // Pruning again has nothing to do.
    sim.sim().clear_requests();
    rerun(&sim, &pruned, &["--prune-secrets"]).ok();
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());

    // Pruning with the old, removed secret would leave the app with none it can vouch for: refused.
    sim.sim().clear_requests();
    let o = rerun(&sim, &first, &["--prune-secrets"]).failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "NoSecretToKeep", "{o}");
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
    assert_eq!(key_ids(&app_by_id(&sim, app_id)).len(), 1);
}

#[test]
fn prune_needs_a_key_to_keep_and_says_so_before_any_request() {
    let sim = TestSim::start();
    let o = first_run(&sim, &["--prune-secrets"]).failed_exit(1, BIN);
    assert!(said(&o).contains("client_secret_key_id"), "{o}");
    assert!(
        sim.azure_requests().is_empty(),
        "{:#?}",
        sim.azure_requests()
    );
}

#[test]
fn the_reader_gets_the_permission_explained() {
    let sim = TestSim::start();
    let t = tenant(&sim);
    let run = run_cmd(
        sim.cmd_as_reader(BIN),
        &["--cluster-tenant", &t, "--timeout", "30s"],
        "",
    );
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "Authorization_RequestDenied", "{o}");
    let msg = said(&o);
    assert!(
        msg.contains("Application.ReadWrite.All") && msg.contains("Application Developer"),
        "{msg}"
    );
    assert!(
        run.stderr.contains("Application.ReadWrite.All"),
        "{}",
        run.stderr
    );
    assert!(apps_named(&sim, UNIQUE).is_empty());
}

#[test]
fn an_unknown_tenant_is_a_credential_error() {
    let sim = TestSim::start();
    let run = sim.run(
        BIN,
        &[
            "--cluster-tenant",
            "0badc0de-0000-4000-8000-000000000000",
            "--timeout",
            "30s",
        ],
        "",
    );
    let o = run.failed_exit(3, BIN);
    assert_eq!(o["error"]["code"], "UnknownTenant", "{o}");
}

/// The writes of a run, as `(method, path tail, status)`.
fn writes_of(sim: &TestSim, path_has: &str) -> Vec<u64> {
    sim.writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").contains(path_has))
        .map(|w| w["status"].as_u64().unwrap_or(0))
        .collect()
}

/// Graph's write lag on the app the run made (404 on its service principal's upsert and its
/// addPassword for 0.6 real seconds here) is waited out with a progress line, one after the
/// other and beside each other (`--secret-file`), and nothing is made twice.
#[test]
fn a_new_apps_write_lag_is_waited_out_and_nothing_is_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.secret");
    let file = file.to_str().unwrap();
    for extra in [vec![], vec!["--secret-file", file, "--no-secret-output"]] {
        let sim = TestSim::start_with(|c| {
            let lag = c.azure_time(Duration::from_millis(600));
            let ms = u64::try_from(lag.as_millis()).unwrap();
            c.behaviour = Some(json!({ "graph_write_lag_ms": ms }));
        });
        let run = first_run(&sim, &extra);
        let out = run.ok();
        let beside = !extra.is_empty();
        for (what, path, first_refused) in [
            ("its service principal", "servicePrincipals", true),
            // One after the other, the secret is asked for once the principal is made.
            ("addPassword", "/addPassword", beside),
        ] {
            let statuses = writes_of(&sim, path);
            assert_eq!(
                statuses.first() == Some(&404),
                first_refused,
                "{what} {extra:?}: {statuses:?}"
            );
            assert!(
                statuses.last().is_some_and(|s| *s < 300),
                "{what} {extra:?}: {statuses:?}"
            );
            assert_eq!(
                statuses.iter().filter(|s| **s < 300).count(),
                1,
                "{what}: {statuses:?}"
            );
        }
        assert_eq!(sps_of(&sim, str_of(&out, "app_id")).len(), 1);
        assert_eq!(
            run.stderr
                .contains("waiting for Graph to take the new client secret"),
            beside,
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("waiting for the new app to back its service principal"),
            "{}",
            run.stderr
        );
        let app = apps_named(&sim, UNIQUE);
        assert_eq!(app[0]["password_credentials"].as_array().unwrap().len(), 1);
        std::fs::remove_file(file).ok();
    }
}

/// A 404 on a write to an app that is not new is Graph's answer, not its lag: no wait.
#[test]
fn a_404_on_an_old_apps_write_fails_at_once() {
    let sim = TestSim::start();
    let out = first_run(&sim, &[]).ok();
    // Much later, the app is gone from every replica's view of writes (injected): an answer.
    sim.sim().advance(Duration::from_secs(3600));
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "/addPassword", "count": 0, "status": 404,
            "code": "Request_ResourceNotFound", "message": "Resource does not exist."}),
        )
        .unwrap();
    let started = std::time::Instant::now();
    let run = rerun(&sim, &out, &["--new-secret"]);
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "Request_ResourceNotFound", "{o}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !run.stderr.contains("waiting for Graph to take"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_secret_stays_out_of_stderr_even_at_vv() {
    let sim = TestSim::start();
    let run = first_run(&sim, &["-vv"]);
    let out = run.ok();
    let secret = str_of(&out, "client_secret");
    assert!(secret.len() >= 16);
    assert!(!run.stderr.contains(secret), "{}", run.stderr);
    assert!(
        run.stderr.contains("addPassword"),
        "-vv shows the requests: {}",
        run.stderr
    );

    // A rerun reads the secret from stdin, never from argv; still not on stderr.
    let again = rerun(
        &sim,
        &out,
        &["-vv", "--new-secret", "--prune-secrets", "--dry-run"],
    );
    again.ok();
    assert!(!again.stderr.contains(secret), "{}", again.stderr);
    let help = sim.run(BIN, &["--help"], "");
    assert!(
        !help.stdout.contains("--client-secret "),
        "no flag takes a secret value"
    );
}

#[test]
fn secret_file_is_private_and_no_secret_output_keeps_stdout_clean() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.secret");
    let p = path.to_str().unwrap();

    let run = first_run(&sim, &["--secret-file", p, "--no-secret-output"]);
    let out = run.ok();
    assert!(out.get("client_secret").is_none(), "{out}");
    let secret = std::fs::read_to_string(&path)
        .unwrap()
        .trim_end()
        .to_owned();
    assert!(secret.len() >= 16);
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let app = app_by_id(&sim, str_of(&out, "app_id"));
    assert!(secret.starts_with(app["password_credentials"][0]["hint"].as_str().unwrap()));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    // Rerun: the secret in the file still belongs to the key, so nothing is minted.
    sim.sim().clear_requests();
    let again = rerun(&sim, &out, &["--secret-file", p, "--no-secret-output"]).ok();
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
    assert_eq!(again["client_secret_key_id"], out["client_secret_key_id"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim_end(), secret);

    // Rerun from the flags alone (a Makefile recipe, nothing piped in): the saved secret is
    // recognised by its hint, so nothing is minted either.
    let again = first_run(&sim, &["--secret-file", p, "--no-secret-output"]).ok();
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
    assert_eq!(again["client_secret_key_id"], out["client_secret_key_id"]);
    assert_eq!(key_ids(&app_by_id(&sim, str_of(&out, "app_id"))).len(), 1);

    // Without --secret-file the secret would be lost: refused before anything is sent.
    let n = sim.azure_requests().len();
    let run = first_run(&sim, &["--no-secret-output"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("--secret-file"), "{}", run.stderr);
    assert_eq!(sim.azure_requests().len(), n);
}

#[test]
fn secret_file_refuses_a_symlink_before_any_request() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("elsewhere");
    std::fs::write(&real, "keep me").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = first_run(&sim, &["--secret-file", link.to_str().unwrap()]).failed_exit(1, BIN);
    assert!(said(&o).contains("symbolic link"), "{o}");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep me");
    assert!(
        sim.azure_requests().is_empty(),
        "{:#?}",
        sim.azure_requests()
    );
}

#[test]
fn bad_inputs_fail_before_any_request() {
    let sim = TestSim::start();
    let t = tenant(&sim);

    let o = sim
        .run(BIN, &["--cluster-tenant", "not a tenant"], "")
        .failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "InvalidInput");
    assert!(said(&o).contains("cluster_tenant_id"), "{o}");

    let o = sim.run(BIN, &[], "").failed_exit(1, BIN);
    assert!(said(&o).contains("--cluster-tenant"), "{o}");

    for (flag, value) in [
        ("--redirect-uri", "http://x.com"),
        ("--secret-lifetime", "ten days"),
    ] {
        let run = sim.run(BIN, &["--cluster-tenant", &t, flag, value], "");
        assert_eq!(run.code, 2, "{flag} {value}: {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains(flag), "{}", run.stderr);
    }

    let run = rerun(
        &sim,
        &json!({"cluster_tenant_id": t, "app_unique_name": "has spaces"}),
        &[],
    );
    assert!(
        run.failed_exit(1, BIN)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("app_unique_name")
    );

    assert!(
        sim.azure_requests().is_empty(),
        "{:#?}",
        sim.azure_requests()
    );
}

#[test]
fn a_lifetime_beyond_the_tenant_policy_is_explained() {
    let sim = TestSim::start();
    // Tenant A of the default scenario allows 730 days.
    let o = first_run(&sim, &["--secret-lifetime", "1000d"]).failed_exit(1, BIN);
    assert_eq!(
        o["error"]["code"], "CredentialInvalidLifetimeAsPerAppPolicy",
        "{o}"
    );
    let msg = said(&o);
    assert!(
        msg.contains("1000 days") && msg.contains("at most 730 days"),
        "{msg}"
    );
    assert!(msg.contains("--secret-lifetime 730d"), "{msg}");

    // The app and its SP were made; a shorter lifetime completes the step without a second app.
    let out = first_run(&sim, &["--secret-lifetime", "700d"]).ok();
    assert_eq!(apps_named(&sim, UNIQUE).len(), 1);
    assert_eq!(key_ids(&app_by_id(&sim, str_of(&out, "app_id"))).len(), 1);
}

#[test]
fn dry_run_reports_what_it_would_create_and_writes_nothing() {
    let sim = TestSim::start();
    let run = first_run(&sim, &["--dry-run"]);
    let out = run.ok();
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
    // Ids that do not exist yet are explicit placeholders (before: no app_id at all, so
    // consent-link asked for the output of entra-app-create it had been given).
    assert_eq!(out["app_id"], "dry-run:app_id", "{out}");
    assert_eq!(out["cluster_sp_object_id"], "dry-run:cluster_sp_object_id");
    assert!(out.get("client_secret").is_none(), "{out}");
    assert_eq!(out["dry_run"], true);
    assert_eq!(out["app_unique_name"], UNIQUE);
    // Every planned write is one JSON line on stderr, and an entry of `plan`.
    let plan = out["plan"].as_array().unwrap();
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("entra-app-create: dry-run: "))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(&lines, plan, "{}", run.stderr);
    let writes: Vec<(&str, &str)> = plan
        .iter()
        .map(|w| (w["method"].as_str().unwrap(), w["url"].as_str().unwrap()))
        .collect();
    assert_eq!(
        writes.len(),
        3,
        "app, service principal, secret: {writes:?}"
    );
    assert!(writes[1].1.contains("servicePrincipals") && writes[2].1.ends_with("/addPassword"));
    assert!(
        run.stderr.contains("would create the multitenant app") && run.stderr.contains("(dry run)"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("(changed") && !run.stderr.contains("unchanged"),
        "{}",
        run.stderr
    );
    assert!(apps_named(&sim, UNIQUE).is_empty());
}

/// A simulator whose tenant A holds a single-tenant app with uniqueName `legacy` (the default
/// scenario's old app, given a unique name and another redirect URI); returns it and its app id.
fn sim_with_single_tenant_app() -> (TestSim, String) {
    let mut state = {
        let seed = TestSim::start();
        seed.state()
    };
    let t = state["tenants"][0]["id"].as_str().unwrap().to_owned();
    let app = state["applications"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["sign_in_audience"] == "AzureADMyOrg" && a["tenant_id"] == t.as_str())
        .expect("the default scenario has a single-tenant app in tenant A");
    app["unique_name"] = json!("legacy");
    app["redirect_uris"] = json!(["https://legacy.example/signin"]);
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let sim = TestSim::start_with(|cfg| cfg.scenario = Some(state));
    assert_eq!(tenant(&sim), t);
    (sim, app_id)
}

#[test]
fn a_single_tenant_app_is_refused_unless_adopted() {
    let (sim, legacy) = sim_with_single_tenant_app();
    let apps_before = sim.state()["applications"].as_array().unwrap().len();

    let o = first_run(&sim, &["--unique-name", "legacy"]).failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotMultitenant", "{o}");
    assert!(said(&o).contains("--adopt"), "{o}");
    // Found by the input's app_id instead: the same refusal.
    let o = rerun(
        &sim,
        &json!({"cluster_tenant_id": tenant(&sim), "app_id": legacy}),
        &[],
    )
    .failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotMultitenant", "{o}");
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());

    let out = first_run(&sim, &["--unique-name", "legacy", "--adopt"]).ok();
    assert_eq!(out["app_id"], legacy.as_str());
    let app = app_by_id(&sim, &legacy);
    assert_eq!(app["sign_in_audience"], "AzureADMultipleOrgs");
    assert_eq!(
        app["redirect_uris"],
        json!(["https://legacy.example/signin", "https://www.microsoft.com"])
    );
    assert_eq!(
        sim.state()["applications"].as_array().unwrap().len(),
        apps_before,
        "no new app"
    );

    // Adopted, it fits and carries the mark, but its owners are not (only) the operator: a
    // rerun without --adopt does not take it for the tool's (the mark is no evidence), and
    // writes nothing; with the reader's --adopt again it fits: nothing is written either.
    sim.sim().clear_requests();
    let o = rerun(&sim, &out, &[]).failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotManaged", "{o}");
    assert!(said(&o).contains("it has no owner"), "{o}");
    rerun(&sim, &out, &["--app-id", &legacy, "--adopt"]).ok();
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
}

#[test]
fn a_failed_prune_after_minting_keeps_the_new_secret_in_the_output() {
    let sim = TestSim::start();
    let out = first_run(&sim, &[]).ok();
    sim.sim()
        // Graph's 503s say when to come back (retry-after-ms, read first): the prune gives up
        // after its attempts in milliseconds rather than seconds of backoff.
        .add_fault(
            json!({"method": "POST", "path": "removePassword", "status": 503, "count": 0,
            "headers": {"Retry-After": "1", "retry-after-ms": "20"}}),
        )
        .unwrap();
    let run = rerun(&sim, &out, &["--new-secret", "--prune-secrets"]);
    // Failing here would lose the secret just minted: it is written, with a warning.
    let again = run.ok();
    assert_ne!(again["client_secret_key_id"], out["client_secret_key_id"]);
    assert!(again["client_secret"].is_string());
    assert!(run.stderr.contains("--prune-secrets"), "{}", run.stderr);
    assert_eq!(key_ids(&app_by_id(&sim, str_of(&out, "app_id"))).len(), 2);

    // Once Graph answers again, pruning on that output leaves exactly its secret.
    sim.sim().clear_faults();
    let pruned = rerun(&sim, &again, &["--prune-secrets"]).ok();
    let keys = key_ids(&app_by_id(&sim, str_of(&out, "app_id")));
    assert_eq!(
        keys,
        vec![str_of(&pruned, "client_secret_key_id").to_owned()]
    );
}

#[test]
fn an_app_it_did_not_create_is_changed_only_when_the_flags_name_it_with_adopt() {
    // Before, --new-secret / --prune-secrets acted on whatever app the input's app_id named.
    let sim = TestSim::start();
    let other = Operator::new(&sim).create_app(
        &NewApp::multitenant("someone-elses")
            .redirect_uris(&["https://www.microsoft.com"])
            .secret(true)
            .sp_in_a(true),
    );
    let keys_before = key_ids(&app_by_id(&sim, &other.app_id));
    sim.sim().clear_requests();
    let input = json!({"cluster_tenant_id": tenant(&sim), "app_id": other.app_id});
    for extra in [&["--new-secret"][..], &["--new-secret", "--prune-secrets"]] {
        let o = rerun(&sim, &input, extra).failed_exit(1, BIN);
        assert_eq!(o["error"]["code"], "AppNotManaged", "{o}");
        let msg = said(&o);
        assert!(
            msg.contains(&other.app_id) && msg.contains("--adopt"),
            "{msg}"
        );
    }
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
    assert_eq!(key_ids(&app_by_id(&sim, &other.app_id)), keys_before);

    // --adopt alone does not let the input choose the app.
    let o = rerun(&sim, &input, &["--new-secret", "--adopt"]).failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "InvalidInput", "{o}");
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());

    // Named by the reader's flag with --adopt: changed, and marked as managed.
    let out = rerun(
        &sim,
        &input,
        &["--app-id", &other.app_id, "--adopt", "--new-secret"],
    )
    .ok();
    let app = app_by_id(&sim, &other.app_id);
    assert_eq!(key_ids(&app).len(), keys_before.len() + 1);
    assert!(
        app.to_string().contains("xtenant:managed"),
        "not marked: {app}"
    );
    // From then on its own output may rotate it.
    rerun(&sim, &out, &["--new-secret", "--prune-secrets"]).ok();
    assert_eq!(key_ids(&app_by_id(&sim, &other.app_id)).len(), 1);
}

#[test]
fn the_apps_it_creates_are_marked() {
    let sim = TestSim::start();
    let out = first_run(&sim, &[]).ok();
    let app = app_by_id(&sim, str_of(&out, "app_id"));
    assert!(app.to_string().contains("xtenant:managed"), "{app}");
}

/// Where a logged request began and ended, in seconds since the epoch: the log's `time` is
/// when the simulator answered, `duration_ms` how long it spent on the request.
fn span(r: &Value) -> (f64, f64) {
    let end = time::OffsetDateTime::parse(
        str_of(r, "time"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let end = end.unix_timestamp_nanos() as f64 / 1e9;
    (end - r["duration_ms"].as_f64().unwrap() / 1000.0, end)
}

/// The spans of the first service-principal request `method` and of the first addPassword.
fn principal_and_secret(sim: &TestSim, method: &str) -> ((f64, f64), (f64, f64)) {
    let log = sim.azure_requests();
    let first = |m: &str, path: &str| {
        log.iter()
            .find(|r| r["method"] == m && r["path"].as_str().unwrap_or("").contains(path))
            .map_or_else(|| panic!("no {m} {path} in {log:#?}"), span)
    };
    let (sp, secret) = (
        first(method, "servicePrincipals"),
        first("POST", "/addPassword"),
    );
    for (what, s) in [("service principal", sp), ("secret", secret)] {
        assert!(
            s.1 - s.0 >= 0.2,
            "the {what} request was not held 200 ms: {s:?}"
        );
    }
    (sp, secret)
}

#[test]
fn a_new_apps_principal_and_secret_are_sent_at_once_only_where_the_secret_is_kept_at_once() {
    // Each request to a service principal and each new secret takes 200 ms: two sent one
    // after the other cannot overlap. The tolerance below (far under it) is for the two
    // clocks the log reads (wall, monotonic).
    let sim = TestSim::start();
    for (method, path) in [
        ("PATCH", "/servicePrincipals"),
        ("GET", "/servicePrincipals"),
        ("POST", "/addPassword"),
    ] {
        sim.sim()
            .add_fault(json!({"method": method, "path": path, "delay_ms": 200, "count": 0}))
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.secret");
    let p = path.to_str().unwrap();

    // --secret-file: the secret is in the file the moment it is minted.
    let out = first_run(&sim, &["--secret-file", p]).ok();
    let (sp, secret) = principal_and_secret(&sim, "PATCH");
    assert!(
        sp.0 < secret.1 && secret.0 < sp.1,
        "the service principal ({sp:?}) and the secret ({secret:?}) of a new app overlap"
    );
    assert_eq!(sps_of(&sim, str_of(&out, "app_id")).len(), 1);

    // An existing app: its service principal is looked up first (a refusal there comes
    // before any secret is minted), then the secret.
    sim.sim().clear_requests();
    rerun(&sim, &out, &["--new-secret", "--secret-file", p]).ok();
    let (sp, secret) = principal_and_secret(&sim, "GET");
    assert!(
        secret.0 > sp.1 - 0.05,
        "the secret ({secret:?}) of an existing app comes after its service principal ({sp:?})"
    );

    // On stdout alone the secret would live in memory through the service principal's
    // wait (a kill loses it): one after the other.
    sim.sim().clear_requests();
    first_run(&sim, &["--unique-name", "on-stdout-only"]).ok();
    let (sp, secret) = principal_and_secret(&sim, "PATCH");
    assert!(
        secret.0 > sp.1 - 0.05,
        "the secret ({secret:?}) on stdout alone comes after the service principal ({sp:?})"
    );
}

/// Graph refusing every service principal write (tenant A).
fn refuse_principals(sim: &TestSim) {
    sim.sim()
        .add_fault(json!({"method": "PATCH", "path": "servicePrincipals", "status": 403,
            "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
            "count": 0}))
        .unwrap();
}

#[test]
fn a_secret_minted_beside_a_failed_service_principal_is_kept_and_the_rerun_makes_only_the_principal()
 {
    let dir = tempfile::tempdir().unwrap();
    for (i, shown) in [true, false].into_iter().enumerate() {
        let path = dir.path().join(format!("app{i}.secret"));
        let p = path.to_str().unwrap();
        let mut flags = vec!["--secret-file", p];
        if !shown {
            flags.push("--no-secret-output");
        }
        let sim = TestSim::start();
        refuse_principals(&sim);
        let run = first_run(&sim, &flags);
        let o = run.failed_exit(1, BIN);
        assert_eq!(o["error"]["code"], "Authorization_RequestDenied", "{o}");
        assert!(o.get("cluster_sp_object_id").is_none(), "{o}");
        let app_id = str_of(&o, "app_id");
        let app = app_by_id(&sim, app_id);
        assert_eq!(key_ids(&app), [str_of(&o, "client_secret_key_id")], "{o}");
        assert!(o["client_secret_expires_at"].is_string(), "{o}");
        // As a success would have it: in the file, and on stdout unless --no-secret-output.
        let secret = std::fs::read_to_string(&path)
            .unwrap()
            .trim_end()
            .to_owned();
        assert!(secret.starts_with(app["password_credentials"][0]["hint"].as_str().unwrap()));
        if shown {
            assert_eq!(o["client_secret"], secret.as_str(), "{o}");
        } else {
            assert!(o.get("client_secret").is_none(), "{o}");
        }
        assert!(!run.stderr.contains(&secret), "{}", run.stderr);

        // Once Graph lets it through: the service principal, the same secret, nothing else.
        sim.sim().clear_faults();
        sim.sim().clear_requests();
        let done = rerun(&sim, &o, &flags).ok();
        let writes: Vec<String> = sim
            .writes()
            .iter()
            .map(|w| format!("{} {}", w["method"], w["path"]))
            .collect();
        assert_eq!(writes.len(), 1, "{writes:#?}");
        assert!(writes[0].contains("servicePrincipals"), "{writes:#?}");
        assert_eq!(done["client_secret_key_id"], o["client_secret_key_id"]);
        assert_eq!(done.get("client_secret"), o.get("client_secret"));
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim_end(), secret);
        assert_eq!(key_ids(&app_by_id(&sim, app_id)).len(), 1);
        let sps = sps_of(&sim, app_id);
        assert_eq!(sps.len(), 1, "{sps:#?}");
        assert_eq!(sps[0]["id"], done["cluster_sp_object_id"]);
    }

    // On stdout alone the service principal comes first: refused, nothing is minted.
    let sim = TestSim::start();
    refuse_principals(&sim);
    let o = first_run(&sim, &[]).failed_exit(1, BIN);
    assert!(o.get("client_secret_key_id").is_none(), "{o}");
    assert!(key_ids(&app_by_id(&sim, str_of(&o, "app_id"))).is_empty());
}

#[test]
fn a_secret_that_fails_beside_a_created_service_principal_is_the_error_and_the_principal_is_kept() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.secret");
    let flags = ["--secret-file", path.to_str().unwrap()];
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "/addPassword", "status": 400,
            "code": "Request_BadRequest", "message": "Injected.", "count": 0}),
        )
        .unwrap();
    let o = first_run(&sim, &flags).failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "Request_BadRequest", "{o}");
    for f in ["client_secret", "client_secret_key_id"] {
        assert!(o.get(f).is_none(), "{f}: {o}");
    }
    let app_id = str_of(&o, "app_id");
    let sps = sps_of(&sim, app_id);
    assert_eq!(sps.len(), 1, "{sps:#?}");
    assert_eq!(sps[0]["id"], o["cluster_sp_object_id"], "{o}");
    assert!(key_ids(&app_by_id(&sim, app_id)).is_empty());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no file, no temporary file: {left:?}");

    sim.sim().clear_faults();
    sim.sim().clear_requests();
    let done = rerun(&sim, &o, &flags).ok();
    let writes = sim.writes();
    assert_eq!(writes.len(), 1, "only the secret: {writes:#?}");
    assert_eq!(done["cluster_sp_object_id"], o["cluster_sp_object_id"]);
    assert_eq!(key_ids(&app_by_id(&sim, app_id)).len(), 1);
    assert!(path.exists());
}

/// A cloud whose Graph refuses the uniqueName key in any of the shapes Graph uses for an
/// unsupported key, segment or method — on the read or only on the upsert: step 1 finds or
/// makes the app by its tag, once, and says why. Real errors on the same requests fail the
/// step with Graph's own answer and make no app.
#[test]
fn a_refused_unique_name_key_in_any_shape_falls_back_to_the_tag_and_real_errors_fail() {
    let sim = TestSim::start();
    let refusals = [
        (
            "GET",
            400,
            "BadRequest",
            "Resource not found for the segment 'applications'.",
        ),
        ("GET", 400, "Request_UnsupportedQuery", "Unsupported query."),
        (
            "GET",
            405,
            "Request_BadRequest",
            "The HTTP method is not allowed.",
        ),
        (
            "GET",
            501,
            "NotImplemented",
            "The requested feature is not implemented.",
        ),
        (
            "PATCH",
            404,
            "Request_ResourceNotFound",
            "Resource 'x' does not exist.",
        ),
        (
            "PATCH",
            405,
            "BadRequest",
            "The HTTP method 'PATCH' is not allowed.",
        ),
        (
            "PATCH",
            400,
            "Request_BadRequest",
            "'uniqueName' is not a valid alternate key for the resource type 'application'.",
        ),
    ];
    for (i, (method, status, code, message)) in refusals.into_iter().enumerate() {
        let unique = format!("shape-{i}");
        let refuse = json!({"method": method, "path": "uniqueName", "status": status,
            "code": code, "message": message, "count": 0});
        sim.sim().add_fault(refuse.clone()).unwrap();
        let r = first_run(&sim, &["--unique-name", &unique]);
        let out = r.ok();
        assert_eq!(out["app_unique_name"], unique.as_str());
        assert!(
            r.stderr.contains("no uniqueName key")
                && r.stderr.contains(&format!("answered {status}: "))
                && r.stderr.contains(&format!("[{code}]")),
            "{method} {status}: {}",
            r.stderr
        );
        assert_eq!(
            apps_tagged(&sim, &unique).len(),
            1,
            "{method} {status}: {}",
            sim.state()["applications"]
        );
        // The cloud keeps refusing: a rerun finds the same app by its tag.
        let again = rerun(&sim, &out, &[]).ok();
        assert_eq!(again["app_id"], out["app_id"], "{method} {status}");
        assert_eq!(apps_tagged(&sim, &unique).len(), 1, "{method} {status}");
        sim.sim().clear_faults();
    }

    // Real errors are the step's, whatever they say: nothing is made by tag.
    let real = [
        (
            "GET",
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        (
            "PATCH",
            400,
            "Request_BadRequest",
            "Property 'displayName' is required and cannot be empty.",
        ),
    ];
    for (method, status, code, message) in real {
        sim.sim().clear_requests();
        sim.sim()
            .add_fault(
                json!({"method": method, "path": "uniqueName", "status": status,
                "code": code, "message": message, "count": 0}),
            )
            .unwrap();
        let r = first_run(&sim, &["--unique-name", "real-error"]);
        let o = r.failed_exit(1, BIN);
        assert_eq!(o["error"]["code"], code, "{o}");
        assert!(said(&o).contains(message), "{o}");
        assert!(!r.stderr.contains("no uniqueName key"), "{}", r.stderr);
        let posted = sim.requests().iter().any(|q| {
            q["method"] == "POST" && q["path"].as_str().unwrap_or("").ends_with("/applications")
        });
        assert!(!posted, "{method} {status}: an app was posted");
        assert!(apps_tagged(&sim, "real-error").is_empty());
        sim.sim().clear_faults();
    }
}
