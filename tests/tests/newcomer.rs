//! A newcomer's first hour (issue 25): tenants checked where they are first known, hints
//! that point the right way, sign-in refusals explained, dry runs that plan every write,
//! short messages, and a simulator quick start that works as written.

use serde_json::{Value, json};
use xtenant_tests::{Run, TestSim, line};

/// What an error object says: its message, then its hint.
fn said(o: &Value) -> String {
    format!(
        "{} {}",
        o["error"]["message"].as_str().unwrap_or_default(),
        o["error"]["hint"].as_str().unwrap_or_default()
    )
}

fn failed(r: &Run, step: &str, code: &str) -> Value {
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], code, "{o}\nstderr:\n{}", r.stderr);
    assert_eq!(o["error"]["step"], step, "{o}");
    o
}

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
        let o = failed(&r, "consent-link", "SameTenant");
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
        failed(&r, "consent-link", "AppNotFound");
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
    let o = failed(&r, "entra-app-create", "SameTenant");
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
    let o = failed(&run, "aks-sp-update", "InvalidAuthenticationTokenTenant");
    let m = said(&o);
    assert!(
        m.contains(&tenant_a) && m.contains(&tenant_b) && m.contains("--cluster-tenant"),
        "{m}"
    );
    assert_short(&run.stderr);
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
        let c = &text[i..i + 36];
        let edge = |j: usize| j >= b.len() || !b[j].is_ascii_hexdigit();
        if (i == 0 || edge(i - 1)) && edge(i + 36) && common::validate::is_guid(c) {
            out.push(c.to_ascii_lowercase());
            i += 36;
        } else {
            i += 1;
        }
    }
    out
}
