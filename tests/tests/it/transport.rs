//! Transport security: plain http only on loopback, a certificate not signed by the cloud's CA
//! refused by name, and `--resolve` / `--ca-file` pointing a built-in cloud's names only where
//! the user says.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use xtenant_tests::steps::Step;
use xtenant_tests::{TestSim, run_cmd};

/// The simulator's cloud file with `change` applied, written to `dir`.
fn cloud_file(sim: &TestSim, dir: &Path, change: impl FnOnce(&mut Value)) -> PathBuf {
    let mut cloud: Value =
        serde_json::from_str(&std::fs::read_to_string(sim.var("XTENANT_CLOUD")).unwrap()).unwrap();
    // Absolute, so the copy still finds it.
    cloud["ca_file"] = json!(sim.var("SIM_CA_FILE"));
    change(&mut cloud);
    let p = dir.join("cloud.json");
    std::fs::write(&p, cloud.to_string()).unwrap();
    p
}

#[test]
fn a_non_loopback_http_endpoint_is_refused_naming_the_key() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let mut tried = 0;
    // `.invalid` never resolves (RFC 2606): even a tool that tried would reach no one.
    for (key, url) in [
        ("login_endpoint", "http://login.example.invalid"),
        ("graph_endpoint", "http://graph.example.invalid:80"),
        ("arm_endpoint", "http://management.example.invalid/"),
        ("arm_endpoint", "ftp://management.example.invalid"),
        ("graph_endpoint", "https://user:pw@graph.example.invalid"),
    ] {
        let f = cloud_file(&sim, dir.path(), |c| c[key] = json!(url));
        for s in Step::ALL {
            let mut c = sim.cmd(s.bin());
            c.env("XTENANT_CLOUD", &f);
            let args: Vec<String> = s.args(&sim);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = run_cmd(c, &args, "");
            assert_eq!(r.code, 2, "{} {key}={url}: {}", s.bin(), r.stderr);
            assert!(r.stdout.is_empty());
            assert!(r.stderr.contains(key), "{}: {}", s.bin(), r.stderr);
            tried += 1;
        }
    }
    // Loopback may use http (a local proxy or emulator).
    let f = cloud_file(&sim, dir.path(), |c| {
        c["arm_endpoint"] = json!("http://127.0.0.1:9");
    });
    let mut c = sim.cmd("consent-link");
    c.env("XTENANT_CLOUD", &f);
    let r = run_cmd(
        c,
        &[
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--app-id",
            "11111111-2222-4333-8444-555555555555",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sim.azure_requests().is_empty(), "nothing was sent");
    println!("figure: insecure endpoints refused: {tried}");
}

#[test]
fn an_untrusted_certificate_is_a_clear_error_naming_the_host() {
    let sim = TestSim::start();
    let other = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    // The simulator's own endpoints, but another CA: its certificate must not be trusted.
    let file = cloud_file(&sim, dir.path(), |c| {
        c["ca_file"] = json!(other.var("SIM_CA_FILE"));
    });
    for s in Step::ALL {
        let mut cmd = sim.cmd(s.bin());
        cmd.env("XTENANT_CLOUD", &file);
        let input = json!({
            "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
            "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
            "app_id": "11111111-2222-4333-8444-555555555555",
            "client_secret": "not-used",
            "registry_login_server": sim.var("REGISTRY_LOGIN_SERVER"),
        });
        let args: Vec<String> = s.args(&sim);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = run_cmd(cmd, &args, &format!("{input}\n"));
        let obj = run.object();
        // No token could be had from an endpoint that is not trusted: exit 3, as for any credential failure.
        assert_eq!(
            (obj["error"]["code"].as_str(), run.code),
            (Some("UntrustedCertificate"), 3),
            "{}: {}",
            s.bin(),
            run.stderr
        );
        let m = obj["error"]["message"].as_str().unwrap();
        assert!(m.contains("127.0.0.1") && m.contains("not trusted"), "{m}");
        let hint = obj["error"]["hint"].as_str().unwrap();
        assert!(hint.contains("ca_file"), "the hint says what to do: {hint}");
        assert!(
            run.stderr.contains("UntrustedCertificate"),
            "{}: {}",
            s.bin(),
            run.stderr
        );
    }
    // The TLS handshakes failed: the simulator answered nothing.
    assert!(sim.azure_requests().is_empty());
    println!(
        "figure: untrusted certificates refused: {}",
        Step::ALL.len()
    );
}

fn china_sim() -> TestSim {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../azure-sim/scenarios/china.json");
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    TestSim::start_with(|c| {
        c.scenario = Some(scenario);
        c.behaviour = Some(json!({"graph_read_lag_ms": 0}));
    })
}

/// `--resolve` and `--ca-file` as flags do what `XTENANT_RESOLVE` and `XTENANT_CA_FILE` do; a
/// rule points a name exactly where it says (an address where nothing listens is a connection
/// failure naming the host, never a lookup elsewhere); a bad rule is a usage error before any
/// request; without `--ca-file` the simulator's certificate is refused by name.
#[test]
fn resolve_and_ca_file_as_flags_point_names_only_where_they_say() {
    let sim = china_sim();
    let rules = sim.var("XTENANT_RESOLVE");
    let ca = sim.var("XTENANT_CA_FILE");
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let plain = |extra: &[&str]| {
        let mut c = sim.cmd("entra-app-create");
        c.env_remove("XTENANT_RESOLVE")
            .env_remove("XTENANT_CA_FILE");
        let mut args = vec![
            "--cloud",
            "AzureChinaCloud",
            "--cluster-tenant",
            tenant.as_str(),
        ];
        if !extra.contains(&"--timeout") {
            args.extend(["--timeout", "30s"]);
        }
        args.extend_from_slice(extra);
        run_cmd(c, &args, "")
    };
    let mut flags: Vec<String> = rules
        .split(',')
        .flat_map(|r| ["--resolve".to_owned(), r.to_owned()])
        .collect();
    flags.extend(["--ca-file".to_owned(), ca.clone()]);
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let r = plain(&flag_refs);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.object()["cloud"], "AzureChinaCloud");

    // Graph's host to a port where nothing listens: a connection failure naming the host,
    // never a lookup of the name elsewhere (sign-in still reaches the simulator).
    sim.sim().clear_requests();
    let dead: Vec<String> = rules
        .split(',')
        .map(|r| {
            if r.starts_with("microsoftgraph.") {
                "--resolve=microsoftgraph.chinacloudapi.cn:443:127.0.0.1:9".to_owned()
            } else {
                format!("--resolve={r}")
            }
        })
        .collect();
    let mut args: Vec<&str> = dead.iter().map(String::as_str).collect();
    // (The refused connection is retried with backoff until --timeout would pass: 2 s.)
    args.extend(["--ca-file", ca.as_str(), "--timeout", "2s"]);
    let r = plain(&args);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("request to microsoftgraph.chinacloudapi.cn failed")
            && r.stderr.contains("Connection refused"),
        "{}",
        r.stderr
    );
    assert!(
        sim.azure_requests()
            .iter()
            .all(|q| q["host"] == "login.chinacloudapi.cn"),
        "{:?}",
        sim.azure_requests()
    );

    // Without the CA the simulator is not China: refused by name, nothing retried.
    let r = plain(&flag_refs[..flag_refs.len() - 2]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("login.chinacloudapi.cn"), "{}", r.stderr);
    assert!(r.stderr.contains("--ca-file"), "{}", r.stderr);

    // A bad rule: exit 2 with the form to use, before anything is sent.
    sim.sim().clear_requests();
    for bad in [
        "login.chinacloudapi.cn:8443:127.0.0.1",
        "login.chinacloudapi.cn:443:localhost",
        "login.chinacloudapi.cn",
    ] {
        let r = plain(&["--resolve", bad]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("HOST:443:ADDR"), "{bad}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let mut c = sim.cmd("entra-app-create");
    c.env(
        "XTENANT_RESOLVE",
        "login.chinacloudapi.cn:443:127.0.0.1,bad",
    );
    let r = run_cmd(
        c,
        &["--cloud", "AzureChinaCloud", "--cluster-tenant", &tenant],
        "",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(sim.azure_requests().is_empty());
}
