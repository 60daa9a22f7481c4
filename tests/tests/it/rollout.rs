//! A fleet's resets roll out so that a failure is seen before the fleet is touched: one
//! cluster alone first, then `--jobs`; after `--max-failures` (default 1) no new reset
//! starts, the rest are written `NotStarted`, and the rerun on the output finishes them.

use serde_json::{Value, json};
use xtenant_tests::world::{cluster_id, granted_app, start, state_with_clusters};
use xtenant_tests::{Run, TestSim};

/// The reset requests the simulator saw for the cluster `name`.
fn resets_of(sim: &TestSim, name: &str) -> usize {
    let tail = format!("/{name}/resetServicePrincipalProfile");
    sim.writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").ends_with(&tail))
        .count()
}

/// One object per cluster: the app's envelope with the cluster's id.
fn stream(sim: &TestSim, app: &Value, names: &[&str]) -> String {
    names.iter().fold(String::new(), |mut s, n| {
        let mut o = app.clone();
        o["cluster_id"] = json!(cluster_id(sim, n));
        s.push_str(&o.to_string());
        s.push('\n');
        s
    })
}

fn pulls(sim: &TestSim, name: &str) -> bool {
    sim.sim().pull(name, &sim.var("REGISTRY_IMAGE"))["pulled"] == true
}

/// Step 4 on every cluster of `stream`, two at once, each probed with the scenario's image.
fn probe_rollout(sim: &TestSim, stream: &str) -> Run {
    let image = sim.var("REGISTRY_IMAGE");
    let args = [
        "--targets-from-input",
        "--jobs",
        "2",
        "--probe-image",
        &image,
        "--timeout",
        "60s",
    ];
    sim.run("aks-sp-update", &args, stream)
}

#[test]
fn a_fleet_rollout_stops_at_the_first_failure_and_the_rerun_finishes_the_rest() {
    let names = ["aks-prod", "aks-f1", "aks-f2", "aks-f3"];
    let sim = start(state_with_clusters(&names[1..]));
    let app: Value = serde_json::from_str(granted_app(&sim, "xtenant-rollout").trim()).unwrap();
    let stream = stream(&sim, &app, &names);
    // AKS refuses aks-f1's reset (e.g. a policy on its node resource group).
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "aks-f1/resetServicePrincipalProfile",
            "status": 400, "code": "RequestDisallowedByPolicy",
            "message": "Resource 'aks-f1' was disallowed by policy.", "count": 10}),
        )
        .unwrap();
    sim.sim().clear_requests();
    let args = ["--targets-from-input", "--jobs", "2"];
    let r = sim.run("aks-sp-update", &args, &stream);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let objs = r.objects();
    let code = |i: usize| objs[i]["error"]["code"].as_str().unwrap_or("-").to_owned();
    // The canary (aks-prod) ran alone and succeeded; aks-f1 failed beside aks-f2 (both
    // started once the canary was done); aks-f3 was not started.
    assert_eq!(code(0), "-", "{}", objs[0]);
    assert_eq!(code(1), "RequestDisallowedByPolicy", "{}", objs[1]);
    assert_eq!(code(2), "-", "{}", objs[2]);
    assert_eq!(code(3), "NotStarted", "{}", objs[3]);
    assert_eq!(objs[3]["error"]["step"], "aks-sp-update");
    assert_eq!(resets_of(&sim, "aks-f3"), 0, "nothing was sent for aks-f3");
    assert!(!pulls(&sim, "aks-f3") && !pulls(&sim, "aks-f1"));
    assert!(pulls(&sim, "aks-prod") && pulls(&sim, "aks-f2"));
    assert!(
        r.stderr.contains("no new one starts"),
        "the stop is said: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("1 failed") && r.stderr.contains("1 not started"),
        "the summary counts them: {}",
        r.stderr
    );
    // The canary's reset ended before any other started.
    let posts: Vec<String> = sim
        .writes()
        .iter()
        .filter_map(|w| w["path"].as_str().map(str::to_owned))
        .filter(|p| p.ends_with("/resetServicePrincipalProfile"))
        .collect();
    assert!(posts[0].contains("/aks-prod/"), "{posts:?}");

    // The cause fixed, the same command on the output: aks-f1 and aks-f3 are reset, the
    // clusters already done are only read.
    sim.sim().clear_faults();
    sim.sim().clear_requests();
    let again = sim.run("aks-sp-update", &args, &r.stdout);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.objects().iter().all(|o| o.get("error").is_none()));
    for (n, resets) in [("aks-prod", 0), ("aks-f1", 1), ("aks-f2", 0), ("aks-f3", 1)] {
        assert_eq!(resets_of(&sim, n), resets, "{n}");
        assert!(pulls(&sim, n), "{n}");
    }
}

#[test]
fn max_failures_lets_more_fail_before_it_stops() {
    let names = ["aks-prod", "aks-f1", "aks-f2", "aks-f3"];
    let sim = start(state_with_clusters(&names[1..]));
    let app: Value = serde_json::from_str(granted_app(&sim, "xtenant-rollout2").trim()).unwrap();
    let stream = stream(&sim, &app, &names);
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "resetServicePrincipalProfile",
            "status": 400, "code": "RequestDisallowedByPolicy", "message": "refused", "count": 10}),
        )
        .unwrap();
    // One job: each reset in turn; with --max-failures 2 the third is not started.
    let r = sim.run(
        "aks-sp-update",
        &["--targets-from-input", "--max-failures", "2"],
        &stream,
    );
    let codes: Vec<String> = r
        .objects()
        .iter()
        .map(|o| o["error"]["code"].as_str().unwrap_or("-").to_owned())
        .collect();
    assert_eq!(
        codes,
        [
            "RequestDisallowedByPolicy",
            "RequestDisallowedByPolicy",
            "NotStarted",
            "NotStarted"
        ],
        "{}",
        r.stderr
    );
}

/// The run commands (the probe's) the simulator saw for the cluster `name`.
fn probes_of(sim: &TestSim, name: &str) -> usize {
    let tail = format!("/{name}/runCommand");
    sim.writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").ends_with(&tail))
        .count()
}

/// With `--probe-image` each cluster is probed from inside right after its reset, and a
/// probe that fails is the object's failure: the canary's (its nodes' egress is not admitted
/// by the registry's firewall, which admits this machine) stops the rollout before any other
/// cluster is reset; once the firewall admits it, the rerun on the output finishes the rest,
/// each proven from inside.
#[test]
fn a_canary_whose_probe_fails_stops_the_rollout_and_the_rerun_finishes_it_probed() {
    let names = ["aks-prod", "aks-f1", "aks-f2"];
    let mut state = state_with_clusters(&names[1..]);
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"] = json!({"default_action": "Deny", "ip_rules": ["127.0.0.0/8"]});
    }
    // aks-f1 and aks-f2 reach the registry over a private endpoint (no public egress).
    for c in state["clusters"].as_array_mut().unwrap() {
        let id = c["id"].as_str().unwrap().to_owned();
        if names[1..].iter().any(|n| id.ends_with(&format!("/{n}"))) {
            c.as_object_mut().unwrap().remove("egress_ip");
        }
    }
    let sim = start(state);
    let app: Value = serde_json::from_str(granted_app(&sim, "xtenant-probed").trim()).unwrap();
    let stream = stream(&sim, &app, &names);
    sim.sim().clear_requests();
    let r = probe_rollout(&sim, &stream);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let objs = r.objects();
    let code = |o: &Value| o["error"]["code"].as_str().unwrap_or("-").to_owned();
    assert_eq!(code(&objs[0]), "ClusterPullFailed", "{}", objs[0]);
    assert_eq!(objs[0]["cluster_provisioning_state"], "Succeeded");
    assert_eq!(objs[0]["cluster_pull_probe"]["pulled"], false);
    assert!(
        objs[0]["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("network:"),
        "{}",
        objs[0]
    );
    for o in &objs[1..] {
        assert_eq!(code(o), "NotStarted", "{o}");
    }
    assert_eq!(resets_of(&sim, "aks-prod"), 1);
    assert_eq!(probes_of(&sim, "aks-prod"), 1);
    for n in &names[1..] {
        assert_eq!(resets_of(&sim, n) + probes_of(&sim, n), 0, "{n} untouched");
    }
    assert!(r.stderr.contains("2 not started"), "{}", r.stderr);

    // The firewall admits the canary's egress now: the rerun on the output.
    let old_image = sim.var("REGISTRY_IMAGE");
    let egress = sim.var("CLUSTER_EGRESS_IP");
    let mut state = sim.state();
    drop(sim);
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"]["ip_rules"] = json!(["127.0.0.0/8", egress]);
    }
    let sim = start(state);
    let out = xtenant_tests::world::moved(&r.stdout, &old_image, &sim);
    let again = probe_rollout(&sim, &out);
    assert_eq!(again.code, 0, "{}", again.stderr);
    for o in again.objects() {
        assert!(o.get("error").is_none(), "{o}");
        assert_eq!(o["cluster_pull_probe"]["pulled"], true, "{o}");
    }
    for (n, resets) in [("aks-prod", 0), ("aks-f1", 1), ("aks-f2", 1)] {
        assert_eq!(resets_of(&sim, n), resets, "{n}");
        assert_eq!(probes_of(&sim, n), 1, "{n}");
    }
}
