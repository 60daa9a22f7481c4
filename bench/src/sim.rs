//! azure-sim as a separate process (its release binary, with its flags), and its control API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

/// The simulator's flags for one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimFlags {
    /// `--latency` in milliseconds.
    pub(crate) latency_ms: u64,
    /// `--replication-delay` in milliseconds.
    pub(crate) replication_ms: u64,
    /// `--lro-duration` in milliseconds.
    pub(crate) lro_ms: u64,
    /// `--arm-write-limit RATE/BURST`.
    pub(crate) write_limit: Option<(u32, u32)>,
    /// `--arm-read-limit RATE/BURST`.
    pub(crate) read_limit: Option<(u32, u32)>,
}

impl SimFlags {
    /// The flags as azure-sim takes them. A new role assignment reaches a registry after the
    /// replication delay too; Graph's read and write lags and a new secret's propagation are
    /// off, so that what a section measures is the delay it sets (they have defaults of
    /// seconds to minutes, which would otherwise add to every wait).
    pub(crate) fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--latency".to_owned(),
            format!("{}ms", self.latency_ms),
            "--replication-delay".to_owned(),
            format!("{}ms", self.replication_ms),
            "--role-propagation".to_owned(),
            format!("{}ms", self.replication_ms),
            "--graph-read-lag".to_owned(),
            "0ms".to_owned(),
            "--graph-write-lag".to_owned(),
            "0ms".to_owned(),
            "--secret-propagation".to_owned(),
            "0ms".to_owned(),
            "--lro-duration".to_owned(),
            format!("{}ms", self.lro_ms),
        ];
        if let Some((rate, burst)) = self.write_limit {
            a.push("--arm-write-limit".to_owned());
            a.push(format!("{rate}/{burst}"));
        }
        if let Some((rate, burst)) = self.read_limit {
            a.push("--arm-read-limit".to_owned());
            a.push(format!("{rate}/{burst}"));
        }
        a
    }
}

/// A running azure-sim process; killed when dropped.
pub(crate) struct Sim {
    child: Child,
    _dir: tempfile::TempDir,
    url: String,
    ca: PathBuf,
    env: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Sim {
    /// Starts `azure-sim` from `bin_dir` with `flags` (and a scenario file, if given).
    pub(crate) fn start(
        bin_dir: &Path,
        flags: &SimFlags,
        scenario: Option<&Value>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut cmd = Command::new(bin_dir.join("azure-sim"));
        cmd.arg("--dir")
            .arg(dir.path().join("sim"))
            .args(flags.args());
        if let Some(s) = scenario {
            let f = dir.path().join("scenario.json");
            std::fs::write(&f, serde_json::to_vec(s)?)?;
            cmd.arg("--scenario").arg(f);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {}", bin_dir.join("azure-sim").display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("azure-sim stdout")?).read_line(&mut line)?;
        let ready: Value = serde_json::from_str(line.trim())
            .with_context(|| format!("azure-sim did not start: {line:?}"))?;
        let s = |k: &str| ready[k].as_str().map(str::to_owned).context(k.to_owned());
        let url = s("url")?;
        let ca = PathBuf::from(s("ca_file")?);
        let env = parse_env(&std::fs::read_to_string(s("env_file")?)?);
        let pem = std::fs::read(&ca)?;
        common::http::install_crypto();
        let client = reqwest::Client::builder()
            .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?)
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            child,
            _dir: dir,
            url,
            ca,
            env,
            rt,
            client,
        })
    }

    /// A simulator answering each request after `latency_ms`, with the default flags otherwise.
    pub(crate) fn at_latency(bin_dir: &Path, latency_ms: u64) -> anyhow::Result<Self> {
        let flags = SimFlags {
            latency_ms,
            ..SimFlags::default()
        };
        Self::start(bin_dir, &flags, None)
    }

    /// The default scenario's tenants: the cluster's (A) and the registry's (B).
    pub(crate) fn tenants(&self) -> (String, String) {
        (
            self.var("CLUSTER_TENANT_ID"),
            self.var("REGISTRY_TENANT_ID"),
        )
    }

    /// One `sim.env` value.
    pub(crate) fn var(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The CA file.
    pub(crate) fn ca(&self) -> &Path {
        &self.ca
    }

    fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            let r = self.client.request(method, &url).send().await?;
            if !r.status().is_success() {
                bail!("{url}: {}", r.status());
            }
            let bytes = r.bytes().await?;
            Ok(if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)?
            })
        })
    }

    /// The request log since the last clear.
    pub(crate) fn requests(&self) -> anyhow::Result<Vec<Value>> {
        match self.call(reqwest::Method::GET, "/_sim/requests")? {
            Value::Array(a) => Ok(a),
            other => bail!("unexpected request log: {other}"),
        }
    }

    /// Clears the request log.
    pub(crate) fn clear_requests(&self) -> anyhow::Result<()> {
        self.call(reqwest::Method::DELETE, "/_sim/requests")
            .map(|_| ())
    }

    /// The whole state.
    pub(crate) fn state(&self) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, "/_sim/state")
    }

    /// Whether `cluster` can pull `image` now (the simulator's truth endpoint).
    pub(crate) fn pulls(&self, cluster: &str, image: &str) -> anyhow::Result<bool> {
        let mut u = url::Url::parse(&self.url)?.join(&format!("/_sim/clusters/{cluster}/pull"))?;
        u.query_pairs_mut().append_pair("image", image);
        let path = format!("{}?{}", u.path(), u.query().unwrap_or(""));
        Ok(self.call(reqwest::Method::GET, &path)?["pulled"] == Value::Bool(true))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `KEY=value` lines (values single-quoted when needed).
fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map_or_else(|| v.to_owned(), |v| v.replace("'\\''", "'"));
            (k.trim().to_owned(), v)
        })
        .collect()
}
