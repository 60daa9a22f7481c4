//! Plays the people of the demo against azure-sim: tenant B's administrator who opens
//! the consent link and accepts, and the operator who asks whether the cluster can pull.
//!
//! `sim-person accept <consent-url>` (or `sim-person accept < envelope.json`: the link in
//! the object's `consent_url`) and `sim-person can-pull <cluster> <image>`; the simulator's
//! URL and CA come from `SIM_URL` and `SIM_CA_FILE` (its `sim.env`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// How `sim-person` ends: the exit code a script (the demo, the README's quick start) reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 0: accepted, or the cluster can pull.
    Yes,
    /// 1: the cluster cannot pull (the reason is printed).
    No,
    /// 2: the question could not be asked: usage, input, or the simulator's answer.
    Error,
}

impl From<Answer> for ExitCode {
    fn from(a: Answer) -> Self {
        Self::from(match a {
            Answer::Yes => 0,
            Answer::No => 1,
            Answer::Error => 2,
        })
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ca = PathBuf::from(std::env::var("SIM_CA_FILE").unwrap_or_default());
    let sim = std::env::var("SIM_URL").unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["accept"] => consent_url_on_stdin().and_then(|url| {
            xtenant_tests::person::consent(&url, &ca, "accept").map(|loc| accepted(&loc))
        }),
        ["accept", url] => {
            xtenant_tests::person::consent(url, &ca, "accept").map(|loc| accepted(&loc))
        }
        ["can-pull", cluster, image] => xtenant_tests::person::can_pull(&sim, &ca, cluster, image)
            .map(|v| {
                if v["pulled"].as_bool() == Some(true) {
                    format!("Yes: cluster {cluster} can now pull {image}.")
                } else {
                    format!(
                        "No: cluster {cluster} cannot pull {image} ({}).",
                        v["reason"].as_str().unwrap_or("no reason given")
                    )
                }
            }),
        _ => Err(anyhow::anyhow!(
            "usage: sim-person accept [<consent-url>] | sim-person can-pull <cluster> <image>"
        )),
    };
    match result {
        Ok(text) => {
            let _ = writeln!(out, "{text}");
            if text.starts_with("No:") {
                Answer::No.into()
            } else {
                Answer::Yes.into()
            }
        }
        Err(e) => {
            let _ = writeln!(err, "sim-person: {e:#}");
            Answer::Error.into()
        }
    }
}

/// What the administrator saw after accepting: the page the browser went on to, without the
/// code it carries.
fn accepted(loc: &str) -> String {
    let page = loc.split('?').next().unwrap_or(loc);
    format!("tenant B's administrator accepted; the browser went on to {page}")
}

/// The `consent_url` of the one object on stdin (consent-link's output).
fn consent_url_on_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
    let v: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
        anyhow::anyhow!("stdin is not consent-link's output (one JSON object): {e}")
    })?;
    v["consent_url"].as_str().map(str::to_owned).ok_or_else(|| {
        anyhow::anyhow!("the object on stdin has no consent_url: run consent-link first")
    })
}
