//! The claims matrix (issue 23): a record entry, an envelope field or an operation URL is a
//! *claim*. It may cause a read, a check or a reset; on its own it never causes a grant, a
//! skipped reset, a prune of a key a cluster might hold, or a record entry.
//!
//! The world of every row: the four steps ran (the cluster runs as the app with its key
//! K1), then `entra-app-create --new-secret` minted K2 (the rotation's envelope). Each row
//! forges one claim — an envelope field, or a cluster tag written by the simulator's
//! cluster-only identity (`CLUSTER_WRITER`, which cannot assign a role itself) — and runs
//! the step or rerun/rotation/prune path that reads it. The checks, from the simulator's
//! state and request log:
//! - no grant: no role assignment PUT at all (the cluster already runs as the app, so no
//!   copy is due; step 3's grant is already there);
//! - no skipped reset: a run that succeeds on the rotation's envelope leaves the cluster
//!   on K2's secret (it did not hold it before);
//! - no false record: the cluster's record names the key the cluster really holds;
//! - no prune of a held key: the cluster still pulls with what it holds.
//!
//! Each group of rows builds its world once (one pipeline), and every row starts its own
//! simulator from that world's state: the rows run in parallel and none sees another's.

use serde_json::{Value, json};
use xtenant_tests::azure::{App, NewApp, Operator};
use xtenant_tests::steps::{Step, par_map, run_step, run_steps};
use xtenant_tests::{Run, TestSim, bin_dir, line};

const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const TAG_KEY: &str = "xtenant-client-secret-key-id";
const TAG_PENDING: &str = "xtenant-pending-client-secret-key-id";
const TAG_CLIENT: &str = "xtenant-client-id";
const TAG_PREV_CLIENT: &str = "xtenant-previous-client-id";
const TAG_PREV_SP: &str = "xtenant-previous-sp-object-id";
const THREADS: usize = 2;

fn start(state: Option<Value>) -> TestSim {
    TestSim::start_with(|c| c.scenario = state)
}

/// The world every row starts from, as state and the values the rows forge with.
struct World {
    state: Value,
    /// The envelope the cluster holds (K1).
    held: Value,
    /// The rotation's envelope (K2, which the cluster does not hold).
    rotated: Value,
    /// A principal that is Owner of subscription A, and its app (another app of tenant A).
    boss: App,
    /// The Owner assignment of `boss`.
    boss_assignment: String,
    /// The world's simulator port (a row's simulator has its own: replaced in its input).
    port: u16,
    /// ARM's endpoint in the world's cloud file.
    arm: String,
}

fn world() -> World {
    bin_dir();
    let sim = start(None);
    let held = run_steps(&sim, &Step::ALL, "");
    let held: Value = serde_json::from_str(held.trim()).expect("step 4's object");
    let r = run_step(&sim, Step::App, &["--new-secret"], &line(&held));
    assert_eq!(r.code, 0, "the rotation's new secret: {}", r.stderr);
    let rotated = r.object();
    assert_ne!(
        rotated["client_secret_key_id"],
        held["client_secret_key_id"]
    );
    let op = Operator::new(&sim);
    let boss = op.create_app(
        &NewApp::multitenant("subscription-owner")
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(true),
    );
    let sub_a = format!("/subscriptions/{}", sim.var("CLUSTER_SUBSCRIPTION_ID"));
    let boss_assignment = op.assign_role(&sim.var("CLUSTER_TENANT_ID"), &sub_a, OWNER, boss.sp_a());
    assert!(
        cluster(&sim)[TAG_KEY].is_string(),
        "step 4 recorded its key on the cluster"
    );
    let cloud: Value =
        serde_json::from_str(&std::fs::read_to_string(sim.sim().cloud_file_path()).unwrap())
            .unwrap();
    World {
        state: sim.state(),
        held,
        rotated,
        boss,
        boss_assignment,
        port: sim.sim().port(),
        arm: cloud["arm_endpoint"]
            .as_str()
            .unwrap()
            .trim_end_matches('/')
            .to_owned(),
    }
}

/// The default cluster's entry in the state.
fn cluster_entry(state: &Value, id: &str) -> Value {
    state["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| c["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
        .cloned()
        .expect("the default cluster")
}

/// The default cluster's tags.
fn cluster(sim: &TestSim) -> Value {
    cluster_entry(&sim.state(), &sim.var("CLUSTER_ID"))["tags"].clone()
}

fn cluster_secret(sim: &TestSim) -> Value {
    cluster_entry(&sim.state(), &sim.var("CLUSTER_ID"))["secret_sha256"].clone()
}

fn pulls(sim: &TestSim) -> bool {
    sim.sim()
        .pull(&sim.var("CLUSTER_NAME"), &sim.var("REGISTRY_IMAGE"))["pulled"]
        == true
}

fn role_puts(sim: &TestSim) -> Vec<String> {
    sim.writes()
        .iter()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .unwrap_or("")
                    .contains("/roleAssignments/")
        })
        .map(|r| r["path"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn resets(sim: &TestSim) -> usize {
    sim.writes()
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("/resetServicePrincipalProfile")
        })
        .count()
}

fn key_ids(state: &Value, app_id: &str) -> Vec<String> {
    state["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["app_id"].as_str() == Some(app_id))
        .map(|a| {
            a["password_credentials"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter_map(|p| p["key_id"].as_str().map(str::to_ascii_lowercase))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// The key id of `app_id` whose secret the default cluster holds (by the secrets' hashes).
fn held_key(state: &Value, cluster_id: &str, app_id: &str) -> Option<String> {
    let sha = cluster_entry(state, cluster_id)["secret_sha256"].clone();
    state["applications"]
        .as_array()?
        .iter()
        .find(|a| a["app_id"].as_str() == Some(app_id))?["password_credentials"]
        .as_array()?
        .iter()
        .find(|p| !sha.is_null() && p["secret_sha256"] == sha)
        .and_then(|p| p["key_id"].as_str().map(str::to_ascii_lowercase))
}

/// Writes the cluster's tags as the cluster-only identity.
fn forge_tags(sim: &TestSim, f: &dyn Fn(&mut Value)) {
    let writer = Operator::acting_as(sim, "CLUSTER_WRITER");
    let mut tags = cluster(sim);
    f(&mut tags);
    let (status, body) =
        xtenant_tests::azure::write_cluster_tags(sim, &writer, &sim.var("CLUSTER_ID"), &tags);
    assert_eq!(status, 202, "the cluster writer may write the tags: {body}");
}

/// What a row does once its simulator runs the world.
enum Act {
    /// `aks-sp-update --cluster …` on the rotation's envelope with `field` forged.
    Reset { field: &'static str, value: Value },
    /// `aks-sp-update --cluster …` on `which` envelope after the cluster writer changed tags.
    ResetAfterTags {
        tags: fn(&mut Value, &World),
        rotated: bool,
    },
    /// `entra-app-create --prune-secrets` on the rotation's envelope after the tags changed.
    PruneAfterTags { tags: fn(&mut Value, &World) },
    /// `entra-app-create --new-secret --prune-secrets` on the held envelope with `field` forged.
    RotateForged { field: &'static str, value: Value },
}

struct Row {
    label: String,
    act: Act,
}

/// Runs the row's tool on its simulator: the run, and whether its input was the rotation's.
fn perform(w: &World, row: &Row, sim: &TestSim, cluster_id: &str) -> (Run, bool) {
    // The world's port, in the input, becomes this simulator's.
    let here =
        |v: &Value| line(v).replace(&format!(":{}", w.port), &format!(":{}", sim.sim().port()));
    let mut rotated_input = true;
    let run = match &row.act {
        Act::Reset { field, value } => {
            let mut env = w.rotated.clone();
            env[*field] = value.clone();
            sim.run("aks-sp-update", &["--cluster", cluster_id], &here(&env))
        }
        Act::ResetAfterTags { rotated, .. } => {
            rotated_input = *rotated;
            let env = if *rotated { &w.rotated } else { &w.held };
            sim.run("aks-sp-update", &["--cluster", cluster_id], &here(env))
        }
        Act::PruneAfterTags { .. } => {
            run_step(sim, Step::App, &["--prune-secrets"], &here(&w.rotated))
        }
        Act::RotateForged { field, value } => {
            let mut env = w.held.clone();
            env[*field] = value.clone();
            rotated_input = false;
            run_step(
                sim,
                Step::App,
                &["--new-secret", "--prune-secrets"],
                &here(&env),
            )
        }
    };
    (run, rotated_input)
}

/// Runs one row on its own simulator; the failures (empty: held).
fn run_row(w: &World, row: &Row) -> (String, Vec<String>) {
    let sim = start(Some(w.state.clone()));
    let key1 = w.held["client_secret_key_id"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    let key2 = w.rotated["client_secret_key_id"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    let app_id = w.held["app_id"].as_str().unwrap().to_owned();
    let cluster_id = sim.var("CLUSTER_ID");
    let secret_before = cluster_secret(&sim);
    let mut fail = Vec::new();
    assert_eq!(
        held_key(&sim.state(), &cluster_id, &app_id).as_deref(),
        Some(key1.as_str()),
        "the world's cluster holds K1"
    );
    if let Act::ResetAfterTags { tags, .. } | Act::PruneAfterTags { tags } = &row.act {
        forge_tags(&sim, &|t| tags(t, w));
    }
    // The record as the run finds it (forged or not): what the run itself writes is checked.
    let record_before = cluster(&sim)[TAG_KEY].clone();
    let (run, rotated_input) = perform(w, row, &sim, &cluster_id);
    let detail = format!(
        "exit {}: {}",
        run.code,
        run.stderr.lines().last().unwrap_or("").trim()
    );
    // No grant.
    let puts = role_puts(&sim);
    if !puts.is_empty() {
        fail.push(format!("role assignment PUT {puts:?}"));
    }
    // The boss's app keeps its secrets; the app's other apps untouched.
    let state = sim.state();
    if key_ids(&state, &w.boss.app_id) != key_ids(&w.state, &w.boss.app_id) {
        fail.push("the other app's secrets changed".into());
    }
    let reset = cluster_secret(&sim) != secret_before;
    let now_held = held_key(&state, &cluster_id, &app_id);
    let on_app = cluster_entry(&state, &cluster_id)["service_principal_client_id"]
        .as_str()
        .is_some_and(|c| c.eq_ignore_ascii_case(&app_id));
    if !on_app {
        fail.push("the cluster no longer runs as the app".into());
    }
    // No skipped reset: success on the rotation's envelope means the cluster holds K2 now.
    if matches!(row.act, Act::Reset { .. } | Act::ResetAfterTags { .. })
        && rotated_input
        && run.code == 0
        && !reset
    {
        fail.push(format!(
            "success without a reset: the cluster still holds {key1}, not the envelope's {key2} ({} resets posted)",
            resets(&sim)
        ));
    }
    // No false record: the record names the key the cluster holds.
    if now_held.is_none() {
        fail.push("the cluster holds no live key of the app (it was pruned)".into());
    }
    let held_key = now_held.unwrap_or_default();
    let held_key = &held_key;
    if reset && held_key != &key2 {
        fail.push(format!(
            "the cluster was reset to {held_key}, not the envelope's {key2}"
        ));
    }
    // A record entry the run wrote names the key the cluster holds (after a run that
    // succeeded on a forged record, the record must not name a key the cluster lacks either).
    let record = &cluster_entry(&state, &cluster_id)["tags"][TAG_KEY];
    if let Some(k) = record.as_str()
        && !k.eq_ignore_ascii_case(held_key)
        && (*record != record_before || (run.code == 0 && rotated_input))
    {
        fail.push(format!(
            "the record names {k}, the cluster holds {held_key}"
        ));
    }
    // No prune of a held key: the cluster's key still exists and it still pulls.
    if !pulls(&sim) {
        fail.push("the cluster cannot pull".into());
    }
    let failures = fail
        .into_iter()
        .map(|f| format!("{}: {f} [{detail}]", row.label))
        .collect();
    (format!("claims: {} -> {detail}\n", row.label), failures)
}

/// Runs the rows in parallel, each on its own simulator; the report (panics on a failure).
fn run_group(w: &World, rows: &[Row]) -> String {
    let mut report = String::new();
    let mut failures = Vec::new();
    for (line, f) in par_map(rows, THREADS, |r| run_row(w, r)) {
        report.push_str(&line);
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} claim(s) were taken as proof:\n{}",
        failures.len(),
        failures.join("\n")
    );
    report
}

fn reset_row(field: &'static str, value: Value, what: &str) -> Row {
    Row {
        label: format!("aks-sp-update, {field} = {what}"),
        act: Act::Reset { field, value },
    }
}

/// Forged identities and keys (another principal, another app, another key id).
fn identity_rows(w: &World) -> Vec<Row> {
    let key1 = w.held["client_secret_key_id"].clone();
    vec![
        reset_row("client_secret_key_id", Value::Null, "null"),
        reset_row("app_id", json!(w.boss.app_id), "another app"),
        reset_row(
            "app_object_id",
            json!(w.boss.object_id),
            "another app's object",
        ),
        reset_row(
            "cluster_sp_object_id",
            json!(w.boss.sp_a()),
            "an Owner principal",
        ),
        reset_row(
            "registry_sp_object_id",
            json!(w.boss.sp_b()),
            "another principal",
        ),
        reset_row(
            "client_secret_key_id",
            key1.clone(),
            "the key the cluster holds",
        ),
        reset_row(
            "client_secret_key_id",
            json!(uuid::Uuid::new_v4().to_string()),
            "another key id",
        ),
        reset_row(
            "client_secret_key_id",
            json!(w.boss.key_id),
            "another app's key id",
        ),
    ]
}

/// The reset step 4 made (to K1): a real, finished operation of this very cluster.
fn own_operation(w: &World, cluster: &str) -> String {
    w.state["operations"]
        .as_array()
        .expect("the state has operations")
        .iter()
        .find(|o| o["cluster_id"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(cluster)))
        .map(|o| {
            format!(
                "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{}/operations/{}?api-version=2016-03-30",
                w.arm,
                o["subscription_id"].as_str().unwrap(),
                o["location"].as_str().unwrap(),
                o["id"].as_str().unwrap()
            )
        })
        .expect("step 4's reset operation")
}

/// Forged vault versions, registries, targets, ARM URLs, clouds and tenants.
fn location_rows(w: &World) -> Vec<Row> {
    let sub_a = w.rotated["cluster_id"]
        .as_str()
        .unwrap()
        .split("/resourceGroups/")
        .next()
        .unwrap()
        .to_owned();
    let cluster = w.rotated["cluster_id"].as_str().unwrap().to_owned();
    let arm_base = w.arm.clone();
    let own_op = own_operation(w, &cluster);
    vec![
        reset_row(
            "cluster_operation_url",
            json!(own_op),
            "the cluster's own finished reset (to the held key)",
        ),
        reset_row(
            "client_secret_ref",
            json!("https://kv.vault.azure.net/secrets/x/00000000000000000000000000000001"),
            "another vault version",
        ),
        reset_row(
            "client_secret_expires_at",
            json!("2000-01-01T00:00:00Z"),
            "the past",
        ),
        reset_row(
            "client_secret_expires_at",
            json!("2999-01-01T00:00:00Z"),
            "the far future",
        ),
        reset_row(
            "registry_id",
            json!(w.state["registries"][1]["id"]),
            "another registry",
        ),
        reset_row(
            "registry_login_server",
            json!("other.azurecr.io"),
            "another login server",
        ),
        reset_row("role_name", json!("Owner"), "Owner"),
        reset_row(
            "role_assignment_id",
            json!(w.boss_assignment),
            "the Owner assignment",
        ),
        reset_row(
            "pull_verified_at",
            json!("2999-01-01T00:00:00Z"),
            "a verified pull",
        ),
        reset_row(
            "pull_proof",
            json!({"pulled": true, "image": "samples/hello"}),
            "a proof",
        ),
        reset_row("registry_image", json!("samples/other:1"), "another image"),
        reset_row(
            "cluster_id",
            json!(format!(
                "{sub_a}/resourceGroups/other/providers/Microsoft.ContainerService/managedClusters/other"
            )),
            "another cluster",
        ),
        reset_row(
            "cluster_operation_url",
            json!(format!("{arm_base}/subscriptions?api-version=2022-12-01")),
            "an ARM URL that answers 200",
        ),
        reset_row(
            "cluster_operation_url",
            json!(format!("{arm_base}{cluster}?api-version=2025-10-01")),
            "the cluster itself",
        ),
        reset_row(
            "cluster_operation_url",
            json!(format!(
                "{arm_base}{sub_a}/providers/Microsoft.ContainerService/locations/westeurope/operations/{}?api-version=2025-10-01",
                uuid::Uuid::new_v4()
            )),
            "an AKS operation elsewhere",
        ),
        reset_row("cloud", json!("AzureChinaCloud"), "another cloud"),
        reset_row(
            "cluster_tenant_id",
            w.rotated["registry_tenant_id"].clone(),
            "the registry's tenant",
        ),
        reset_row(
            "registry_tenant_id",
            w.rotated["cluster_tenant_id"].clone(),
            "the cluster's tenant",
        ),
    ]
}

/// Forged envelope fields through step 4 on a rotation (the cluster holds K1, the
/// envelope carries K2).
#[test]
#[ignore = "issue 23: the matrix's world predates the record's move to the app registration (step 4 now needs write on the app); rebuild it on the new record"]
fn forged_envelope_fields_cause_no_grant_skip_or_record_in_step_4() {
    let w = world();
    let mut rows = identity_rows(&w);
    rows.extend(location_rows(&w));
    print!("{}", run_group(&w, &rows));
}

fn owner_prev(t: &mut Value, w: &World) {
    t[TAG_PREV_CLIENT] = json!(w.boss.app_id);
    t[TAG_PREV_SP] = json!(w.boss.sp_a());
}
fn other_client(t: &mut Value, w: &World) {
    t[TAG_CLIENT] = json!(w.boss.app_id);
}
fn junk_key(t: &mut Value, _: &World) {
    t[TAG_KEY] = json!(uuid::Uuid::new_v4().to_string());
}
fn no_key(t: &mut Value, _: &World) {
    t.as_object_mut().unwrap().remove(TAG_KEY);
}

/// Forged record entries (the cluster's legacy tags, written by the cluster-only identity)
/// through step 4's rerun: they cause no grant and no false record.
#[test]
#[ignore = "issue 23: the matrix's world predates the record's move to the app registration (step 4 now needs write on the app); rebuild it on the new record"]
fn forged_cluster_tags_cause_no_grant_or_false_record() {
    let rows = vec![
        Row {
            label: "rerun, previous principal = an Owner".into(),
            act: Act::ResetAfterTags {
                tags: owner_prev,
                rotated: false,
            },
        },
        Row {
            label: "rotation, previous principal = an Owner".into(),
            act: Act::ResetAfterTags {
                tags: owner_prev,
                rotated: true,
            },
        },
        Row {
            label: "rerun, client id = another app".into(),
            act: Act::ResetAfterTags {
                tags: other_client,
                rotated: false,
            },
        },
        Row {
            label: "rotation, key id = another key".into(),
            act: Act::ResetAfterTags {
                tags: junk_key,
                rotated: true,
            },
        },
        Row {
            label: "rotation, key id removed".into(),
            act: Act::ResetAfterTags {
                tags: no_key,
                rotated: true,
            },
        },
        Row {
            label: "prune, key id removed".into(),
            act: Act::PruneAfterTags { tags: no_key },
        },
    ];
    print!("{}", run_group(&world(), &rows));
}

fn envelope_key(t: &mut Value, w: &World) {
    t[TAG_KEY] = w.rotated["client_secret_key_id"].clone();
}
fn pending_envelope_key(t: &mut Value, w: &World) {
    t.as_object_mut().unwrap().remove(TAG_KEY);
    t[TAG_PENDING] = w.rotated["client_secret_key_id"].clone();
}

/// The holes the legacy record leaves: a cluster-only identity names the rotation's key as
/// the cluster's, and the rerun skips the reset (and records it), or the prune removes the
/// key the cluster really holds.
#[test]
#[ignore = "issue 23: the record moves off the cluster's tags onto the app registration (record, in flight)"]
fn a_forged_record_key_skips_no_reset_and_prunes_no_held_key() {
    let rows = vec![
        Row {
            label: "rotation, key id = the envelope's".into(),
            act: Act::ResetAfterTags {
                tags: envelope_key,
                rotated: true,
            },
        },
        Row {
            label: "rotation, pending key id = the envelope's".into(),
            act: Act::ResetAfterTags {
                tags: pending_envelope_key,
                rotated: true,
            },
        },
        Row {
            label: "prune, key id = the envelope's".into(),
            act: Act::PruneAfterTags { tags: envelope_key },
        },
    ];
    print!("{}", run_group(&world(), &rows));
}

/// Forged fields through the rotation itself (`entra-app-create --new-secret
/// --prune-secrets`): the key the cluster holds is never pruned, another app never changed.
#[test]
#[ignore = "issue 23: the matrix's world predates the record's move to the app registration (step 4 now needs write on the app); rebuild it on the new record"]
fn forged_fields_prune_no_held_key_on_rotation() {
    let rows = vec![
        Row {
            label: "new secret + prune, client_secret_key_id = another".into(),
            act: Act::RotateForged {
                field: "client_secret_key_id",
                value: json!(uuid::Uuid::new_v4().to_string()),
            },
        },
        Row {
            label: "new secret + prune, app_object_id = another app".into(),
            act: Act::RotateForged {
                field: "app_object_id",
                value: json!("00000000-0000-4000-8000-0000000000aa"),
            },
        },
        Row {
            label: "new secret + prune, cluster_id = another cluster".into(),
            act: Act::RotateForged {
                field: "cluster_id",
                value: json!(
                    "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/x/providers/Microsoft.ContainerService/managedClusters/x"
                ),
            },
        },
    ];
    print!("{}", run_group(&world(), &rows));
}
