//! The claims matrix (issue 23): a record entry, an envelope field or an operation URL is a
//! *claim*. It may cause a read, a check or a reset; on its own it never causes a grant, a
//! skipped reset, a prune of a key a cluster might hold, or a record entry (docs/security.md).
//!
//! One world per test, one simulator: the four steps ran for one app on one cluster per case
//! (each holds K1, recorded on the app), then `entra-app-create --new-secret` minted K2 (the
//! rotation's envelope), and an Owner of subscription A with its own app and secret exists
//! (`boss`). Three partial-rights identities act in it:
//! - the app's owner (`READER`, given `Application.ReadWrite.OwnedBy` and made an owner of
//!   the app): it may write the app's tags, i.e. the record, and nothing in ARM but reads;
//! - the cluster-only contributor (`CLUSTER_WRITER`, Azure Kubernetes Service Contributor on
//!   the clusters): it may write the clusters and their tags (the old `xtenant-*` record),
//!   never a role assignment nor the app;
//! - team B, who writes the envelope it hands back.
//!
//! Every case forges one claim on its own cluster, and all the forgeries are made before any
//! run; then the cases run (a few at once) and each is checked from the simulator's state:
//! - no grant: no role assignment created or changed anywhere, no PUT of one;
//! - no skipped reset: a run that succeeds on the rotation's envelope leaves its cluster on K2;
//! - no false record: an entry the run wrote names, as confirmed, the key its cluster holds;
//! - no prune of a held key: every cluster still holds a live key of the app and pulls.
//!
//! What the app's owner can make the tools do with the record goes beyond a read, a check or
//! a reset in two ways, kept as rows that must still behave exactly so ([`Expect::Owner`]) and
//! listed in docs/security.md ("What an app owner can do"): an entry naming the rotation's key
//! makes a rerun say "nothing to do", and makes `--prune-secrets` remove the key the cluster
//! holds. An owner may remove that key itself (the same right), so neither grants anything.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::azure::{
    App, Method, NewApp, Operator, app_tags, record_entry, write_cluster_tags,
};
use xtenant_tests::clock::later;
use xtenant_tests::steps::{Step, par_map, run_step, run_steps};
use xtenant_tests::world::{start, state_with_clusters};
use xtenant_tests::{Run, TestSim, bin_dir, line};

const OWNER_ROLE: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const AKS_CONTRIBUTOR_ROLE: &str = "ed7f3fbd-7b88-4dd4-9017-9adb7ce333f8";
const THREADS: usize = 8;

/// The world of a test.
struct World {
    sim: TestSim,
    app: String,
    /// The envelope the clusters hold (K1), as step 4 wrote it.
    held: Value,
    /// The rotation's envelope (K2, which no cluster holds).
    rotated: Value,
    k1: String,
    k2: String,
    /// An Owner of subscription A: another app of tenant A with a secret and principals.
    boss: App,
    boss_assignment: String,
    /// ARM's endpoint.
    arm: String,
    /// One cluster per case, all on the app with K1.
    clusters: Vec<String>,
}

fn str_of(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_owned()
}

/// The world with `n` clusters (see the module).
fn world(n: usize) -> World {
    bin_dir();
    let names: Vec<String> = (1..=n).map(|i| format!("aks-c{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let first = start(state_with_clusters(&refs));
    let prefix = first
        .var("CLUSTER_ID")
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let clusters: Vec<String> = names.iter().map(|n| format!("{prefix}/{n}")).collect();
    // The world is made on Azure's clock moved on five minutes every 50 ms: its replications
    // and 35 resets end within a tick or few instead of real seconds.
    let (held, rotated) = later(&first, || {
        let granted: Value =
            serde_json::from_str(run_steps(&first, &Step::FIRST_THREE, "").trim()).unwrap();
        let input: String = clusters
            .iter()
            .map(|id| {
                let mut e = granted.clone();
                e["cluster_id"] = json!(id);
                line(&e)
            })
            .collect();
        let r = first.run(
            "aks-sp-update",
            &["--targets-from-input", "--jobs", "40"],
            &input,
        );
        assert_eq!(r.code, 0, "step 4 on every cluster: {}", r.stderr);
        let held = r.objects().remove(0);
        let r = run_step(&first, Step::App, &["--new-secret"], &line(&held));
        assert_eq!(r.code, 0, "the rotation's new secret: {}", r.stderr);
        (held, r.object())
    });
    let op = Operator::new(&first);
    let boss = op.create_app(
        &NewApp::multitenant("subscription-owner")
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(true),
    );
    let tenant_a = first.var("CLUSTER_TENANT_ID");
    let sub_a = format!("/subscriptions/{}", first.var("CLUSTER_SUBSCRIPTION_ID"));
    let boss_assignment = op.assign_role(&tenant_a, &sub_a, OWNER_ROLE, boss.sp_a());
    // The cluster-only contributor on every case's cluster.
    let writer_sp = sp_of(
        &first.state(),
        &first.var("CLUSTER_WRITER_CLIENT_ID"),
        &tenant_a,
    );
    for id in &clusters {
        op.assign_role(&tenant_a, id, AKS_CONTRIBUTOR_ROLE, &writer_sp);
    }
    let app = str_of(&held, "app_id");
    let mut state = first.state();
    make_app_owner(&mut state, &first.var("READER_CLIENT_ID"), &tenant_a, &app);
    let old_port = first.sim().port();
    drop(first);
    let sim = start(state);
    // The envelopes name the registry's login server on the first simulator's port.
    let here = |v: &Value| -> Value {
        serde_json::from_str(
            &line(v).replace(&format!(":{old_port}"), &format!(":{}", sim.sim().port())),
        )
        .unwrap()
    };
    let (held, rotated) = (here(&held), here(&rotated));
    let cloud: Value =
        serde_json::from_str(&std::fs::read_to_string(sim.sim().cloud_file_path()).unwrap())
            .unwrap();
    let arm = cloud["arm_endpoint"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let (k1, k2) = (
        str_of(&held, "client_secret_key_id").to_ascii_lowercase(),
        str_of(&rotated, "client_secret_key_id").to_ascii_lowercase(),
    );
    assert_ne!(k1, k2);
    let w = World {
        sim,
        app,
        held,
        rotated,
        k1,
        k2,
        boss,
        boss_assignment,
        arm,
        clusters,
    };
    for id in &w.clusters {
        assert_eq!(w.holds(id).as_deref(), Some(w.k1.as_str()), "{id} holds K1");
        assert_eq!(record_entry(&w.sim, &w.app, id), Some(json!({"key": w.k1})));
    }
    w
}

/// The app's owner: READER, given Application.ReadWrite.OwnedBy, owns the app `app`.
fn make_app_owner(state: &mut Value, reader: &str, tenant: &str, app: &str) {
    let reader_sp = sp_of(state, reader, tenant);
    for sp in state["service_principals"].as_array_mut().unwrap() {
        if sp["id"] == reader_sp.as_str() {
            sp["graph_app_roles"] =
                json!(["Application.Read.All", "Application.ReadWrite.OwnedBy"]);
        }
    }
    for a in state["applications"].as_array_mut().unwrap() {
        if a["app_id"] == app {
            a["owners"] = json!([reader_sp]);
        }
    }
}

fn sp_of(state: &Value, app_id: &str, tenant: &str) -> String {
    state["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["app_id"] == app_id && s["tenant_id"] == tenant)
        .map_or_else(
            || panic!("no service principal of {app_id} in {tenant}"),
            |s| str_of(s, "id"),
        )
}

impl World {
    fn cluster(state: &Value, id: &str) -> Value {
        state["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"].as_str().is_some_and(|s| s.eq_ignore_ascii_case(id)))
            .cloned()
            .unwrap_or_else(|| panic!("no cluster {id}"))
    }

    /// The key id of the app whose secret the cluster `id` holds (by the secrets' hashes).
    fn holds_in(&self, state: &Value, id: &str) -> Option<String> {
        let sha = Self::cluster(state, id)["secret_sha256"].clone();
        Self::keys_in(state, &self.app)
            .into_iter()
            .find(|(_, s)| !sha.is_null() && *s == sha)
            .map(|(k, _)| k)
    }

    fn holds(&self, id: &str) -> Option<String> {
        self.holds_in(&self.sim.sim().state_of(&["clusters", "applications"]), id)
    }

    /// The app `app_id`'s keys: (key id, secret hash).
    fn keys_in(state: &Value, app_id: &str) -> Vec<(String, Value)> {
        state["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app_id"] == app_id)
            .and_then(|a| a["password_credentials"].as_array())
            .map(|p| {
                p.iter()
                    .map(|p| {
                        (
                            str_of(p, "key_id").to_ascii_lowercase(),
                            p["secret_sha256"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rotation's (`rotated`) or the held envelope for the cluster `id`, with `f` applied.
    fn envelope(&self, rotated: bool, id: &str, f: &dyn Fn(&mut Value)) -> String {
        let mut e = if rotated { &self.rotated } else { &self.held }.clone();
        e["cluster_id"] = json!(id);
        f(&mut e);
        line(&e)
    }

    /// The URL of a reset's operation (`op`, from the state).
    fn operation_url(&self, op: &Value) -> String {
        format!(
            "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{}/operations/{}?api-version=2016-03-30",
            self.arm,
            str_of(op, "subscription_id"),
            str_of(op, "location"),
            str_of(op, "id")
        )
    }

    /// The finished reset step 4 made of the cluster `id` (to K1).
    fn own_operation(&self, id: &str) -> String {
        let state = self.sim.state();
        let op = state["operations"]
            .as_array()
            .expect("the state has operations")
            .iter()
            .find(|o| {
                o["cluster_id"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(id))
            })
            .cloned()
            .expect("step 4's reset operation");
        self.operation_url(&op)
    }
}

/// The record's id of an operation URL (as docs/security.md documents it: the UUID v5 of its
/// lower-cased path in the record's namespace).
fn operation_key(url: &str) -> String {
    let ns = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        b"https://xtenant.invalid/cluster-record",
    );
    let path = url.split('?').next().unwrap();
    let path = &path[path.find("/subscriptions/").unwrap()..];
    uuid::Uuid::new_v5(&ns, path.to_ascii_lowercase().as_bytes()).to_string()
}

/// The record's id of a cluster.
fn cluster_key(id: &str) -> String {
    let ns = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        b"https://xtenant.invalid/cluster-record",
    );
    uuid::Uuid::new_v5(&ns, id.to_ascii_lowercase().as_bytes()).to_string()
}

/// A forgery, made before any case runs.
enum Forge {
    /// Nothing (the claim is in the envelope or the flags).
    None,
    /// The app's owner sets the cluster's entry to this tag's parts after the cluster id
    /// (`""`: removes it), e.g. `";key=K"`.
    Entry(String),
    /// The app's owner adds these tags beside the entry.
    ExtraTags(Vec<String>),
    /// The cluster-only contributor sets these tags on the cluster (its old `xtenant-*` record).
    ClusterTags(Value),
    /// All of these.
    Many(Vec<Forge>),
}

/// What a case runs, on its own cluster.
enum Act {
    /// `aks-sp-update --cluster ID` on the rotation's (or the held) envelope, edited.
    Reset {
        rotated: bool,
        edit: Box<dyn Fn(&mut Value) + Sync>,
        args: Vec<String>,
    },
    /// `aks-sp-update --cluster ID` as the cluster-only contributor.
    ResetAsClusterWriter,
    /// `aks-sp-update --cluster ID` as the app's owner (who may write the record, not reset).
    ResetAsAppOwner,
}

/// What the case must come to besides the invariants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Only the invariants.
    Careful,
    /// The app owner's documented power: the run says "nothing to do" and leaves the cluster
    /// on K1 although the envelope carries K2 (it writes no entry of its own).
    Owner,
}

struct Case {
    label: String,
    forge: Forge,
    act: Act,
    expect: Expect,
}

fn case(label: &str, forge: Forge, act: Act) -> Case {
    Case {
        label: label.into(),
        forge,
        act,
        expect: Expect::Careful,
    }
}

fn rotation(edit: impl Fn(&mut Value) + Sync + 'static) -> Act {
    Act::Reset {
        rotated: true,
        edit: Box::new(edit),
        args: Vec::new(),
    }
}

fn field(name: &'static str, value: Value) -> Act {
    rotation(move |e| e[name] = value.clone())
}

/// Makes one forgery for the cluster `id`: the record's into `tags` (written later), the
/// cluster's tags at once as the cluster-only contributor.
fn forge(w: &World, f: &Forge, id: &str, tags: &mut Vec<String>, writer: &Operator) {
    let prefix = format!("xtenant-cluster:{}", cluster_key(id));
    match f {
        Forge::None => {}
        Forge::Entry(parts) => {
            tags.retain(|t| !t.starts_with(&prefix));
            if !parts.is_empty() {
                tags.push(format!("{prefix}{parts}"));
            }
        }
        Forge::ExtraTags(extra) => tags.extend(extra.iter().cloned()),
        Forge::ClusterTags(t) => {
            let (status, body) = write_cluster_tags(&w.sim, writer, id, t);
            assert!(
                (200..300).contains(&status),
                "the cluster-only contributor may write the cluster's tags: {status} {body}"
            );
        }
        Forge::Many(all) => {
            for f in all {
                forge(w, f, id, tags, writer);
            }
        }
    }
}

/// Makes every case's forgery: the record's in one write by the app's owner (as it would),
/// the clusters' tags one by one by the cluster-only contributor.
fn forge_all(w: &World, cases: &[Case]) {
    let tenant = w.sim.var("CLUSTER_TENANT_ID");
    let mut tags = app_tags(&w.sim, &w.app);
    let writer = Operator::acting_as(&w.sim, "CLUSTER_WRITER");
    for (c, id) in cases.iter().zip(&w.clusters) {
        forge(w, &c.forge, id, &mut tags, &writer);
    }
    let owner = Operator::acting_as(&w.sim, "READER");
    let (status, body) = owner.graph(
        Method::PATCH,
        &tenant,
        &format!("/applications(appId='{}')", w.app),
        Some(&json!({ "tags": tags })),
    );
    assert_eq!(status, 204, "the app's owner may write the record: {body}");
    // The partial identities' other rights end there: neither may assign a role.
    let sub = format!("/subscriptions/{}", w.sim.var("CLUSTER_SUBSCRIPTION_ID"));
    for who in [&writer, &owner] {
        let (status, _) = who.arm(
            Method::PUT,
            &tenant,
            &format!(
                "{sub}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                uuid::Uuid::new_v4()
            ),
            Some(&json!({"properties": {
                "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{OWNER_ROLE}"),
                "principalId": w.boss.sp_a(),
            }})),
        );
        assert_eq!(status, 403, "a partial identity cannot assign a role");
    }
}

fn run_case(w: &World, c: &Case, id: &str) -> Run {
    let sim = &w.sim;
    match &c.act {
        Act::Reset {
            rotated,
            edit,
            args,
        } => {
            let mut a: Vec<&str> = vec!["--cluster", id];
            a.extend(args.iter().map(String::as_str));
            sim.run("aks-sp-update", &a, &w.envelope(*rotated, id, &**edit))
        }
        Act::ResetAsClusterWriter | Act::ResetAsAppOwner => {
            let prefix = if matches!(c.act, Act::ResetAsAppOwner) {
                "READER"
            } else {
                "CLUSTER_WRITER"
            };
            let mut cmd = sim.cmd("aks-sp-update");
            cmd.env("AZURE_CLIENT_ID", sim.var(&format!("{prefix}_CLIENT_ID")))
                .env(
                    "AZURE_CLIENT_SECRET",
                    sim.var(&format!("{prefix}_CLIENT_SECRET")),
                );
            xtenant_tests::run_cmd(cmd, &["--cluster", id], &w.envelope(true, id, &|_| {}))
        }
    }
}

fn role_assignments(state: &Value) -> BTreeSet<String> {
    state["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect()
}

/// Forges every case's claim, runs the cases, checks them; panics naming every case that
/// took a claim as proof. The report, one line per case.
fn run_matrix(w: &World, cases: &[Case]) -> String {
    assert!(cases.len() <= w.clusters.len(), "one cluster per case");
    forge_all(w, cases);
    let before = w.sim.state();
    let entries_before: Vec<Option<Value>> = w
        .clusters
        .iter()
        .map(|id| record_entry(&w.sim, &w.app, id))
        .collect();
    w.sim.sim().clear_requests();
    let indexed: Vec<(usize, &Case)> = cases.iter().enumerate().collect();
    let runs = par_map(&indexed, THREADS, |(i, c)| {
        let t = std::time::Instant::now();
        let r = run_case(w, c, &w.clusters[*i]);
        (r, t.elapsed())
    });
    let after = w.sim.state();
    let mut fail = Vec::new();
    // No grant, anywhere.
    let puts: Vec<String> = w
        .sim
        .writes()
        .iter()
        .filter(|r| {
            r["method"] == "PUT"
                && r["path"]
                    .as_str()
                    .unwrap_or("")
                    .contains("/roleAssignments/")
        })
        .map(|r| r["path"].to_string())
        .collect();
    if !puts.is_empty() {
        fail.push(format!("role assignment PUT(s): {puts:?}"));
    }
    if role_assignments(&before) != role_assignments(&after) {
        fail.push("the role assignments changed".into());
    }
    if World::keys_in(&before, &w.boss.app_id) != World::keys_in(&after, &w.boss.app_id) {
        fail.push("the other app's secrets changed".into());
    }
    let mut report = String::new();
    for (i, (c, (run, took))) in cases.iter().zip(&runs).enumerate() {
        let id = &w.clusters[i];
        let detail = format!(
            "exit {} in {took:.1?}: {}",
            run.code,
            run.stderr
                .lines()
                .find(|l| l.contains("error:"))
                .or_else(|| run.stderr.lines().last())
                .unwrap_or("")
                .trim()
        );
        let _ = writeln!(report, "claims: {} -> {detail}", c.label);
        let mut f = check_case(w, c, id, run, (&before, &after), entries_before[i].as_ref());
        // A claim refused for what it is is refused at once: well within the 120 s of Graph's read lag (a loaded machine included).
        if run.code != 0 && *took > Duration::from_secs(60) {
            f.push(format!("refused only after {took:.0?}"));
        }
        fail.extend(
            f.into_iter()
                .map(|f| format!("{}: {f} [{detail}]", c.label)),
        );
    }
    assert!(
        fail.is_empty(),
        "{} claim(s) were taken as proof:\n{}\n\n{report}",
        fail.len(),
        fail.join("\n")
    );
    report
}

/// What a case broke: its cluster's state `before` and `after` the runs, its entry before.
fn check_case(
    w: &World,
    c: &Case,
    id: &str,
    run: &Run,
    (before, after): (&Value, &Value),
    entry_before: Option<&Value>,
) -> Vec<String> {
    let mut f = Vec::new();
    let cluster = World::cluster(after, id);
    if !cluster["service_principal_client_id"]
        .as_str()
        .is_some_and(|a| a.eq_ignore_ascii_case(&w.app))
    {
        f.push("the cluster no longer runs as the app".to_owned());
    }
    let now = w.holds_in(after, id);
    let pulled = w.sim.sim().pull(id, &w.sim.var("REGISTRY_IMAGE"))["pulled"] == true;
    if now.is_none() || !pulled {
        f.push(format!(
            "the cluster holds no live key of the app ({now:?}) or cannot pull"
        ));
    }
    let now = now.unwrap_or_default();
    let rotated = matches!(c.act, Act::Reset { rotated: true, .. });
    let reset = World::cluster(before, id)["secret_sha256"] != cluster["secret_sha256"];
    match c.expect {
        Expect::Careful => {
            if rotated && run.code == 0 && now != w.k2 {
                f.push(format!(
                    "success, and the cluster holds {now}, not the envelope's K2"
                ));
            }
        }
        Expect::Owner => {
            if run.code != 0
                || reset
                || !(run.stderr.contains("nothing to do") || run.stderr.contains("finished"))
            {
                f.push("the app owner's documented power changed: update docs/security.md".into());
            }
        }
    }
    let wanted = if rotated { &w.k2 } else { &w.k1 };
    if reset && now != *wanted && matches!(c.act, Act::Reset { .. }) {
        f.push(format!("reset to {now}, not the envelope's {wanted}"));
    }
    // An entry the run wrote names, as confirmed, only the key the cluster holds; or names
    // that key as pending beside it (then a prune keeps both and the next run resets: what
    // another process's late write of an older entry can leave, docs/DESIGN.md).
    let entry = record_entry(&w.sim, &w.app, id);
    let pending_held = entry
        .as_ref()
        .and_then(|e| e["pending"].as_str())
        .is_some_and(|p| p.eq_ignore_ascii_case(&now));
    if entry != entry_before.cloned()
        && let Some(k) = entry.as_ref().and_then(|e| e["key"].as_str())
        && !k.eq_ignore_ascii_case(&now)
        && !pending_held
        && (c.expect != Expect::Owner || !k.eq_ignore_ascii_case(&w.k2))
    {
        f.push(format!(
            "the record names {k} as confirmed, the cluster holds {now}"
        ));
    }
    f
}

/// Envelope fields, forged one at a time on the rotation's envelope (another principal,
/// another app, another key id, another vault version, another registry or ARM URL), through
/// step 4 on a cluster that holds K1.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "a table of cases, one forged claim a row"
)]
fn forged_envelope_fields_cause_no_grant_skip_or_record_in_step_4() {
    let w = world(35);
    let sub_a = format!("/subscriptions/{}", w.sim.var("CLUSTER_SUBSCRIPTION_ID"));
    let own_op = w.own_operation(&w.clusters[0]);
    let other_op = w.own_operation(&w.clusters[1]);
    let arm = w.arm.clone();
    let boss = w.boss.clone();
    let k1 = w.k1.clone();
    let old_registry = w.sim.state()["registries"][1]["id"].clone();
    let v = |s: &str| json!(s);
    let cases = vec![
        case(
            "app_id = an Owner's app",
            Forge::None,
            field("app_id", v(&boss.app_id)),
        ),
        case(
            "app_id, client_secret, key id = an Owner's app, whole (team B's own app)",
            Forge::None,
            {
                let b = boss.clone();
                rotation(move |e| {
                    e["app_id"] = json!(b.app_id);
                    e["client_secret"] = json!(b.secret());
                    e["client_secret_key_id"] = json!(b.key_id);
                    e["app_object_id"] = json!(b.object_id);
                    e.as_object_mut().unwrap().remove("role_assignment_id");
                })
            },
        ),
        case(
            "app_id, client_secret, key id = another app of tenant A, whole, no registry",
            Forge::None,
            {
                let b = boss.clone();
                rotation(move |e| {
                    e["app_id"] = json!(b.app_id);
                    e["client_secret"] = json!(b.secret());
                    e["client_secret_key_id"] = json!(b.key_id);
                    e["app_object_id"] = json!(b.object_id);
                    let o = e.as_object_mut().unwrap();
                    for k in [
                        "registry_login_server",
                        "registry_image",
                        "registry_id",
                        "role_assignment_id",
                    ] {
                        o.remove(k);
                    }
                })
            },
        ),
        case(
            "app_id, client_secret, key id = another app of tenant A, whole, no registry, --force",
            Forge::None,
            Act::Reset {
                rotated: true,
                edit: Box::new({
                    let b = boss.clone();
                    move |e| {
                        e["app_id"] = json!(b.app_id);
                        e["client_secret"] = json!(b.secret());
                        e["client_secret_key_id"] = json!(b.key_id);
                        e["app_object_id"] = json!(b.object_id);
                        let o = e.as_object_mut().unwrap();
                        for k in [
                            "registry_login_server",
                            "registry_image",
                            "registry_id",
                            "role_assignment_id",
                        ] {
                            o.remove(k);
                        }
                    }
                }),
                args: vec!["--force".into()],
            },
        ),
        case(
            "app_id = an Owner's app, with --force",
            Forge::None,
            Act::Reset {
                rotated: true,
                edit: Box::new({
                    let a = boss.app_id.clone();
                    move |e| e["app_id"] = json!(a)
                }),
                args: vec!["--force".into()],
            },
        ),
        case(
            "app_id = a mistyped app (none such in tenant A)",
            Forge::None,
            field("app_id", v(&uuid::Uuid::new_v4().to_string())),
        ),
        case(
            "app_object_id = another app's",
            Forge::None,
            field("app_object_id", v(&boss.object_id)),
        ),
        case(
            "cluster_sp_object_id = an Owner",
            Forge::None,
            field("cluster_sp_object_id", v(boss.sp_a())),
        ),
        case(
            "registry_sp_object_id = another principal",
            Forge::None,
            field("registry_sp_object_id", v(boss.sp_b())),
        ),
        case(
            "client_secret_key_id = null",
            Forge::None,
            field("client_secret_key_id", Value::Null),
        ),
        case(
            "client_secret_key_id = K1 (the held key)",
            Forge::None,
            field("client_secret_key_id", v(&k1)),
        ),
        case(
            "client_secret_key_id = another key id",
            Forge::None,
            field("client_secret_key_id", v(&uuid::Uuid::new_v4().to_string())),
        ),
        case(
            "client_secret_key_id = another app's",
            Forge::None,
            field("client_secret_key_id", v(boss.key_id.as_deref().unwrap())),
        ),
        case(
            "client_secret = another app's secret",
            Forge::None,
            field("client_secret", v(boss.secret())),
        ),
        case(
            "client_secret_ref = another vault's version",
            Forge::None,
            field(
                "client_secret_ref",
                v("https://kv.vault.azure.net/secrets/x/00000000000000000000000000000001"),
            ),
        ),
        case(
            "client_secret_expires_at = the past",
            Forge::None,
            field("client_secret_expires_at", v("2000-01-01T00:00:00Z")),
        ),
        case(
            "client_secret_expires_at = far future",
            Forge::None,
            field("client_secret_expires_at", v("2999-01-01T00:00:00Z")),
        ),
        case(
            "registry_id = another registry",
            Forge::None,
            field("registry_id", old_registry),
        ),
        case(
            "registry_login_server = another",
            Forge::None,
            field("registry_login_server", v("other.azurecr.io")),
        ),
        case(
            "registry_image = another image",
            Forge::None,
            field("registry_image", v("samples/other:1")),
        ),
        case(
            "role_name = Owner",
            Forge::None,
            field("role_name", v("Owner")),
        ),
        case(
            "role_assignment_id = the Owner assignment",
            Forge::None,
            field("role_assignment_id", v(&w.boss_assignment)),
        ),
        case(
            "pull_verified_at = a verified pull",
            Forge::None,
            field("pull_verified_at", v("2999-01-01T00:00:00Z")),
        ),
        case(
            "cluster_pull_verified = a verdict",
            Forge::None,
            field(
                "cluster_pull_verified",
                json!({"image": "samples/hello:v1", "at": "2999-01-01T00:00:00Z"}),
            ),
        ),
        case(
            "cluster_pull_probe = a verdict",
            Forge::None,
            field(
                "cluster_pull_probe",
                json!({"pulled": true, "image": "samples/hello:v1"}),
            ),
        ),
        case(
            "cluster_id = another cluster",
            Forge::None,
            Act::Reset {
                rotated: true,
                edit: Box::new({
                    let s = sub_a.clone();
                    move |e| {
                        e["cluster_id"] = json!(format!(
                            "{s}/resourceGroups/other/providers/Microsoft.ContainerService/managedClusters/other"
                        ));
                    }
                }),
                args: Vec::new(),
            },
        ),
        case(
            "cluster_operation_url = its own finished reset (to K1)",
            Forge::None,
            field("cluster_operation_url", v(&own_op)),
        ),
        case(
            "cluster_operation_url = another cluster's reset",
            Forge::None,
            field("cluster_operation_url", v(&other_op)),
        ),
        case(
            "cluster_operation_url = an ARM URL answering 200",
            Forge::None,
            field(
                "cluster_operation_url",
                v(&format!("{arm}/subscriptions?api-version=2022-12-01")),
            ),
        ),
        case(
            "cluster_operation_url = the cluster itself",
            Forge::None,
            field(
                "cluster_operation_url",
                v(&format!("{arm}{}?api-version=2025-10-01", w.clusters[26])),
            ),
        ),
        case(
            "cluster_operation_url = an AKS operation in another location",
            Forge::None,
            field(
                "cluster_operation_url",
                v(&format!(
                    "{arm}{sub_a}/providers/Microsoft.ContainerService/locations/westeurope/operations/{}?api-version=2016-03-30",
                    uuid::Uuid::new_v4()
                )),
            ),
        ),
        case(
            "cloud = another cloud",
            Forge::None,
            field("cloud", v("AzureChinaCloud")),
        ),
        case(
            "cluster_tenant_id = the registry's tenant",
            Forge::None,
            field("cluster_tenant_id", w.rotated["registry_tenant_id"].clone()),
        ),
        case(
            "registry_tenant_id = the cluster's tenant",
            Forge::None,
            field("registry_tenant_id", w.rotated["cluster_tenant_id"].clone()),
        ),
        case(
            "cluster_provisioning_state = Succeeded, no key id",
            Forge::None,
            rotation(|e| {
                e["cluster_provisioning_state"] = json!("Succeeded");
                e.as_object_mut().unwrap().remove("client_secret_key_id");
            }),
        ),
    ];
    print!("{}", run_matrix(&w, &cases));
}

/// The record's entries, forged one at a time by the app's owner, and the old `xtenant-*`
/// cluster tags by the cluster-only contributor, through step 4's rotation and rerun; and
/// the partial identities running step 4 themselves.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "a table of cases, one forged claim a row"
)]
fn forged_record_entries_and_cluster_tags_cause_no_grant_skip_or_false_record() {
    let w = world(18);
    let (k1, k2, app) = (w.k1.clone(), w.k2.clone(), w.app.clone());
    let other = uuid::Uuid::new_v4().to_string();
    let boss = w.boss.clone();
    let own_op_key = operation_key(&w.own_operation(&w.clusters[5]));
    let own_op = w.own_operation(&w.clusters[5]);
    let entry = |s: String| Forge::Entry(s);
    let plain = || rotation(|_| {});
    let owner_skip = |label: &str, forge: Forge, act: Act| Case {
        expect: Expect::Owner,
        ..case(label, forge, act)
    };
    let legacy = |t: Value| Forge::ClusterTags(t);
    let cases = vec![
        // The app's owner: the record.
        owner_skip(
            "entry key = K2 (the rotation's)",
            entry(format!(";key={k2}")),
            plain(),
        ),
        owner_skip(
            "entry pending = K2, a switch",
            entry(format!(";pending={k2};switch=1")),
            plain(),
        ),
        case(
            "entry key = K1, pending = K2",
            entry(format!(";key={k1};pending={k2}")),
            plain(),
        ),
        case(
            "entry key = another key id",
            entry(format!(";key={other}")),
            plain(),
        ),
        case("entry removed", entry(String::new()), plain()),
        // Its own finished reset (to K1), named as the pending reset to K2 by the owner, and
        // handed back in the envelope by team B.
        owner_skip(
            "entry pending = K2 with its own finished operation, and that URL in the envelope",
            entry(format!(";key={k1};pending={k2};op={own_op_key}")),
            field("cluster_operation_url", json!(own_op)),
        ),
        case(
            "entry key = K2, malformed cluster id",
            Forge::ExtraTags(vec![format!("xtenant-cluster:nope;key={k2}")]),
            plain(),
        ),
        case(
            "entry switch without pending",
            entry(format!(";key={k1};switch=1")),
            plain(),
        ),
        case(
            "entry key = K2 in upper case, pending = other",
            entry(format!(";key={};pending={other}", k2.to_uppercase())),
            plain(),
        ),
        case(
            "rerun on K1, entry key = another key id",
            entry(format!(";key={other}")),
            Act::Reset {
                rotated: false,
                edit: Box::new(|_| {}),
                args: Vec::new(),
            },
        ),
        // The cluster-only contributor: the old record on the cluster's tags.
        case(
            "cluster tags: previous principal = an Owner",
            legacy(
                json!({"xtenant-previous-client-id": boss.app_id, "xtenant-previous-sp-object-id": boss.sp_a()}),
            ),
            plain(),
        ),
        case(
            "cluster tags: previous principal = an Owner, rerun on K1",
            legacy(
                json!({"xtenant-previous-client-id": boss.app_id, "xtenant-previous-sp-object-id": boss.sp_a()}),
            ),
            Act::Reset {
                rotated: false,
                edit: Box::new(|_| {}),
                args: Vec::new(),
            },
        ),
        case(
            "cluster tags: key = K2 (the rotation's)",
            legacy(json!({"xtenant-client-id": app, "xtenant-client-secret-key-id": k2})),
            plain(),
        ),
        case(
            "cluster tags: pending = K2",
            legacy(json!({"xtenant-client-id": app, "xtenant-pending-client-secret-key-id": k2})),
            plain(),
        ),
        case(
            "cluster tags: client id = an Owner's app, key = its key",
            legacy(
                json!({"xtenant-client-id": boss.app_id, "xtenant-client-secret-key-id": boss.key_id}),
            ),
            plain(),
        ),
        case(
            "cluster tags: key = K2, and the entry removed",
            Forge::Many(vec![
                legacy(json!({"xtenant-client-id": app, "xtenant-client-secret-key-id": k2})),
                entry(String::new()),
            ]),
            plain(),
        ),
        // The partial identities run step 4 themselves: refused before any write.
        case(
            "step 4 as the cluster-only contributor",
            Forge::None,
            Act::ResetAsClusterWriter,
        ),
        case(
            "step 4 as the app's owner",
            Forge::None,
            Act::ResetAsAppOwner,
        ),
    ];
    print!("{}", run_matrix(&w, &cases));
}

/// What a prune or rotation case does.
struct PruneCase {
    label: &'static str,
    forge: Forge,
    /// `entra-app-create` flags, on the rotation's (`true`) or the held envelope, edited.
    args: &'static [&'static str],
    rotated: bool,
    edit: Box<dyn Fn(&mut Value)>,
    /// The app owner's documented power: the prune removes K1, which the cluster holds.
    owner: bool,
}

fn prune(label: &'static str, forge: Forge) -> PruneCase {
    PruneCase {
        label,
        forge,
        args: &["--prune-secrets"],
        rotated: true,
        edit: Box::new(|_| {}),
        owner: false,
    }
}

/// Forged record entries, cluster tags and envelope fields through step 1's prune, its
/// rotation (`--new-secret --prune-secrets`) and its rerun: the key the cluster holds is
/// never pruned, another app is never changed, the record is never written by step 1. One
/// cluster holds K1 (so no other entry keeps it); the cases run one after another, each
/// forgery undone after its case.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "a table of cases, one forged claim a row"
)]
fn forged_claims_prune_no_held_key_in_step_1() {
    let w = world(1);
    let id = w.clusters[0].clone();
    let (k2, app) = (w.k2.clone(), w.app.clone());
    let other = uuid::Uuid::new_v4().to_string();
    let boss = w.boss.clone();
    let with = |label, forge, args, rotated, edit: Box<dyn Fn(&mut Value)>| PruneCase {
        label,
        forge,
        args,
        rotated,
        edit,
        owner: false,
    };
    let legacy_k2 = || {
        Forge::ClusterTags(json!({"xtenant-client-id": app, "xtenant-client-secret-key-id": k2}))
    };
    let cases = vec![
        prune("nothing forged", Forge::None),
        prune(
            "entry removed (the app's owner)",
            Forge::Entry(String::new()),
        ),
        prune(
            "entry key = a key the app does not have",
            Forge::Entry(format!(";key={other}")),
        ),
        prune(
            "entry key = K2 for a malformed cluster id, beside the real one",
            Forge::ExtraTags(vec![format!("xtenant-cluster:nope;key={k2}")]),
        ),
        prune(
            "cluster tags: key = K2 (the cluster-only contributor)",
            legacy_k2(),
        ),
        prune(
            "cluster tags: key = K2, and the entry removed",
            Forge::Many(vec![legacy_k2(), Forge::Entry(String::new())]),
        ),
        with(
            "step 1 rerun (the upsert) on the held envelope",
            Forge::None,
            &[],
            false,
            Box::new(|_| {}),
        ),
        with(
            "new secret + prune, client_secret_key_id = another",
            Forge::None,
            &["--new-secret", "--prune-secrets"],
            false,
            Box::new(|e| e["client_secret_key_id"] = json!(uuid::Uuid::new_v4().to_string())),
        ),
        with(
            "new secret + prune, app_object_id = another app's",
            Forge::None,
            &["--new-secret", "--prune-secrets"],
            false,
            {
                let o = boss.object_id.clone();
                Box::new(move |e| e["app_object_id"] = json!(o))
            },
        ),
        with(
            "new secret + prune, app_id = another app's",
            Forge::None,
            &["--new-secret", "--prune-secrets"],
            false,
            {
                let a = boss.app_id.clone();
                Box::new(move |e| e["app_id"] = json!(a))
            },
        ),
        with(
            "prune, app_id and key = another app's, whole",
            Forge::None,
            &["--prune-secrets"],
            true,
            {
                let b = boss.clone();
                Box::new(move |e| {
                    e["app_id"] = json!(b.app_id);
                    e["app_object_id"] = json!(b.object_id);
                    e["client_secret"] = json!(b.secret());
                    e["client_secret_key_id"] = json!(b.key_id);
                })
            },
        ),
        with(
            "new secret + prune, cluster_id = another cluster",
            Forge::None,
            &["--new-secret", "--prune-secrets"],
            false,
            Box::new(|e| {
                e["cluster_id"] = json!(
                    "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/x/providers/Microsoft.ContainerService/managedClusters/x"
                );
            }),
        ),
        // Last: it removes the key the cluster holds. On the last case's output (the keys
        // before were pruned), whose key the entry names.
        PruneCase {
            owner: true,
            ..prune("entry key = the envelope's (the app's owner)", Forge::None)
        },
    ];
    print!("{}", run_prune_cases(&w, &id, &cases));
}

/// Runs the prune cases one after another on the cluster `id`, each forgery undone after its
/// case; panics naming every case that took a claim as proof. The report.
fn run_prune_cases(w: &World, id: &str, cases: &[PruneCase]) -> String {
    let (app, boss) = (&w.app, &w.boss);
    let writer = Operator::acting_as(&w.sim, "CLUSTER_WRITER");
    let owner = Operator::acting_as(&w.sim, "READER");
    let tenant = w.sim.var("CLUSTER_TENANT_ID");
    let cluster_tags = World::cluster(&w.sim.state(), id)["tags"].clone();
    let original = app_tags(&w.sim, app);
    let mut report = String::new();
    let mut fail = Vec::new();
    let mut last: Option<Value> = None;
    for c in cases {
        let mut tags = original.clone();
        forge(w, &c.forge, id, &mut tags, &writer);
        let mut env: Value = serde_json::from_str(&w.envelope(c.rotated, id, &|_| {})).unwrap();
        if c.owner {
            env = last.clone().expect("an output before");
            let key = str_of(&env, "client_secret_key_id");
            forge(
                w,
                &Forge::Entry(format!(";key={key}")),
                id,
                &mut tags,
                &writer,
            );
        }
        let (status, body) = owner.graph(
            Method::PATCH,
            &tenant,
            &format!("/applications(appId='{app}')"),
            Some(&json!({ "tags": tags })),
        );
        assert_eq!(status, 204, "{body}");
        let before = w.sim.state();
        w.sim.sim().clear_requests();
        // The app has an owner other than the operator (READER): step 1 takes it only on the
        // reader's own --adopt (after checking its owners), naming it by its uniqueName.
        let unique = str_of(&env, "app_unique_name");
        let mut args = c.args.to_vec();
        args.extend(["--adopt", "--unique-name", &unique]);
        (c.edit)(&mut env);
        let run = run_step(&w.sim, Step::App, &args, &line(&env));
        if run.code == 0 {
            last = Some(run.object());
        }
        let after = w.sim.state();
        let detail = format!(
            "exit {}: {}",
            run.code,
            run.stderr
                .lines()
                .find(|l| l.contains("error:"))
                .or_else(|| run.stderr.lines().last())
                .unwrap_or("")
                .trim()
        );
        let _ = writeln!(report, "claims: {} -> {detail}", c.label);
        let mut f = Vec::new();
        let held = w.holds_in(&after, id);
        let pulls = w.sim.sim().pull(id, &w.sim.var("REGISTRY_IMAGE"))["pulled"] == true;
        match (c.owner, held.is_some() && pulls) {
            (false, false) => f.push(format!("the key the cluster holds was pruned ({held:?})")),
            (true, true) => f.push(
                "the app owner's documented power changed (K1 kept): update docs/security.md"
                    .into(),
            ),
            _ => {}
        }
        if World::keys_in(&before, &boss.app_id) != World::keys_in(&after, &boss.app_id) {
            f.push("the other app's secrets changed".into());
        }
        if app_tags(&w.sim, app) != tags {
            f.push(format!(
                "step 1 changed the record: {:?}",
                app_tags(&w.sim, app)
            ));
        }
        if role_assignments(&before) != role_assignments(&after) {
            f.push("the role assignments changed".into());
        }
        fail.extend(
            f.into_iter()
                .map(|f| format!("{}: {f} [{detail}]", c.label)),
        );
        // Undo the forgery for the next case.
        let (status, body) = write_cluster_tags(&w.sim, &writer, id, &cluster_tags);
        assert!((200..300).contains(&status), "{body}");
    }
    assert!(
        fail.is_empty(),
        "{} claim(s) were taken as proof:\n{}\n\n{report}",
        fail.len(),
        fail.join("\n")
    );
    report
}
