//! Day two, read-only: `aks-sp-update --status` on a world where time passed and people
//! acted outside the tools — keys near expiry and expired, a cluster moved to another app,
//! a revoked consent — against the simulator, with its exit codes and no write to Azure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::azure::{Method, Operator, service_principal_of};
use xtenant_tests::steps::pods;
use xtenant_tests::world::{
    cluster_id, expire_key, granted_app as app, moved, new_secret, reset, start,
    state_with_clusters,
};
use xtenant_tests::{Run, TestSim, line, run_cmd};

/// The clusters of the world, beside the default `aks-prod` (healthy).
const OTHERS: [&str; 4] = ["aks-soon", "aks-expired", "aks-moved", "aks-revoked"];

/// The world of day two, and each cluster's envelope (as step 4 wrote it).
struct World {
    sim: TestSim,
    envelopes: BTreeMap<&'static str, String>,
}

/// `aks-prod` healthy; `aks-soon` on a key ending in 10 days; `aks-expired` on a key that
/// ended yesterday; `aks-moved` reset by hand (ARM, outside the tools) to another app the
/// tools made; `aks-revoked` on an app whose service principal tenant B's administrator
/// deleted. Expiry: the dump of the simulator's state, its keys' end dates moved, loaded
/// into a new simulator (as a clock that jumped would show them).
fn world() -> World {
    let sim = start(state_with_clusters(&OTHERS));
    let one = app(&sim, "xtenant-day2-one");
    let mut envelopes = BTreeMap::new();
    envelopes.insert("aks-prod", reset(&sim, &one, "aks-prod"));
    envelopes.insert("aks-moved", reset(&sim, &one, "aks-moved"));
    let soon = new_secret(&sim, &one, "10d");
    envelopes.insert("aks-soon", reset(&sim, &soon, "aks-soon"));
    let expired = new_secret(&sim, &one, "20d");
    envelopes.insert("aks-expired", reset(&sim, &expired, "aks-expired"));
    let two = app(&sim, "xtenant-day2-two");
    envelopes.insert("aks-revoked", reset(&sim, &two, "aks-revoked"));
    let three = app(&sim, "xtenant-day2-three");

    // Outside the tools: aks-moved reset by hand to app three (its secret from the envelope).
    let op = Operator::new(&sim);
    let e3: Value = serde_json::from_str(three.trim()).unwrap();
    op.reset_cluster(
        &cluster_id(&sim, "aks-moved"),
        &e3["app_id"],
        &e3["client_secret"],
    );
    // Tenant B's administrator removes app two's service principal (the consent).
    let e2: Value = serde_json::from_str(two.trim()).unwrap();
    let b = sim.var("REGISTRY_TENANT_ID");
    let sp = service_principal_of(&sim, &b, e2["app_id"].as_str().unwrap()).unwrap();
    let (status, v) = op.graph(
        Method::DELETE,
        &b,
        &format!("/servicePrincipals/{sp}"),
        None,
    );
    assert_eq!(status, 204, "{v}");
    drop(op);
    // Let the manual reset (3 nodes × 5 minutes) finish before the state is dumped.
    sim.sim().advance(Duration::from_secs(15 * 60));

    // Time passes: the key of aks-expired ended yesterday.
    let e: Value = serde_json::from_str(envelopes["aks-expired"].trim()).unwrap();
    let mut state = sim.state();
    drop(sim);
    expire_key(
        &mut state,
        e["client_secret_key_id"].as_str().unwrap(),
        time::Duration::days(1),
    );
    World {
        sim: start(state),
        envelopes,
    }
}

fn status(sim: &TestSim, args: &[&str], stdin: &str) -> Run {
    let mut a = vec!["--status"];
    a.extend_from_slice(args);
    sim.run("aks-sp-update", &a, stdin)
}

/// The objects' `status` by cluster name.
fn by_cluster(r: &Run) -> BTreeMap<String, Value> {
    r.objects()
        .into_iter()
        .map(|o| {
            let name = o["cluster_id"]
                .as_str()
                .and_then(|c| c.rsplit('/').next())
                .unwrap_or("")
                .to_owned();
            (name, o)
        })
        .collect()
}

fn codes(o: &Value) -> Vec<String> {
    o["status"]["problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["code"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn status_reports_each_cluster_of_day_two_and_writes_nothing() {
    let w = world();
    let sim = &w.sim;
    sim.sim().clear_requests();
    let all: String = w.envelopes.values().cloned().collect();
    let r = status(sim, &["--jobs", "4"], &all);
    assert_eq!(
        r.code, 1,
        "one broken is exit 1\n{}\n{}",
        r.stderr, r.stdout
    );
    let got = by_cluster(&r);
    assert_eq!(got.len(), 5, "{}", r.stdout);
    let health = |c: &str| got[c]["status"]["health"].as_str().unwrap().to_owned();
    assert_eq!(health("aks-prod"), "healthy", "{}", got["aks-prod"]);
    assert_eq!(health("aks-soon"), "expiring", "{}", got["aks-soon"]);
    assert_eq!(codes(&got["aks-soon"]), ["KeyExpiresSoon"]);
    let days = got["aks-soon"]["status"]["key"]["expires_in_days"]
        .as_i64()
        .unwrap();
    assert!((8..=10).contains(&days), "{days}");
    assert_eq!(health("aks-expired"), "broken");
    assert_eq!(codes(&got["aks-expired"]), ["KeyExpired"]);
    assert_eq!(health("aks-moved"), "broken");
    assert_eq!(codes(&got["aks-moved"])[0], "ClusterOnAnotherApp");
    assert_eq!(health("aks-revoked"), "broken");
    assert_eq!(codes(&got["aks-revoked"]), ["RegistryPrincipalGone"]);
    let p = &got["aks-prod"]["status"];
    assert_eq!(p["registry_principal"]["state"], "present", "{p}");
    assert_eq!(p["registry_pull_role"]["state"], "present", "{p}");
    assert_eq!(p["app_made_by_tools"], true);
    assert_eq!(p["nodes"], 3, "the simulator's node pool: {p}");
    assert_eq!(
        p["key"]["id"], got["aks-prod"]["client_secret_key_id"],
        "the record names the envelope's key"
    );
    // The objects pass through: the envelope's secret is still there on stdout, never on stderr.
    let secret = got["aks-prod"]["client_secret"].as_str().unwrap();
    assert!(!r.stderr.contains(secret));
    assert!(
        r.stderr
            .contains("status of 5 cluster(s): 1 healthy, 1 expiring, 3 broken, 0 not readable"),
        "{}",
        r.stderr
    );
    for c in [
        "aks-prod",
        "aks-soon",
        "aks-expired",
        "aks-moved",
        "aks-revoked",
    ] {
        assert!(
            r.stderr.contains(&format!("cluster {c}: ")),
            "{c}: {}",
            r.stderr
        );
    }
    assert!(sim.writes().is_empty(), "status wrote: {:?}", sim.writes());

    // One at a time: the exit codes of a healthy and an expiring cluster.
    let one = |c: &str| status(sim, &[], &w.envelopes[c]);
    assert_eq!(one("aks-prod").code, 0, "{}", one("aks-prod").stderr);
    let soon = one("aks-soon");
    assert_eq!(soon.code, 4, "{}", soon.stderr);
    assert_eq!(
        status(sim, &["--warn-within", "5d"], &w.envelopes["aks-soon"]).code,
        0
    );
    assert_eq!(one("aks-expired").code, 1);
    assert!(sim.writes().is_empty(), "status wrote: {:?}", sim.writes());
}

#[test]
fn status_all_finds_the_clusters_on_apps_the_tools_made_and_says_what_it_cannot_tell() {
    let w = world();
    let sim = &w.sim;
    sim.sim().clear_requests();
    // --all: every cluster of tenant A on an app tagged xtenant:managed; the MSI cluster and
    // nothing else. Without tenant B named, its answers are unknown, saying why.
    let r = status(
        sim,
        &["--all", "--cluster-tenant", &sim.var("CLUSTER_TENANT_ID")],
        "",
    );
    let got = by_cluster(&r);
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "aks-expired",
            "aks-moved",
            "aks-prod",
            "aks-revoked",
            "aks-soon"
        ],
        "{}",
        r.stderr
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // On app three, whose record names no key for it: broken, it cannot be watched.
    assert_eq!(codes(&got["aks-moved"]), ["KeyNotRecorded"]);
    let p = &got["aks-prod"]["status"];
    assert_eq!(p["health"], "healthy", "{p}");
    assert_eq!(p["registry_principal"]["state"], "unknown");
    assert!(
        p["registry_principal"]["detail"]
            .as_str()
            .unwrap()
            .contains("--registry-tenant"),
        "{p}"
    );
    // Named, tenant B is read; the revoked consent shows again.
    let r = status(
        sim,
        &[
            "--all",
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--registry",
            &sim.var("REGISTRY_ID"),
        ],
        "",
    );
    let got = by_cluster(&r);
    assert_eq!(
        got["aks-prod"]["status"]["registry_pull_role"]["state"],
        "present"
    );
    assert_eq!(codes(&got["aks-revoked"]), ["RegistryPrincipalGone"]);
    assert!(sim.writes().is_empty(), "status wrote: {:?}", sim.writes());
}

#[test]
fn a_cluster_that_cannot_be_reported_on_is_its_own_error_and_the_run_goes_on() {
    let sim = start(state_with_clusters(&[]));
    let a = sim.var("CLUSTER_TENANT_ID");
    let missing = cluster_id(&sim, "aks-nowhere");
    let input: String = [sim.var("CLUSTER_ID"), sim.var("MSI_CLUSTER_ID"), missing]
        .iter()
        .map(|c| line(&json!({"cluster_id": c, "cluster_tenant_id": a})))
        .collect();
    let r = status(&sim, &[], &input);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let o = r.objects();
    assert_eq!(o.len(), 3);
    // aks-prod runs as the scenario's old app, made outside the tools: no record, broken.
    assert_eq!(codes(&o[0]), ["KeyNotRecorded"], "{}", o[0]);
    assert_eq!(o[0]["status"]["app_made_by_tools"], false);
    assert_eq!(o[1]["error"]["code"], "ManagedIdentityCluster", "{}", o[1]);
    assert_eq!(o[2]["error"]["code"], "ResourceNotFound", "{}", o[2]);
    assert!(
        r.stderr.contains("1 broken, 2 not readable"),
        "{}",
        r.stderr
    );
    assert!(sim.writes().is_empty());
    // Run as the read-only identity: the same answers.
    let mut c = sim.cmd_as_reader("aks-sp-update");
    c.arg("--status");
    let r2 = run_cmd(c, &[], &input);
    assert_eq!(r2.code, 1, "{}", r2.stderr);
    assert_eq!(codes(&r2.objects()[0]), ["KeyNotRecorded"], "{}", r2.stderr);
    // An identity that may read one cluster only: the other is its own error, naming the
    // right, and the run goes on.
    let mut c = sim.cmd("aks-sp-update");
    c.env("AZURE_CLIENT_ID", sim.var("CLUSTER_WRITER_CLIENT_ID"))
        .env(
            "AZURE_CLIENT_SECRET",
            sim.var("CLUSTER_WRITER_CLIENT_SECRET"),
        )
        .arg("--status");
    let r3 = run_cmd(c, &[], &input);
    assert_eq!(r3.code, 1, "{}", r3.stderr);
    let o = r3.objects();
    assert_eq!(o.len(), 3, "{}", r3.stdout);
    assert_eq!(o[1]["error"]["code"], "AuthorizationFailed", "{}", o[1]);
    assert!(
        o[1]["error"]["hint"].as_str().unwrap().contains("Reader"),
        "{}",
        o[1]
    );
}

/// The posted run commands (the probe's) of the request log.
fn run_commands(sim: &TestSim) -> usize {
    sim.writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").ends_with("/runCommand"))
        .count()
}

/// The address `aks-walled`'s nodes leave from: the registry's firewall does not admit it.
const WALLED_IP: &str = "203.0.113.77";

/// `aks-prod`, `aks-walled` (its own egress address, which the registry's firewall does not
/// admit; it admits this machine and `aks-prod`'s) and `aks-closed` (run command disabled),
/// each reset to one app: the simulator, that app's envelope and the three clusters' ones.
fn probe_world() -> (TestSim, String, String) {
    let mut state = state_with_clusters(&["aks-walled", "aks-closed"]);
    let prod_ip = start(state.clone()).var("CLUSTER_EGRESS_IP");
    for reg in state["registries"].as_array_mut().unwrap() {
        reg["network_rules"] =
            json!({"default_action": "Deny", "ip_rules": ["127.0.0.0/8", prod_ip]});
    }
    for c in state["clusters"].as_array_mut().unwrap() {
        let id = c["id"].as_str().unwrap().to_owned();
        if id.ends_with("/aks-walled") {
            c["egress_ip"] = json!(WALLED_IP);
        } else if id.ends_with("/aks-closed") {
            c["disable_run_command"] = json!(true);
        }
    }
    let sim = start(state);
    let env = app(&sim, "xtenant-status-probe");
    let envelopes = ["aks-prod", "aks-walled", "aks-closed"]
        .iter()
        .map(|n| reset(&sim, &env, n))
        .collect();
    (sim, env, envelopes)
}

/// `--status --probe-image` (issue 27): each cluster pulls the image itself; a pull refused
/// from inside (a registry firewall that admits this machine but not the cluster's egress) or
/// a cluster that runs no command is broken with the probe's hint, while the rest of the
/// report stands; the probe's pod is the only thing made, and it is gone.
#[test]
fn status_with_a_probe_proves_the_pull_from_inside_each_cluster() {
    let (sim, _, envelopes) = probe_world();
    let image = sim.var("REGISTRY_IMAGE");
    sim.sim().clear_requests();
    let run = status(
        &sim,
        &[
            "--targets-from-input",
            "--jobs",
            "3",
            "--probe-image",
            &image,
            "--timeout",
            "60s",
        ],
        &envelopes,
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stderr, run.stdout);
    let got = by_cluster(&run);
    assert_eq!(got.len(), 3, "{}", run.stdout);
    // aks-prod: healthy, and proven from inside.
    let prod = &got["aks-prod"]["status"];
    assert_eq!(prod["health"], "healthy", "{prod}");
    assert_eq!(prod["probe"]["pulled"], true, "{prod}");
    assert_eq!(prod["probe"]["image"], image.as_str());
    assert!(
        prod["probe"]["node"]
            .as_str()
            .unwrap()
            .starts_with("aks-nodepool1-"),
        "{prod}"
    );
    let line_of = |c: &str| {
        run.stderr
            .lines()
            .find(|l| l.starts_with(&format!("aks-sp-update: cluster {c}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line_of("aks-prod").contains("healthy")
            && line_of("aks-prod").contains("pulled from inside"),
        "{:?}\n{}",
        line_of("aks-prod"),
        run.stderr
    );
    // aks-walled: its key is fine, but its nodes cannot reach the registry.
    let walled = &got["aks-walled"]["status"];
    assert_eq!(codes(&got["aks-walled"]), ["ClusterPullFailed"], "{walled}");
    assert_eq!(walled["health"], "broken");
    assert_eq!(walled["probe"]["pulled"], false, "{walled}");
    let problem = &walled["problems"][0];
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains(&format!("client with IP '{WALLED_IP}'")),
        "{problem}"
    );
    let hint = problem["hint"].as_str().unwrap();
    assert!(
        hint.starts_with("network:") && hint.contains(WALLED_IP),
        "{hint}"
    );
    assert_eq!(
        walled["key"]["exists"], true,
        "the rest of the report stands: {walled}"
    );
    assert!(
        line_of("aks-walled").contains("no pull from inside"),
        "{}",
        run.stderr
    );
    // aks-closed: no command runs there: a refusal, never a pull.
    let closed = &got["aks-closed"]["status"];
    assert_eq!(codes(&got["aks-closed"]), ["RunCommandRefused"], "{closed}");
    assert!(closed.get("probe").is_none(), "{closed}");
    assert!(
        closed["problems"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("enable-run-command"),
        "{closed}"
    );
    assert!(
        run.stderr
            .contains("status of 3 cluster(s): 1 healthy, 0 expiring, 2 broken, 0 not readable"),
        "{}",
        run.stderr
    );
    // The only writes: one run command per cluster that runs them; no pod is left.
    assert_eq!(run_commands(&sim), 2, "{:?}", sim.writes());
    assert_eq!(sim.writes().len(), 2, "{:?}", sim.writes());
    assert!(pods(&sim).is_empty(), "{:?}", pods(&sim));
    // The secret the envelopes carry reaches no stderr.
    let secret = got["aks-prod"]["client_secret"].as_str().unwrap();
    assert!(!run.stderr.contains(secret));
}

/// One cluster: exit 0 when it pulls from inside, 1 with the missing image's hint for a tag
/// the registry lacks; without `--probe-image` nothing is made and there is no probe.
#[test]
fn status_with_a_probe_of_a_missing_tag_is_broken_with_its_hint() {
    let sim = start(state_with_clusters(&[]));
    let env = app(&sim, "xtenant-status-tag");
    let prod = reset(&sim, &env, "aks-prod");
    let image = sim.var("REGISTRY_IMAGE");
    let run = status(
        &sim,
        &["--targets-from-input", "--probe-image", &image],
        &prod,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.object()["status"]["probe"]["pulled"], true);
    let missing = image.replace(":1.0", ":9.9");
    let run = status(
        &sim,
        &["--targets-from-input", "--probe-image", &missing],
        &prod,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let o = run.object();
    assert_eq!(codes(&o), ["ClusterPullFailed"], "{o}");
    assert!(
        o["status"]["problems"][0]["hint"]
            .as_str()
            .unwrap()
            .starts_with("missing image:"),
        "{o}"
    );
    assert!(pods(&sim).is_empty());
    sim.sim().clear_requests();
    let run = status(&sim, &[], &prod);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.object()["status"].get("probe").is_none());
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

/// A cluster whose record is only in the `xtenant-*` tags an earlier version wrote on it
/// (no entry on the app): the key they name is read and reported, said to be legacy with the
/// flag that moves it, and never trusted for "healthy" (`LegacyRecord`, exit 4); a key they
/// name that the app no longer has is broken as any. `--remove-legacy-tags` on the envelope
/// moves the record to the app, and the report is healthy.
#[test]
fn status_reads_a_legacy_record_in_the_cluster_tags_and_never_trusts_it() {
    let sim = start(state_with_clusters(&["aks-old", "aks-gone"]));
    let env = app(&sim, "xtenant-legacy");
    let old = reset(&sim, &env, "aks-old");
    let gone = reset(&sim, &env, "aks-gone");
    let e: Value = serde_json::from_str(old.trim()).unwrap();
    let (app_id, key) = (
        e["app_id"].as_str().unwrap().to_owned(),
        e["client_secret_key_id"].as_str().unwrap().to_owned(),
    );
    let gone_key = "0badc0de-0000-4000-8000-000000000000";
    // As an earlier version left them: no entry on the app, the old tags on the cluster.
    let image = sim.var("REGISTRY_IMAGE");
    let mut state = sim.state();
    let ids = [cluster_id(&sim, "aks-old"), cluster_id(&sim, "aks-gone")];
    drop(sim);
    let entries: Vec<String> = ids
        .iter()
        .map(|c| format!("xtenant-cluster:{}", common::record::cluster_key(c)))
        .collect();
    for a in state["applications"].as_array_mut().unwrap() {
        if a["app_id"] == app_id.as_str() {
            let tags = a["properties"]["tags"].as_array_mut().unwrap();
            let before = tags.len();
            tags.retain(|t| !entries.iter().any(|e| t.as_str().unwrap().starts_with(e)));
            assert_eq!(tags.len(), before - 2, "{tags:?}");
        }
    }
    for c in state["clusters"].as_array_mut().unwrap() {
        let named = if c["id"] == ids[0].as_str() {
            key.as_str()
        } else if c["id"] == ids[1].as_str() {
            gone_key
        } else {
            continue;
        };
        c["tags"] = json!({"team": "a", "xtenant-client-id": app_id, "xtenant-client-secret-key-id": named});
    }
    let sim = start(state);
    let (old, gone) = (moved(&old, &image, &sim), moved(&gone, &image, &sim));
    sim.sim().clear_requests();

    let r = status(&sim, &[], &old);
    assert_eq!(r.code, 4, "reported, not trusted: {}", r.stderr);
    let s = &r.object()["status"];
    assert_eq!(s["health"], "expiring", "{s}");
    assert_eq!(codes(&r.object()), ["LegacyRecord"], "{s}");
    assert_eq!(s["key"]["id"], key.as_str());
    assert_eq!(s["key"]["exists"], true);
    assert_eq!(
        s["key"]["recorded_in"],
        "the cluster's xtenant-* tags (legacy)"
    );
    assert_eq!(s["legacy_tags"], true);
    assert!(
        s["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--remove-legacy-tags"),
        "{s}"
    );
    assert!(r.stderr.contains("(legacy tags)"), "{}", r.stderr);
    let r = status(&sim, &[], &gone);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        codes(&r.object()),
        ["LegacyRecord", "KeyGone"],
        "{}",
        r.stdout
    );
    assert!(sim.writes().is_empty(), "status wrote: {:?}", sim.writes());

    // Moved to the app: a reset to the envelope's secret, recorded there, the tags removed.
    let r = sim.run(
        "aks-sp-update",
        &[
            "--cluster",
            &cluster_id(&sim, "aks-old"),
            "--remove-legacy-tags",
        ],
        &old,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = status(&sim, &[], &r.stdout);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = &r.object()["status"];
    assert_eq!(s["health"], "healthy", "{s}");
    assert_eq!(s["key"]["recorded_in"], "the app's tags");
    assert!(s.get("legacy_tags").is_none(), "{s}");
}

/// `--status` says what step 4 would do with an entry naming no held key (`KeyUnconfirmed`),
/// and they agree: a switch to the envelope's key posted and never confirmed, the cluster on
/// the app — step 4 confirms it without a reset; an entry keeping another run's key (`was`) —
/// step 4 resets. Both were `KeyNotRecorded` ("switched outside these tools, or its record was
/// lost"), which neither is.
#[test]
fn status_says_what_step_4_does_with_an_unconfirmed_entry() {
    use common::record::Entry;
    let sim = super::record::sim_with_clusters(0);
    let env = super::record::granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &env["client_secret"]);
    sim.sim().advance(Duration::from_secs(3600));
    let problem = |r: &Run| {
        let o = r.object();
        (codes(&o), o["status"]["problems"][0]["message"].clone())
    };
    let step_4 = |extra: &[&str]| {
        let mut args = vec!["--cluster", &cluster];
        args.extend_from_slice(extra);
        xtenant_tests::clock::later(&sim, || sim.run("aks-sp-update", &args, &line(&env)))
    };
    // A switch to K posted by a run that lost its answer.
    let switch = Entry {
        pending: Some(key.clone()),
        switch: true,
        ..Entry::default()
    };
    super::record_gone::set_entry(&sim, &app, &cluster, &switch);
    let (codes1, message) = problem(&status(&sim, &["--cluster", &cluster], &line(&env)));
    assert_eq!(codes1, ["KeyUnconfirmed"], "{message}");
    let said = message.as_str().unwrap();
    assert!(
        said.contains(&format!(
            "envelope of key {key} confirms it without a reset"
        )),
        "{said}"
    );
    let before = sim.resets_accepted(&cluster);
    let r = step_4(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.resets_accepted(&cluster), before, "{}", r.stderr);
    let after = status(&sim, &["--cluster", &cluster], &line(&env));
    assert!(codes(&after.object()).is_empty(), "{}", after.stdout);
    // An entry keeping another run's key K3: unconfirmed, step 4 resets.
    let (_, k3) = Operator::new(&sim).add_secret(env["app_object_id"].as_str().unwrap());
    let kept = Entry {
        key: Some(key.clone()),
        pending: Some(key.clone()),
        was: vec![k3.clone()],
        ..Entry::default()
    };
    super::record_gone::set_entry(&sim, &app, &cluster, &kept);
    let (codes2, message) = problem(&status(&sim, &["--cluster", &cluster], &line(&env)));
    assert_eq!(codes2, ["KeyUnconfirmed"], "{message}");
    let said = message.as_str().unwrap();
    assert!(said.contains(&k3) && said.contains("resets it"), "{said}");
    let r = step_4(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.resets_accepted(&cluster), before + 1, "{}", r.stderr);
}
