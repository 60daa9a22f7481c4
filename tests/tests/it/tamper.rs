//! The tampered-envelope matrix (issue 18): an envelope handed over by another team is
//! untrusted input. It may name things; it must never choose where a credential is sent,
//! widen what is granted, or pick which of the reader's apps and principals are changed.
//!
//! Every row of the tables below is one tool run on the envelope a pipeline would hand
//! over, with one field replaced by a hostile value. The victim is a fresh simulator; an
//! "attacker" simulator listens on loopback (on an ephemeral port and, where this machine
//! lets a test bind it, on 127.0.0.1:443, where a login server without a port leads), and
//! the victim's cloud file trusts the attackers' CAs too, so a leaked request would succeed
//! at the TLS level and show in the attacker's request log. Rows about the cloud set an
//! HTTPS proxy "trap" instead: a built-in cloud's endpoints are on the internet, and any
//! connection the tool opens for them ends in the trap, never outside this machine.
//!
//! Each row must end with: the attackers (and the trap) saw no request carrying the row's
//! tag; the victim's state shows no new role assignment but a pull role on a registry or a
//! copy of the old cluster principal's assignment to the app's own principal, and no change
//! to any app or principal the flags did not name; and the tool refused, with `error.code`
//! or `error.message` (stderr for a usage error) naming the field, before writing anything.
//! A row marked "or ignored" may instead succeed, as long as the state checks hold.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::{App, Method, NewApp, Operator};
use xtenant_tests::snapshot::{Setup, Setups};
use xtenant_tests::steps::par_map;
use xtenant_tests::world::{fleet_lists, fleet_sh};
use xtenant_tests::{Run, SimConfig, SimHandle, TestSim, bin_dir, line, run_cmd};

/// The redirect URI of the procedure (and of the foreign app: the current guard passes it).
const MS: &str = "https://www.microsoft.com";
/// Owner's role definition GUID.
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// `AcrPull`'s role definition GUID.
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
/// The roles that only pull.
const PULL_ROLES: [&str; 2] = ["AcrPull", "Container Registry Repository Reader"];
/// How many rows run at once (each with its own victim simulator).
const THREADS: usize = 2;

// ------------------------------------------------------------------ the attackers

/// The attacker simulators: one on an ephemeral loopback port, one on 127.0.0.1:443 when
/// this machine lets a test bind it (a login server without a port is reached there).
struct Attackers {
    any_port: SimHandle,
    https: Option<SimHandle>,
    /// Why there is no attacker on 443 (shown with the figures).
    no_https: Option<String>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Attackers {
    fn start(with_443: bool) -> Self {
        let d1 = tempfile::tempdir().unwrap();
        let any_port = azure_sim::spawn(SimConfig::new(d1.path())).expect("attacker");
        let mut dirs = vec![d1];
        let (mut https, mut no_https) = (None, None);
        if with_443 {
            // Another run of this test may hold the port for a moment.
            let started = Instant::now();
            loop {
                let d = tempfile::tempdir().unwrap();
                let mut cfg = SimConfig::new(d.path());
                cfg.addr = ([127, 0, 0, 1], 443).into();
                match azure_sim::spawn(cfg) {
                    Ok(h) => {
                        https = Some(h);
                        dirs.push(d);
                        break;
                    }
                    Err(e) => {
                        let why = format!("{e:#}");
                        if why.contains("in use") && started.elapsed() < Duration::from_secs(20) {
                            std::thread::sleep(Duration::from_millis(300));
                            continue;
                        }
                        no_https = Some(why);
                        break;
                    }
                }
            }
        }
        Self {
            any_port,
            https,
            no_https,
            _dirs: dirs,
        }
    }

    fn port(&self) -> u16 {
        self.any_port.port()
    }

    fn cas(&self) -> Vec<PathBuf> {
        std::iter::once(&self.any_port)
            .chain(self.https.as_ref())
            .map(|a| a.ca_pem_path().to_path_buf())
            .collect()
    }

    /// Every request the attackers saw, as text (headers included).
    fn requests(&self) -> Vec<String> {
        std::iter::once(&self.any_port)
            .chain(self.https.as_ref())
            .flat_map(|a| a.requests())
            .map(|r| r.to_string())
            .collect()
    }
}

/// An HTTPS proxy that records the first line of every connection and closes it: where
/// a tool's requests to a built-in cloud end, so that a test never leaves this machine.
struct Trap {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trap {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                        let mut buf = [0u8; 512];
                        let first = match conn.read(&mut buf) {
                            // Closed before it sent a byte (a tool that ended before its early
                            // sign-in, on a loaded machine): nothing reached the trap.
                            Ok(0) => None,
                            Ok(n) => Some(
                                String::from_utf8_lossy(&buf[..n])
                                    .lines()
                                    .next()
                                    .unwrap_or("")
                                    .to_owned(),
                            ),
                            Err(e) => Some(format!("(a connection that sent no request: {e})")),
                        };
                        s.lock().unwrap().extend(first);
                        let _ = conn
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------ the victim

/// A fresh simulator in the state a pipeline leaves after step 3, plus an app the operator
/// did not make with this procedure ("payroll"), with its secret and principals in A and B
/// (made once per behaviour and loaded: [`Made`]).
struct Victim {
    sim: TestSim,
    /// The victim's cloud file, trusting the attackers' CAs besides its own.
    cloud_file: PathBuf,
    mine: App,
    foreign: App,
    /// The key id of the foreign app's first secret (it has a second one besides).
    foreign_key: String,
    _dir: tempfile::TempDir,
}

/// What every victim of one behaviour starts from, made once per table: the simulator's
/// state with the procedure's app (its secret, principals and pull role) and the foreign one.
struct Made {
    setup: Setup,
    mine: App,
    foreign: App,
    foreign_key: String,
}

impl Made {
    fn new(behaviour: Option<&str>) -> Self {
        let mut apps = None;
        let setup = Setup::make(
            |c| c.behaviour = behaviour_of(behaviour),
            |sim| {
                apps = Some(victims_apps(sim));
                String::new()
            },
        );
        let (mine, foreign, foreign_key) = apps.expect("the setup ran");
        Self {
            setup,
            mine,
            foreign,
            foreign_key,
        }
    }
}

/// A row's switches (JSON), e.g. a Graph without the uniqueName key.
fn behaviour_of(behaviour: Option<&str>) -> Option<Value> {
    behaviour.map(|b| serde_json::from_str(b).expect("behaviour is JSON"))
}

/// The procedure's app after step 3 and the foreign one, made on `sim`; the foreign app's
/// first key id.
fn victims_apps(sim: &TestSim) -> (App, App, String) {
    let op = Operator::new(sim);
    let spec = |name: &str| {
        NewApp::multitenant(name)
            .redirect_uris(&[MS])
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(true)
    };
    let mine = op.create_app(&spec("xtenant-acr-pull"));
    let foreign = op.create_app(&spec("payroll"));
    let (status, second) = op.graph(
        Method::POST,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("/applications/{}/addPassword", foreign.object_id),
        Some(&json!({"passwordCredential": {"displayName": "payroll-2"}})),
    );
    assert_eq!(status, 200, "{second}");
    let foreign_key = sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == foreign.app_id.as_str())
        .and_then(|a| {
            a["password_credentials"][0]["key_id"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("the foreign app's first secret");
    op.assign_role(
        &sim.var("REGISTRY_TENANT_ID"),
        &sim.var("REGISTRY_ID"),
        ACR_PULL,
        mine.sp_b(),
    );
    (mine, foreign, foreign_key)
}

impl Victim {
    /// A victim with the row's `behaviour`: a new simulator loaded with what [`Made`] made
    /// for it (made by the first row that needs it).
    fn start(
        attackers: &Attackers,
        behaviour: Option<&'static str>,
        made: &Setups<Option<&'static str>, Made>,
    ) -> Self {
        let m = made.get(&behaviour, || Made::new(behaviour));
        let (sim, _) = m.setup.start(|c| c.behaviour = behaviour_of(behaviour));
        let apps = (m.mine.clone(), m.foreign.clone(), m.foreign_key.clone());
        Self::on(sim, attackers, apps)
    }

    /// A victim of Azure as documented, its apps made on its own simulator.
    fn fresh(attackers: &Attackers) -> Self {
        let sim = TestSim::start();
        let apps = victims_apps(&sim);
        Self::on(sim, attackers, apps)
    }

    /// The victim on `sim`, which holds `mine`, `foreign` and its key `foreign_key`.
    fn on(
        sim: TestSim,
        attackers: &Attackers,
        (mine, foreign, foreign_key): (App, App, String),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut bundle = std::fs::read(sim.var("SIM_CA_FILE")).unwrap();
        for ca in attackers.cas() {
            bundle.extend(std::fs::read(ca).unwrap());
        }
        std::fs::write(dir.path().join("ca-bundle.pem"), bundle).unwrap();
        let mut cloud: Value =
            serde_json::from_str(&std::fs::read_to_string(sim.var("XTENANT_CLOUD")).unwrap())
                .unwrap();
        cloud["ca_file"] = json!(dir.path().join("ca-bundle.pem"));
        let cloud_file = dir.path().join("cloud.json");
        std::fs::write(&cloud_file, cloud.to_string()).unwrap();
        Self {
            sim,
            cloud_file,
            mine,
            foreign,
            foreign_key,
            _dir: dir,
        }
    }

    /// The object team B hands back after step 3 (with the secret, as the README's one-identity flow has it).
    fn envelope(&self) -> Value {
        let v = |k: &str| self.sim.var(k);
        json!({
            "cluster_tenant_id": v("CLUSTER_TENANT_ID"),
            "registry_tenant_id": v("REGISTRY_TENANT_ID"),
            "app_display_name": "xtenant-acr-pull",
            "app_id": self.mine.app_id,
            "app_object_id": self.mine.object_id,
            "cluster_sp_object_id": self.mine.sp_a(),
            "registry_sp_object_id": self.mine.sp_b(),
            "client_secret": self.mine.secret(),
            "redirect_uri": MS,
            "registry_id": v("REGISTRY_ID"),
            "registry_login_server": v("REGISTRY_LOGIN_SERVER"),
            "role_name": "AcrPull",
        })
    }

    /// The tool's own flags, as the README's pipeline gives them.
    fn flags(&self, tool: &str) -> Vec<String> {
        let v = |k: &str| self.sim.var(k);
        let (flag, value) = match tool {
            "entra-app-create" => ("--cluster-tenant", v("CLUSTER_TENANT_ID")),
            "consent-link" => ("--registry-tenant", v("REGISTRY_TENANT_ID")),
            "acr-grant" => ("--registry", v("REGISTRY_ID")),
            "aks-sp-update" => ("--cluster", v("CLUSTER_ID")),
            other => panic!("no tool {other}"),
        };
        let mut f = vec![flag.to_owned(), value, "--timeout".into(), "20s".into()];
        if tool == "consent-link" {
            f.push("--create".into());
        }
        f
    }
}

// ------------------------------------------------------------------ the matrix as data

/// What a row must end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Refused, naming the field, before any write.
    Refused,
    /// Refused naming the field, or run as if the field held the truth (state checks decide).
    RefusedOrIgnored,
    /// The object fails with this error code (the hostile value is in Azure's answer, not in
    /// a field of the envelope).
    Failed(&'static str),
}

/// Which cloud the tool is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloudArg {
    /// `XTENANT_CLOUD` is the victim's cloud file.
    Sim,
    /// No `--cloud`, no `XTENANT_CLOUD`: the default applies; requests go to the proxy trap.
    Unset,
}

/// One row: `tool` reads `field`, which holds `value`.
///
/// `value` is a template: `{aport}` is the attacker's port, `{simport}` the victim's,
/// `{tag}` a name unique to the row (so a request the attackers saw is traced to it),
/// `{foreign_app}`, `{foreign_sp_a}`, `{foreign_sp_b}` the foreign app and its principals,
/// `{foreign_key}` the key id of the first of its two secrets, `{sub_a}` the cluster's
/// subscription, `{sub_b}` the registry's, `{registry_name}` the registry's name,
/// `{trap_cloud}` an attacker cloud file. Flags are templates too.
struct Row {
    tool: &'static str,
    field: &'static str,
    value: &'static str,
    /// Fields removed from the envelope (an attacker writes the whole file).
    drop: &'static [&'static str],
    /// Other fields set (templates too), to get past checks that are not the row's.
    set: &'static [(&'static str, &'static str)],
    /// Flags besides the tool's own.
    flags: &'static [&'static str],
    cloud: CloudArg,
    want: Want,
    /// When set, the hostile value is not in the envelope but in Azure's answer: this fault
    /// rule (a template, `{value}` being the row's value) is added to the victim, and
    /// `field` names the header or body key that carries the value.
    fault: Option<&'static str>,
    /// The victim simulator's switches (JSON), when the row needs a rough edge of Azure.
    behaviour: Option<&'static str>,
    /// The finding of issue 18 the row is about.
    finding: &'static str,
}

const fn row(
    tool: &'static str,
    field: &'static str,
    value: &'static str,
    finding: &'static str,
) -> Row {
    Row {
        tool,
        field,
        value,
        drop: &[],
        set: &[],
        flags: &[],
        cloud: CloudArg::Sim,
        want: Want::Refused,
        fault: None,
        behaviour: None,
        finding,
    }
}

const fn with_flags(mut r: Row, flags: &'static [&'static str]) -> Row {
    r.flags = flags;
    r
}

const fn dropping(mut r: Row, drop: &'static [&'static str]) -> Row {
    r.drop = drop;
    r
}

const fn setting(mut r: Row, set: &'static [(&'static str, &'static str)]) -> Row {
    r.set = set;
    r
}

const fn answered(mut r: Row, fault: &'static str) -> Row {
    r.fault = Some(fault);
    r.want = Want::Failed("UntrustedOrigin");
    r
}

const fn on(mut r: Row, behaviour: &'static str) -> Row {
    r.behaviour = Some(behaviour);
    r
}

const fn or_ignored(mut r: Row) -> Row {
    r.want = Want::RefusedOrIgnored;
    r
}

const fn cloud_unset(mut r: Row) -> Row {
    r.cloud = CloudArg::Unset;
    r
}

const ASU: &str = "aks-sp-update";
const LS: &str = "registry_login_server";
const IMG: &str = "registry_image";
const F1: &str = "1: the app's secret sent to any host";
const F7: &str = "7: an operation URL followed without an origin check";
/// The reset answered 202 with its operation on the row's URL (and not performed).
const RESET_ANSWERED: &str = r#"{"method": "POST", "path": "resetServicePrincipalProfile", "status": 202, "headers": {"Azure-AsyncOperation": "{value}"}}"#;
/// The same with only a `Location` header.
const RESET_ANSWERED_LOCATION: &str = r#"{"method": "POST", "path": "resetServicePrincipalProfile", "status": 202, "headers": {"Location": "{value}"}}"#;

const F7N: &str = "7: Api::list follows nextLink / @odata.nextLink to any host";
/// acr-grant finds the registry by name (listing subscriptions, then their registries).
const BY_NAME: &[&str] = &["--registry", "{registry_name}"];
/// The subscriptions listing answered with a next page on the row's URL.
const SUBSCRIPTIONS_NEXT: &str = r#"{"method": "GET", "path": "/subscriptions", "count": 1, "body_patch": {"nextLink": "{value}"}}"#;
/// A subscription's registries listed with a next page on the row's URL.
const REGISTRIES_NEXT: &str = r#"{"method": "GET", "path": "/subscriptions/{sub_b}/providers/Microsoft.ContainerRegistry/registries", "count": 0, "body_patch": {"nextLink": "{value}"}}"#;
/// The role definitions listed (by name, at the registry) with a next page on the row's URL.
const ROLE_DEFINITIONS_NEXT: &str = r#"{"method": "GET", "path": "/providers/Microsoft.Authorization/roleDefinitions", "count": 0, "body_patch": {"nextLink": "{value}"}}"#;
/// The old cluster principal's role assignments listed with a next page on the row's URL.
const ROLE_ASSIGNMENTS_NEXT: &str = r#"{"method": "GET", "path": "/providers/Microsoft.Authorization/roleAssignments", "count": 0, "body_patch": {"nextLink": "{value}"}}"#;
/// Graph's applications listed (by tag, in a cloud without the uniqueName key) with a next
/// page on the row's URL.
const APPLICATIONS_NEXT: &str = r#"{"method": "GET", "path": "/v1.0/applications", "count": 0, "body_patch": {"@odata.nextLink": "{value}"}}"#;
/// A Microsoft Graph without the `uniqueName` alternate key (a national cloud).
const NO_UNIQUE_NAME_KEY: &str = r#"{"unique_name_key": false}"#;
/// The same under Graph's key, which `Api::list` follows as well.
const ROLE_DEFINITIONS_ODATA_NEXT: &str = r#"{"method": "GET", "path": "/providers/Microsoft.Authorization/roleDefinitions", "count": 0, "body_patch": {"@odata.nextLink": "{value}"}}"#;

/// An operation URL on the attacker (`$path`: `operations` or `operationresults`).
macro_rules! attacker_operation {
    ($host:literal, $path:literal) => {
        concat!("https://", $host, ":{aport}/subscriptions/{sub_a}/providers/Microsoft.ContainerService/locations/westeurope/", $path, "/{tag}?api-version=2017-08-31")
    };
}

/// Where the credentials go: a registry login server (the app's secret) in every spelling
/// of another host, and operation URLs (the ARM token) from the envelope and from Azure.
#[rustfmt::skip]
const REGISTRY_HOSTS: &[Row] = &[
    row(ASU, LS, "2130706433/{tag}.azurecr.sim", F1),
    row(ASU, LS, "0x7f000001/{tag}.azurecr.sim", F1),
    row(ASU, LS, "017700000001/{tag}.azurecr.sim", F1),
    row(ASU, LS, "localhost/{tag}.azurecr.sim", F1),
    row(ASU, LS, "127。0。0。1/{tag}.azurecr.sim", F1),
    row(ASU, LS, "localhost?{tag}.azurecr.sim", F1),
    row(ASU, LS, "localhost#{tag}.azurecr.sim", F1),
    row(ASU, LS, "localhost\\{tag}.azurecr.sim", F1),
    row(ASU, LS, "user@localhost/{tag}.azurecr.sim", F1),
    row(ASU, LS, "ＬＯＣＡＬＨＯＳＴ/{tag}.azurecr.sim", F1),
    row(ASU, LS, "{tag}\nx.azurecr.sim", F1),
    row(ASU, LS, "{tag}.azurecr.sim:pw@localhost", F1),
    row(ASU, LS, "127.0.0.1:{aport}", F1),
    row(ASU, LS, "localhost:{aport}", F1),
    row(ASU, LS, "{tag}.azurecr.sim:{aport}", F1),
    row(ASU, LS, "{tag}.azurecr.sim.evil", F1),
    row(ASU, LS, "{tag}.azurecr.sim.", F1),
    row(ASU, LS, "{tag}.azurecr.sim:{simport}/x", F1),
    with_flags(row(ASU, LS, "2130706433/{tag}.azurecr.sim", F1), &["--force"]),
    with_flags(row(ASU, LS, "{tag}.azurecr.sim:{aport}", F1), &["--force"]),
    dropping(row(ASU, IMG, "localhost?{tag}.azurecr.sim/samples/hello:1.0", F1), &[LS]),
    dropping(row(ASU, IMG, "user@localhost#{tag}.azurecr.sim/samples/hello:1.0", F1), &[LS]),
    dropping(row(ASU, IMG, "{tag}.azurecr.sim:{aport}/samples/hello:1.0", F1), &[LS]),
    dropping(row(ASU, IMG, "127.0.0.1:{aport}/samples/hello:1.0", F1), &[LS]),
    row(ASU, "cluster_operation_url", attacker_operation!("127.0.0.1", "operations"), F7),
    row(ASU, "cluster_operation_url", attacker_operation!("localhost", "operations"), F7),
    answered(row(ASU, "Azure-AsyncOperation", attacker_operation!("127.0.0.1", "operations"), F7), RESET_ANSWERED),
    answered(row(ASU, "Location", attacker_operation!("localhost", "operationresults"), F7), RESET_ANSWERED_LOCATION),
    // A listing's next page on the attacker: the listing's token must not follow it.
    answered(with_flags(row("acr-grant", "nextLink", "https://127.0.0.1:{aport}/subscriptions?api-version=2022-12-01&{tag}", F7N), BY_NAME), SUBSCRIPTIONS_NEXT),
    answered(with_flags(row("acr-grant", "nextLink", "https://localhost:{aport}/subscriptions/{sub_b}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01&{tag}", F7N), BY_NAME), REGISTRIES_NEXT),
    answered(row("acr-grant", "nextLink", "https://127.0.0.1:{aport}/{tag}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01", F7N), ROLE_DEFINITIONS_NEXT),
    answered(row("acr-grant", "@odata.nextLink", "https://127.0.0.1:{aport}/{tag}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01", F7N), ROLE_DEFINITIONS_ODATA_NEXT),
    answered(with_flags(row(ASU, "nextLink", "https://127.0.0.1:{aport}/{tag}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", F7N), &["--copy-role-assignments"]), ROLE_ASSIGNMENTS_NEXT),
    // A Graph without the uniqueName key: step 1 lists the apps carrying its tag.
    answered(on(dropping(row(EAC, "@odata.nextLink", "https://127.0.0.1:{aport}/v1.0/applications?{tag}", F7N), &["app_id"]), NO_UNIQUE_NAME_KEY), APPLICATIONS_NEXT),
];

const F8: &str = "issue 16: a Key Vault token sent to any host";
const CSR: &str = "client_secret_ref";
const CS: &str = "client_secret";
const VERIFY: &[&str] = &["--verify"];

/// Where a Key Vault token goes: `client_secret_ref` naming another host in every spelling
/// (the steps that read the secret from it send a bearer token for the vault there).
#[rustfmt::skip]
const VAULT_REFS: &[Row] = &[
    with_flags(dropping(row("acr-grant", CSR, "https://127.0.0.1:{aport}/secrets/{tag}/0123456789abcdef0123456789abcdef", F8), &[CS]), VERIFY),
    with_flags(dropping(row("acr-grant", CSR, "https://contoso-kv.vault.azure.sim:{aport}/secrets/{tag}/0123456789abcdef0123456789abcdef", F8), &[CS]), VERIFY),
    with_flags(dropping(row("acr-grant", CSR, "https://contoso-kv.vault.azure.sim:{simport}@127.0.0.1:{aport}/secrets/{tag}/0123456789abcdef0123456789abcdef", F8), &[CS]), VERIFY),
    dropping(row(ASU, CSR, "https://localhost:{aport}/secrets/{tag}/0123456789abcdef0123456789abcdef", F8), &[CS]),
    dropping(row(ASU, CSR, "https://{tag}.vault.azure.sim:{aport}/secrets/x/0123456789abcdef0123456789abcdef", F8), &[CS]),
    dropping(row(ASU, CSR, "https://{tag}.vault.azure.sim.evil:{simport}/secrets/x/0123456789abcdef0123456789abcdef", F8), &[CS]),
    dropping(row(ASU, CSR, "https://2130706433:{aport}/secrets/{tag}/0123456789abcdef0123456789abcdef", F8), &[CS]),
    dropping(row(ASU, CSR, "https://contoso-kv.vault.azure.sim:{simport}\\@127.0.0.1:{aport}/secrets/{tag}/0123456789abcdef0123456789abcdef", F8), &[CS]),
];

const F2: &str = "2: Owner instead of AcrPull";
const F3: &str = "3: roles given to another principal";

/// What is granted, and to whom.
#[rustfmt::skip]
const GRANTS: &[Row] = &[
    row("acr-grant", "role_name", "Owner", F2),
    row("acr-grant", "role_name", "owner", F2),
    row("acr-grant", "role_name", "Contributor", F2),
    row("acr-grant", "role_name", "AcrPush", F2),
    row("acr-grant", "role_name", "User Access Administrator", F2),
    row("acr-grant", "role_name", "Container Registry Repository Contributor", F2),
    or_ignored(row("acr-grant", "registry_sp_object_id", "{foreign_sp_b}", F3)),
    or_ignored(with_flags(row(ASU, "cluster_sp_object_id", "{foreign_sp_a}", F3), &["--copy-role-assignments"])),
];

const F4: &str = "4: another app's secrets minted and pruned";
const EAC: &str = "entra-app-create";

/// Which app is changed.
#[rustfmt::skip]
const APPS: &[Row] = &[
    with_flags(row(EAC, "app_id", "{foreign_app}", F4), &["--new-secret"]),
    with_flags(setting(row(EAC, "app_id", "{foreign_app}", F4), &[("client_secret_key_id", "{foreign_key}")]), &["--prune-secrets"]),
    with_flags(dropping(row(EAC, "app_id", "{foreign_app}", F4), &["app_display_name"]), &["--new-secret", "--prune-secrets"]),
];

const F5: &str = "5: the sign-in cloud chosen by the file";

/// Which cloud the operator's credential is sent to.
#[rustfmt::skip]
const CLOUDS: &[Row] = &[
    cloud_unset(row(EAC, "cloud", "AzureUSGovernment", F5)),
    cloud_unset(row("consent-link", "cloud", "AzureUSGovernment", F5)),
    cloud_unset(row("acr-grant", "cloud", "AzureUSGovernment", F5)),
    cloud_unset(setting(row(ASU, "cloud", "AzureUSGovernment", F5), &[(LS, "fabrikamacr.azurecr.us")])),
    cloud_unset(setting(row(ASU, "cloud", "AzureChinaCloud", F5), &[(LS, "fabrikamacr.azurecr.cn")])),
    cloud_unset(row(ASU, "cloud", "{trap_cloud}", F5)),
    row(EAC, "cloud", "AzureUSGovernment", F5),
    row("consent-link", "cloud", "AzureUSGovernment", F5),
    row("acr-grant", "cloud", "AzureUSGovernment", F5),
    row(ASU, "cloud", "AzureUSGovernment", F5),
];

// ------------------------------------------------------------------ running a row

/// What one row showed.
struct Outcome {
    /// `tool field=value [flags]`.
    label: String,
    finding: &'static str,
    /// Every broken expectation.
    failures: Vec<String>,
    /// How the tool ended (exit code, error code and message).
    detail: String,
}

fn render(template: &str, v: &Victim, att: &Attackers, tag: &str, trap_cloud: &Path) -> String {
    template
        .replace("{aport}", &att.port().to_string())
        .replace("{simport}", &v.sim.sim().port().to_string())
        .replace("{tag}", tag)
        .replace("{foreign_app}", &v.foreign.app_id)
        .replace("{foreign_sp_a}", v.foreign.sp_a())
        .replace("{foreign_sp_b}", v.foreign.sp_b())
        .replace("{foreign_key}", &v.foreign_key)
        .replace("{sub_a}", &v.sim.var("CLUSTER_SUBSCRIPTION_ID"))
        .replace("{sub_b}", &v.sim.var("REGISTRY_SUBSCRIPTION_ID"))
        .replace("{registry_name}", &v.sim.var("REGISTRY_NAME"))
        .replace("{trap_cloud}", &trap_cloud.display().to_string())
}

fn arr(state: &Value, key: &str) -> Vec<Value> {
    state[key].as_array().cloned().unwrap_or_default()
}

fn same(a: &Value, b: &str) -> bool {
    a.as_str().is_some_and(|s| s.eq_ignore_ascii_case(b))
}

fn last_segment(id: &Value) -> String {
    id.as_str()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The state checks: new role assignments only pull roles on a registry for the app's own
/// principal in B, or copies of the old cluster principal's for its principal in A; no app
/// or principal but the app's own changed.
fn state_failures(v: &Victim, before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let role_name = |id: &Value| -> String {
        let guid = last_segment(id);
        arr(before, "role_definitions")
            .iter()
            .find(|d| last_segment(&d["id"]) == guid)
            .and_then(|d| d["role_name"].as_str().map(str::to_owned))
            .unwrap_or(guid)
    };
    let old_ras = arr(before, "role_assignments");
    let key = |ra: &Value| ra["name"].as_str().unwrap_or("").to_ascii_lowercase();
    let old_keys: BTreeSet<String> = old_ras.iter().map(key).collect();
    let cluster = arr(before, "clusters")
        .into_iter()
        .find(|c| same(&c["id"], &v.sim.var("CLUSTER_ID")))
        .unwrap_or(Value::Null);
    let old_client = cluster["service_principal_client_id"]
        .as_str()
        .unwrap_or("-");
    let tenant_a = v.sim.var("CLUSTER_TENANT_ID");
    let old_sps: Vec<String> = arr(before, "service_principals")
        .iter()
        .filter(|s| same(&s["app_id"], old_client) && same(&s["tenant_id"], &tenant_a))
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    for ra in arr(after, "role_assignments") {
        if old_keys.contains(&key(&ra)) {
            continue;
        }
        let role = role_name(&ra["role_definition_id"]);
        let scope = ra["scope"].as_str().unwrap_or("");
        let principal = &ra["principal_id"];
        let pull_on_registry = PULL_ROLES.contains(&role.as_str())
            && scope.contains("/providers/Microsoft.ContainerRegistry/registries/")
            && same(principal, v.mine.sp_b());
        let copied = same(principal, v.mine.sp_a())
            && old_ras.iter().any(|o| {
                old_sps.iter().any(|sp| same(&o["principal_id"], sp))
                    && same(&o["scope"], scope)
                    && last_segment(&o["role_definition_id"])
                        == last_segment(&ra["role_definition_id"])
            });
        if !pull_on_registry && !copied {
            out.push(format!(
                "a new role assignment {role} at {scope} to {principal} (neither a pull role on the registry for the app's principal in B nor a copy of the old cluster principal's)"
            ));
        }
    }
    let mine_ids: [&str; 3] = [&v.mine.object_id, v.mine.sp_a(), v.mine.sp_b()];
    for (what, key) in [
        ("app", "applications"),
        ("service principal", "service_principals"),
    ] {
        let b = arr(before, key);
        for x in arr(after, key) {
            let id = x["id"].as_str().unwrap_or("");
            if mine_ids.iter().any(|m| m.eq_ignore_ascii_case(id)) {
                continue;
            }
            match b.iter().find(|y| same(&y["id"], id)) {
                Some(y) if *y == x => {}
                Some(_) => out.push(format!(
                    "the {what} {id} ({}) changed, though no flag named it",
                    x["display_name"]
                        .as_str()
                        .or(x["app_id"].as_str())
                        .unwrap_or("")
                )),
                None => out.push(format!("a new {what} {id} ({x})")),
            }
        }
    }
    out
}

/// The refusal's words: the error object's code and message, or stderr for a usage error.
fn refusal_text(run: &Run) -> String {
    match run.objects().first() {
        Some(o) if o["error"].is_object() => format!(
            "{} {}",
            o["error"]["code"].as_str().unwrap_or(""),
            o["error"]["message"].as_str().unwrap_or("")
        ),
        _ => run.stderr.clone(),
    }
}

/// Whether the run refused naming `field`; `None` when it did, else why not.
fn refusal_failure(run: &Run, field: &str) -> Option<String> {
    let squashed = field.replace('_', "").to_ascii_lowercase();
    match run.code {
        2 => (!run.stderr.contains(field)).then(|| {
            format!(
                "exit 2, but stderr does not name `{field}`: {}",
                run.stderr.trim()
            )
        }),
        1 => {
            let objs = run.objects();
            let Some(o) = objs.first() else {
                return Some(format!("exit 1 with no object: {}", run.stderr.trim()));
            };
            let e = &o["error"];
            let message = e["message"].as_str().unwrap_or("");
            let code = e["code"].as_str().unwrap_or("").to_ascii_lowercase();
            (!message.contains(field) && !code.contains(&squashed)).then(|| {
                format!(
                    "refused, but the error does not name `{field}`: {} {message}",
                    e["code"]
                )
            })
        }
        0 => Some("not refused: exit 0".to_owned()),
        c => Some(format!("exit {c}: {}", run.stderr.trim())),
    }
}

/// What reached the attackers (requests carrying `tag`) or the proxy trap.
fn leaks(att: &Attackers, tag: &str, trap: &Trap) -> Vec<String> {
    let mut failures = Vec::new();
    let leaked: Vec<String> = att
        .requests()
        .into_iter()
        .filter(|q| q.contains(tag))
        .collect();
    if !leaked.is_empty() {
        let with = leaked
            .iter()
            .any(|q| q.contains("Basic ") || q.contains("Bearer "));
        failures.push(format!(
            "the attacker saw {} request(s){}",
            leaked.len(),
            if with { ", with credentials" } else { "" }
        ));
    }
    // A sign-in to the tool's own cloud (AzureCloud when --cloud is unset), started from the
    // flags before the object arrived (issue 17), is no leak: the envelope chose nothing.
    // Any other host — the envelope's cloud, or Graph and ARM of the own one — is.
    let trapped: Vec<String> = trap
        .seen()
        .into_iter()
        .filter(|q| !q.contains("CONNECT login.microsoftonline.com:443"))
        .collect();
    if !trapped.is_empty() {
        failures.push(format!(
            "requests left for another cloud (proxy trap): {}",
            trapped.join(" | ")
        ));
    }
    failures
}

/// How a run ended: exit code, and the error's code and message (or stderr's last line), cut.
fn detail(run: &Run) -> String {
    match run.objects().first().map(|o| o["error"].clone()) {
        Some(e) if e.is_object() => format!(
            "exit {}, {}: {}",
            run.code,
            e["code"].as_str().unwrap_or(""),
            e["message"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>()
        ),
        _ => format!(
            "exit {}: {}",
            run.code,
            run.stderr
                .lines()
                .last()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>()
        ),
    }
}

fn run_row(
    r: &Row,
    i: usize,
    att: &Attackers,
    made: &Setups<Option<&'static str>, Made>,
) -> Outcome {
    let v = Victim::start(att, r.behaviour, made);
    let tag = format!("t{i:02}q");
    let trap = Trap::start();
    let trap_dir = tempfile::tempdir().unwrap();
    let trap_cloud = trap_dir.path().join("attacker-cloud.json");
    std::fs::copy(att.any_port.cloud_file_path(), &trap_cloud).unwrap();
    let value = render(r.value, &v, att, &tag, &trap_cloud);
    let mut envelope = v.envelope();
    for d in r.drop {
        envelope.as_object_mut().unwrap().remove(*d);
    }
    for (k, t) in r.set {
        envelope[*k] = json!(render(t, &v, att, &tag, &trap_cloud));
    }
    if let Some(fault) = r.fault {
        let rule = render(fault, &v, att, &tag, &trap_cloud).replace("{value}", &value);
        v.sim
            .sim()
            .add_fault(serde_json::from_str(&rule).expect("the fault rule is JSON"))
            .expect("add the fault");
    } else {
        envelope[r.field] = json!(value);
    }
    let mut args = v.flags(r.tool);
    let flags: Vec<String> = r
        .flags
        .iter()
        .map(|f| render(f, &v, att, &tag, &trap_cloud))
        .collect();
    let mut extra = flags.iter().cloned();
    while let Some(flag) = extra.next() {
        // A row's flag replaces the tool's own of that name (e.g. a registry by name, not id).
        match args.iter().position(|a| *a == flag) {
            Some(at) if flag == "--registry" => {
                args[at + 1] = extra.next().expect("a value after --registry");
            }
            _ => args.push(flag),
        }
    }
    let label = format!("{} {}={value:?} {}", r.tool, r.field, flags.join(" "));

    let mut cmd = v.sim.cmd(r.tool);
    match r.cloud {
        CloudArg::Sim => {
            cmd.env("XTENANT_CLOUD", &v.cloud_file);
        }
        CloudArg::Unset => {
            let proxy = format!("http://127.0.0.1:{}", trap.port);
            cmd.env_remove("XTENANT_CLOUD")
                .env("HTTPS_PROXY", &proxy)
                .env("https_proxy", &proxy)
                .env("HTTP_PROXY", &proxy)
                .env("http_proxy", &proxy);
        }
    }
    let before = v.sim.state();
    let writes_before = v.sim.writes().len();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_cmd(cmd, &arg_refs, &line(&envelope));
    let after = v.sim.state();

    let mut failures = leaks(att, &tag, &trap);
    failures.extend(state_failures(&v, &before, &after));
    let refusal_needed = match r.want {
        Want::Refused => true,
        Want::RefusedOrIgnored => run.code != 0,
        Want::Failed(code) => {
            let got = run.objects().first().map(|o| o["error"]["code"].clone());
            if run.code != 1 || got.as_ref().and_then(Value::as_str) != Some(code) {
                failures.push(format!(
                    "the object did not fail with {code}: exit {}, {got:?}",
                    run.code
                ));
            }
            false
        }
    };
    if refusal_needed {
        // "cloud" occurs in many messages: a refusal of the envelope's cloud names its value too.
        let unnamed_cloud = r.field == "cloud" && !refusal_text(&run).contains(&value);
        if let Some(f) = refusal_failure(&run, r.field).or_else(|| {
            unnamed_cloud
                .then(|| format!("the refusal does not name the envelope's cloud {value:?}"))
        }) {
            failures.push(f);
        } else {
            let writes = v.sim.writes().len() - writes_before;
            if writes > 0 {
                failures.push(format!("refused only after {writes} write(s) to Azure"));
            }
        }
    }
    let detail = detail(&run);
    Outcome {
        label,
        finding: r.finding,
        failures,
        detail,
    }
}

/// Runs a table; prints one line per row and the figures; fails when any row failed.
#[expect(
    clippy::print_stdout,
    reason = "the matrix's rows and figures, printed as the other reliability tests print theirs"
)]
fn run_table(name: &str, rows: &[Row], with_443: bool) {
    bin_dir();
    let att = Attackers::start(with_443);
    let started = Instant::now();
    let indexed: Vec<(usize, &Row)> = rows.iter().enumerate().collect();
    // The victims' apps are made once per behaviour; each row's victim loads them.
    let made = Setups::new(rows.iter().map(|r| r.behaviour));
    let outcomes = par_map(&indexed, THREADS, |(i, r)| run_row(r, *i, &att, &made));
    // A request the attackers saw that no row's tag explains is a failure too.
    let unexplained: Vec<String> = att
        .requests()
        .into_iter()
        .filter(|q| !(0..rows.len()).any(|i| q.contains(&format!("t{i:02}q"))))
        .collect();
    let mut report = String::new();
    let mut failed = Vec::new();
    for o in &outcomes {
        if o.failures.is_empty() {
            let _ = writeln!(report, "tamper: ok   {} ({})", o.label, o.detail);
        } else {
            let _ = writeln!(
                report,
                "tamper: FAIL {} [finding {}]: {} ({})",
                o.label,
                o.finding,
                o.failures.join("; "),
                o.detail
            );
            failed.push(o.label.clone());
        }
    }
    let mut per_tool: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        match per_tool.iter_mut().find(|(t, _)| *t == r.tool) {
            Some((_, n)) => *n += 1,
            None => per_tool.push((r.tool, 1)),
        }
    }
    let tools: Vec<String> = per_tool.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let _ = writeln!(
        report,
        "figure: tamper matrix, {name}: {} cases ({}), {} refused as required, {} failing, {:.1}s{}",
        rows.len(),
        tools.join(", "),
        rows.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        match (&att.https, &att.no_https) {
            (Some(_), _) => ", attacker also on 127.0.0.1:443".to_owned(),
            (None, Some(why)) if with_443 => format!(
                ", no attacker on 127.0.0.1:443 ({why}): a login server without a port is checked for refusal only"
            ),
            _ => String::new(),
        }
    );
    print!("{report}");
    assert!(
        failed.is_empty() && unexplained.is_empty(),
        "{} of {} tampered envelopes were not refused safely:\n{report}{}",
        failed.len(),
        rows.len(),
        if unexplained.is_empty() {
            String::new()
        } else {
            format!("requests the attackers saw that no row explains: {unexplained:?}")
        }
    );
}

#[test]
fn credentials_go_only_to_the_clouds_hosts() {
    run_table("registry hosts and operation URLs", REGISTRY_HOSTS, true);
}

#[test]
fn vault_tokens_go_only_to_the_clouds_vaults() {
    run_table("Key Vault references", VAULT_REFS, false);
}

#[test]
fn grants_are_pull_only_and_to_the_apps_own_principals() {
    run_table("roles and principals", GRANTS, false);
}

#[test]
fn apps_the_flags_do_not_name_are_never_changed() {
    run_table("apps", APPS, false);
}

#[test]
fn the_cloud_is_never_chosen_by_the_envelope() {
    run_table("clouds", CLOUDS, false);
}

// ------------------------------------------------------------------ outside the tools' step code

/// Finding 6: consent-link --open starts the browser without the operator's secrets.
#[test]
fn the_browser_inherits_no_secret() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake-browser");
    let dump = dir.path().join("env.txt");
    std::fs::write(&script, "#!/bin/sh\nenv > \"$DUMP\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let secrets = [
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "cert-pw-0b6f"),
        ("AZURE_CLIENT_CERTIFICATE_PATH", "/keys/cert-path-8d1e.pem"),
        ("AZURE_FEDERATED_TOKEN_FILE", "/keys/token-file-51aa"),
        ("AZURE_PASSWORD", "user-pw-77c2"),
        ("IDENTITY_HEADER", "identity-header-3f90"),
        ("MSI_SECRET", "msi-secret-a4d5"),
        ("XTENANT_CLIENT_SECRET", "xtenant-secret-c3b8"),
        ("DEPLOY_TOKEN", "deploy-token-19e6"),
    ];
    let mut c = sim.cmd("consent-link");
    c.env("BROWSER", &script)
        .env("DUMP", &dump)
        .env("DISPLAY", ":7");
    for (k, v) in secrets {
        c.env(k, v);
    }
    let stdin = line(&json!({
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    }));
    let r = run_cmd(c, &["--open"], &stdin);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let seen = std::fs::read_to_string(&dump).expect("the fake browser ran");
    let operator_secret = sim.var("AZURE_CLIENT_SECRET");
    assert!(
        !seen.contains(&operator_secret),
        "AZURE_CLIENT_SECRET reached the browser"
    );
    for (k, v) in secrets {
        assert!(
            !seen.contains(v),
            "{k}'s value reached the browser:\n{seen}"
        );
    }
    assert!(
        seen.contains("DISPLAY=:7"),
        "the browser keeps the session: {seen}"
    );
    assert!(seen.contains(&format!("AZURE_CLIENT_ID={}", sim.var("AZURE_CLIENT_ID"))));
}

/// Values from an envelope shown on stderr cannot forge log lines: aks-sp-update names the
/// login server it checked the pull from as the envelope gave it, ESC and bidi override included.
#[test]
fn stderr_shows_envelope_values_escaped() {
    let att = Attackers::start(false);
    let v = Victim::fresh(&att);
    let mut envelope = v.envelope();
    envelope[LS] = json!("fabrikam\u{1b}[1a\u{1b}[2k\u{202e}acr.azurecr.sim");
    let mut cmd = v.sim.cmd(ASU);
    cmd.env("XTENANT_CLOUD", &v.cloud_file);
    let args = v.flags(ASU);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run_cmd(cmd, &args, &line(&envelope));
    assert_eq!(r.code, 1, "{}", r.stderr);
    for l in r.stderr.lines() {
        assert!(l.starts_with("aks-sp-update: "), "a forged line: {l:?}");
    }
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stderr.contains('\u{202e}'),
        "raw controls on stderr: {:?}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("fabrikam\\u{1b}[1a\\u{1b}[2k\\u{202e}acr.azurecr.sim"),
        "the value is shown, escaped: {}",
        r.stderr
    );
}

/// How many Owner assignments exist.
fn owners(sim: &TestSim) -> usize {
    sim.state()["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ra| last_segment(&ra["role_definition_id"]) == OWNER)
        .count()
}

/// examples/fleet.sh: a line of its input files is only ever an id's value.
#[test]
fn fleet_input_lines_cannot_add_fields() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let registry = sim.var("REGISTRY_ID");
    let cluster = sim.var("CLUSTER_ID");
    let hostile_registry = format!("{registry}\",\"role_name\":\"Owner");
    let hostile_cluster =
        format!("{cluster}\",\"cluster_sp_object_id\":\"0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    fleet_lists(
        dir.path(),
        &[&hostile_registry, &registry],
        &[&hostile_cluster, &cluster],
    );
    let owners_before = owners(&sim);
    let r = fleet_sh(&sim, dir.path(), &dir.path().join("state"), &[], "2");
    assert_eq!(
        r.code, 1,
        "the hostile lines fail, the others work:\n{}\n{}",
        r.stdout, r.stderr
    );
    let objs = r.objects();
    assert_eq!(objs.len(), 4, "{}", r.stdout);
    let hostile: Vec<&Value> = objs
        .iter()
        .filter(|o| {
            o["registry_id"] == hostile_registry.as_str()
                || o["cluster_id"] == hostile_cluster.as_str()
        })
        .collect();
    assert_eq!(
        hostile.len(),
        2,
        "each hostile line is one id value: {}",
        r.stdout
    );
    for o in &hostile {
        assert!(o["error"].is_object(), "{o}");
    }
    let by_registry = objs
        .iter()
        .find(|o| o["registry_id"] == hostile_registry.as_str())
        .unwrap();
    assert_ne!(by_registry["role_name"], "Owner", "{by_registry}");
    assert_eq!(
        owners(&sim),
        owners_before,
        "Owner was granted: {}\n{}",
        r.stdout,
        r.stderr
    );
    for o in objs.iter().filter(|o| !hostile.contains(o)) {
        assert!(o["error"].is_null(), "{o}");
    }
    assert_eq!(
        sim.sim().pull("aks-prod", &sim.var("REGISTRY_IMAGE"))["pulled"],
        true
    );
}
