//! `azure-sim`: run the simulator until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use azure_sim::{SimConfig, WriteLimit, parse_duration};
use clap::Parser;

/// A local simulator of the Azure endpoints the xtenant tools use.
///
/// Writes ca.pem, cloud.json and sim.env into DIR, prints one JSON line on stdout
/// (url, dir, ca_file, cloud_file, env_file, pid), then serves until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "azure-sim", version)]
struct Cli {
    /// Directory for ca.pem, cloud.json and sim.env (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    addr: SocketAddr,
    /// A scenario file in the format of GET /_sim/state (replaces the default scenario).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// How long new apps, service principals and role assignments take to replicate.
    #[arg(long, default_value = "0", value_parser = parse_duration, value_name = "DUR")]
    replication_delay: Duration,
    /// How long a service-principal reset operation runs.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DUR")]
    lro_duration: Duration,
    /// Latency added before every Azure response.
    #[arg(long, default_value = "0", value_parser = parse_duration, value_name = "DUR")]
    latency: Duration,
    /// Throttle ARM writes per calling principal: RATE/BURST (e.g. 10/20).
    #[arg(long, value_name = "RATE/BURST")]
    arm_write_limit: Option<WriteLimit>,
    /// Throttle ARM reads per calling principal: RATE/BURST (ARM's: 25/250).
    #[arg(long, value_name = "RATE/BURST")]
    arm_read_limit: Option<WriteLimit>,
    /// Graph answers reads of a just-created app or service principal with 404 for this long.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    graph_read_lag: Option<Duration>,
    /// Graph has no applications(uniqueName='…') key (as a national cloud may not).
    #[arg(long)]
    no_unique_name_key: bool,
    /// Graph has the applications(uniqueName='…') key (over a scenario without it, e.g. china.json).
    #[arg(long, conflicts_with = "no_unique_name_key")]
    unique_name_key: bool,
    /// Check managed-cluster and registry api-versions against the public cloud's sets.
    #[arg(long)]
    strict_api_versions: bool,
    /// AKS errors in the AKS RP's top-level {"code","message"} shape instead of ARM's wrapped one.
    #[arg(long)]
    aks_top_level_errors: bool,
    /// The consent page refuses an app that requests no permission (AADSTS650056).
    #[arg(long)]
    consent_requires_permissions: bool,
    /// A secret addPassword just made is refused (AADSTS7000215) for this long.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    secret_propagation: Option<Duration>,
}

/// The behaviour switches the flags set (over the scenario's), if any.
fn behaviour_flags(cli: &Cli) -> Option<serde_json::Value> {
    let mut m = serde_json::Map::new();
    if let Some(d) = cli.graph_read_lag {
        m.insert(
            "graph_read_lag_ms".into(),
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).into(),
        );
    }
    if cli.no_unique_name_key || cli.unique_name_key {
        m.insert("unique_name_key".into(), cli.unique_name_key.into());
    }
    if cli.strict_api_versions {
        m.insert("strict_api_versions".into(), true.into());
    }
    if cli.aks_top_level_errors {
        m.insert("aks_error_shape".into(), "top_level".into());
    }
    if cli.consent_requires_permissions {
        m.insert("consent_requires_permissions".into(), true.into());
    }
    if let Some(d) = cli.secret_propagation {
        m.insert(
            "secret_propagation_ms".into(),
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).into(),
        );
    }
    (!m.is_empty()).then_some(serde_json::Value::Object(m))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        dir: cli.dir,
        addr: cli.addr,
        scenario,
        replication_delay: cli.replication_delay,
        lro_duration: cli.lro_duration,
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
