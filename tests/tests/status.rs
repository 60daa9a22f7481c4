//! Day two, read-only: `aks-sp-update --status` on a world where time passed and people
//! acted outside the tools — keys near expiry and expired, a cluster moved to another app,
//! a revoked consent — against the simulator, with its exit codes and no write to Azure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::azure::{Method, Operator, service_principal_of};
use xtenant_tests::world::{
    cluster_id, expire_key, granted_app as app, new_secret, reset, start, state_with_clusters,
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
    let (status, v) = op.arm(
        Method::POST,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!(
            "{}/resetServicePrincipalProfile?api-version=2025-10-01",
            cluster_id(&sim, "aks-moved")
        ),
        Some(&json!({"clientId": e3["app_id"], "secret": e3["client_secret"]})),
    );
    assert!((200..300).contains(&status), "{status} {v}");
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
    // Let the manual reset finish before the state is dumped.
    std::thread::sleep(Duration::from_millis(800));

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
