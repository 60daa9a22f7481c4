//! Running the tools' release binaries as separate processes, as users run them.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use serde_json::Value;

use crate::log::{self, Req};
use crate::sim::Sim;

/// The four tools, in pipeline order.
pub(crate) const TOOLS: [&str; 4] = [
    "entra-app-create",
    "consent-link",
    "acr-grant",
    "aks-sp-update",
];

/// The four steps of one run, with the flags of the e2e pipeline.
pub(crate) fn steps(sim: &Sim, display_name: &str) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            "entra-app-create",
            vec![
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--display-name".into(),
                display_name.into(),
            ],
        ),
        (
            "consent-link",
            vec![
                "--registry-tenant".into(),
                sim.var("REGISTRY_TENANT_ID"),
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--create".into(),
            ],
        ),
        (
            "acr-grant",
            vec![
                "--registry-tenant".into(),
                sim.var("REGISTRY_TENANT_ID"),
                "--registry".into(),
                sim.var("REGISTRY_ID"),
                "--verify".into(),
                "--image".into(),
                sim.var("REGISTRY_IMAGE"),
            ],
        ),
        (
            "aks-sp-update",
            vec![
                "--cluster-tenant".into(),
                sim.var("CLUSTER_TENANT_ID"),
                "--cluster".into(),
                sim.var("CLUSTER_ID"),
            ],
        ),
    ]
}

/// What one process run produced.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Exit code (-1 when killed).
    pub(crate) code: i32,
    /// stdout.
    pub(crate) stdout: String,
    /// stderr.
    pub(crate) stderr: String,
    /// From spawn to exit.
    pub(crate) wall: Duration,
    /// When it had exited (wall clock).
    pub(crate) ended: SystemTime,
}

impl Run {
    /// An error naming `what` with its exit code and output, unless it exited 0.
    pub(crate) fn ok(&self, what: &str) -> anyhow::Result<()> {
        if self.code != 0 {
            anyhow::bail!(
                "{what} exited {}:\n{}\n{}",
                self.code,
                self.stderr.trim(),
                self.stdout.trim()
            );
        }
        Ok(())
    }

    /// stdout's lines as JSON objects.
    pub(crate) fn objects(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Where the binaries are, and the simulator they act on.
pub(crate) struct Tools<'a> {
    /// `target/release`.
    pub(crate) bin_dir: PathBuf,
    /// The simulator.
    pub(crate) sim: &'a Sim,
}

impl<'a> Tools<'a> {
    /// The binaries in `bin_dir`, acting on `sim`.
    pub(crate) fn new(bin_dir: &Path, sim: &'a Sim) -> Self {
        Self {
            bin_dir: bin_dir.to_path_buf(),
            sim,
        }
    }

    /// A command for `bin` with a clean environment pointing at the simulator (the operator identity).
    pub(crate) fn cmd(&self, bin: &str) -> Command {
        tool_cmd(&self.bin_dir, bin, Some(self.sim))
    }

    /// Runs `bin args` with `stdin`; measures the wall time from spawn to exit.
    pub(crate) fn run(&self, bin: &str, args: &[String], stdin: &str) -> anyhow::Result<Run> {
        run_cmd(self.cmd(bin), args, stdin)
    }

    /// Runs `bin args` on `stdin` as one measured step: the simulator's request log cleared
    /// first, the run checked (exit 0); with the requests it sent.
    pub(crate) fn step(
        &self,
        bin: &str,
        args: &[String],
        stdin: &str,
    ) -> anyhow::Result<(Run, Vec<Req>)> {
        self.sim.clear_requests()?;
        let r = self.run(bin, args, stdin)?;
        r.ok(bin)?;
        Ok((r, log::parse(&self.sim.requests()?)))
    }

    /// [`Self::pipeline`] measured as [`Self::step`] is.
    pub(crate) fn piped(&self, steps: &[(&str, Vec<String>)]) -> anyhow::Result<(Run, Vec<Req>)> {
        self.sim.clear_requests()?;
        let p = self.pipeline(steps)?;
        p.ok("the pipe")?;
        Ok((p, log::parse(&self.sim.requests()?)))
    }

    /// Runs the four steps as one pipeline of processes (stdout to stdin), as a shell would.
    pub(crate) fn pipeline(&self, steps: &[(&str, Vec<String>)]) -> anyhow::Result<Run> {
        let t0 = Instant::now();
        let mut children = Vec::new();
        let mut prev: Option<std::process::ChildStdout> = None;
        for (bin, args) in steps {
            let mut c = self.cmd(bin);
            c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
            c.stdin(prev.take().map_or_else(Stdio::null, Stdio::from));
            let mut child = c.spawn().with_context(|| format!("spawn {bin}"))?;
            prev = child.stdout.take();
            children.push(child);
        }
        let errs: Vec<_> = children
            .iter_mut()
            .map(|ch| {
                let mut e = ch.stderr.take().expect("stderr piped");
                std::thread::spawn(move || {
                    let mut s = String::new();
                    let _ = e.read_to_string(&mut s);
                    s
                })
            })
            .collect();
        let mut stdout = String::new();
        prev.context("no steps")?.read_to_string(&mut stdout)?;
        let mut code = 0;
        for ch in &mut children {
            code = ch.wait()?.code().unwrap_or(-1);
        }
        let wall = t0.elapsed();
        let stderr = errs
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect();
        Ok(Run {
            code,
            stdout,
            stderr,
            wall,
            ended: SystemTime::now(),
        })
    }

    /// Runs `bin` and, when its stderr shows the consent link, plays tenant B's administrator:
    /// waits `admin_delay`, then opens the link and accepts.
    pub(crate) fn run_with_admin(
        &self,
        bin: &str,
        args: &[String],
        stdin: &str,
        admin_delay: Duration,
    ) -> anyhow::Result<Run> {
        let (mut child, t0, writer) = spawn_fed(self.cmd(bin), args, stdin)?;
        let err = child.stderr.take().expect("stderr piped");
        let ca = self.sim.ca().to_path_buf();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let mut accepted = false;
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if !accepted
                    && let Some(start) = l.find("https://")
                    && l.contains("/oauth2/authorize?")
                {
                    let url = l[start..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    std::thread::sleep(admin_delay);
                    if let Err(e) = xtenant_tests::person::consent(&url, &ca, "accept") {
                        let _ = writeln!(text, "bench: the administrator could not accept: {e:#}");
                    }
                    accepted = true;
                }
                text.push_str(&l);
                text.push('\n');
            }
            text
        });
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .expect("stdout piped")
            .read_to_string(&mut stdout)?;
        let code = child.wait()?.code().unwrap_or(-1);
        let wall = t0.elapsed();
        let ended = SystemTime::now();
        let _ = writer.join();
        let stderr = reader.join().unwrap_or_default();
        Ok(Run {
            code,
            stdout,
            stderr,
            wall,
            ended,
        })
    }
}

/// A command for a workspace binary with a clean environment (and the simulator's, when given).
pub(crate) fn tool_cmd(bin_dir: &Path, bin: &str, sim: Option<&Sim>) -> Command {
    let mut c = Command::new(bin_dir.join(bin));
    c.env_clear();
    for key in [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        if let Some(v) = std::env::var_os(key) {
            c.env(key, v);
        }
    }
    c.env("NO_COLOR", "1");
    if let Some(sim) = sim {
        c.env("XTENANT_CLOUD", sim.var("XTENANT_CLOUD"))
            .env("XTENANT_AUTH", "env")
            .env("AZURE_CLIENT_ID", sim.var("AZURE_CLIENT_ID"))
            .env("AZURE_CLIENT_SECRET", sim.var("AZURE_CLIENT_SECRET"));
    }
    c
}

/// Runs a prepared command with `stdin` (written on its own thread) and collects its output.
pub(crate) fn run_cmd(c: Command, args: &[String], stdin: &str) -> anyhow::Result<Run> {
    let (child, t0, writer) = spawn_fed(c, args, stdin)?;
    let out = child.wait_with_output()?;
    let wall = t0.elapsed();
    let ended = SystemTime::now();
    let _ = writer.join();
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        wall,
        ended,
    })
}

/// Spawns `c` with `args`, stdout and stderr piped and `stdin` written on its own thread (the
/// writer); returns the child, when it was spawned, and the writer.
fn spawn_fed(
    mut c: Command,
    args: &[String],
    stdin: &str,
) -> anyhow::Result<(Child, Instant, JoinHandle<()>)> {
    // No input is /dev/null (a run from the flags); an empty pipe is refused.
    c.args(args)
        .stdin(if stdin.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = c.spawn().context("spawn")?;
    let input = stdin.to_owned();
    let i = child.stdin.take();
    let writer = std::thread::spawn(move || {
        // A tool may exit before reading everything: ignore EPIPE.
        if let Some(mut i) = i {
            let _ = i.write_all(input.as_bytes());
        }
    });
    Ok((child, t0, writer))
}

/// One step of a [`repetition`], as it ran.
pub(crate) struct Step<'a> {
    /// Its place in the pipeline (0 to 3).
    pub(crate) k: usize,
    /// The tool.
    pub(crate) bin: &'a str,
    /// Its flags.
    pub(crate) flags: &'a [String],
    /// The run (checked: exit 0).
    pub(crate) run: &'a Run,
    /// The requests it sent.
    pub(crate) reqs: &'a [Req],
}

/// The pipe of a [`repetition`]: its run, its requests, and the simulator's tenants (A, B).
pub(crate) struct Piped {
    pub(crate) run: Run,
    pub(crate) reqs: Vec<Req>,
    pub(crate) tenants: (String, String),
}

/// One repetition at `latency_ms`: the four steps one after another, each on the previous
/// one's output, `each` told of every step (with the tools, to rerun it); then the four as one
/// pipe. Each on a fresh simulator: step 4 moves the cluster to the run's new app, and
/// aks-sp-update refuses to move it on to another app unasked.
pub(crate) fn repetition(
    bin_dir: &Path,
    latency_ms: u64,
    name: &str,
    mut each: impl FnMut(&Tools<'_>, &Step<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Piped> {
    {
        let sim = Sim::at_latency(bin_dir, latency_ms)?;
        let tools = Tools::new(bin_dir, &sim);
        let mut input = String::new();
        for (k, (bin, flags)) in steps(&sim, name).into_iter().enumerate() {
            let (run, reqs) = tools.step(bin, &flags, &input)?;
            let step = Step {
                k,
                bin,
                flags: &flags,
                run: &run,
                reqs: &reqs,
            };
            each(&tools, &step)?;
            input = run.stdout;
        }
    }
    let sim = Sim::at_latency(bin_dir, latency_ms)?;
    let (run, reqs) = Tools::new(bin_dir, &sim).piped(&steps(&sim, &format!("{name}-piped")))?;
    Ok(Piped {
        run,
        reqs,
        tenants: sim.tenants(),
    })
}
