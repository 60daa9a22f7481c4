//! A newcomer's first hour (issue 25): tenants checked where they are first known, hints
//! that point the right way, sign-in refusals explained, dry runs that plan every write,
//! short messages, and a simulator quick start that works as written.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::clock::{later, until_moved};
use xtenant_tests::steps::{Step, cluster_pulls, run_step, run_steps};
use xtenant_tests::world::{
    add_cluster, cluster_id, fleet_lists, fleet_sh, start, state_with_clusters,
};
use xtenant_tests::{Envelope, Run, TestSim, line, said};

// ------------------------------------------------------------------ tenants

/// Tenant B given as tenant A is refused at step 2 (it knows both from the envelope), as an
/// id and as the tenant's domain, before anything is asked of tenant B; `--same-tenant`
/// says it is meant.
#[test]
fn step_2_refuses_tenant_b_equal_to_tenant_a_unless_meant() {
    let sim = TestSim::start();
    let a = sim.var("CLUSTER_TENANT_ID");
    let a_domain = sim.var("CLUSTER_TENANT_DOMAIN");
    let input = line(&json!({
        "cluster_tenant_id": a,
        "app_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    }));
    for b in [a.as_str(), &a.to_ascii_uppercase(), a_domain.as_str()] {
        sim.sim().clear_requests();
        let r = sim.run("consent-link", &["--registry-tenant", b, "--wait"], &input);
        let o = r.failed("consent-link", "SameTenant");
        let m = said(&o);
        assert!(
            m.contains(&b.to_ascii_lowercase()) && m.contains(&a) && m.contains("--same-tenant"),
            "{m}"
        );
        // Only Entra was asked (its public discovery, to resolve a domain; a token signed in
        // early, before the object came): nothing of Graph in tenant B.
        for req in sim.azure_requests() {
            let path = req["path"].as_str().unwrap_or_default();
            assert!(
                path.contains("/.well-known/openid-configuration")
                    || path.ends_with("/oauth2/v2.0/token"),
                "{req}"
            );
        }
    }
    // Another tenant is not refused, nor the same one with --same-tenant: the step goes on
    // (to find that the made-up app does not exist).
    for args in [
        ["--registry-tenant", &sim.var("REGISTRY_TENANT_ID"), "-q"],
        ["--registry-tenant", &a, "--same-tenant"],
    ] {
        let r = sim.run("consent-link", &args, &input);
        r.failed("consent-link", "AppNotFound");
    }
}

/// Step 1 told the registry's tenant refuses tenant A given for it before creating anything;
/// told the cluster, it warns when --cluster-tenant does not hold it, naming both tenants
/// (and the swap, when the cluster is in the registry's tenant).
#[test]
fn step_1_checks_the_tenants_it_is_told_before_writing() {
    let sim = TestSim::start();
    let a = sim.var("CLUSTER_TENANT_ID");
    let b = sim.var("REGISTRY_TENANT_ID");
    let r = sim.run(
        "entra-app-create",
        &[
            "--cluster-tenant",
            &a,
            "--registry-tenant",
            &sim.var("CLUSTER_TENANT_DOMAIN"),
        ],
        "",
    );
    let o = r.failed("entra-app-create", "SameTenant");
    assert!(said(&o).contains("--same-tenant"), "{o}");
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    // The tenants swapped: the cluster is in the registry's tenant.
    let r = sim.run(
        "entra-app-create",
        &[
            "--cluster-tenant",
            &b,
            "--registry-tenant",
            &a,
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--dry-run",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warning = r
        .stderr
        .lines()
        .find(|l| l.contains("warning") && l.contains("aks-prod"))
        .unwrap_or_else(|| panic!("no warning about the cluster: {}", r.stderr));
    assert!(
        warning.contains(&a) && warning.contains(&b) && warning.contains("swapped"),
        "{warning}"
    );
    let o = r.object();
    assert_eq!(o["cluster_id"], sim.var("CLUSTER_ID"), "{o}");
    assert_eq!(o["registry_tenant_id"], a, "{o}");
    // The right tenant: no warning.
    let r = sim.run(
        "entra-app-create",
        &[
            "--cluster-tenant",
            &a,
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--dry-run",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// An envelope whose cluster_tenant_id is the registry's tenant fails at step 4 with ARM's
/// wrong-issuer refusal: the message and hint name both tenants and the flag to fix.
#[test]
fn a_token_from_the_wrong_tenant_names_both_tenants() {
    let sim = TestSim::start();
    let tenant_a = sim.var("CLUSTER_TENANT_ID");
    let tenant_b = sim.var("REGISTRY_TENANT_ID");
    // The mistake: step 1 run with the registry's tenant as --cluster-tenant.
    let made = sim.run("entra-app-create", &["--cluster-tenant", &tenant_b], "");
    assert_eq!(made.code, 0, "{}", made.stderr);
    let input = made.stdout;
    let run = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--force"],
        &input,
    );
    let o = run.failed("aks-sp-update", "InvalidAuthenticationTokenTenant");
    let m = said(&o);
    assert!(
        m.contains(&tenant_a) && m.contains(&tenant_b) && m.contains("--cluster-tenant"),
        "{m}"
    );
    assert_short(&run.stderr);
}

/// `bin` signing in with the Azure CLI (`XTENANT_AUTH=cli`): the stand-in `az` and its
/// config in `dir`, first on `PATH`.
fn with_az_cli(sim: &TestSim, bin: &str, dir: &std::path::Path) -> std::process::Command {
    let mut c = sim.cmd(bin);
    c.env("XTENANT_AUTH", "cli")
        .env("AZURE_CONFIG_DIR", dir)
        .env(
            "PATH",
            format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()),
        );
    c
}

/// Every line at most 160 characters, each GUID in it at most once.
#[track_caller]
fn assert_short(stderr: &str) {
    for l in stderr.lines() {
        assert!(
            l.chars().count() <= 160,
            "{} characters: {l}",
            l.chars().count()
        );
        let guids = guids(l);
        let mut unique = guids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(guids.len(), unique.len(), "a GUID twice: {l}");
    }
}

/// The GUIDs in a text, in order.
fn guids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 36 <= b.len() {
        let edge = |j: usize| j >= b.len() || !b[j].is_ascii_hexdigit();
        if let Some(c) = text.get(i..i + 36)
            && (i == 0 || edge(i - 1))
            && edge(i + 36)
            && common::validate::is_guid(c)
        {
            out.push(c.to_ascii_lowercase());
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}

// ------------------------------------------------------------------ sign-in refusals

/// The default world with Conditional Access on the operator: tenant A requires MFA of it,
/// tenant B blocks it.
fn sim_with_policies() -> TestSim {
    let plain = TestSim::start();
    let operator = plain.var("AZURE_CLIENT_ID");
    let mut world = plain.state();
    for t in world["tenants"].as_array_mut().unwrap() {
        let grant = if t["id"] == plain.var("CLUSTER_TENANT_ID") {
            "mfa"
        } else {
            "block"
        };
        t["conditional_access"] = json!([{"apps": [operator], "grant": grant}]);
    }
    drop(plain);
    TestSim::start_with(|cfg| cfg.scenario = Some(world))
}

/// What a sign-in refusal looks like on stderr: short lines, no SDK text.
#[track_caller]
fn assert_plain(stderr: &str) {
    assert_short(stderr);
    for bad in ["\\n", "reqwest", "Trace ID", "troubleshoot"] {
        assert!(!stderr.contains(bad), "{bad:?} in:\n{stderr}");
    }
}

/// `--auth env` (a client secret) meets a tenant that requires MFA, and one whose Conditional
/// Access blocks it: each is its own code (exit 3) with what to do.
#[test]
fn mfa_and_conditional_access_are_explained_for_a_client_secret() {
    let sim = sim_with_policies();
    let a = sim.var("CLUSTER_TENANT_ID");
    let r = sim.run("entra-app-create", &["--cluster-tenant", &a], "");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], "MfaRequired", "{o}");
    let m = said(&o);
    assert!(
        m.contains("AADSTS50076") && m.contains("az login --tenant"),
        "{m}"
    );
    assert_plain(&r.stderr);

    let input = line(&json!({
        "cluster_tenant_id": a,
        "app_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    }));
    let r = sim.run(
        "consent-link",
        &[
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--wait",
        ],
        &input,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], "BlockedByConditionalAccess", "{o}");
    assert!(
        said(&o).contains("AADSTS53003") && said(&o).contains("sign-in logs"),
        "{o}"
    );
    assert_plain(&r.stderr);
}

/// A stand-in `az` for `--auth cli`: it says what the Azure CLI says in each case on stderr
/// and exits 1, and notes that it ran.
fn stand_in_az(dir: &std::path::Path, stderr: &str) {
    let script = format!(
        "#!/bin/sh\ntouch \"{}/ran\"\ncat >&2 <<'AZ'\n{stderr}\nAZ\nexit 1\n",
        dir.display()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `--auth cli` when the Azure CLI is not logged in, needs MFA for the tenant (as after a
/// login to another tenant), has no account in it, or is set to another cloud: each with the
/// command that fixes it, the one the Azure CLI suggests where it suggests one.
#[test]
fn the_azure_clis_refusals_are_explained() {
    let sim = TestSim::start();
    let a = sim.var("CLUSTER_TENANT_ID");
    let graph = "https://graph.microsoft.com//.default";
    let cases = [
        (
            "ERROR: Please run 'az login' to setup account.".to_owned(),
            "NotLoggedIn",
            format!("az login --tenant {a} --scope https://graph.microsoft.com/.default"),
        ),
        (
            format!(
                "ERROR: AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'. Trace ID: 0 Correlation ID: 0 Timestamp: 2026-12-07 10:00:00Z\nRun the command below to authenticate interactively; additional arguments may be added as needed:\naz logout\naz login --tenant \"{a}\" --scope \"{graph}\""
            ),
            "MfaRequired",
            format!("az login --tenant \"{a}\" --scope \"{graph}\""),
        ),
        (
            "ERROR: AADSTS50020: User account 'dev@example.com' from identity provider 'live.com' does not exist in tenant 'Contoso AKS' and cannot access the application '04b07795-8ddb-461a-bbee-02f9e1bf7b46'(Microsoft Azure CLI) in that tenant. The account needs to be added as an external user in the tenant first.".to_owned(),
            "NotLoggedIn",
            format!("az login --tenant {a}"),
        ),
    ];
    for (stderr, code, hint) in cases {
        let dir = tempfile::tempdir().unwrap();
        stand_in_az(dir.path(), &stderr);
        let mut c = sim.cmd("entra-app-create");
        c.env("XTENANT_AUTH", "cli").env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap()
            ),
        );
        let r = xtenant_tests::run_cmd(c, &["--cluster-tenant", &a], "");
        assert_eq!(r.code, 3, "{code}: {}", r.stderr);
        let o = r.object();
        assert_eq!(o["error"]["code"], code, "{o}");
        let given = o["error"]["hint"].as_str().unwrap();
        assert!(given.starts_with(&hint), "{code}: {given}");
        assert!(dir.path().join("ran").exists());
        assert_plain(&r.stderr);
    }
    // The Azure CLI set to another cloud: refused before it is asked, with `az cloud set`.
    let dir = tempfile::tempdir().unwrap();
    stand_in_az(dir.path(), "not to be run");
    std::fs::write(dir.path().join("config"), "[cloud]\nname = AzureCloud\n").unwrap();
    let c = with_az_cli(&sim, "entra-app-create", dir.path());
    let r = xtenant_tests::run_cmd(
        c,
        &["--cluster-tenant", &a, "--cloud", "AzureChinaCloud"],
        "",
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], "CliCloudMismatch", "{o}");
    assert!(
        said(&o).contains("az cloud set --name AzureChinaCloud"),
        "{o}"
    );
    assert!(!dir.path().join("ran").exists(), "az was asked");
    assert_plain(&r.stderr);
}

// ------------------------------------------------------------------ hints

/// Step 4 given an image the registry does not have says so, and how to find one that
/// exists — not to grant and verify again; nothing is changed.
#[test]
fn a_missing_image_at_step_4_is_named_with_what_to_run() {
    use xtenant_tests::steps::{Step, run_steps};
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let missing = format!("{}/samples/hello:9.9", sim.var("REGISTRY_LOGIN_SERVER"));
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--image", &missing],
        &granted,
    );
    let o = r.failed("aks-sp-update", "PullVerificationFailed");
    let m = said(&o);
    assert!(
        m.contains("no such image") && m.contains("samples/hello:9.9"),
        "{m}"
    );
    assert!(
        m.contains("az acr repository show-tags -n fabrikamacr --repository samples/hello"),
        "{m}"
    );
    assert!(!m.contains("acr-grant"), "{m}");
    assert!(!cluster_pulls(&sim), "the cluster was reset");
    assert_short(&r.stderr);
}

/// Step 3 after a step 2 without --wait (no administrator consented yet): the hint reruns
/// step 2 on the envelope, which holds the secret — never a command without it.
#[test]
fn a_forgotten_wait_is_fixed_on_the_envelope() {
    let sim = TestSim::start();
    let made = run_steps(&sim, &[Step::App], "");
    let linked = sim.run(
        "consent-link",
        &["--registry-tenant", &sim.var("REGISTRY_TENANT_ID")],
        &made,
    );
    assert_eq!(linked.code, 0, "{}", linked.stderr);
    let r = sim.run(
        "acr-grant",
        &["--registry", &sim.var("REGISTRY_NAME")],
        &linked.stdout,
    );
    let o = r.failed("acr-grant", "ServicePrincipalNotInRegistryTenant");
    let hint = o["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("consent-link --wait <") && !hint.contains("--app-id"),
        "{hint}"
    );
    assert_short(&r.stderr);
}

// ------------------------------------------------------------------ dry runs

/// Words that say a write happened.
const DONE_WORDS: [&str; 16] = [
    "added", "created", "assigned", "gave", "given", "posted", "recorded", "removed", "stored",
    "granted", "deleted", "updated", "copied", "minted", "changed", "now uses",
];

/// The lines of a dry run's stderr that say a write happened (the `dry-run: {…}` lines of
/// the plan aside).
fn past_tense(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| !l.contains(": dry-run: {"))
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            DONE_WORDS.iter().any(|w| {
                lower.match_indices(w).any(|(i, _)| {
                    let before = lower[..i].chars().next_back();
                    let after = lower[i + w.len()..].chars().next();
                    !before.is_some_and(char::is_alphanumeric)
                        && !after.is_some_and(char::is_alphanumeric)
                })
            })
        })
        .map(str::to_owned)
        .collect()
}

/// The whole chain's dry run plans every write — step 4's role copy for the service principal
/// step 1 would make, and the reset with the nodes AKS reimages — and no line of any dry run
/// says a write happened.
#[test]
fn dry_runs_plan_every_write_in_the_future_tense() {
    use xtenant_tests::steps::{Step, run_steps};
    let sim = TestSim::start();
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let chain = format!(
        "entra-app-create --dry-run --cluster-tenant {a} \
         | consent-link --dry-run --registry-tenant {b} --wait \
         | acr-grant --dry-run --registry {} --verify --image {} \
         | aks-sp-update --dry-run --cluster {}",
        sim.var("REGISTRY_NAME"),
        sim.var("REGISTRY_IMAGE"),
        sim.var("CLUSTER_ID")
    );
    let r = xtenant_tests::run_cmd(sim.shell("sh"), &["-c", &chain], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let o = r.object();
    let plan = o["plan"].as_array().unwrap();
    let copy = plan
        .iter()
        .find(|w| {
            w["method"] == "PUT"
                && w["url"].as_str().unwrap().contains(
                    "/subnets/snet-nodes/providers/Microsoft.Authorization/roleAssignments/",
                )
        })
        .unwrap_or_else(|| panic!("no role copy in the plan: {plan:#?}"));
    assert_eq!(
        copy["body"]["properties"]["principalId"], "dry-run:cluster_sp_object_id",
        "{copy}"
    );
    let envelope = Envelope::of(&o);
    let reset = envelope.planned("resetServicePrincipalProfile");
    let note = reset.note.as_deref().unwrap_or_default();
    assert!(note.contains("reimages 3 nodes in 1 pool"), "{reset:?}");
    let said = r
        .stderr
        .lines()
        .find(|l| l.starts_with("aks-sp-update: would give the app Network Contributor"))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(said.contains("User Access Administrator"), "{said}");
    assert!(
        r.stderr
            .contains("would reset cluster aks-prod: AKS reimages 3 nodes in 1 pool"),
        "{}",
        r.stderr
    );
    assert_eq!(past_tense(&r.stderr), Vec::<String>::new(), "{}", r.stderr);

    // Each step alone on what exists: the same.
    let app = run_steps(&sim, &[Step::App], "");
    let consented = run_steps(&sim, &[Step::Consent], &app);
    let granted = run_steps(&sim, &[Step::Grant], &consented);
    let cluster = sim.var("CLUSTER_ID");
    let runs = [
        (
            "entra-app-create",
            vec!["--new-secret", "--prune-secrets"],
            &granted,
        ),
        (
            "consent-link",
            vec!["--registry-tenant", &b, "--create"],
            &app,
        ),
        (
            "acr-grant",
            vec!["--registry", "fabrikamabac", "--verify"],
            &consented,
        ),
        ("aks-sp-update", vec!["--cluster", &cluster], &granted),
    ];
    for (bin, mut args, input) in runs {
        args.push("--dry-run");
        let r = sim.run(bin, &args, input);
        assert_eq!(r.code, 0, "{bin}: {}", r.stderr);
        assert_eq!(
            past_tense(&r.stderr),
            Vec::<String>::new(),
            "{bin}: {}",
            r.stderr
        );
    }
    assert!(
        sim.writes()
            .iter()
            .all(|w| !w["path"].as_str().unwrap().contains("reset"))
    );
}

// ------------------------------------------------------------------ examples

/// The keys of the app `app_id` in the simulator.
fn keys_of(sim: &TestSim, app_id: &Value) -> Vec<Value> {
    sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| &a["app_id"] == app_id)
        .map(|a| {
            a["password_credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["key_id"].clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The default world and a second cluster like the first; the second's id.
fn sim_with_a_second_cluster() -> (TestSim, String) {
    let sim = start(state_with_clusters(&["aks-fleet1"]));
    let second = cluster_id(&sim, "aks-fleet1");
    (sim, second)
}

/// The three examples in sequence on one envelope: the Makefile (its settings in a file) makes
/// the app and switches the cluster; `make rotate` replaces the secret through rotate.sh and
/// leaves it in the Makefile's secret file, so `make grant` works on it at once; fleet.sh then
/// takes the same app and secret to another registry and another cluster, minting nothing.
#[test]
fn the_three_examples_compose_on_one_envelope() {
    let (sim, second) = sim_with_a_second_cluster();
    let first = sim.var("CLUSTER_ID");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let settings = dir.path().join("xtenant.mk");
    std::fs::write(
        &settings,
        format!(
            "CLUSTER_TENANT = {}\nREGISTRY_TENANT = {}\nREGISTRY = {}\nCLUSTER = {first}\nIMAGE = {}\nCONSENT = --create\nSTATE = {}\n",
            sim.var("CLUSTER_TENANT_ID"),
            sim.var("REGISTRY_TENANT_ID"),
            sim.var("REGISTRY_NAME"),
            sim.var("REGISTRY_IMAGE"),
            state.display()
        ),
    )
    .unwrap();
    let make = |target: &str| {
        let mut c = sim.shell("make");
        c.stdin(std::process::Stdio::null());
        let settings = format!("SETTINGS={}", settings.display());
        xtenant_tests::run_cmd(c, &["-s", "-f", "examples/Makefile", &settings, target], "")
    };
    // The Makefile's targets and fleet.sh compose: what Azure takes its time over (the
    // resets, a new secret reaching the registry) is not what this test is about, so they
    // run on Azure's clock moved on five minutes every 50 ms — but for `make grant`, which
    // must not wait at all.
    let later = |f: &dyn Fn() -> Run| later(&sim, f);
    let all = later(&|| make("all"));
    assert_eq!(all.code, 0, "{}\n{}", all.stdout, all.stderr);
    assert_eq!(
        sim.sim().pull("aks-prod", &sim.var("REGISTRY_IMAGE"))["pulled"],
        true
    );
    let envelope = state.join("4-cluster.json");
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_str(std::fs::read_to_string(p).unwrap().trim()).unwrap()
    };
    let before = read(&envelope);
    let old_secret = std::fs::read_to_string(state.join("secret")).unwrap();

    let rotated = later(&|| make("rotate"));
    assert_eq!(rotated.code, 0, "{}\n{}", rotated.stdout, rotated.stderr);
    let after = read(&envelope);
    let new_secret = std::fs::read_to_string(state.join("secret")).unwrap();
    assert_ne!(
        new_secret, old_secret,
        "the Makefile's secret file holds the new secret"
    );
    assert!(!state.join("secret.next").exists());
    assert_ne!(
        after["client_secret_key_id"],
        before["client_secret_key_id"]
    );
    assert_eq!(
        keys_of(&sim, &after["app_id"]),
        vec![after["client_secret_key_id"].clone()]
    );
    assert!(after.get("client_secret").is_none(), "{after}");
    assert_eq!(
        sim.sim().pull("aks-prod", &sim.var("REGISTRY_IMAGE"))["pulled"],
        true
    );

    // Step 3 rerun by the Makefile works with the new secret at once, writing nothing.
    sim.sim().clear_requests();
    let t = std::time::Instant::now();
    let grant = make("grant");
    assert_eq!(grant.code, 0, "{}", grant.stderr);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(!grant.stderr.contains("waiting"), "{}", grant.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());

    // fleet.sh on the same envelope and secret: another registry, another cluster.
    let registries = [sim.var("REGISTRY_ID"), sim.var("ABAC_REGISTRY_ID")];
    fleet_lists(dir.path(), &registries, &[first.clone(), second]);
    let secret = state.join("secret");
    let fleet = later(&|| {
        fleet_sh(
            &sim,
            dir.path(),
            &dir.path().join("fleet"),
            &[
                "--envelope",
                envelope.to_str().unwrap(),
                "--secret-file",
                secret.to_str().unwrap(),
            ],
            "2",
        )
    });
    assert_eq!(fleet.code, 0, "{}\n{}", fleet.stdout, fleet.stderr);
    for o in fleet.objects() {
        assert_eq!(o["app_id"], after["app_id"], "{o}");
        assert!(o.get("client_secret").is_none(), "{o}");
    }
    assert_eq!(
        keys_of(&sim, &after["app_id"]),
        vec![after["client_secret_key_id"].clone()]
    );
    for name in ["aks-prod", "aks-fleet1"] {
        let v = sim.sim().pull(name, &sim.var("REGISTRY_IMAGE"));
        assert_eq!(v["pulled"], true, "{name}: {v}");
    }
}

// ------------------------------------------------------------------ az-style names

/// The default world with a second subscription in tenant A ("Contoso AKS Staging") holding a
/// cluster of the same group and name, which the operator sees.
fn sim_with_a_twin_subscription() -> TestSim {
    let base = TestSim::start();
    let mut world = base.state();
    let sub_a = base.var("CLUSTER_SUBSCRIPTION_ID");
    let staging = "a1a1a1a1-5000-4000-8000-0000000000ff";
    let subs = world["subscriptions"].as_array_mut().unwrap();
    let mut twin_sub = subs
        .iter()
        .find(|s| s["id"] == sub_a.as_str())
        .cloned()
        .unwrap();
    twin_sub["id"] = json!(staging);
    twin_sub["display_name"] = json!("Contoso AKS Staging");
    subs.push(twin_sub);
    let first = base.var("CLUSTER_ID");
    add_cluster(&mut world, &first.replace(&sub_a, staging));
    let operator_a = world["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == format!("/subscriptions/{sub_a}").as_str())
        .cloned()
        .unwrap();
    let mut reader = operator_a;
    reader["name"] = json!("a1a1a1a1-7a00-4000-8000-0000000000ff");
    reader["scope"] = json!(format!("/subscriptions/{staging}"));
    world["role_assignments"]
        .as_array_mut()
        .unwrap()
        .push(reader);
    drop(base);
    TestSim::start_with(|c| c.scenario = Some(world))
}

/// `aks-sp-update -g GROUP -n NAME`, as az aks users type it: the subscription from
/// --subscription (its id or name), or looked up in tenant A when one subscription holds such
/// a cluster; several are refused, naming them, before anything is written.
#[test]
fn step_4_takes_the_cluster_as_az_names_it() {
    use xtenant_tests::steps::{Step, run_steps};
    let sim = sim_with_a_twin_subscription();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let tenant_a = sim.var("CLUSTER_TENANT_ID");
    let az = ["-g", "rg-aks", "-n", "aks-prod"];
    let with = |extra: &[&str]| {
        let mut args = az.to_vec();
        args.extend_from_slice(extra);
        args.push("--dry-run");
        sim.run("aks-sp-update", &args, &granted)
    };
    // Two subscriptions hold rg-aks/aks-prod: refused, both named, nothing written.
    let r = with(&["--cluster-tenant", &tenant_a]);
    let o = r.failed("aks-sp-update", "AmbiguousClusterName");
    let m = said(&o);
    assert!(
        m.contains("Contoso AKS Production")
            && m.contains("Contoso AKS Staging")
            && m.contains("--subscription"),
        "{m}"
    );
    assert_short(&r.stderr);
    // Without a tenant to look in: what to pass.
    let r = with(&[]);
    let o = r.failed("aks-sp-update", "InvalidInput");
    assert!(said(&o).contains("--subscription"), "{o}");
    // By the subscription's name or id.
    for sub in [
        "Contoso AKS Production",
        &sim.var("CLUSTER_SUBSCRIPTION_ID"),
    ] {
        let r = with(&["--cluster-tenant", &tenant_a, "--subscription", sub]);
        assert_eq!(r.code, 0, "{sub}: {}", r.stderr);
        assert_eq!(r.object()["cluster_id"], sim.var("CLUSTER_ID"), "{sub}");
    }
    assert!(
        sim.writes()
            .iter()
            .all(|w| !w["path"].as_str().unwrap().contains("managedClusters"))
    );
}

/// The only subscription holding the cluster is found, and the reset done there.
#[test]
fn a_cluster_named_by_group_and_name_is_found_and_reset() {
    use xtenant_tests::steps::{Step, run_steps};
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let r = sim.run(
        "aks-sp-update",
        &[
            "-g",
            "rg-aks",
            "-n",
            "aks-prod",
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
        ],
        &granted,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.object()["cluster_id"], sim.var("CLUSTER_ID"));
    assert!(cluster_pulls(&sim));
}

/// With --auth cli, -g/-n take the Azure CLI's default subscription (its azureProfile.json),
/// without a lookup; a usage error's usage line does not show the variables' flags
/// (--cloud, --auth) as if they were required.
#[test]
fn the_azure_clis_default_subscription_and_a_plain_usage_line() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("azureProfile.json"),
        format!(
            "\u{feff}{{\"subscriptions\":[{{\"id\":\"{}\",\"isDefault\":true}}]}}",
            sim.var("CLUSTER_SUBSCRIPTION_ID")
        ),
    )
    .unwrap();
    stand_in_az(dir.path(), "ERROR: Please run 'az login' to setup account.");
    let c = with_az_cli(&sim, "aks-sp-update", dir.path());
    let r = xtenant_tests::run_cmd(
        c,
        &["-g", "rg-aks", "-n", "aks-prod"],
        "{\"cluster_tenant_id\":\"x.example.com\"}",
    );
    let o = r.object();
    assert_eq!(o["cluster_id"], sim.var("CLUSTER_ID"), "{o}");
    assert!(
        sim.azure_requests().is_empty(),
        "{:?}",
        sim.azure_requests()
    );

    for (bin, args) in [
        ("aks-sp-update", vec!["-g", "rg-aks"]),
        ("acr-grant", vec!["--bogus"]),
        ("entra-app-create", vec!["--no-secret-output"]),
    ] {
        let r = sim.run(bin, &args, "");
        assert_eq!(r.code, 2, "{bin}: {}", r.stderr);
        let usage = r
            .stderr
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("{}", r.stderr));
        assert!(
            !usage.contains("--cloud <") && !usage.contains("--auth <"),
            "{bin}: {usage}"
        );
    }
}

// ------------------------------------------------------------------ short messages

/// `make demo` at default verbosity: every stderr line at most 160 characters (a line that is
/// only the consent link is as long as the link), each GUID at most once in a line, the app
/// and the tenants named by their names, and step 4's last line says which image the cluster
/// can now pull.
#[test]
fn make_demo_speaks_in_short_plain_lines() {
    let (_, stderr) = xtenant_tests::make_demo(&[]);
    for l in stderr.lines() {
        let link = l
            .rsplit(": ")
            .next()
            .is_some_and(|u| u.trim().starts_with("https://") && !u.trim().contains(' '));
        if !link {
            assert!(
                l.chars().count() <= 160,
                "{} characters: {l}",
                l.chars().count()
            );
        }
        let mut g = guids(l);
        let n = g.len();
        g.sort();
        g.dedup();
        assert_eq!(g.len(), n, "a GUID twice: {l}");
    }
    assert!(stderr.contains("app xtenant-demo"), "{stderr}");
    assert!(
        !stderr.contains("tenant a1a1a1a1") && !stderr.contains("tenant b2b2b2b2"),
        "{stderr}"
    );
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("aks-sp-update: ") && !l.contains("probe"))
        .unwrap();
    assert!(
        last.contains("can now pull fabrikamacr.azurecr.sim:")
            && last.contains("/samples/hello:1.0")
            && last.contains("Terraform/Bicep"),
        "{last}"
    );
}

/// Step 4's object says which image the cluster can now pull, and since when
/// (`cluster_pull_verified`); a run that did not check an image drops an earlier one.
#[test]
fn the_final_object_carries_the_pull_verdict() {
    use xtenant_tests::steps::{Step, run_steps};
    let sim = TestSim::start();
    let done = run_steps(&sim, &Step::ALL, "");
    let o: Value = serde_json::from_str(done.trim()).unwrap();
    let v = &o["cluster_pull_verified"];
    assert_eq!(v["image"], sim.var("REGISTRY_IMAGE"), "{o}");
    assert_eq!(v["at"], o["pull_verified_at"], "{o}");
    // Rerun with --force and no image: the pull is not checked, the verdict goes.
    let mut stale = o.clone();
    for k in [
        "registry_image",
        "pull_proof",
        "pull_verified_at",
        "registry_login_server",
    ] {
        stale.as_object_mut().unwrap().remove(k);
    }
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--force"],
        &line(&stale),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.object().get("cluster_pull_verified").is_none(),
        "{}",
        r.stdout
    );
}

/// Step 4's line reminds that infrastructure as code declaring the cluster's service principal
/// would undo the switch — once per run, however many clusters it switches.
#[test]
fn clusters_managed_as_code_are_reminded_once_per_run() {
    use xtenant_tests::steps::{Step, run_steps};
    let (sim, second) = sim_with_a_second_cluster();
    let granted: Value =
        serde_json::from_str(run_steps(&sim, &Step::FIRST_THREE, "").trim()).unwrap();
    let objects: String = [sim.var("CLUSTER_ID"), second]
        .iter()
        .map(|c| {
            let mut o = granted.clone();
            o["cluster_id"] = json!(c);
            line(&o)
        })
        .collect();
    let r = sim.run("aks-sp-update", &["--targets-from-input"], &objects);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("can now pull"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert_eq!(
        r.stderr
            .matches("a Terraform/Bicep apply would undo it")
            .count(),
        1,
        "{}",
        r.stderr
    );
}

/// A reset another run left behind that ends `Failed` while step 4 waits for it: the wait's
/// line says how it ended, never "done", and step 4 then makes its own reset (issue 25).
#[test]
fn a_running_operation_that_ends_failed_ends_the_wait_without_done() {
    // Each reset lasts until Azure's clock is moved on, which it is only when the test says:
    // the detached reset is still running however slowly the rerun starts.
    let reset_lasts = until_moved();
    let sim = TestSim::start_with(|c| c.lro_duration = Some(reset_lasts));
    let env = run_steps(&sim, &Step::FIRST_THREE, "");
    sim.sim()
        .add_fault(json!({"operation": "Failed", "code": "InternalOperationError", "count": 1}))
        .unwrap();
    let detached = run_step(&sim, Step::Reset, &["--detach"], &env);
    assert!(
        detached.object()["cluster_operation_url"].is_string(),
        "{}",
        detached.stderr
    );
    sim.sim().clear_requests();
    // The envelope before the detached run: nothing in it names that operation.
    let r = std::thread::scope(|s| {
        let rerun = s.spawn(|| run_step(&sim, Step::Reset, &[], &env));
        // The rerun reads the cluster, finds it Updating and reads it again to wait: then
        // the running operation ends (Failed); once the rerun has posted its own reset, that
        // one ends too.
        let waited = until(&rerun, || {
            sim.requests()
                .iter()
                .filter(|q| {
                    q["method"] == "GET"
                        && q["path"]
                            .as_str()
                            .is_some_and(|p| p.ends_with("/managedClusters/aks-prod"))
                })
                .count()
                >= 2
        });
        sim.sim().advance(reset_lasts);
        let posted = waited && until(&rerun, || sim.resets() > 0);
        sim.sim().advance(reset_lasts);
        let r = rerun.join().unwrap();
        assert!(
            waited && posted,
            "the rerun was not seen waiting, then resetting: {}",
            r.stderr
        );
        r
    });
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "waiting for the running operation on cluster aks-prod: it ended Failed after"
        ),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr
            .contains("waiting for the running operation on cluster aks-prod: done"),
        "{}",
        r.stderr
    );
    assert!(cluster_pulls(&sim));
}

/// Polls `seen` until it holds (true), or `run` ends or 30 s of a loaded machine pass first.
fn until(run: &std::thread::ScopedJoinHandle<'_, Run>, seen: impl Fn() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !seen() {
        if run.is_finished() || std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}
