//! `azure-sim`: run the simulator until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use azure_sim::{Leniency, SimConfig, WriteLimit, parse_duration, parse_time_scale};
use clap::Parser;

mod print_env;

/// A local simulator of the Azure endpoints the xtenant tools use.
///
/// Writes ca.pem, cloud.json and sim.env into DIR, prints one JSON line on stdout
/// (url, dir, ca_file, cloud_file, env_file, pid), then serves until SIGINT or SIGTERM.
///
/// Its default world is Azure as documented, at Azure's pace: every duration below is Azure's
/// own, and --time-scale compresses them all at once (0.01: a 15-minute reset in 9 seconds).
/// A run that needs Azure to be kinder names each leniency with --lenient.
#[derive(Debug, Parser)]
#[command(name = "azure-sim", version)]
struct Cli {
    /// Directory for ca.pem, cloud.json and sim.env (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "print_env")]
    dir: Option<PathBuf>,
    /// Print the sim.env of the simulator serving from DIR as `export` lines for a shell's
    /// `eval`, with XTENANT_AUTH=env (the operator it names), once it answers (waiting up
    /// to 10 s for it to start), then exit.
    #[arg(long, value_name = "DIR", conflicts_with = "dir")]
    print_env: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    addr: SocketAddr,
    /// A scenario file in the format of GET /_sim/state (replaces the default scenario).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Real seconds per second of Azure's time: 1 is Azure's pace, 0.01 a hundred times faster.
    #[arg(long, default_value = "1", value_parser = parse_time_scale, value_name = "SCALE")]
    time_scale: f64,
    /// How long new apps and service principals take to be seen beyond Graph (Azure's time).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    replication_delay: Duration,
    /// How long new role assignments take to reach a registry or key vault (Azure's time).
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DUR")]
    role_propagation: Duration,
    /// How long a reset's node image upgrade takes per node (Azure's time).
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DUR")]
    node_reimage_time: Duration,
    /// Every reset lasts DUR (Azure's time) instead of nodes × --node-reimage-time.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    lro_duration: Option<Duration>,
    /// How long a cluster update (a tag update) reconciles (Azure's time).
    #[arg(long, default_value = "3m", value_parser = parse_duration, value_name = "DUR")]
    cluster_update_time: Duration,
    /// Where the simulator is kinder than Azure, by name: api-versions, consent, graph-lag,
    /// secret-propagation, replication, cluster-updates (e.g. --lenient api-versions,consent).
    #[arg(long, value_parser = Leniency::parse_list, value_name = "NAME,…")]
    lenient: Option<std::collections::BTreeSet<Leniency>>,
    /// Latency added before every Azure response (real time).
    #[arg(long, default_value = "0", value_parser = parse_duration, value_name = "DUR")]
    latency: Duration,
    /// Throttle ARM writes per calling principal: RATE/BURST, RATE a second of Azure's time (e.g. 10/20).
    #[arg(long, value_name = "RATE/BURST")]
    arm_write_limit: Option<WriteLimit>,
    /// Throttle ARM reads per calling principal: RATE/BURST (ARM's: 25/250).
    #[arg(long, value_name = "RATE/BURST")]
    arm_read_limit: Option<WriteLimit>,
    /// Graph answers reads of a just-created app or service principal with 404 for this long
    /// (Azure's time; default 5s).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    graph_read_lag: Option<Duration>,
    /// Graph answers writes to a just-created app (addPassword, PATCH, its service principal)
    /// with 404 for this long (Azure's time; default 10s).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    graph_write_lag: Option<Duration>,
    /// Graph has no applications(uniqueName='…') key (as a national cloud may not).
    #[arg(long)]
    no_unique_name_key: bool,
    /// Graph has the applications(uniqueName='…') key (over a scenario without it, e.g. china.json).
    #[arg(long, conflicts_with = "no_unique_name_key")]
    unique_name_key: bool,
    /// AKS errors in the AKS RP's top-level {"code","message"} shape instead of ARM's wrapped one.
    #[arg(long)]
    aks_top_level_errors: bool,
    /// A secret addPassword just made is refused (AADSTS7000215) for this long (Azure's time;
    /// default 18s).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    secret_propagation: Option<Duration>,
}

/// The behaviour switches the flags set (over the scenario's), if any.
fn behaviour_flags(cli: &Cli) -> Option<serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (key, d) in [
        ("graph_read_lag_ms", cli.graph_read_lag),
        ("graph_write_lag_ms", cli.graph_write_lag),
        ("secret_propagation_ms", cli.secret_propagation),
    ] {
        if let Some(d) = d {
            m.insert(
                key.into(),
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX).into(),
            );
        }
    }
    if cli.no_unique_name_key || cli.unique_name_key {
        m.insert("unique_name_key".into(), cli.unique_name_key.into());
    }
    if cli.aks_top_level_errors {
        m.insert("aks_error_shape".into(), "top_level".into());
    }
    (!m.is_empty()).then_some(serde_json::Value::Object(m))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(dir) = &cli.print_env {
        return match print_env::exports(dir, Duration::from_secs(10)) {
            Ok(text) => {
                report(text.trim_end(), true);
                ExitCode::SUCCESS
            }
            Err(e) => {
                report(&format!("azure-sim: error: {e:#}"), false);
                ExitCode::FAILURE
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&format!("azure-sim: error: {e:#}"), false);
            ExitCode::FAILURE
        }
    }
}

/// The one place this binary writes: the ready line on stdout, errors on stderr.
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binary's single output path"
)]
fn report(line: &str, stdout: bool) {
    if stdout {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let scenario = match &cli.scenario {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", p.display()))?,
            )
        }
        None => None,
    };
    let behaviour = behaviour_flags(&cli);
    let cfg = SimConfig {
        dir: cli.dir.context("--dir is required")?,
        addr: cli.addr,
        scenario,
        time_scale: cli.time_scale,
        replication_delay: cli.replication_delay,
        role_propagation: cli.role_propagation,
        node_reimage_time: cli.node_reimage_time,
        lro_duration: cli.lro_duration,
        cluster_update_time: cli.cluster_update_time,
        lenient: cli.lenient.unwrap_or_default(),
        latency: cli.latency,
        arm_write_limit: cli.arm_write_limit,
        arm_read_limit: cli.arm_read_limit,
        behaviour,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let running = azure_sim::serve(cfg).await?;
        let ready = serde_json::json!({
            "url": running.url(),
            "dir": running.dir(),
            "ca_file": running.ca_pem_path(),
            "cloud_file": running.cloud_file_path(),
            "env_file": running.env_file_path(),
            "pid": std::process::id(),
        });
        report(&ready.to_string(), true);
        wait_for_signal().await?;
        running.shutdown().await;
        Ok(())
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
