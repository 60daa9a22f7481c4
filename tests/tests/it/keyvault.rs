//! common's Key Vault client against azure-sim's vault: a secret written with its metadata and
//! read back by exact version, as the operator (Secrets Officer) and the reader (Secrets User);
//! missing rights and a wrong tenant explained by role, vault and tenant; no value in the
//! simulator's log, in errors or under `--dry-run`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::auth::Credentials;
use common::cloud::Cloud;
use common::http::{Http, Sent, build_client};
use common::keyvault::{
    NewSecret, READ_ROLE, SecretRef, WRITE_ROLE, get_secret, set_enabled, set_secret, vault_tenant,
};
use common::wait::Deadline;
use common::{ErrorKind, Secret};
use xtenant_tests::TestSim;

fn http_as(sim: &TestSim, who: &str, dry_run: bool) -> Http {
    let cloud = Arc::new(Cloud::from_file(Path::new(&sim.var("XTENANT_CLOUD"))).unwrap());
    let client = build_client(&cloud).unwrap();
    let creds = Arc::new(Credentials::client_secret(
        &sim.var(&format!("{who}_CLIENT_ID")),
        Secret::new(sim.var(&format!("{who}_CLIENT_SECRET"))),
        Arc::clone(&cloud),
        client.clone(),
    ));
    Http::new(client, cloud, creds, dry_run)
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

fn target(sim: &TestSim, http: &Http, name: &str) -> SecretRef {
    SecretRef::parse_target(
        "secret_keyvault",
        &sim.var("KEYVAULT_URL"),
        http.cloud(),
        name,
    )
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_secret_is_written_with_its_metadata_and_read_back_by_exact_version() {
    let sim = TestSim::start();
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let op = http_as(&sim, "AZURE", false);
    let reader = http_as(&sim, "READER", false);
    let t = target(&sim, &op, "xtenant-app");
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let first = Secret::new("first~Secret.Value_1");
    let second = Secret::new("second~Secret.Value_2");
    let tags: BTreeMap<String, String> = [("app_id", "a1"), ("key_id", "k1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    rt().block_on(async {
        let new = NewSecret {
            value: &first,
            content_type: Some("text/plain; charset=utf-8"),
            expires_at: Some(expires),
            enabled: true,
            tags: tags.clone(),
        };
        let v1 = set_secret(&op, &tenant, &t, &new, deadline())
            .await
            .unwrap()
            .expect("a version");
        assert!(v1.version().is_some());
        assert!(
            v1.to_string()
                .starts_with(&format!("{}/secrets/xtenant-app/", sim.var("KEYVAULT_URL"))),
            "{v1}"
        );
        let new2 = NewSecret {
            value: &second,
            ..new
        };
        let v2 = set_secret(&op, &tenant, &t, &new2, deadline())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(v1, v2);
        // Each version reads back exactly, by the operator and by the reader.
        for http in [&op, &reader] {
            let got1 = get_secret(http, &tenant, &v1, deadline()).await.unwrap();
            assert_eq!(got1.expose(), first.expose());
            let got2 = get_secret(http, &tenant, &v2, deadline()).await.unwrap();
            assert_eq!(got2.expose(), second.expose());
        }
        // An identifier without its version is refused before anything is sent.
        let before = sim.sim().requests().len();
        let e = get_secret(&op, &tenant, &t, deadline()).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Input { .. }), "{e:?}");
        assert_eq!(sim.sim().requests().len(), before);
    });
    // The vault holds the expiry, content type and tags; the log and the dump hold no value.
    let state = sim.sim().state();
    let secret = &state["vaults"][0]["secrets"][0];
    assert_eq!(secret["name"], "xtenant-app");
    assert_eq!(secret["versions"][0]["exp"], expires.unix_timestamp());
    assert_eq!(
        secret["versions"][0]["content_type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(secret["versions"][1]["tags"]["key_id"], "k1");
    let log = serde_json::to_string(&sim.sim().requests()).unwrap();
    let dump = state.to_string();
    for s in [&first, &second] {
        assert!(!log.contains(s.expose()), "a value reached the request log");
        assert!(!dump.contains(s.expose()), "a value reached the state dump");
    }
}

#[test]
fn missing_rights_and_a_wrong_tenant_are_explained_by_role_vault_and_tenant() {
    let sim = TestSim::start();
    let tenant_a = sim.var("CLUSTER_TENANT_ID");
    let tenant_b = sim.var("REGISTRY_TENANT_ID");
    let op = http_as(&sim, "AZURE", false);
    let reader = http_as(&sim, "READER", false);
    let secret = target(&sim, &op, "denied");
    let value = Secret::new("denied~Value_3");
    rt().block_on(async {
        let new = NewSecret {
            value: &value,
            content_type: None,
            expires_at: None,
            enabled: true,
            tags: BTreeMap::new(),
        };
        // The reader holds Key Vault Secrets User: it may not write.
        let e = set_secret(&reader, &tenant_a, &secret, &new, deadline()).await.unwrap_err();
        assert_eq!(e.status(), Some(403), "{e:?}");
        assert!(e.message().contains(WRITE_ROLE), "{e}");
        assert!(e.message().contains("contoso-kv"), "{e}");
        let v = set_secret(&op, &tenant_a, &secret, &new, deadline()).await.unwrap().unwrap();
        // A token of tenant B: the error names the vault's tenant, A.
        let e = get_secret(&op, &tenant_b, &v, deadline()).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{e:?}");
        assert!(e.message().contains(&tenant_a), "{e}");
        // Without its role assignment the reader may not read.
        let arm = op.arm(&tenant_a, deadline());
        let ra = format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/a1a1a1a1-7a00-4000-8000-000000000006?api-version=2022-04-01",
            sim.var("KEYVAULT_ID")
        );
        let req = arm.request(reqwest::Method::DELETE, arm.url(&ra).unwrap());
        assert!(matches!(arm.write(req).await.unwrap(), Sent::Done(_)));
        let e = get_secret(&reader, &tenant_a, &v, deadline()).await.unwrap_err();
        assert_eq!(e.status(), Some(403), "{e:?}");
        assert!(e.message().contains(READ_ROLE), "{e}");
        assert!(e.message().contains("contoso-kv"), "{e}");
        assert!(e.hint().unwrap().contains(READ_ROLE));
        for text in [format!("{e:?}"), e.full_message()] {
            assert!(!text.contains(value.expose()));
        }
    });
}

#[test]
fn dry_run_sends_nothing_to_the_vault() {
    let sim = TestSim::start();
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let dry = http_as(&sim, "AZURE", true);
    let t = target(&sim, &dry, "dry");
    let value = Secret::new("dry~Value_4");
    let out = rt().block_on(async {
        let new = NewSecret {
            value: &value,
            content_type: None,
            expires_at: None,
            enabled: true,
            tags: BTreeMap::new(),
        };
        set_secret(&dry, &tenant, &t, &new, deadline())
            .await
            .unwrap()
    });
    assert!(out.is_none());
    assert!(
        sim.sim().requests().is_empty(),
        "{:?}",
        sim.sim().requests()
    );
}

#[test]
fn the_vault_tenant_is_learned_from_its_challenge_without_a_credential() {
    let sim = TestSim::start();
    let http = http_as(&sim, "AZURE", false);
    let secret = target(&sim, &http, "any-name");
    let tenant = rt()
        .block_on(vault_tenant(&http, &secret, deadline()))
        .unwrap();
    assert_eq!(tenant, sim.var("CLUSTER_TENANT_ID"));
    let log = sim.sim().requests();
    assert_eq!(
        log.len(),
        1,
        "one request to the vault, no sign-in: {log:?}"
    );
    assert_eq!(
        log[0]["host"].as_str().unwrap().split(':').next(),
        Some("contoso-kv.vault.azure.sim")
    );
    assert_eq!(log[0]["status"], 401);
    assert!(log[0]["request_headers"].get("authorization").is_none());
}

#[test]
fn a_version_written_disabled_is_readable_only_once_enabled() {
    let sim = TestSim::start();
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let op = http_as(&sim, "AZURE", false);
    let reader = http_as(&sim, "READER", false);
    let secret = target(&sim, &op, "staged");
    let value = Secret::new("staged~Value_5");
    rt().block_on(async {
        let new = NewSecret {
            value: &value,
            content_type: None,
            expires_at: None,
            enabled: false,
            tags: BTreeMap::new(),
        };
        let v = set_secret(&op, &tenant, &secret, &new, deadline())
            .await
            .unwrap()
            .unwrap();
        let e = get_secret(&reader, &tenant, &v, deadline())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "SecretDisabled", "{e:?}");
        // Only an officer may enable it.
        let e = set_enabled(&reader, &tenant, &v, true, deadline())
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(403), "{e:?}");
        assert!(e.message().contains(WRITE_ROLE), "{e}");
        set_enabled(&op, &tenant, &v, true, deadline())
            .await
            .unwrap();
        let got = get_secret(&reader, &tenant, &v, deadline()).await.unwrap();
        assert_eq!(got.expose(), value.expose());
    });
}
