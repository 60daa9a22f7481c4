//! The four steps as the reliability tests run them, what the simulator's state says they
//! made, and a tool run killed at a chosen request.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Run, TestSim, run_cmd};

/// The uniqueName step 1 gives the app by default (`xtenant-acr-pull`).
pub const UNIQUE_NAME: &str = "xtenant-acr-pull";

/// One step of the procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `entra-app-create`.
    App,
    /// `consent-link --create`.
    Consent,
    /// `acr-grant --verify --image`.
    Grant,
    /// `aks-sp-update` (the old service principal's roles are copied by default).
    Reset,
}

impl Step {
    /// The four steps in order.
    pub const ALL: [Step; 4] = [Step::App, Step::Consent, Step::Grant, Step::Reset];

    /// Steps 1–3: the app, its service principal in tenant B and the pull grant (the envelope
    /// step 4 takes).
    pub const FIRST_THREE: [Step; 3] = [Step::App, Step::Consent, Step::Grant];

    /// The tool's binary.
    pub fn bin(self) -> &'static str {
        match self {
            Step::App => "entra-app-create",
            Step::Consent => "consent-link",
            Step::Grant => "acr-grant",
            Step::Reset => "aks-sp-update",
        }
    }

    /// The step's flags in a pipeline against `sim` (as the e2e tests and the README use them).
    pub fn args(self, sim: &TestSim) -> Vec<String> {
        let v = |k: &str| sim.var(k);
        match self {
            Step::App => vec!["--cluster-tenant".into(), v("CLUSTER_TENANT_ID")],
            Step::Consent => vec![
                "--registry-tenant".into(),
                v("REGISTRY_TENANT_ID"),
                "--create".into(),
            ],
            Step::Grant => vec![
                "--registry".into(),
                v("REGISTRY_ID"),
                "--verify".into(),
                "--image".into(),
                v("REGISTRY_IMAGE"),
            ],
            Step::Reset => vec!["--cluster".into(), v("CLUSTER_ID")],
        }
    }

    /// The steps before this one.
    pub fn before(self) -> &'static [Step] {
        let i = Step::ALL.iter().position(|s| *s == self).unwrap_or(0);
        &Step::ALL[..i]
    }

    /// This step and the ones after it.
    pub fn from_here(self) -> &'static [Step] {
        let i = Step::ALL.iter().position(|s| *s == self).unwrap_or(0);
        &Step::ALL[i..]
    }
}

/// Runs `step` with its flags plus `extra` on `input`.
pub fn run_step(sim: &TestSim, step: Step, extra: &[&str], input: &str) -> Run {
    let mut args: Vec<String> = step.args(sim);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cmd(sim.cmd(step.bin()), &args, input)
}

/// Every cluster's pods (the probes the clusters run), in the simulator's state.
pub fn pods(sim: &TestSim) -> Vec<Value> {
    sim.collection("clusters")
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["pods"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The tags of the default cluster (`CLUSTER_ID`) in the simulator's state.
#[track_caller]
pub fn cluster_tags(sim: &TestSim) -> Value {
    tags_of(sim, &sim.var("CLUSTER_ID"))
}

/// The tags of the cluster `id` in the simulator's state.
#[track_caller]
pub fn tags_of(sim: &TestSim, id: &str) -> Value {
    sim.collection("clusters")
        .as_array()
        .expect("state has clusters")
        .iter()
        .find(|c| c["id"] == id)
        .map_or_else(|| panic!("no cluster {id}"), |c| c["tags"].clone())
}

/// Runs `steps` one after the other, undisturbed, each on the previous one's output; panics
/// unless each exits 0. Returns the last output (`input` when there are none).
pub fn run_steps(sim: &TestSim, steps: &[Step], input: &str) -> String {
    let mut out = input.to_owned();
    for s in steps {
        let r = run_step(sim, *s, &[], &out);
        assert_eq!(
            r.code,
            0,
            "{} (undisturbed) failed:\n{}\n{}",
            s.bin(),
            r.stderr,
            r.stdout
        );
        out = r.stdout;
    }
    out
}

/// What the procedure made, read from the simulator's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    /// Applications with the uniqueName [`UNIQUE_NAME`].
    pub apps: usize,
    /// Service principals of that app in tenant A.
    pub sps_a: usize,
    /// Service principals of that app in tenant B.
    pub sps_b: usize,
    /// Role assignments to the app's service principal in B.
    pub roles_b: usize,
    /// Role assignments to the app's service principal in A.
    pub roles_a: usize,
    /// The app's client secrets.
    pub passwords: usize,
    /// Whether the SP cluster now runs as the app.
    pub cluster_on_app: bool,
    /// The SP cluster's provisioning state.
    pub cluster_state: String,
}

impl Census {
    /// The census an undisturbed run reaches after `step`.
    pub fn after(step: Step) -> Self {
        let n = Step::ALL.iter().position(|s| *s == step).unwrap_or(0) + 1;
        Self {
            apps: 1,
            sps_a: 1,
            sps_b: usize::from(n >= 2),
            roles_b: usize::from(n >= 3),
            roles_a: usize::from(n >= 4),
            passwords: 1,
            cluster_on_app: n >= 4,
            cluster_state: "Succeeded".into(),
        }
    }
}

fn arr<'a>(state: &'a Value, key: &str) -> &'a [Value] {
    state[key].as_array().map_or(&[], Vec::as_slice)
}

/// The key ids of `app_id`'s secrets (its password credentials), from the simulator's state.
#[track_caller]
pub fn app_key_ids(sim: &TestSim, app_id: &str) -> Vec<String> {
    sim.collection("applications")
        .as_array()
        .expect("applications")
        .iter()
        .find(|a| a["app_id"] == app_id)
        .map(crate::azure::key_ids)
        .unwrap_or_default()
}

/// Counts what exists now.
pub fn census(sim: &TestSim) -> Census {
    let state = sim.state();
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let apps: Vec<&Value> = arr(&state, "applications")
        .iter()
        .filter(|x| x["unique_name"] == UNIQUE_NAME)
        .collect();
    let app_id = apps
        .first()
        .and_then(|x| x["app_id"].as_str())
        .unwrap_or("-");
    let sps = |tenant: &str| -> Vec<String> {
        arr(&state, "service_principals")
            .iter()
            .filter(|s| s["app_id"] == app_id && s["tenant_id"] == tenant)
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (sps_a, sps_b) = (sps(&a), sps(&b));
    let roles = |ids: &[String]| {
        arr(&state, "role_assignments")
            .iter()
            .filter(|r| ids.iter().any(|i| r["principal_id"] == i.as_str()))
            .count()
    };
    let cluster = arr(&state, "clusters")
        .iter()
        .find(|c| c["id"] == sim.var("CLUSTER_ID").as_str())
        .cloned()
        .unwrap_or(Value::Null);
    Census {
        apps: apps.len(),
        sps_a: sps_a.len(),
        sps_b: sps_b.len(),
        roles_b: roles(&sps_b),
        roles_a: roles(&sps_a),
        passwords: apps
            .first()
            .and_then(|x| x["password_credentials"].as_array())
            .map_or(0, Vec::len),
        cluster_on_app: cluster["service_principal_client_id"] == app_id,
        cluster_state: cluster["provisioning_state"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    }
}

/// Whether the SP cluster can pull the scenario's image now (the simulator's truth).
#[track_caller]
pub fn cluster_pulls(sim: &TestSim) -> bool {
    let v = sim
        .sim()
        .pull(&sim.var("CLUSTER_NAME"), &sim.var("REGISTRY_IMAGE"));
    match v["pulled"].as_bool() {
        Some(pulled) => pulled,
        None => panic!("truth endpoint: {v}"),
    }
}

/// Where a killed run is held when it is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// Azure handled the k-th request (its effect is made) and the answer never arrives.
    AnswerLost,
    /// The k-th request is in flight and never takes effect.
    RequestLost,
}

/// Runs `bin args` on `input`, holds its `k`-th request (1-based, token requests included)
/// and SIGKILLs it there. `None` when it was killed; the run when it finished before
/// making `k` requests. Leaves no fault rule behind.
pub fn run_killed_at(
    sim: &TestSim,
    bin: &str,
    args: &[String],
    input: &str,
    k: u64,
    how: Kill,
) -> Option<Run> {
    sim.sim().clear_faults();
    let hold = match how {
        Kill::AnswerLost => "delay_after_ms",
        Kill::RequestLost => "delay_ms",
    };
    let mut rule = json!({"method": "*", "skip": k - 1, "count": 1});
    rule[hold] = json!(120_000);
    sim.sim().add_fault(rule).expect("add the hold");
    let logged_before = sim.requests().len();
    let mut c = sim.cmd(bin);
    c.args(args);
    let mut child = crate::spawn_with_input(&mut c, input);
    let started = Instant::now();
    let holding = loop {
        let applied = sim.sim().faults()[0]["applied"].as_u64() == Some(1);
        // The answer-lost hold is logged before it holds: wait for the effect to be recorded.
        if applied
            && (how == Kill::RequestLost || sim.requests().len() >= logged_before + k as usize)
        {
            break true;
        }
        if child.try_wait().expect("try_wait").is_some() {
            break false;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{bin} neither reached request {k} nor ended"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    if holding {
        child.kill().expect("kill");
        let _ = child.wait();
        sim.sim().clear_faults();
        return None;
    }
    sim.sim().clear_faults();
    Some(child.wait_with_output().expect("wait").into())
}

/// How many requests (token requests included) `step` makes on `input`, undisturbed.
pub fn count_requests(sim: &TestSim, step: Step, input: &str) -> usize {
    let before = sim.requests().len();
    let r = run_step(sim, step, &[], input);
    assert_eq!(r.code, 0, "{}: {}", step.bin(), r.stderr);
    sim.requests().len() - before
}

/// Runs `f` on every item with at most `threads` at once (each case its own simulator), results in order.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    *results[i]
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .expect("every item ran")
        })
        .collect()
}
