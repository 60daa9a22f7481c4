//! The fault matrix: each step, and the whole pipeline, under the simulator's injected faults.
//!
//! Every case starts its own simulator, loaded with what the steps before the one under test
//! left (run undisturbed once per matrix and replication delay: [`Setup`]), injects its
//! faults, and runs the step. The outcome must be the expected one — success, or an `error`
//! object with the expected code and exit code — with no
//! duplicate resources in the simulator's state; a failed object rerun (the faults gone)
//! must complete, and the rest of the pipeline must then reach the state an undisturbed
//! run reaches, with the cluster pulling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::clock::{LATER, azure, fast_forward};
use xtenant_tests::snapshot::{Setup, Setups};
use xtenant_tests::steps::{Census, Step, census, cluster_pulls, par_map, run_step, run_steps};
use xtenant_tests::{Run, SimConfig, TestSim};

/// How a case's first run must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Exit 0, no `error`.
    Ok,
    /// An `error` object of the step with this code, and this exit code.
    Fail(&'static str, i32),
    /// As `Fail`, with one of these codes: --timeout ended one of several waits, whichever a
    /// busy machine reached last.
    FailAtOneOf(&'static [&'static str], i32),
}

/// How the rerun on a failed object must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rerun {
    /// It completes the step.
    Completes,
    /// Azure's operation never ends: the rerun resumes it (no second reset) and still reports it running.
    StillRunning,
}

struct Case {
    name: String,
    step: Step,
    replication: Duration,
    faults: Vec<Value>,
    timeout: &'static str,
    expect: Expect,
    rerun: Rerun,
    /// A secret was minted but its answer lost: the rerun mints another (2 secrets), `--prune-secrets` removes it.
    lost_secret: bool,
}

impl Case {
    fn new(step: Step, name: impl Into<String>, faults: Vec<Value>, expect: Expect) -> Self {
        Self {
            name: name.into(),
            step,
            replication: Duration::ZERO,
            faults,
            timeout: "20s",
            expect,
            rerun: Rerun::Completes,
            lost_secret: false,
        }
    }

    fn timeout(mut self, t: &'static str) -> Self {
        self.timeout = t;
        self
    }

    fn replication(mut self, d: Duration) -> Self {
        self.replication = d;
        self
    }
}

/// The step's one write whose failure matters most, and whether resending it is unsafe (a POST).
fn main_write(step: Step) -> (&'static str, &'static str, bool) {
    match step {
        Step::App => ("POST", "/addPassword", true),
        Step::Consent => ("PATCH", "/servicePrincipals(appId=", false),
        Step::Grant => ("PUT", "/roleAssignments/", false),
        Step::Reset => ("POST", "/resetServicePrincipalProfile", true),
    }
}

/// The step's first read of Graph or ARM.
fn first_read(step: Step) -> &'static str {
    match step {
        Step::App => "/applications(uniqueName=",
        Step::Consent => "/applications(appId=",
        Step::Grant => "/servicePrincipals(appId=",
        Step::Reset => "/managedClusters/",
    }
}

const TOKEN: &str = "/oauth2/v2.0/token";

/// A 429's headers: `Retry-After` in whole seconds as Azure sends it, and `retry-after-ms`,
/// which Azure's SDKs (and the tools) read first. A throttled client waits on its own clock,
/// which no simulator clock compresses, so the storms ask for 50 ms rather than a second
/// per 429 (that `Retry-After` alone is honoured is `common`'s `retry_after` test's).
fn throttled() -> Value {
    json!({"Retry-After": "1", "retry-after-ms": "50"})
}

fn code_of(status: u16) -> &'static str {
    match status {
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        _ => "GatewayTimeout",
    }
}

/// The cases every step gets.
fn matrix(step: Step) -> Vec<Case> {
    let (wm, wp, post) = main_write(step);
    let read = first_read(step);
    let mut cases = vec![
        // 429 storms with Retry-After: the first requests (the token request first), then the write.
        Case::new(
            step,
            "429 storm on every request",
            vec![json!({"status": 429, "headers": throttled(), "count": 3})],
            Expect::Ok,
        ),
        Case::new(
            step,
            "429 storm on the write",
            vec![
                json!({"method": wm, "path": wp, "status": 429, "headers": throttled(), "count": 4}),
            ],
            Expect::Ok,
        ),
        // Connections dropped: the token request and a read are resent; a POST whose fate is unknown is not.
        Case::new(
            step,
            "dropped connections, token endpoint",
            vec![json!({"path": TOKEN, "drop": true, "count": 2})],
            Expect::Ok,
        ),
        Case::new(
            step,
            "dropped connections, first read",
            vec![json!({"method": "GET", "path": read, "drop": true, "count": 2})],
            Expect::Ok,
        ),
        Case::new(
            step,
            "dropped connection, the write",
            vec![json!({"method": wm, "path": wp, "drop": true, "count": 1})],
            if post {
                Expect::Fail("ConnectionError", 1)
            } else {
                Expect::Ok
            },
        ),
        // Slower than --timeout: a read, the token endpoint, and a write answered after it took effect.
        Case::new(
            step,
            "a read slower than --timeout",
            vec![json!({"method": "GET", "path": read, "delay_ms": 6000})],
            Expect::Fail("Timeout", 1),
        )
        .timeout("2s"),
        Case::new(
            step,
            "token endpoint slower than --timeout",
            vec![json!({"path": TOKEN, "delay_ms": 6000, "count": 0})],
            Expect::Fail("Timeout", 1),
        )
        .timeout("2s"),
        Case {
            lost_secret: step == Step::App,
            ..Case::new(
                step,
                "the write answered after --timeout (it took effect)",
                vec![json!({"method": wm, "path": wp, "delay_after_ms": 6000})],
                Expect::Fail("Timeout", 1),
            )
            .timeout("2s")
        },
    ];
    cases.extend(outage_and_replication_cases(step));
    cases.extend(burst_cases(step));
    cases
}

/// Token endpoint outages and replication delays.
fn outage_and_replication_cases(step: Step) -> Vec<Case> {
    vec![
        // Token endpoint outage: a short one is retried, a long one is a credential failure (exit 3).
        Case::new(
            step,
            "token endpoint outage, short",
            vec![json!({"path": TOKEN, "status": 503, "count": 2})],
            Expect::Ok,
        ),
        Case::new(
            step,
            "token endpoint outage, long",
            vec![json!({"path": TOKEN, "status": 503, "count": 0})],
            Expect::Fail("SignInUnavailable", 3),
        ),
        // Replication delays from none to beyond --timeout.
        Case::new(step, "replication delay 0", vec![], Expect::Ok).replication(Duration::ZERO),
        Case::new(step, "replication delay 1s", vec![], Expect::Ok)
            .replication(Duration::from_secs(1))
            .timeout("10s"),
        Case::new(
            step,
            "replication delay beyond --timeout",
            vec![],
            match step {
                // The steps that make something and then need it seen elsewhere wait, and stop at --timeout.
                Step::App => Expect::Fail("Timeout", 1),
                // acr-grant waits for Entra to know step 1's service principal (its proof that
                // the secret is the app's: Timeout), then for the registry to know step 2's and
                // the role (--verify says which part is still refused: PullVerificationFailed);
                // --timeout ends whichever wait the machine's pace reached.
                Step::Grant => Expect::FailAtOneOf(&["Timeout", "PullVerificationFailed"], 1),
                // The others act on what earlier steps made (and waited for) already.
                Step::Consent | Step::Reset => Expect::Ok,
            },
        )
        // Beyond --timeout either way; the steps that need not wait get room for their own
        // work on a busy machine (step 4's compressed reset included), the delay still past it.
        .replication(match step {
            Step::App | Step::Grant => Duration::from_millis(3500),
            Step::Consent | Step::Reset => Duration::from_millis(6500),
        })
        .timeout(match step {
            Step::App | Step::Grant => "2s",
            Step::Consent | Step::Reset => "5s",
        }),
    ]
}

/// Bursts of 5xx: on every request first (the token endpoint), on the first read, on the write.
fn burst_cases(step: Step) -> Vec<Case> {
    let (wm, wp, post) = main_write(step);
    let read = first_read(step);
    let mut cases = Vec::new();
    for status in [500u16, 502, 503, 504] {
        cases.push(Case::new(
            step,
            format!("{status} burst on every request"),
            vec![json!({"status": status, "count": 2})],
            Expect::Ok,
        ));
        cases.push(Case::new(
            step,
            format!("{status} burst on the first read"),
            vec![json!({"method": "GET", "path": read, "status": status, "count": 3})],
            Expect::Ok,
        ));
        cases.push(Case::new(
            step,
            format!("{status} burst on the write"),
            vec![json!({"method": wm, "path": wp, "status": status, "count": 2})],
            // A POST is resent only when the answer says it was not processed (503).
            if post && status != 503 {
                Expect::Fail(code_of(status), 1)
            } else {
                Expect::Ok
            },
        ));
    }
    cases
}

/// The cases only step 4 has: the reset's long-running operation.
fn operation_cases() -> Vec<Case> {
    let s = Step::Reset;
    vec![
        Case::new(
            s,
            "operation ends Failed",
            vec![json!({"operation": "Failed", "code": "InternalOperationError"})],
            Expect::Fail("InternalOperationError", 1),
        ),
        Case::new(
            s,
            "operation ends Canceled",
            vec![json!({"operation": "Canceled"})],
            Expect::Fail("OperationCanceled", 1),
        ),
        Case {
            rerun: Rerun::StillRunning,
            ..Case::new(
                s,
                "operation never ends",
                vec![json!({"operation": "Hang"})],
                Expect::Fail("OperationStillRunning", 1),
            )
            .timeout("3s")
        },
        Case::new(
            s,
            "operation status slower than --timeout",
            vec![json!({"method": "GET", "path": "/operations/", "delay_ms": 6000})],
            Expect::Fail("OperationStillRunning", 1),
        )
        .timeout("3s"),
        Case::new(
            s,
            "reset refused while another operation runs (409)",
            vec![
                json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 409, "code": "OperationNotAllowed", "count": 1}),
            ],
            Expect::Ok,
        ),
        Case::new(
            s,
            "registry token endpoint storm (pull check)",
            vec![
                json!({"method": "GET", "host": "azurecr", "path": "/oauth2/token", "status": 429, "headers": throttled(), "count": 2}),
            ],
            Expect::Ok,
        ),
    ]
}

/// `input`'s objects without `pull_proof`.
fn without_pull_proof(input: &str) -> String {
    input
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(mut v) => {
                if let Some(o) = v.as_object_mut() {
                    o.remove("pull_proof");
                }
                format!("{v}\n")
            }
            Err(_) => format!("{l}\n"),
        })
        .collect()
}

/// The cases only step 3 has: the registry's data plane.
fn registry_cases() -> Vec<Case> {
    let s = Step::Grant;
    vec![
        Case::new(
            s,
            "registry token endpoint drops and 503s",
            vec![
                json!({"method": "GET", "host": "azurecr", "path": "/oauth2/token", "drop": true, "count": 1}),
                json!({"method": "GET", "host": "azurecr", "path": "/oauth2/token", "status": 503, "count": 2}),
            ],
            Expect::Ok,
        ),
        Case::new(
            s,
            "manifest 502 burst",
            vec![json!({"host": "azurecr", "path": "/manifests/", "status": 502, "count": 2})],
            Expect::Ok,
        ),
    ]
}

/// `20s` as a duration.
fn secs(t: &str) -> Duration {
    Duration::from_secs(
        t.trim_end_matches('s')
            .parse()
            .expect("a whole number of seconds"),
    )
}

/// A simulator whose new objects replicate, and new roles propagate, in `replication` (real time).
fn sim_for(replication: Duration) -> TestSim {
    TestSim::start_with(|c| replicating(c, replication))
}

/// New objects replicate, and new roles propagate, in `replication` (real time).
fn replicating(c: &mut SimConfig, replication: Duration) {
    c.replication_delay = c.azure_time(replication);
    c.role_propagation = c.replication_delay;
}

/// A case's simulator and its input: loaded with what the steps before its step left, run
/// undisturbed once per matrix and replication delay (on a simulator with that delay, Azure's
/// clock moved on meanwhile as a case's own setup would have it); step 1's: a new simulator
/// and no input.
fn start(c: &Case, setups: &Setups<Duration>) -> (TestSim, String) {
    if c.step.before().is_empty() {
        return (sim_for(c.replication), String::new());
    }
    let setup = setups.get(&c.replication, || {
        Setup::make(
            |cfg| replicating(cfg, c.replication),
            |sim| {
                fast_forward(sim, azure(c.replication) / 2, || {
                    run_steps(sim, c.step.before(), "")
                })
            },
        )
    });
    setup.start(|cfg| replicating(cfg, c.replication))
}

/// Faults the simulator applied (requests answered with a fault, operations ended by one).
fn applied(sim: &TestSim) -> u64 {
    sim.sim()
        .faults()
        .as_array()
        .map_or(0, |a| a.iter().filter_map(|f| f["applied"].as_u64()).sum())
}

/// Runs one case; returns the faults injected — its rules, and its replication delay — and
/// how many answers and operations they changed. All survived when it returns.
fn run_case(c: &Case, setups: &Setups<Duration>) -> (usize, u64) {
    let (sim, input) = start(c, setups);
    // Step 3's recorded pull check would stand for step 4's (pull_proof): without it, step 4
    // checks the pull itself, and the matrix covers the faults of that check too.
    let input = without_pull_proof(&input);
    let ctx = format!("{} / {}", c.step.bin(), c.name);
    if !c.faults.is_empty() {
        sim.sim().add_fault(Value::Array(c.faults.clone())).unwrap();
    }
    let started = Instant::now();
    let first = run_step(&sim, c.step, &["--timeout", c.timeout], &input);
    let took = started.elapsed();
    let injected = applied(&sim);
    let limit = secs(c.timeout) + Duration::from_secs(2);
    assert!(
        took < limit,
        "{ctx}: ran {took:?}, past --timeout {}",
        c.timeout
    );
    assert!(
        c.faults.is_empty() || injected > 0,
        "{ctx}: no fault was applied: {}",
        sim.sim().faults()
    );
    let obj = first.object();
    match c.expect {
        Expect::Ok => {
            assert_eq!(
                first.code, 0,
                "{ctx}: expected success:\n{}\n{}",
                first.stderr, first.stdout
            );
            assert!(obj.get("error").is_none(), "{ctx}: {obj}");
        }
        expect @ (Expect::Fail(..) | Expect::FailAtOneOf(..)) => {
            let one;
            let (codes, exit): (&[&str], i32) = match expect {
                Expect::Fail(code, exit) => {
                    one = [code];
                    (&one, exit)
                }
                Expect::FailAtOneOf(codes, exit) => (codes, exit),
                Expect::Ok => (&[], 0),
            };
            let code = obj["error"]["code"].as_str().unwrap_or_default();
            assert!(
                codes.contains(&code) && first.code == exit,
                "{ctx}: expected one of {codes:?} (exit {exit}), got {code} (exit {}):\n{}\n{}",
                first.code,
                first.stderr,
                first.stdout
            );
            assert_eq!(obj["error"]["step"], c.step.bin(), "{ctx}");
            assert!(
                obj["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.len() > 10),
                "{ctx}: {obj}"
            );
        }
    }
    assert_nothing_twice(&sim, c, &ctx);
    sim.sim().clear_faults();
    converge(&sim, c, &ctx, &first);
    (
        c.faults.len() + usize::from(!c.replication.is_zero()),
        injected,
    )
}

/// Whatever happened, nothing was made twice.
fn assert_nothing_twice(sim: &TestSim, c: &Case, ctx: &str) {
    let after = census(sim);
    let want = Census::after(c.step);
    for (what, got, max) in [
        ("apps", after.apps, want.apps),
        ("service principals in A", after.sps_a, want.sps_a),
        ("service principals in B", after.sps_b, want.sps_b),
        ("role assignments in B", after.roles_b, want.roles_b),
        ("role assignments in A", after.roles_a, want.roles_a),
        (
            "client secrets",
            after.passwords,
            want.passwords + usize::from(c.lost_secret),
        ),
    ] {
        assert!(got <= max, "{ctx}: {got} {what} (at most {max}): {after:?}");
    }
}

/// A failed object rerun completes (or, for a hung operation, resumes it); then the rest of
/// the pipeline reaches the undisturbed end state.
fn converge(sim: &TestSim, c: &Case, ctx: &str, first: &Run) {
    let obj = first.object();
    let mut out = first.stdout.clone();
    if first.code != 0 {
        // Rerun later, as the hints say: with the usual --timeout (a hung operation keeps the case's own).
        let timeout = match c.rerun {
            Rerun::Completes => "20s",
            Rerun::StillRunning => c.timeout,
        };
        // Later: what was still replicating has, and what the rerun makes replicates as it
        // goes (Azure's clock moved on meanwhile).
        sim.sim().advance(azure(c.replication));
        let again = fast_forward(sim, azure(c.replication) / 2, || {
            run_step(sim, c.step, &["--timeout", timeout], &out)
        });
        match c.rerun {
            Rerun::Completes => {
                assert_eq!(
                    again.code, 0,
                    "{ctx}: the rerun failed:\n{}\n{}",
                    again.stderr, again.stdout
                );
            }
            Rerun::StillRunning => {
                let o = again.object();
                assert_eq!(o["error"]["code"], "OperationStillRunning", "{ctx}: {o}");
                assert_eq!(
                    o["cluster_operation_url"], obj["cluster_operation_url"],
                    "{ctx}: the rerun follows the same operation"
                );
                let posts = sim
                    .writes()
                    .iter()
                    .filter(|w| {
                        w["path"]
                            .as_str()
                            .is_some_and(|p| p.ends_with("/resetServicePrincipalProfile"))
                    })
                    .count();
                assert_eq!(posts, 1, "{ctx}: the rerun posted the reset again");
                let now = census(sim);
                assert_eq!(
                    (now.cluster_on_app, now.cluster_state.as_str()),
                    (false, "Updating"),
                    "{ctx}"
                );
                return;
            }
        }
        out = again.stdout;
    }
    if c.lost_secret {
        assert_eq!(
            census(sim).passwords,
            2,
            "{ctx}: the lost secret and the new one"
        );
        let pruned = run_step(sim, Step::App, &["--prune-secrets"], &out);
        assert_eq!(pruned.code, 0, "{ctx}: {}", pruned.stderr);
        out = pruned.stdout;
    }
    assert_eq!(census(sim), Census::after(c.step), "{ctx}: converged");
    // The rest, undisturbed, as a run made later: its replication and step 4's reset end
    // within a tick or few of Azure's clock moved on.
    fast_forward(sim, (azure(c.replication) / 2).max(LATER), || {
        run_steps(sim, &c.step.from_here()[1..], &out)
    });
    assert_eq!(census(sim), Census::after(Step::Reset), "{ctx}: at the end");
    assert!(cluster_pulls(sim), "{ctx}: the cluster cannot pull");
}

/// Runs a step's cases; returns (cases, faults injected and survived, answers they changed).
fn run_matrix(cases: &[Case]) -> (usize, usize, u64) {
    assert!(
        cases.iter().all(|c| c.step == cases[0].step),
        "one step per matrix"
    );
    let setups = Setups::new(cases.iter().map(|c| c.replication));
    // The cases whose first run fails are the longest (it waits out --timeout or a whole
    // round of sign-in retries, then a rerun follows): they start first, so that none of
    // them is left running alone at the end.
    let mut longest_first: Vec<&Case> = cases.iter().collect();
    longest_first.sort_by_key(|c| c.expect == Expect::Ok);
    let counts = par_map(&longest_first, 8, |c| run_case(c, &setups));
    (
        cases.len(),
        counts.iter().map(|c| c.0).sum(),
        counts.iter().map(|c| c.1).sum(),
    )
}

fn report(step: &str, (cases, faults, applied): (usize, usize, u64)) -> String {
    format!(
        "figure: faults injected and survived ({step}): {faults} in {cases} cases (they changed {applied} answers)"
    )
}

#[test]
fn entra_app_create_under_faults() {
    println!(
        "{}",
        report("entra-app-create", run_matrix(&matrix(Step::App)))
    );
}

#[test]
fn consent_link_under_faults() {
    println!(
        "{}",
        report("consent-link", run_matrix(&matrix(Step::Consent)))
    );
}

#[test]
fn acr_grant_under_faults() {
    let mut cases = matrix(Step::Grant);
    cases.extend(registry_cases());
    println!("{}", report("acr-grant", run_matrix(&cases)));
}

#[test]
fn aks_sp_update_under_faults() {
    let mut cases = matrix(Step::Reset);
    cases.extend(operation_cases());
    println!("{}", report("aks-sp-update", run_matrix(&cases)));
}

/// The four steps one after the other, each on the previous output; every exit code and the last output.
fn pipeline(sim: &TestSim, timeout: &str, input: &str) -> (Vec<i32>, String) {
    let mut out = input.to_owned();
    let mut codes = Vec::new();
    for s in Step::ALL {
        let r = run_step(sim, s, &["--timeout", timeout], &out);
        codes.push(r.code);
        out = r.stdout;
    }
    (codes, out)
}

#[test]
fn the_pipeline_survives_transient_faults_in_every_service() {
    let sim = TestSim::start_with(|c| {
        c.replication_delay = c.azure_time(Duration::from_secs(1));
        c.latency = Duration::from_millis(10);
    });
    let faults = json!([
        {"path": TOKEN, "status": 503, "count": 2},
        {"path": TOKEN, "drop": true, "skip": 2, "count": 1},
        {"method": "GET", "path": "/v1.0/", "status": 429, "headers": throttled(), "skip": 1, "count": 2},
        {"method": "PATCH", "drop": true, "count": 1},
        {"method": "POST", "path": "/addPassword", "status": 503, "count": 1},
        {"method": "GET", "path": "/subscriptions/", "status": 504, "count": 2},
        {"method": "PUT", "status": 502, "count": 1},
        {"host": "azurecr", "status": 503, "count": 1},
        {"host": "azurecr", "path": "/manifests/", "drop": true, "count": 1},
        {"method": "POST", "path": "/resetServicePrincipalProfile", "status": 429, "headers": throttled(), "count": 1},
        {"method": "GET", "path": "/operations/", "status": 500, "count": 1},
    ]);
    let rules = faults.as_array().unwrap().len();
    sim.sim().add_fault(faults).unwrap();
    let (codes, out) = pipeline(&sim, "30s", "");
    assert_eq!(codes, [0, 0, 0, 0], "{out}");
    let every = sim.sim().faults();
    let unused: Vec<&Value> = every
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["applied"] == 0)
        .collect();
    assert!(unused.is_empty(), "faults never applied: {unused:?}");
    assert_eq!(census(&sim), Census::after(Step::Reset));
    assert!(cluster_pulls(&sim));
    println!(
        "figure: faults injected and survived (pipeline): {rules} (they changed {} answers)",
        applied(&sim)
    );
}

#[test]
fn a_persistent_failure_mid_pipeline_passes_through_and_a_rerun_completes() {
    let sim = sim_for(Duration::ZERO);
    sim.sim()
        .add_fault(json!({"method": "PUT", "path": "/roleAssignments/", "status": 500, "count": 0}))
        .unwrap();
    let (codes, out) = pipeline(&sim, "4s", "");
    // acr-grant fails; aks-sp-update passes the failed object through (with its flags), and exits
    // 1 for it: the last step of a pipe reports the pipeline's outcome.
    assert_eq!(codes, [0, 0, 1, 1], "{out}");
    let o: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (o["error"]["step"].as_str(), o["error"]["code"].as_str()),
        (Some("acr-grant"), Some("InternalServerError")),
        "{o}"
    );
    assert!(o.get("cluster_provisioning_state").is_none());
    let injected = applied(&sim);
    assert!(injected >= 2, "the PUT was retried: {injected}");
    sim.sim().clear_faults();
    // The same pipeline on its own output: steps 1 and 2 pass it through (and exit 1 for
    // the error they pass on), step 3 retries its own failure.
    sim.sim().clear_requests();
    let (codes, out) = pipeline(&sim, "20s", &out);
    assert_eq!(codes, [1, 1, 0, 0], "{out}");
    let written_by: Vec<String> = sim
        .writes()
        .iter()
        .map(|w| w["path"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        !written_by
            .iter()
            .any(|p| p.contains("/addPassword") || p.contains("servicePrincipals")),
        "steps 1 and 2 changed nothing on the rerun: {written_by:?}"
    );
    assert_eq!(census(&sim), Census::after(Step::Reset));
    assert!(cluster_pulls(&sim));
    println!(
        "figure: faults injected and survived (a persistent failure mid-pipeline): 1 (it changed {injected} answers)"
    );
}

#[test]
fn the_pipeline_with_replication_beyond_the_timeout_completes_on_rerun() {
    let sim = sim_for(Duration::from_millis(3500));
    let (codes, out) = pipeline(&sim, "2s", "");
    assert_eq!(codes, [1, 1, 1, 1], "{out}");
    let o: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(o["error"]["step"], "entra-app-create", "{o}");
    assert_eq!(o["error"]["code"], "Timeout", "{o}");
    // Rerun on the failed output (later, with a longer --timeout, as the hint says): what
    // step 1 made has replicated, and what the rerun makes replicates as it goes.
    sim.sim().advance(azure(Duration::from_millis(3500)));
    let mut out = out;
    let mut runs = 1;
    loop {
        let (codes, next) = fast_forward(&sim, azure(Duration::from_millis(3500)) / 2, || {
            pipeline(&sim, "10s", &out)
        });
        out = next;
        runs += 1;
        if codes == [0, 0, 0, 0] {
            break;
        }
        assert!(runs < 3, "no convergence after {runs} runs: {out}");
    }
    assert_eq!(census(&sim), Census::after(Step::Reset));
    assert!(cluster_pulls(&sim));
    println!("figure: faults injected and survived (pipeline, replication beyond --timeout): 1");
}
