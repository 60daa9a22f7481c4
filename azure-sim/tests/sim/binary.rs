//! The `azure-sim` binary: fast start, one JSON line, clean exit on SIGTERM, flag errors.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_azure-sim"))
}

#[test]
fn starts_fast_prints_one_line_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let mut child = bin()
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--lro-duration",
            "500ms",
            "--replication-delay",
            "1s",
            "--time-scale",
            "0.5",
            "--lenient",
            "replication",
            "--latency",
            "0",
            "--arm-write-limit",
            "10/20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let elapsed = t.elapsed();
    assert!(elapsed < Duration::from_secs(1), "ready after {elapsed:?}");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    for k in ["url", "dir", "ca_file", "cloud_file", "env_file", "pid"] {
        assert!(!v[k].is_null(), "{k}");
    }
    assert_eq!(v["pid"], child.id());
    assert!(v["url"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    let env = std::fs::read_to_string(v["env_file"].as_str().unwrap()).unwrap();
    assert!(env.contains("AZURE_CLIENT_SECRET=") && env.contains("REGISTRY_IMAGE="));
    assert!(std::path::Path::new(v["ca_file"].as_str().unwrap()).is_file());
    // a plain HTTPS client trusting ca.pem talks to it
    let ca = std::fs::read(v["ca_file"].as_str().unwrap()).unwrap();
    let url = v["url"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, clock) = rt.block_on(async {
        let http = crate::common::client(&ca, 0);
        let status = http
            .get(format!("{url}/_sim/state"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let clock: serde_json::Value = http
            .get(format!("{url}/_sim/clock"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (status, clock)
    });
    assert_eq!(status, 200);
    assert_eq!(clock["time_scale"], 0.5);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(code.success(), "{code:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.is_empty(), "one line only: {rest}");
}

#[test]
fn bad_flags_are_clear_errors() {
    for args in [
        vec!["--dir", "/tmp/x", "--lro-duration", "5"],
        vec!["--dir", "/tmp/x", "--arm-write-limit", "fast"],
        vec!["--lro-duration", "1s"],
        vec!["--dir", "/tmp/x", "--time-scale", "0"],
        vec!["--dir", "/tmp/x", "--time-scale", "fast"],
        vec!["--dir", "/tmp/x", "--lenient", "speed"],
        // the old opt-ins are Azure's default now: named leniencies undo them
        vec!["--dir", "/tmp/x", "--strict-api-versions"],
        vec!["--dir", "/tmp/x", "--consent-requires-permissions"],
    ] {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.is_empty());
    }
    let o = bin()
        .args(["--lro-duration", "5", "--dir", "/tmp/x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("unit"));
    let o = bin()
        .args(["--dir", "/tmp/x", "--lenient", "replication,speed"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown leniency 'speed'") && err.contains("replication"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("s.json");
    std::fs::write(&bad, "{not json").unwrap();
    let o = bin()
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--scenario",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

#[test]
fn behaviour_flags_and_the_national_scenario_reach_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let national = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/national.json");
    let child = bin()
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--scenario",
            national,
            "--graph-read-lag",
            "3s",
            "--graph-write-lag",
            "7s",
            "--secret-propagation",
            "4s",
            "--aks-top-level-errors",
            "--lenient",
            "consent",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let ca = std::fs::read(v["ca_file"].as_str().unwrap()).unwrap();
    let url = v["url"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state: serde_json::Value = rt.block_on(async {
        crate::common::client(&ca, 0)
            .get(format!("{url}/_sim/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    assert!(child.0.wait().unwrap().success());
    let b = &state["behaviour"];
    assert_eq!(b["graph_read_lag_ms"], 3000, "the flag overrides the file");
    assert_eq!(b["unique_name_key"], false, "from the file");
    assert_eq!(b["graph_write_lag_ms"], 7000);
    assert_eq!(b["secret_propagation_ms"], 4000);
    assert_eq!(b["aks_error_shape"], "top_level");
    assert_eq!(
        b["consent_requires_permissions"], false,
        "--lenient consent"
    );
    assert_eq!(b["strict_api_versions"], true, "Azure's default");
    assert!(b["api_versions"]["Microsoft.ContainerRegistry/registries"].is_array());
}

/// A child process killed when the test ends, whichever way it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every flag `--help` lists, and every leniency `--lenient` takes, is in the crate README (its
/// flags table and "Clouds and rough edges", where each default behaviour cites its source).
#[test]
fn every_flag_and_leniency_is_documented_in_the_readme() {
    let out = bin().arg("--help").output().expect("run azure-sim --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let flags: Vec<&str> = help
        .split_whitespace()
        .map(|w| w.trim_end_matches(','))
        .filter(|w| {
            w.starts_with("--")
                && w.len() > 2
                && w[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .filter(|w| !matches!(*w, "--help" | "--version"))
        .collect();
    assert!(flags.len() > 10, "{help}");
    for flag in flags {
        assert!(
            readme.contains(&format!("`{flag}")),
            "{flag} is not in azure-sim/README.md"
        );
    }
    for (name, _) in azure_sim::Leniency::ALL {
        assert!(
            readme.contains(&format!("`--lenient {name}`"))
                && readme.contains(&format!("`{name}`")),
            "leniency {name} is not in azure-sim/README.md"
        );
    }
}
