//! The test kit shared by the tools' tests and the end-to-end tests.
//!
//! [`TestSim`] starts `azure-sim` in-process on an ephemeral port with its own temporary
//! directory, and runs the real tool binaries against it with a clean environment: only
//! the simulator's cloud file and operator identity, never the developer's own Azure
//! settings. Everything it starts stops when it is dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub use azure_sim::{Leniency, SimConfig, SimHandle, sp_cluster};
use serde_json::Value;

pub mod steps;

pub mod clock;

pub mod azure;

pub mod world;

pub mod snapshot;

pub mod readme;

pub mod person;

pub mod envelope;

mod in_process;
pub use envelope::{Envelope, said};

mod run;
pub use run::{
    Run, ended, interrupt, line, overlap, run_cmd, run_on_empty_pipe, span, spawn_with_input,
    wait_until,
};

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XTENANT_BIN_DIR") {
        return PathBuf::from(d);
    }
    // target/debug/deps/<test binary> → target/debug
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("deps dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The workspace's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The machine's trust store as the tools under test see it (`SSL_CERT_FILE`): one public
/// root (ISRG Root X1), never the simulator's CA. A tool trusts the simulator only where its
/// cloud says so (`ca_file`), as on a user's machine; and it does not read and parse the
/// machine's few hundred roots at every start.
pub fn system_roots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/system-roots.pem")
}

/// What `make demo` needs — the Makefile, `scripts/demo.sh`, the simulator's scenarios —
/// copied into a new folder with no `target/` of its own.
pub fn demo_copy() -> tempfile::TempDir {
    let repo = repo_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = |from: &std::path::Path, to: PathBuf| {
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    };
    std::fs::create_dir(dir.path().join("scripts")).expect("mkdir scripts");
    copy(&repo.join("Makefile"), dir.path().join("Makefile"));
    copy(
        &repo.join("scripts/demo.sh"),
        dir.path().join("scripts/demo.sh"),
    );
    let scenarios = dir.path().join("azure-sim/scenarios");
    std::fs::create_dir_all(&scenarios).expect("mkdir azure-sim/scenarios");
    for f in std::fs::read_dir(repo.join("azure-sim/scenarios")).expect("azure-sim/scenarios") {
        let f = f.expect("a scenario").path();
        copy(&f, scenarios.join(f.file_name().expect("a file name")));
    }
    dir
}

/// Runs `make demo` (with `extra` make arguments) from a copy of the Makefile, the demo script
/// and the shipped scenarios ([`demo_copy`]; the binaries already built); its stdout and stderr,
/// once it succeeded and ended with the cluster's own pull.
pub fn make_demo(extra: &[&str]) -> (String, String) {
    // A copy of the Makefile and the demo script in a folder with no target/ of its own, so
    // that only CARGO_TARGET_DIR can lead the demo to the binaries.
    let dir = demo_copy();
    let target = bin_dir().parent().unwrap().to_path_buf();
    // stdin an empty pipe, as some CI runners give a job: step 1 must still run on its flags.
    let child = Command::new("make")
        .current_dir(dir.path())
        // The binaries are built already (make test builds them first); `true` stands in
        // for cargo so the copy does not start a build of its own.
        // Azure's durations compressed further than the demo's own 0.01: the reset in 0.18 s,
        // the role's propagation in 0.12 s, the administrator's reading of the link 20 ms.
        .args(["-s", "demo", "CARGO=true", "TIME_SCALE=0.0002"])
        .args(extra)
        .env("CARGO_TARGET_DIR", &target)
        // Run from `make check` (a make above this one), the inherited flags would print
        // "make[2]: Entering directory" lines around the demo's own.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("XTENANT_CLOUD")
        .env_remove("AZURE_CLIENT_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The last line is the probe's: the cluster itself pulled, through AKS run command.
    let last = stdout.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        last.starts_with("aks-sp-update: cluster aks-prod pulled ")
            && last.contains("/samples/hello:1.0 from inside (node aks-nodepool1-"),
        "the demo ends with the cluster's own pull: {last:?}\n{stdout}\n{stderr}"
    );
    (stdout.into_owned(), stderr.into_owned())
}

/// The path of a workspace binary; panics with a clear message when it was not built.
pub fn bin_path(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build --workspace --bins` (or `make test`)",
        p.display()
    );
    p
}

/// How fast Azure's clock runs in tests: five thousand times faster than Azure (a 15-minute
/// reset of a three-node cluster takes 0.18 s, ten minutes of role propagation 0.12 s, a
/// 30-second replication delay 6 ms), so that no test waits a second for Azure. Every duration
/// stays Azure's own, in proportion; a test that needs something to last a given real time
/// sets it with [`SimConfig::azure_time`], and one that needs an hour to pass advances the
/// clock ([`SimHandle::advance`]) instead of sleeping.
pub const TIME_SCALE: f64 = 0.0002;

/// A running simulator with its files, for one test.
pub struct TestSim {
    handle: SimHandle,
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl TestSim {
    /// A simulator of Azure as documented (the default scenario, realistic durations), its
    /// clock compressed by [`TIME_SCALE`].
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// The same, with the config `f` adjusts (a leniency by name, delays, scenario, limits).
    pub fn start_with(f: impl FnOnce(&mut SimConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = SimConfig::new(dir.path());
        cfg.time_scale = TIME_SCALE;
        f(&mut cfg);
        let handle = azure_sim::spawn(cfg).expect("start azure-sim");
        let env = handle.env();
        Self {
            handle,
            _dir: dir,
            env,
        }
    }

    /// The simulator itself (state, requests, faults, truth endpoint).
    pub fn sim(&self) -> &SimHandle {
        &self.handle
    }

    /// A value from `sim.env` (e.g. `CLUSTER_TENANT_ID`).
    pub fn var(&self, key: &str) -> String {
        self.var_opt(key)
            .unwrap_or_else(|| panic!("sim.env has no {key}"))
    }

    /// A value from `sim.env`, if it has one (`XTENANT_RESOLVE` only in the China cloud).
    pub fn var_opt(&self, key: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// A command for a workspace binary with a clean environment pointing at this simulator:
    /// `XTENANT_CLOUD`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` (the operator), `XTENANT_AUTH=env`,
    /// and for the China cloud `XTENANT_RESOLVE` and `XTENANT_CA_FILE` (its names to the simulator).
    pub fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::new(bin_path(bin));
        c.env_clear();
        for key in ["PATH", "HOME", "TMPDIR", "LANG"] {
            if let Some(v) = std::env::var_os(key) {
                c.env(key, v);
            }
        }
        c.env("XTENANT_CLOUD", self.var("XTENANT_CLOUD"))
            .env("SSL_CERT_FILE", system_roots())
            .env("XTENANT_AUTH", "env")
            .env("AZURE_CLIENT_ID", self.var("AZURE_CLIENT_ID"))
            .env("AZURE_CLIENT_SECRET", self.var("AZURE_CLIENT_SECRET"))
            .env("NO_COLOR", "1");
        for key in ["XTENANT_RESOLVE", "XTENANT_CA_FILE"] {
            if let Some(v) = self.var_opt(key) {
                c.env(key, v);
            }
        }
        c
    }

    /// `program` (`sh`, `bash`, `make`) as a user's shell runs it: in the repository, with a
    /// clean environment but `HOME`, the built tools first on `PATH`, and this simulator's
    /// cloud and operator (as [`TestSim::cmd`] gives a tool).
    pub fn shell(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("SSL_CERT_FILE", system_roots())
            .env("XTENANT_AUTH", "env")
            .env("NO_COLOR", "1")
            .current_dir(repo_root());
        for key in ["XTENANT_CLOUD", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"] {
            c.env(key, self.var(key));
        }
        for key in ["XTENANT_RESOLVE", "XTENANT_CA_FILE"] {
            if let Some(v) = self.var_opt(key) {
                c.env(key, v);
            }
        }
        c
    }

    /// The same command acting as the read-only identity.
    pub fn cmd_as_reader(&self, bin: &str) -> Command {
        let mut c = self.cmd(bin);
        c.env("AZURE_CLIENT_ID", self.var("READER_CLIENT_ID"))
            .env("AZURE_CLIENT_SECRET", self.var("READER_CLIENT_SECRET"));
        c
    }

    /// Runs `bin args` with `stdin` as input (empty string: stdin is empty, not a terminal).
    pub fn run(&self, bin: &str, args: &[&str], stdin: &str) -> Run {
        run_cmd(self.cmd(bin), args, stdin)
    }

    /// The request log.
    pub fn requests(&self) -> Vec<Value> {
        self.handle.requests()
    }

    /// Waits (up to 20 s of real time) until the request log holds a request `matches` says
    /// is the one; panics naming `what` with the log.
    #[track_caller]
    pub fn until_logged(&self, what: &str, matches: impl Fn(&Value) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.requests().iter().any(&matches) {
            assert!(
                std::time::Instant::now() < deadline,
                "never logged: {what}\n{:#?}",
                self.requests()
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// The writes (anything but GET/HEAD) Azure saw, control endpoints and token requests excluded.
    pub fn writes(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                let m = r["method"].as_str().unwrap_or("");
                let p = r["path"].as_str().unwrap_or("");
                !matches!(m, "GET" | "HEAD") && !p.starts_with("/_sim") && !p.contains("/oauth2/")
            })
            .collect()
    }

    /// How many cluster resets (`POST …/resetServicePrincipalProfile`) Azure saw.
    pub fn resets(&self) -> usize {
        self.writes().iter().filter(|r| is_reset(r, "")).count()
    }

    /// How many resets of `cluster` (its ARM id) Azure accepted (202), anyone's.
    pub fn resets_accepted(&self, cluster: &str) -> usize {
        self.writes()
            .iter()
            .filter(|r| is_reset(r, cluster) && r["status"] == 202)
            .count()
    }

    /// Every request but those to `/_sim/` (what the tools sent).
    pub fn azure_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| !r["path"].as_str().unwrap_or("").starts_with("/_sim"))
            .collect()
    }

    /// The full state.
    pub fn state(&self) -> Value {
        self.handle.state()
    }

    /// The app (as the state has it) whose `uniqueName` is `name`.
    #[track_caller]
    pub fn app_by_unique_name(&self, name: &str) -> Value {
        self.state()["applications"]
            .as_array()
            .expect("applications")
            .iter()
            .find(|a| a["unique_name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no app with uniqueName {name}"))
    }

    /// One collection of the state (`applications`, `clusters`, …) as `state()[name]` has it,
    /// without serializing the rest of the world ([`SimHandle::state_of`]).
    pub fn collection(&self, name: &str) -> Value {
        self.handle.state_of(&[name])[name].take()
    }
}

/// Whether a logged request is a reset (`POST …/resetServicePrincipalProfile`) of the cluster
/// with the ARM id `cluster` (of any cluster: `""`), in any case.
fn is_reset(r: &Value, cluster: &str) -> bool {
    let path = r["path"].as_str().unwrap_or("").to_ascii_lowercase();
    let Some(of) = path.strip_suffix("/resetserviceprincipalprofile") else {
        return false;
    };
    r["method"] == "POST" && (cluster.is_empty() || of == cluster.to_ascii_lowercase())
}
