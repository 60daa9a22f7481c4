//! The test kit shared by the tools' tests and the end-to-end tests.
//!
//! [`TestSim`] starts `azure-sim` in-process on an ephemeral port with its own temporary
//! directory, and runs the real tool binaries against it with a clean environment: only
//! the simulator's cloud file and operator identity, never the developer's own Azure
//! settings. Everything it starts stops when it is dropped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub use azure_sim::{Leniency, SimConfig, SimHandle};
use serde_json::Value;

pub mod steps;

pub mod azure;

pub mod world;

pub mod readme;

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

/// How fast Azure's clock runs in tests: a thousand times faster than Azure (a 15-minute reset
/// of a three-node cluster takes 0.9 s, a 30-second replication delay 30 ms). Every duration
/// stays Azure's own, in proportion; a test that needs something to last a given real time
/// sets it with [`SimConfig::azure_time`], and one that needs an hour to pass advances the
/// clock ([`SimHandle::advance`]) instead of sleeping.
pub const TIME_SCALE: f64 = 0.001;

/// A running simulator with its files, for one test.
pub struct TestSim {
    handle: SimHandle,
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What a tool run produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// stdout as text.
    pub stdout: String,
    /// stderr as text.
    pub stderr: String,
}

impl Run {
    /// stdout's lines parsed as JSON objects.
    pub fn objects(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// The single object on stdout.
    pub fn object(&self) -> Value {
        let mut o = self.objects();
        assert_eq!(
            o.len(),
            1,
            "expected one object on stdout, got {}:\n{}\nstderr:\n{}",
            o.len(),
            self.stdout,
            self.stderr
        );
        o.remove(0)
    }
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
}

/// Starts a prepared command with piped stdout and stderr, writes `stdin` to it and closes it.
///
/// An empty `stdin` is `/dev/null`, as for a step run from its flags alone (a terminal, a
/// Makefile recipe): an empty *pipe* means the step before wrote nothing, and is refused.
pub fn spawn_with_input(c: &mut Command, stdin: &str) -> std::process::Child {
    c.stdin(if stdin.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn tool");
    if let Some(mut i) = child.stdin.take() {
        // A tool may exit before reading everything (usage errors): ignore EPIPE.
        let _ = i.write_all(stdin.as_bytes());
    }
    child
}

/// Runs a prepared command with `stdin` and collects its output.
pub fn run_cmd(mut c: Command, args: &[&str], stdin: &str) -> Run {
    c.args(args);
    let child = spawn_with_input(&mut c, stdin);
    let out = child.wait_with_output().expect("wait for tool");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// When the simulator began and finished handling a logged request, in seconds since the
/// epoch: its `time` is when it answered (after any latency), `duration_ms` how long it took.
pub fn span(entry: &Value) -> (f64, f64) {
    let at = entry["time"]
        .as_str()
        .unwrap_or_else(|| panic!("a log entry without time: {entry}"));
    let end = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("the log's time {at:?}: {e}"))
        .unix_timestamp_nanos() as f64
        / 1e9;
    let took = entry["duration_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("a log entry without duration_ms: {entry}"));
    (end - took / 1000.0, end)
}

/// Whether the simulator was handling both logged requests at some moment: each began
/// before the other ended.
pub fn overlap(a: &Value, b: &Value) -> bool {
    let ((a0, a1), (b0, b1)) = (span(a), span(b));
    a0 < b1 && b0 < a1
}

/// One JSON object as an NDJSON line.
pub fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// Playing a person in a browser: the admin-consent page and the simulator's truth endpoint.
pub mod person {
    use std::path::Path;

    use anyhow::{Context as _, bail};

    /// An HTTP client that trusts the simulator's CA (`ca_pem`), uses no proxy and follows no
    /// redirect; with the resolve rules of `XTENANT_RESOLVE` (the China cloud's `sim.env`).
    pub(crate) fn client(ca_pem: &Path) -> anyhow::Result<reqwest::Client> {
        client_resolving(ca_pem, std::env::var("XTENANT_RESOLVE").ok().as_deref())
    }

    /// [`client`] with the exact-host rules of `resolve` (`HOST:443:IP:PORT`, comma-separated,
    /// as `sim.env` writes them; `*.` rules are skipped: the people of the tests reach only the
    /// login host and the control API). Only loopback addresses are taken.
    pub(crate) fn client_resolving(
        ca_pem: &Path,
        resolve: Option<&str>,
    ) -> anyhow::Result<reqwest::Client> {
        let pem = std::fs::read(ca_pem).with_context(|| format!("read {}", ca_pem.display()))?;
        let mut b = reqwest::Client::builder()
            .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        for rule in resolve.unwrap_or("").split(',').filter(|r| !r.is_empty()) {
            let mut parts = rule.splitn(3, ':');
            let (Some(host), Some("443"), Some(to)) = (parts.next(), parts.next(), parts.next())
            else {
                bail!("XTENANT_RESOLVE rule {rule:?} is not HOST:443:IP:PORT");
            };
            let addr: std::net::SocketAddr = to
                .parse()
                .with_context(|| format!("XTENANT_RESOLVE rule {rule:?}"))?;
            if !addr.ip().is_loopback() {
                bail!("XTENANT_RESOLVE rule {rule:?}: the tests reach only loopback addresses");
            }
            if !host.starts_with("*.") {
                b = b.resolve(host, addr);
            }
        }
        Ok(b.build()?)
    }

    /// The value of the attribute `name` in one tag's text (`<input a="b" c='d'>`), unescaped.
    fn attr(tag: &str, name: &str) -> Option<String> {
        let key = format!("{name}=");
        tag.match_indices(&key).find_map(|(i, _)| {
            if !tag[..i].ends_with(char::is_whitespace) {
                return None; // a longer name ending in `name`
            }
            let rest = &tag[i + key.len()..];
            let quote = rest.chars().next().filter(|q| matches!(q, '"' | '\''))?;
            let end = rest[1..].find(quote)? + 1;
            Some(html_unescape(&rest[1..end]))
        })
    }

    fn html_unescape(s: &str) -> String {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    /// The form on a consent page: where it posts, and the fields to send with `button`.
    pub fn parse_form(page: &str, button: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
        let form_start = page.find("<form").context("the page has no form")?;
        let form_tag_end = page[form_start..]
            .find('>')
            .context("unterminated form tag")?
            + form_start;
        let form_tag = &page[form_start..=form_tag_end];
        if !attr(form_tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            bail!("the form does not POST: {form_tag}");
        }
        let action = attr(form_tag, "action").context("the form has no action")?;
        let body_end = page[form_tag_end..]
            .find("</form>")
            .map_or(page.len(), |e| e + form_tag_end);
        let body = &page[form_tag_end..body_end];
        let mut fields = Vec::new();
        let mut chosen = false;
        for (i, _) in body.match_indices('<') {
            let tag_end = body[i..].find('>').map_or(body.len(), |e| e + i);
            let tag = &body[i..=tag_end.min(body.len() - 1)];
            if tag.starts_with("<input") && attr(tag, "type").as_deref() == Some("hidden") {
                if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                    fields.push((n, v));
                }
            } else if tag.starts_with("<button")
                && attr(tag, "value").is_some_and(|v| v.eq_ignore_ascii_case(button))
            {
                if let Some(n) = attr(tag, "name") {
                    fields.push((n, attr(tag, "value").unwrap_or_default()));
                }
                chosen = true;
            }
        }
        if !chosen {
            bail!("the form has no {button:?} button");
        }
        Ok((action, fields))
    }

    /// What submitting a consent form answered.
    #[derive(Debug, Clone)]
    pub struct Answer {
        /// The HTTP status (302 when the browser is sent on).
        pub status: u16,
        /// Where the browser is sent next (the `Location` header), if anywhere.
        pub location: Option<String>,
        /// The body (an error page when there is no redirect).
        pub body: String,
    }

    /// Opens a consent URL and presses `button` ("accept" or "cancel") as an administrator would;
    /// returns the answer to the form as it is. Fails when the page is not a consent form.
    pub fn submit(url: &str, ca_pem: &Path, button: &str) -> anyhow::Result<Answer> {
        submit_resolving(
            url,
            ca_pem,
            std::env::var("XTENANT_RESOLVE").ok().as_deref(),
            button,
        )
    }

    /// [`submit`] with the resolve rules `resolve` (see [`client_resolving`]).
    pub fn submit_resolving(
        url: &str,
        ca_pem: &Path,
        resolve: Option<&str>,
        button: &str,
    ) -> anyhow::Result<Answer> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let c = client_resolving(ca_pem, resolve)?;
            let page_resp = c.get(url).send().await.context("open the consent page")?;
            let status = page_resp.status();
            let page = page_resp.text().await?;
            if !status.is_success() {
                bail!(
                    "the consent page answered {status}: {}",
                    page.chars().take(300).collect::<String>()
                );
            }
            let (action, fields) = parse_form(&page, button)?;
            let target = url::Url::parse(url)?.join(&action)?;
            let resp = c
                .post(target)
                .form(&fields)
                .send()
                .await
                .context("submit the consent form")?;
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp.text().await.unwrap_or_default();
            Ok(Answer {
                status,
                location,
                body,
            })
        })
    }

    /// Opens a consent URL and presses `button` ("accept" or "cancel") as an administrator would;
    /// returns where the browser is sent next (the `Location` of the answer), which must be a redirect.
    pub fn consent(url: &str, ca_pem: &Path, button: &str) -> anyhow::Result<String> {
        consent_resolving(
            url,
            ca_pem,
            std::env::var("XTENANT_RESOLVE").ok().as_deref(),
            button,
        )
    }

    /// [`consent`] with the resolve rules `resolve` (see [`client_resolving`]).
    pub fn consent_resolving(
        url: &str,
        ca_pem: &Path,
        resolve: Option<&str>,
        button: &str,
    ) -> anyhow::Result<String> {
        let answer = submit_resolving(url, ca_pem, resolve, button)?;
        match answer.location {
            Some(l) if (300..400).contains(&answer.status) => Ok(l),
            _ => bail!(
                "the consent form answered {} without a redirect: {}",
                answer.status,
                answer.body.chars().take(300).collect::<String>()
            ),
        }
    }

    /// Asks the simulator whether `cluster` can pull `image` now: `{"pulled", "status", "reason"}`.
    pub fn can_pull(
        sim_url: &str,
        ca_pem: &Path,
        cluster: &str,
        image: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let c = client(ca_pem)?;
            let mut u =
                url::Url::parse(sim_url)?.join(&format!("/_sim/clusters/{cluster}/pull"))?;
            u.query_pairs_mut().append_pair("image", image);
            Ok(c.get(u).send().await?.error_for_status()?.json().await?)
        })
    }
}
