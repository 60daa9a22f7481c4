//! Day two, renewal: `examples/rotate.sh --within 30d` renews only the key that is due, in
//! the safe order, idempotently (a rerun renews nothing), and resumes a rotation that stopped
//! halfway without minting a second secret.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use xtenant_tests::clock::later;
use xtenant_tests::steps::{app_key_ids, tags_of};
use xtenant_tests::world::{
    cluster_id, expire_key, fleet_lists, fleet_sh, granted_app, moved, new_secret, reset, start,
    state_with_clusters,
};
use xtenant_tests::{Run, TestSim, run_cmd};

/// Runs a script [`later`] (Azure's clock moved on five minutes every 50 ms): these tests
/// are about what a renewal renews, in which order and how often, not about how
/// long Azure takes; every wait of the tools still happens, and ends within a tick or two.
fn rotate(sim: &TestSim, cluster: &str, file: &Path) -> Run {
    later(sim, || {
        run_cmd(
            sim.shell("bash"),
            &[
                "examples/rotate.sh",
                "--within",
                "30d",
                "--cluster",
                &cluster_id(sim, cluster),
                "--registry",
                &sim.var("REGISTRY_ID"),
                file.to_str().unwrap(),
            ],
            "",
        )
    })
}

fn read(file: &Path) -> Value {
    serde_json::from_str(std::fs::read_to_string(file).unwrap().trim()).unwrap()
}

fn pulls(sim: &TestSim, cluster: &str) -> bool {
    sim.sim().pull(cluster, &sim.var("REGISTRY_IMAGE"))["pulled"] == true
}

#[test]
fn renewal_renews_only_what_is_due_and_a_rerun_renews_nothing() {
    let sim = start(state_with_clusters(&["aks-soon", "aks-expired"]));
    let one = granted_app(&sim, "xtenant-renew");
    let prod = reset(&sim, &one, "aks-prod");
    let soon = reset(&sim, &new_secret(&sim, &one, "10d"), "aks-soon");
    let expired = reset(&sim, &new_secret(&sim, &one, "20d"), "aks-expired");
    // Time passes: the key of aks-expired ended an hour ago.
    let old_expired = read_line(&expired)["client_secret_key_id"].clone();
    let mut state = sim.state();
    let old_image = sim.var("REGISTRY_IMAGE");
    drop(sim);
    expire_key(
        &mut state,
        old_expired.as_str().unwrap(),
        time::Duration::hours(1),
    );
    let sim = start(state);
    let (prod, soon, expired) = (
        moved(&prod, &old_image, &sim),
        moved(&soon, &old_image, &sim),
        moved(&expired, &old_image, &sim),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, body: &str| {
        let p = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, body).unwrap();
        p
    };
    let (fprod, fsoon, fexp) = (
        file("prod", &prod),
        file("soon", &soon),
        file("expired", &expired),
    );
    let app_id = read(&fprod)["app_id"].as_str().unwrap().to_owned();
    let prod_key = read(&fprod)["client_secret_key_id"].clone();

    // Not due: nothing is written.
    sim.sim().clear_requests();
    let r = rotate(&sim, "aks-prod", &fprod);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to renew"), "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    assert_eq!(read(&fprod)["client_secret_key_id"], prod_key);

    // Due within 30 days, and expired: each renewed in the safe order.
    for (cluster, f) in [("aks-soon", &fsoon), ("aks-expired", &fexp)] {
        let before = read(f)["client_secret_key_id"].clone();
        let r = rotate(&sim, cluster, f);
        assert_eq!(r.code, 0, "{cluster}: {}", r.stderr);
        assert!(r.stderr.contains("renewing"), "{}", r.stderr);
        let after = read(f);
        assert_ne!(after["client_secret_key_id"], before, "{cluster}");
        assert!(pulls(&sim, cluster), "{cluster} pulls with its new key");
        assert!(!app_key_ids(&sim, &app_id).contains(&before.as_str().unwrap().to_owned()));
    }
    // aks-prod kept its key (its record names it: the prunes left it) and still pulls.
    assert!(app_key_ids(&sim, &app_id).contains(&prod_key.as_str().unwrap().to_owned()));
    assert!(pulls(&sim, "aks-prod"));

    // Idempotent: the same commands again renew nothing.
    sim.sim().clear_requests();
    for (cluster, f) in [
        ("aks-prod", &fprod),
        ("aks-soon", &fsoon),
        ("aks-expired", &fexp),
    ] {
        let r = rotate(&sim, cluster, f);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains("nothing to renew"),
            "{cluster}: {}",
            r.stderr
        );
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

#[test]
fn a_renewal_stopped_at_the_reset_resumes_without_a_second_secret() {
    let sim = start(state_with_clusters(&["aks-soon"]));
    let one = granted_app(&sim, "xtenant-resume");
    let soon = reset(&sim, &new_secret(&sim, &one, "10d"), "aks-soon");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("soon.json");
    std::fs::write(&f, &soon).unwrap();
    let app_id = read(&f)["app_id"].as_str().unwrap().to_owned();
    // AKS refuses the reset once.
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "resetServicePrincipalProfile", "status": 400,
            "code": "BadRequest", "message": "A transient refusal.", "count": 1}),
        )
        .unwrap();
    let r = rotate(&sim, "aks-soon", &f);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("step 3 failed"), "{}", r.stderr);
    let minted = app_key_ids(&sim, &app_id).len();
    assert!(dir.path().join("soon.json.rotate/2.json").is_file());

    sim.sim().clear_requests();
    let r = rotate(&sim, "aks-soon", &f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1/5 minting a new secret: done in an earlier run"),
        "{}",
        r.stderr
    );
    assert_eq!(sim.resets(), 1, "one reset, on the resumed run");
    let added = sim
        .writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").contains("addPassword"))
        .count();
    assert_eq!(added, 0, "no second secret");
    assert!(
        app_key_ids(&sim, &app_id).len() < minted,
        "the old keys were pruned"
    );
    assert!(pulls(&sim, "aks-soon"));
    assert!(!dir.path().join("soon.json.rotate").exists());
}

fn read_line(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap()
}

/// examples/fleet.sh, then examples/renew.sh on its state.
#[test]
fn a_fleet_is_renewed_with_one_new_secret_and_only_when_due() {
    let sim = start(state_with_clusters(&["aks-fleet1", "aks-fleet2"]));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let names = ["aks-prod", "aks-fleet1", "aks-fleet2"];
    let ids: Vec<String> = names.iter().map(|n| cluster_id(&sim, n)).collect();
    fleet_lists(dir.path(), &[sim.var("REGISTRY_ID")], &ids);
    let fleet = || later(&sim, || fleet_sh(&sim, dir.path(), &state, &[], "2"));
    let renew = |within: &str| {
        later(&sim, || {
            run_cmd(
                sim.shell("bash"),
                &[
                    "examples/renew.sh",
                    "--within",
                    within,
                    "--state",
                    state.to_str().unwrap(),
                    "--jobs",
                    "2",
                ],
                "",
            )
        })
    };
    let r = fleet();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let app = read(&state.join("app.json"));
    let (app_id, old_key) = (
        app["app_id"].as_str().unwrap().to_owned(),
        app["client_secret_key_id"].as_str().unwrap().to_owned(),
    );

    // The key ends in a year: not within 30 days.
    sim.sim().clear_requests();
    let r = renew("30d");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to renew"), "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    // Within 400 days: the whole fleet, on one new secret.
    sim.sim().clear_requests();
    let r = renew("400d");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("3 cluster(s) due"), "{}", r.stderr);
    let added = sim
        .writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").contains("addPassword"))
        .count();
    assert_eq!(added, 1, "one new secret for the fleet");
    assert_eq!(sim.resets(), 3);
    let new_key = read(&state.join("app.json"))["client_secret_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_key, old_key);
    assert_eq!(
        app_key_ids(&sim, &app_id),
        vec![new_key.clone()],
        "the old key is pruned"
    );
    for n in names {
        assert!(pulls(&sim, n), "{n}");
    }
    let kept = std::fs::read_to_string(state.join("clusters.ndjson")).unwrap();
    assert_eq!(kept.matches(&new_key).count(), 3, "{kept}");
    assert!(!state.join("renew").exists());

    // Done: neither a renewal nor fleet.sh writes anything now.
    sim.sim().clear_requests();
    assert_eq!(renew("30d").code, 0);
    let r = fleet();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

/// examples/rotate.sh with its flags and `extra` before the envelope.
fn rotate_with(sim: &TestSim, cluster: &str, file: &Path, extra: &[&str]) -> Run {
    let id = cluster_id(sim, cluster);
    let registry = sim.var("REGISTRY_ID");
    let mut args = vec![
        "examples/rotate.sh",
        "--within",
        "400d",
        "--cluster",
        &id,
        "--registry",
        &registry,
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    later(sim, || run_cmd(sim.shell("bash"), &args, ""))
}

fn run_commands(sim: &TestSim) -> usize {
    sim.writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").ends_with("/runCommand"))
        .count()
}

/// `rotate.sh --probe-image`: the renewed cluster proves the pull from inside before the old
/// secret is pruned; a probe that fails (a tag the registry lacks) stops the rotation at the
/// reset with the old secret still on the app, and the rerun with the right image probes
/// again without a second reset or secret. A value that is not one image reference is
/// refused before anything runs.
#[test]
fn a_rotation_with_a_probe_prunes_only_once_the_cluster_pulls_from_inside() {
    let sim = start(state_with_clusters(&[]));
    let one = granted_app(&sim, "xtenant-probe-renew");
    let prod = reset(&sim, &one, "aks-prod");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("prod.json");
    std::fs::write(&f, &prod).unwrap();
    let (app_id, old_key) = (
        read(&f)["app_id"].as_str().unwrap().to_owned(),
        read(&f)["client_secret_key_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    sim.sim().clear_requests();
    // A bare repository:tag too: the registry is the person's to name, never the envelope's.
    for bad in ["-x", "a b", "$(touch /tmp/x):1", "", "samples/hello:1.0"] {
        let r = rotate_with(&sim, "aks-prod", &f, &["--probe-image", bad]);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains("--probe-image"), "{}", r.stderr);
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let image = sim.var("REGISTRY_IMAGE");
    let missing = image.replace(":1.0", ":9.9");
    let r = rotate_with(&sim, "aks-prod", &f, &["--probe-image", &missing]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("step 3 failed"), "{}", r.stderr);
    let failed = read(&dir.path().join("prod.json.rotate/3.failed.json"));
    assert_eq!(failed["error"]["code"], "ClusterPullFailed", "{failed}");
    assert!(
        app_key_ids(&sim, &app_id).contains(&old_key),
        "the old secret stays until the cluster proved the pull"
    );
    assert_eq!(sim.resets(), 1);

    sim.sim().clear_requests();
    let r = rotate_with(&sim, "aks-prod", &f, &["--probe-image", &image]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("proven from inside"), "{}", r.stderr);
    assert_eq!(sim.resets(), 0, "the reset was done: only probed again");
    assert_eq!(run_commands(&sim), 1);
    let done = read(&f);
    assert_eq!(done["cluster_pull_probe"]["pulled"], true, "{done}");
    assert_eq!(done["cluster_pull_probe"]["image"], image.as_str());
    assert_ne!(done["client_secret_key_id"], old_key.as_str());
    assert_eq!(
        app_key_ids(&sim, &app_id),
        vec![done["client_secret_key_id"].as_str().unwrap().to_owned()],
        "pruned once proven"
    );
}

/// examples/fleet.sh on `names` (one registry), state kept in `state`, `opts` before the
/// positional arguments.
fn fleet_run(sim: &TestSim, dir: &Path, state: &Path, names: &[&str], opts: &[&str]) -> Run {
    let ids: Vec<String> = names.iter().map(|n| cluster_id(sim, n)).collect();
    fleet_lists(dir, &[sim.var("REGISTRY_ID")], &ids);
    later(sim, || fleet_sh(sim, dir, state, opts, "2"))
}

/// examples/renew.sh on the fleet kept in `state`.
fn renew_run(sim: &TestSim, state: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "examples/renew.sh",
        "--state",
        state.to_str().unwrap(),
        "--jobs",
        "2",
    ];
    args.extend_from_slice(extra);
    later(sim, || run_cmd(sim.shell("bash"), &args, ""))
}

/// `renew.sh --probe-image`: each renewed cluster is probed from inside right after its
/// reset, and the verdicts are kept in the fleet's state; a value that is not one image
/// reference is refused before anything runs.
#[test]
fn a_fleet_renewal_with_a_probe_proves_each_cluster_from_inside() {
    let names = ["aks-prod", "aks-fleet1", "aks-fleet2"];
    let sim = start(state_with_clusters(&names[1..]));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let r = fleet_run(&sim, dir.path(), &state, &names, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    sim.sim().clear_requests();
    for bad in ["--x", "a;b c", "x\ty"] {
        let r = renew_run(&sim, &state, &["--within", "400d", "--probe-image", bad]);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains("--probe-image"), "{}", r.stderr);
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let image = sim.var("REGISTRY_IMAGE");
    let r = renew_run(&sim, &state, &["--within", "400d", "--probe-image", &image]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("each proven from inside"), "{}", r.stderr);
    assert_eq!(sim.resets(), 3);
    assert_eq!(run_commands(&sim), 3, "one probe per renewed cluster");
    let kept = std::fs::read_to_string(state.join("clusters.ndjson")).unwrap();
    for l in kept.lines() {
        let o: Value = serde_json::from_str(l).unwrap();
        assert_eq!(o["cluster_pull_probe"]["pulled"], true, "{o}");
    }
    assert!(!state.join("renew").exists());
}

/// Every file under `dir`, as text.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            out.push((p, text));
        }
    }
    out
}

/// A fleet whose secret is kept in Key Vault (`entra-app-create --secret-keyvault`, then
/// `fleet.sh --envelope`): `renew.sh --secret-keyvault` puts the new secret in the vault as
/// a new version of the same secret (after its pull is verified), every kept envelope names
/// it by reference, and no file, stdout or stderr holds it; without the flag the renewal is
/// refused before anything is written.
#[test]
fn a_fleet_renewal_with_the_secret_in_key_vault_updates_the_vault_not_a_file() {
    let names = ["aks-prod", "aks-fleet1"];
    let sim = start(state_with_clusters(&names[1..]));
    let dir = tempfile::tempdir().unwrap();
    let secret_url = format!("{}/secrets/fleet-secret", sim.var("KEYVAULT_URL"));
    let app = sim.run(
        "entra-app-create",
        &[
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--display-name",
            "xtenant-vault-fleet",
            "--secret-keyvault",
            &secret_url,
        ],
        "",
    );
    assert_eq!(app.code, 0, "{}", app.stderr);
    let envelope = dir.path().join("app.json");
    std::fs::write(&envelope, &app.stdout).unwrap();
    let state = dir.path().join("state");
    let r = fleet_run(
        &sim,
        dir.path(),
        &state,
        &names,
        &["--envelope", envelope.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = read(&state.join("app.json"));
    assert!(before.get("client_secret").is_none(), "{before}");
    let (app_id, old_key) = (
        before["app_id"].as_str().unwrap().to_owned(),
        before["client_secret_key_id"].as_str().unwrap().to_owned(),
    );

    // The vault is yours to name: without it, nothing runs.
    sim.sim().clear_requests();
    let r = renew_run(&sim, &state, &["--within", "400d"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--secret-keyvault"), "{}", r.stderr);
    let other = format!("{}/secrets/another", sim.var("KEYVAULT_URL"));
    let r = renew_run(
        &sim,
        &state,
        &["--within", "400d", "--secret-keyvault", &other],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    let r = renew_run(
        &sim,
        &state,
        &["--within", "400d", "--secret-keyvault", &secret_url],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("2 cluster(s) due"), "{}", r.stderr);
    let after = read(&state.join("app.json"));
    let new_key = after["client_secret_key_id"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    let reference = after["client_secret_ref"].as_str().unwrap();
    assert!(
        reference
            .to_ascii_lowercase()
            .starts_with(&format!("{}/", secret_url.to_ascii_lowercase())),
        "a version of the same vault secret: {reference}"
    );
    // The vault's secret has the new version, tagged with the new key; the app only the new key.
    let versions = sim.state()["vaults"][0]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "fleet-secret")
        .map(|s| s["versions"].as_array().unwrap().clone())
        .unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[1]["tags"]["key_id"], new_key.as_str());
    assert_eq!(app_key_ids(&sim, &app_id), vec![new_key.clone()]);
    for n in names {
        assert!(pulls(&sim, n), "{n}");
    }
    // Every kept envelope names the new version; none holds a secret.
    let secret = sim.vault_value(reference);
    for (p, text) in files(dir.path()) {
        assert!(!text.contains(&secret), "{} holds the secret", p.display());
        assert!(!text.contains("\"client_secret\""), "{}", p.display());
    }
    let kept = std::fs::read_to_string(state.join("clusters.ndjson")).unwrap();
    assert_eq!(kept.matches(reference).count(), 2, "{kept}");
    assert!(!r.stdout.contains(&secret) && !r.stderr.contains(&secret));
}

/// A cluster whose record is only in the `xtenant-*` tags an earlier version left on it: the
/// status calls it due (`LegacyRecord`), and the renewal resets it, records the new key on the
/// app and removes the tags, so the prune removes the old key they named.
#[test]
fn renewing_a_cluster_known_only_from_legacy_tags_moves_its_record_and_prunes_the_old_key() {
    let sim = start(state_with_clusters(&[]));
    let one = granted_app(&sim, "xtenant-legacy-renew");
    let prod = reset(&sim, &one, "aks-prod");
    let e = read_line(&prod);
    let (app_id, old_key) = (
        e["app_id"].as_str().unwrap().to_owned(),
        e["client_secret_key_id"].as_str().unwrap().to_owned(),
    );
    let id = cluster_id(&sim, "aks-prod");
    let old_image = sim.var("REGISTRY_IMAGE");
    let mut state = sim.state();
    drop(sim);
    // As an earlier version left it: no entry on the app, the old tags on the cluster.
    let entry = format!("xtenant-cluster:{}", common::record::cluster_key(&id));
    for a in state["applications"].as_array_mut().unwrap() {
        if a["app_id"] == app_id.as_str() {
            let tags = a["properties"]["tags"].as_array_mut().unwrap();
            let before = tags.len();
            tags.retain(|t| !t.as_str().unwrap().starts_with(&entry));
            assert_eq!(tags.len(), before - 1, "{tags:?}");
        }
    }
    for c in state["clusters"].as_array_mut().unwrap() {
        if c["id"] == id.as_str() {
            c["tags"] = json!({"team": "a", "xtenant-client-id": app_id,
                "xtenant-client-secret-key-id": old_key});
        }
    }
    let sim = start(state);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("prod.json");
    std::fs::write(&f, moved(&prod, &old_image, &sim)).unwrap();

    let r = rotate(&sim, "aks-prod", &f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("renewing"), "{}", r.stderr);
    let new_key = read(&f)["client_secret_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_key, old_key);
    assert_eq!(
        app_key_ids(&sim, &app_id),
        vec![new_key],
        "the old key is pruned"
    );
    let tags = tags_of(&sim, &id);
    assert_eq!(tags, json!({"team": "a"}), "the old tags are gone");
    assert!(pulls(&sim, "aks-prod"));
    // Renewed: nothing is due any more.
    sim.sim().clear_requests();
    let r = rotate(&sim, "aks-prod", &f);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to renew"), "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}
