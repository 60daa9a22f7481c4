//! consent-link against azure-sim (and, for the built-in clouds, against nothing at all).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::{NewApp, Operator, service_principal_of};
use xtenant_tests::{Run, TestSim, line, overlap, person, run_cmd, said, span, spawn_with_input};

const BIN: &str = "consent-link";
/// The field [`input`] adds for the tool to pass through.
const KEEP: &[&str] = &["keep"];
const APP: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
const GUID_B: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const MS: &str = "https%3A%2F%2Fwww.microsoft.com";

// ------------------------------------------------------------------ setup as the operator

/// Creates an app in tenant A as the operator (nothing else: no secret, no service principal); its appId.
fn create_app(op: &Operator, audience: &str, redirect_uris: &[&str]) -> String {
    let spec = NewApp::new("consent-link-test", audience).redirect_uris(redirect_uris);
    op.create_app(&spec).app_id
}

/// Plays tenant B's administrator: opens the consent page at `url`, submits its form with
/// the Accept button, and returns the status and `Location` of the answer.
fn admin_accepts(sim: &TestSim, url: &str) -> (u16, String) {
    let ca = PathBuf::from(sim.var("SIM_CA_FILE"));
    let answer = person::submit(url, &ca, "accept").unwrap();
    (answer.status, answer.location.unwrap_or_default())
}

// ------------------------------------------------------------------ running the tool

/// The tool with an empty environment: no cloud, no credential, no proxy settings.
fn bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_consent-link"));
    c.env_clear()
        .env("XTENANT_AUTH", "env")
        .env("NO_COLOR", "1");
    if let Some(p) = std::env::var_os("PATH") {
        c.env("PATH", p);
    }
    c
}

fn input(sim: &TestSim, app_id: &str) -> String {
    line(&json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app_id,
        "keep": {"n": 1},
    }))
}

/// A tool run in the background whose stderr is read line by line as it comes.
struct Background {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    fn start(mut c: Command, args: &[&str], stdin: &str) -> Self {
        c.args(args);
        let mut child = spawn_with_input(&mut c, stdin);
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                if tx.send(l.unwrap()).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stderr line `pick` accepts (its result), within 20 s.
    fn wait_for<T>(&mut self, pick: impl Fn(&str) -> Option<T>) -> T {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = pick(&l);
                    self.seen.push(l);
                    if let Some(v) = hit {
                        return v;
                    }
                }
                Err(e) => panic!("{e}: stderr so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn finish(mut self) -> Run {
        let mut out = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        Run {
            code: status.code().unwrap_or(-1),
            stdout: out,
            stderr: self.seen.join("\n"),
        }
    }
}

/// The consent URL the tool printed on stderr (the indented line after the instruction).
fn printed_url(l: &str) -> Option<String> {
    l.strip_prefix("consent-link:   ")
        .filter(|u| u.starts_with("https://"))
        .map(str::to_owned)
}

// ------------------------------------------------------------------ the link alone

#[test]
fn built_in_clouds_give_the_exact_link_without_any_request() {
    // No credential at all: a request would need a token and fail with exit 3.
    let cases = [
        (
            "AzureCloud",
            "login.microsoftonline.com",
            GUID_B,
            "https://www.microsoft.com",
            MS.to_owned(),
        ),
        (
            "AzureChinaCloud",
            "login.chinacloudapi.cn",
            "fabrikam.partner.onmschina.cn",
            "https://app.example.com/callback?team=a&b=c d",
            "https%3A%2F%2Fapp.example.com%2Fcallback%3Fteam%3Da%26b%3Dc+d".to_owned(),
        ),
        (
            "AzureUSGovernment",
            "login.microsoftonline.us",
            GUID_B,
            "https://例え.jp/ü",
            "https%3A%2F%2F%E4%BE%8B%E3%81%88.jp%2F%C3%BC".to_owned(),
        ),
        (
            "AzureCloud",
            "login.microsoftonline.com",
            "contoso.com",
            "https://app.example.com/cb?x=%41",
            "https%3A%2F%2Fapp.example.com%2Fcb%3Fx%3D%2541".to_owned(),
        ),
    ];
    for (cloud, host, tenant, redirect, encoded) in cases {
        for form in ["authorize", "adminconsent"] {
            let args = [
                "--cloud",
                cloud,
                "--registry-tenant",
                tenant,
                "--app-id",
                APP,
                "--redirect-uri",
                redirect,
                "--form",
                form,
            ];
            let r = run_cmd(bare(), &args, "");
            let o = r.ok_passing(KEEP);
            let expected = if form == "authorize" {
                format!(
                    "https://{host}/{tenant}/oauth2/authorize?client_id={APP}&response_type=code&redirect_uri={encoded}"
                )
            } else {
                format!(
                    "https://{host}/{tenant}/adminconsent?client_id={APP}&redirect_uri={encoded}"
                )
            };
            assert_eq!(o["consent_url"], expected.as_str(), "{cloud} {form}");
            assert_eq!(o["cloud"], cloud);
            assert_eq!(o["registry_tenant_id"], tenant);
            assert_eq!(o["app_id"], APP);
            assert!(o.get("registry_sp_object_id").is_none());
            assert!(
                r.stderr.contains(&format!("consent-link:   {expected}\n")),
                "{}",
                r.stderr
            );
            assert!(
                r.stderr.contains(&format!(
                    "an administrator of tenant B ({tenant}) must open this link and click Accept"
                )),
                "{}",
                r.stderr
            );
        }
    }
}

#[test]
fn the_simulators_cloud_gives_its_login_endpoint_with_port_and_sends_nothing() {
    let sim = TestSim::start();
    let b = sim.var("REGISTRY_TENANT_ID");
    let base = sim.var("SIM_URL");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let stdin = line(&json!({"registry_tenant_id": b, "app_id": APP, "other": [1, 2]}));
    let r = sim.run(BIN, &[], &stdin);
    let o = r.ok_passing(&["other"]);
    assert_eq!(
        o["consent_url"],
        format!("{base}/{b}/oauth2/authorize?client_id={APP}&response_type=code&redirect_uri={MS}")
            .as_str()
    );
    assert_eq!(o["other"], json!([1, 2]));
    let r = sim.run(
        BIN,
        &[
            "--form",
            "adminconsent",
            "--registry-tenant",
            "fabrikam-acr.onmicrosoft.com",
        ],
        &stdin,
    );
    assert_eq!(
        r.ok_passing(&["other"])["consent_url"],
        format!(
            "{base}/fabrikam-acr.onmicrosoft.com/adminconsent?client_id={APP}&redirect_uri={MS}"
        )
        .as_str()
    );
    assert_eq!(
        sim.azure_requests(),
        Vec::<Value>::new(),
        "no cluster_tenant_id, no --wait/--create: nothing is sent"
    );
}

#[test]
fn bad_inputs_fail_before_any_request() {
    let sim = TestSim::start();
    let a = sim.var("CLUSTER_TENANT_ID");
    let b = sim.var("REGISTRY_TENANT_ID");
    let cases: [(&[&str], &str, &str); 7] = [
        (
            &["--registry-tenant", "not a tenant"],
            "registry_tenant_id",
            "not a tenant",
        ),
        (&["--registry-tenant", "../x"], "registry_tenant_id", "../x"),
        (&["--app-id", "my-app"], "app_id", "my-app"),
        (&["--cluster-tenant", "a b"], "cluster_tenant_id", "a b"),
        (
            &["--redirect-uri", "https://www.microsoft.com/#top"],
            "redirect_uri",
            "fragment",
        ),
        (
            &["--redirect-uri", "http://www.microsoft.com"],
            "redirect_uri",
            "https",
        ),
        (
            &["--redirect-uri", "www.microsoft.com"],
            "redirect_uri",
            "absolute",
        ),
    ];
    for (args, field, expected) in cases {
        let stdin = line(&json!({"cluster_tenant_id": a, "registry_tenant_id": b, "app_id": APP}));
        let mut all = vec![
            "--wait",
            "--create",
            "--targets-from-input",
            "--timeout",
            "5s",
        ];
        all.extend_from_slice(args);
        let r = sim.run(BIN, &all, &stdin);
        let o = r.failed_passing(BIN, "InvalidInput", KEEP);
        let msg = said(&o);
        assert!(
            msg.contains(field) && msg.contains(expected),
            "{args:?}: {msg}"
        );
        assert!(o.get("consent_url").is_none());
    }
    let r = sim.run(BIN, &["--app-id", APP], "");
    let o = r.failed_passing(BIN, "InvalidInput", KEEP);
    assert!(said(&o).contains("--registry-tenant"), "{o}");
    assert_eq!(sim.azure_requests(), Vec::<Value>::new());
}

#[test]
fn open_uses_browser_with_substitution_and_a_failure_is_only_a_warning() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake-browser");
    let out = dir.path().join("opened.txt");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s|%s' \"$1\" \"$2\" > \"$OPENED\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let stdin = line(&json!({"registry_tenant_id": sim.var("REGISTRY_TENANT_ID"), "app_id": APP}));

    // A list: the first entry does not exist, the second takes the URL where %s is.
    let mut c = sim.cmd(BIN);
    c.env(
        "BROWSER",
        format!("/nonexistent/browser:{} --new-window %s", script.display()),
    )
    .env("OPENED", &out);
    let r = run_cmd(c, &["--open"], &stdin);
    let o = r.ok_passing(KEEP);
    let url = o["consent_url"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("--new-window|{url}")
    );
    assert!(r.stderr.contains("opened the link with"), "{}", r.stderr);

    // Without %s the URL is appended.
    let mut c = sim.cmd(BIN);
    c.env("BROWSER", script.as_os_str()).env("OPENED", &out);
    run_cmd(c, &["--open"], &stdin).ok_passing(KEEP);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{url}|"));

    // A browser that fails: a warning, the link still written.
    let mut c = sim.cmd(BIN);
    c.env("BROWSER", "false");
    let r = run_cmd(c, &["--open"], &stdin);
    assert_eq!(r.ok_passing(KEEP)["consent_url"], url);
    assert!(
        r.stderr.contains("warning: could not open a browser"),
        "{}",
        r.stderr
    );
    assert_eq!(sim.azure_requests(), Vec::<Value>::new());
}

// ------------------------------------------------------------------ checks in tenant A

#[test]
fn the_app_is_checked_in_tenant_a() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");

    let good = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);
    let r = sim.run(BIN, &[], &input(&sim, &good));
    let o = r.ok_passing(KEEP);
    assert!(o["consent_url"].as_str().unwrap().contains(&good));
    assert_eq!(o["keep"], json!({"n": 1}));
    assert!(
        sim.writes().len() == 1,
        "only the test's own POST /applications: {:?}",
        sim.writes()
    );

    let single = create_app(&op, "AzureADMyOrg", &["https://www.microsoft.com"]);
    let o = sim
        .run(
            BIN,
            &["--wait", "--create", "--targets-from-input"],
            &input(&sim, &single),
        )
        .failed_passing(BIN, "AppNotMultitenant", KEEP);
    let msg = said(&o);
    assert!(
        msg.contains("AzureADMyOrg")
            && msg.contains("entra-app-create")
            && msg.contains("AzureADMultipleOrgs"),
        "{msg}"
    );

    let o = sim
        .run(BIN, &[], &input(&sim, APP))
        .failed_passing(BIN, "AppNotFound", KEEP);
    assert!(said(&o).contains(APP), "{o}");

    let o = sim
        .run(
            BIN,
            &["--redirect-uri", "https://app.example.com/cb"],
            &input(&sim, &good),
        )
        .failed_passing(BIN, "RedirectUriMismatch", KEEP);
    let msg = said(&o);
    assert!(
        msg.contains("AADSTS50011") && msg.contains("https://www.microsoft.com"),
        "{msg}"
    );

    // Nothing was written besides the test's two apps. Tenant B saw at most the read of the
    // service principal that `--wait --create` sends beside the check in tenant A (and its
    // token): never a write.
    assert_eq!(sim.writes().len(), 2, "{:?}", sim.writes());
    assert!(service_principal_of(&sim, &b, &single).is_none());
    let in_b: Vec<Value> = sim
        .azure_requests()
        .into_iter()
        .filter(|r| r["caller_tenant_id"] == b.as_str() || r["path"].as_str().unwrap().contains(&b))
        .collect();
    assert!(
        in_b.iter().all(|r| {
            let path = r["path"].as_str().unwrap();
            (r["method"] == "POST" && path.ends_with("/oauth2/v2.0/token"))
                || (r["method"] == "GET" && path.contains("/servicePrincipals(appId="))
        }),
        "{in_b:?}"
    );
}

/// A request log as method, path and the tenant it acted in, one per line (no tokens).
fn shown_log(log: &[Value]) -> String {
    log.iter()
        .map(|r| format!("{} {} ({})", r["method"], r["path"], r["caller_tenant_id"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one request in `log` with `method` whose path holds `has`.
fn only<'a>(log: &'a [Value], method: &str, has: &str) -> &'a Value {
    let found: Vec<&Value> = log
        .iter()
        .filter(|r| r["method"] == method && r["path"].as_str().unwrap().contains(has))
        .collect();
    assert_eq!(found.len(), 1, "{method} {has}:\n{}", shown_log(log));
    found[0]
}

#[test]
fn the_read_in_tenant_b_goes_out_beside_the_check_in_tenant_a_and_the_write_after_it() {
    // 200 ms per answer: reads sent one after the other could not overlap.
    let sim = TestSim::start_with(|c| c.latency = Duration::from_millis(200));
    let op = Operator::new(&sim);
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);
    sim.sim().clear_requests();
    let o = sim
        .run(
            BIN,
            &["--create", "--targets-from-input"],
            &input(&sim, &app),
        )
        .ok_passing(KEEP);
    let sp = service_principal_of(&sim, &b, &app).expect("created in tenant B");
    assert_eq!(o["registry_sp_object_id"], sp.as_str());

    let log = sim.azure_requests();
    let app_read = only(&log, "GET", "/applications(appId=");
    let sp_read = only(&log, "GET", "/servicePrincipals(appId=");
    let created = only(&log, "PATCH", "/servicePrincipals(appId=");
    assert_eq!(app_read["caller_tenant_id"], a.as_str());
    assert_eq!(sp_read["caller_tenant_id"], b.as_str());
    assert_eq!(created["caller_tenant_id"], b.as_str());
    assert!(
        span(sp_read).0 < span(app_read).1 && overlap(app_read, sp_read),
        "the read in tenant B waited for the check in tenant A: {:?} then {:?}",
        span(app_read),
        span(sp_read)
    );
    assert!(
        span(created).0 >= span(app_read).1,
        "tenant B was written before tenant A's answer: {:?} then {:?}",
        span(app_read),
        span(created)
    );
}

#[test]
fn a_failed_check_in_tenant_a_writes_nothing_to_tenant_b_whatever_its_read_found() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    let single = create_app(&op, "AzureADMyOrg", &["https://www.microsoft.com"]);
    // Already provisioned in tenant B: the read there finds it, and must not make it a success.
    let no_redirect = op
        .create_app(&NewApp::multitenant("no-redirect").sp_in_b(true))
        .app_id;
    for (app, code) in [
        (&single, "AppNotMultitenant"),
        (&no_redirect, "NoRedirectUri"),
    ] {
        // Without --create nothing reads tenant B: the error as it was before the read moved.
        let alone = sim
            .run(BIN, &[], &input(&sim, app))
            .failed_passing(BIN, code, KEEP);
        sim.sim().clear_requests();
        // Tenant A answers late, so tenant B's answer is in first (checked below).
        sim.sim()
            .add_fault(
                json!({"method": "GET", "path": "/v1.0/applications(", "delay_ms": 300, "count": 0}),
            )
            .unwrap();
        let r = sim.run(
            BIN,
            &[
                "--create",
                "--targets-from-input",
                "--wait",
                "--timeout",
                "5s",
            ],
            &input(&sim, app),
        );
        sim.sim().clear_faults();
        let o = r.failed_passing(BIN, code, KEEP);
        assert_eq!(o, alone, "{code}: the same object, error and all");
        assert!(o.get("consent_url").is_none(), "{o}");
        assert!(sim.writes().is_empty(), "{code}: {:#?}", sim.writes());
        let log = sim.azure_requests();
        let b_read = log
            .iter()
            .find(|r| {
                r["method"] == "GET"
                    && r["caller_tenant_id"] == b.as_str()
                    && r["path"].as_str().unwrap().contains("/servicePrincipals(")
            })
            .unwrap_or_else(|| panic!("{code}: tenant B was not read:\n{}", shown_log(&log)));
        let a_check = only(&log, "GET", "/applications(");
        assert!(
            span(b_read).1 < span(a_check).1,
            "{code}: tenant B's answer came after tenant A's:\n{}",
            shown_log(&log)
        );
    }
    assert!(service_principal_of(&sim, &b, &single).is_none());
}

#[test]
fn a_refused_read_in_tenant_a_is_only_a_warning() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);
    sim.sim()
        .add_fault(json!({"method": "GET", "path": "/v1.0/applications(", "status": 403, "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}))
        .unwrap();
    let r = sim.run(BIN, &[], &input(&sim, &app));
    let o = r.ok_passing(KEEP);
    assert!(o["consent_url"].as_str().unwrap().contains(&app));
    assert!(
        r.stderr
            .contains("warning: the app is not checked in tenant A"),
        "{}",
        r.stderr
    );

    // A credential tenant A refuses: the same.
    sim.sim().clear_faults();
    let mut c = sim.cmd(BIN);
    c.env("AZURE_CLIENT_SECRET", "not-the-secret");
    let r = run_cmd(c, &[], &input(&sim, &app));
    let o = r.ok_passing(KEEP);
    assert!(o["consent_url"].as_str().unwrap().contains(&app));
    assert!(
        r.stderr
            .contains("warning: the app is not checked in tenant A")
            && !r.stderr.contains("not-the-secret"),
        "{}",
        r.stderr
    );
}

// ------------------------------------------------------------------ --wait

#[test]
fn wait_finishes_once_tenant_bs_administrator_accepts() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    let awkward = "https://app.example.com/callback?team=a&b=c d";
    for (form, redirect) in [
        ("authorize", "https://www.microsoft.com"),
        ("adminconsent", awkward),
    ] {
        let app = create_app(
            &op,
            "AzureADMultipleOrgs",
            &["https://www.microsoft.com", awkward],
        );
        let started = Instant::now();
        let mut bg = Background::start(
            sim.cmd(BIN),
            &[
                "--wait",
                "--timeout",
                "60s",
                "--form",
                form,
                "--redirect-uri",
                redirect,
            ],
            &input(&sim, &app),
        );
        let url = bg.wait_for(printed_url);
        // The tool is polling: no service principal yet.
        bg.wait_for(|l| l.contains("'s administrator to consent").then_some(()));
        assert!(service_principal_of(&sim, &b, &app).is_none());

        let (status, location) = admin_accepts(&sim, &url);
        assert_eq!(status, 302, "{form}");
        let expected_tail = if form == "authorize" {
            "code="
        } else {
            "admin_consent=True"
        };
        assert!(
            location.starts_with(redirect) && location.contains(expected_tail),
            "{form}: {location}"
        );

        let r = bg.finish();
        let o = r.ok_passing(KEEP);
        let sp =
            service_principal_of(&sim, &b, &app).expect("the consent made the service principal");
        assert_eq!(o["registry_sp_object_id"], sp.as_str());
        assert_eq!(o["consent_url"], url.as_str());
        assert!(
            r.stderr.contains("'s administrator consented") && r.stderr.contains("(changed)"),
            "{}",
            r.stderr
        );
        assert!(started.elapsed() < Duration::from_secs(30));

        // A rerun on its own output returns at once, with no writes.
        let writes = sim.writes().len();
        let t = Instant::now();
        let again = sim
            .run(
                BIN,
                &["--wait", "--form", form, "--redirect-uri", redirect],
                &r.stdout,
            )
            .ok_passing(KEEP);
        assert_eq!(again["registry_sp_object_id"], sp.as_str());
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(sim.writes().len(), writes);
    }
}

#[test]
fn quiet_wait_still_shows_the_link_once() {
    // Before, -q hid the link: the one thing tenant B's administrator needs.
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);
    let r = sim.run(
        BIN,
        &["-q", "--wait", "--timeout", "2s"],
        &input(&sim, &app),
    );
    let o = r.failed_passing(BIN, "ConsentTimeout", KEEP);
    let url = o["consent_url"].as_str().unwrap();
    assert_eq!(r.stderr.matches(url).count(), 1, "{}", r.stderr);
    assert!(
        !r.stderr.contains("waiting for"),
        "-q shows no progress: {}",
        r.stderr
    );
}

#[test]
fn wait_times_out_cleanly_when_nobody_accepts() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);
    let t = Instant::now();
    let r = sim.run(BIN, &["--wait", "--timeout", "2s"], &input(&sim, &app));
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    let o = r.failed_passing(BIN, "ConsentTimeout", KEEP);
    let url = o["consent_url"]
        .as_str()
        .expect("the failed object keeps the link");
    assert!(url.contains(&app));
    // The link is shown once, before the wait; the failure does not repeat it.
    assert_eq!(r.stderr.matches(url).count(), 1, "{}", r.stderr);
    let msg = said(&o);
    assert!(!msg.contains(url), "{msg}");
    let hint = o["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("rerun"), "{hint}");
    assert_eq!(o["keep"], json!({"n": 1}));
    assert!(o.get("registry_sp_object_id").is_none());
    assert!(sim.writes().len() == 1, "{:?}", sim.writes());
}

// ------------------------------------------------------------------ --create

#[test]
fn create_as_operator_then_reruns_send_no_writes() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);

    let dry = sim
        .run(
            BIN,
            &["--create", "--targets-from-input", "--dry-run"],
            &input(&sim, &app),
        )
        .ok_passing(KEEP);
    assert_eq!(
        dry["registry_sp_object_id"],
        "dry-run:registry_sp_object_id"
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(sim.writes().len(), 1);

    let r = sim.run(
        BIN,
        &["--create", "--targets-from-input"],
        &input(&sim, &app),
    );
    let o = r.ok_passing(KEEP);
    let sp = service_principal_of(&sim, &b, &app).expect("created in tenant B");
    assert_eq!(o["registry_sp_object_id"], sp.as_str());
    assert!(
        r.stderr.contains("created the app's service principal") && r.stderr.contains("(changed)"),
        "{}",
        r.stderr
    );
    // Nobody had to act: no link shown (before, the banner was printed anyway).
    let url = o["consent_url"].as_str().unwrap();
    assert!(
        !r.stderr.contains(url) && !r.stderr.contains("must open"),
        "{}",
        r.stderr
    );
    let writes = sim.writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[1]["method"], "PATCH");
    assert_eq!(writes[1]["caller_tenant_id"], b.as_str());

    for args in [
        &["--create", "--targets-from-input"][..],
        &["--wait"],
        &["--create", "--targets-from-input", "--wait"],
    ] {
        let t = Instant::now();
        let r = sim.run(BIN, args, &r.stdout);
        let again = r.ok_passing(KEEP);
        assert_eq!(again["registry_sp_object_id"], sp.as_str(), "{args:?}");
        assert!(
            r.stderr.contains("already has its service principal")
                && r.stderr.contains("(unchanged)"),
            "{}",
            r.stderr
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }
    assert_eq!(sim.writes().len(), 2, "reruns wrote: {:?}", sim.writes());
}

#[test]
fn create_as_reader_explains_that_an_administrator_must_consent() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);

    let r = run_cmd(
        sim.cmd_as_reader(BIN),
        &["--create", "--targets-from-input"],
        &input(&sim, &app),
    );
    let o = r.failed_passing(BIN, "Authorization_RequestDenied", KEEP);
    let url = o["consent_url"].as_str().unwrap();
    let hint = o["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("an administrator of tenant B must open the link") && hint.contains(url),
        "{hint}"
    );
    // Said once: in the hint, not in the message, nor as a banner before the attempt.
    assert_eq!(r.stderr.matches(url).count(), 1, "{}", r.stderr);
    assert!(service_principal_of(&sim, &b, &app).is_none());

    // With --wait too: the refusal turns into waiting for the consent.
    let r = run_cmd(
        sim.cmd_as_reader(BIN),
        &[
            "--create",
            "--targets-from-input",
            "--wait",
            "--timeout",
            "2s",
        ],
        &input(&sim, &app),
    );
    r.failed_passing(BIN, "ConsentTimeout", KEEP);
    assert!(
        r.stderr.contains("may not create service principals"),
        "{}",
        r.stderr
    );
    assert!(service_principal_of(&sim, &b, &app).is_none());
}

#[test]
fn create_waits_out_replication_of_a_new_app() {
    // A new app replicates only once Azure's clock is moved on: once the first upsert met
    // NoBackingApplicationObject, the clock is moved on past it, and the waiting tool's next
    // try makes the principal.
    let replication = xtenant_tests::clock::until_moved();
    let sim = TestSim::start_with(|c| c.replication_delay = replication);
    let op = Operator::new(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    let app = create_app(&op, "AzureADMultipleOrgs", &["https://www.microsoft.com"]);
    let mut c = sim.cmd(BIN);
    c.args(["--create", "--targets-from-input", "--timeout", "30s"]);
    let child = spawn_with_input(&mut c, &input(&sim, &app));
    let started = Instant::now();
    while !sim
        .requests()
        .iter()
        .any(|r| r["method"] == "PATCH" && r["status"] == 400)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no upsert met NoBackingApplicationObject"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sim.sim().advance(replication);
    let out = child.wait_with_output().expect("wait");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let o = r.ok_passing(KEEP);
    assert_eq!(
        o["registry_sp_object_id"],
        service_principal_of(&sim, &b, &app).unwrap().as_str()
    );
    let patches = sim
        .writes()
        .iter()
        .filter(|w| w["method"] == "PATCH")
        .count();
    assert!(
        patches >= 2,
        "the first upsert should have met NoBackingApplicationObject: {patches}"
    );
}
