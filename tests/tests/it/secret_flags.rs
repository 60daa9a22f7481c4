//! A secret given to the wrong flag is refused and never repeated back (issue 19 item 2,
//! issue 18 "inputs read safely").
//!
//! A value that looks like a client secret is passed where a secret must not go — the
//! hidden `--client-secret` / `--secret`, `--client-secret-env` (which takes a variable's
//! name), `--client-secret-file` (which takes a path) — and each tool's stdout and stderr
//! are searched for it. `--client-secret-file` is also given a directory, `/dev/zero`, a
//! FIFO and a file over 4 KiB: each is refused at once, naming the flag, within `--timeout`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::steps::Step;
use xtenant_tests::{Run, TestSim, line, run_cmd};

/// Looks like an Entra client secret (40 characters, with `~`), and is not a path or a name.
const SECRET: &str = "Zq8Q~k3yV4lu3.th4t-must_n0t-b3-3ch0ed00";

/// An input object for `bin` valid up to the point where the secret is read.
/// A step's input naming its target (run with `--targets-from-input`).
fn input_for(bin: &str) -> Option<Value> {
    let tenant = "11111111-1111-1111-1111-111111111111";
    let app = "22222222-2222-2222-2222-222222222222";
    let sub = "33333333-3333-3333-3333-333333333333";
    match bin {
        "acr-grant" => Some(json!({
            "registry_tenant_id": tenant, "app_id": app,
            "registry_id": format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/fabrikamacr"),
        })),
        "aks-sp-update" => Some(json!({
            "cluster_tenant_id": tenant, "app_id": app,
            "cluster_id": format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1"),
        })),
        _ => None,
    }
}

fn assert_not_echoed(what: &str, r: &Run) {
    assert!(
        !r.stdout.contains(SECRET) && !r.stderr.contains(SECRET),
        "{what}: the value was echoed\nstdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    // Not even a recognisable piece of it.
    assert!(!r.stderr.contains("k3yV4lu3"), "{what}: {}", r.stderr);
}

#[test]
fn a_secret_on_the_command_line_is_refused_without_echo() {
    let sim = TestSim::start();
    let mut checked = 0;
    for s in Step::ALL {
        let bin = s.bin();
        let eq_client = format!("--client-secret={SECRET}");
        let eq_secret = format!("--secret={SECRET}");
        let dash = format!("-{SECRET}");
        let cases: [&[&str]; 5] = [
            &["--client-secret", SECRET],
            &[eq_client.as_str()],
            &[eq_secret.as_str()],
            &["--secret", dash.as_str()],
            &["--client-secret"],
        ];
        for args in cases {
            let r = run_cmd(sim.cmd(bin), args, "");
            let what = format!("{bin} {args:?}");
            assert_eq!(r.code, 2, "{what}: {}", r.stderr);
            assert!(r.stdout.is_empty(), "{what}: {}", r.stdout);
            assert!(
                r.stderr
                    .contains("secrets are never taken on the command line")
                    && r.stderr.contains("--client-secret-file")
                    && r.stderr.contains("--client-secret-env NAME"),
                "{what}: {}",
                r.stderr
            );
            assert_not_echoed(&what, &r);
            checked += 1;
        }
        // The flag is hidden: --help does not offer it.
        let help = run_cmd(sim.cmd(bin), &["--help"], "");
        assert!(
            !help.stdout.contains("--client-secret <") && !help.stdout.contains("--secret <"),
            "{bin}: {}",
            help.stdout
        );
    }
    assert!(sim.azure_requests().is_empty(), "nothing was sent");
    println!("figure: secret-on-argv refusals checked: {checked}");
}

#[test]
fn client_secret_env_takes_a_name_and_never_shows_a_value() {
    let sim = TestSim::start();
    for bin in ["acr-grant", "aks-sp-update"] {
        let eq = format!("--client-secret-env={SECRET}");
        for args in [vec!["--client-secret-env", SECRET], vec![eq.as_str()]] {
            let r = run_cmd(sim.cmd(bin), &args, "");
            let what = format!("{bin} {args:?}");
            assert_eq!(r.code, 2, "{what}: {}", r.stderr);
            assert!(r.stdout.is_empty());
            assert!(
                r.stderr.contains("--client-secret-env takes the NAME"),
                "{what}: {}",
                r.stderr
            );
            assert_not_echoed(&what, &r);
        }
        // A name that is not set: the error names the flag, not the name.
        let input = line(&input_for(bin).unwrap());
        let mut args = vec![
            "--targets-from-input",
            "--client-secret-env",
            "XTENANT_TEST_UNSET_VAR",
        ];
        if bin == "acr-grant" {
            args.push("--verify");
        }
        let r = run_cmd(sim.cmd(bin), &args, &input);
        assert_eq!(r.code, 1, "{bin}: {}", r.stderr);
        let out: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        let msg = out["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("--client-secret-env") && msg.contains("not set"),
            "{msg}"
        );
        assert!(!msg.contains("XTENANT_TEST_UNSET_VAR"), "{msg}");
        // And a set one is used: the run gets past the secret (it then fails for other reasons).
        let mut c = sim.cmd(bin);
        c.env("XTENANT_TEST_SECRET_VAR", SECRET);
        let mut args = vec![
            "--targets-from-input",
            "--client-secret-env",
            "XTENANT_TEST_SECRET_VAR",
        ];
        if bin == "acr-grant" {
            args.push("--verify");
        }
        let r = run_cmd(c, &args, &input);
        assert!(
            !r.stdout.contains("--client-secret-env"),
            "{bin}: {}",
            r.stdout
        );
        assert!(!r.stderr.contains(SECRET), "{bin}: {}", r.stderr);
    }
}

#[test]
fn client_secret_file_reads_only_a_small_regular_file_and_never_shows_the_path() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; 4097]).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let secret_named_dir = dir.path().join(SECRET);
    std::fs::create_dir(&secret_named_dir).unwrap();
    let cases: [(&str, &str); 6] = [
        (SECRET, "cannot read the file"),
        (secret_named_dir.to_str().unwrap(), "a directory"),
        (dir.path().to_str().unwrap(), "a directory"),
        ("/dev/zero", "a device"),
        (fifo.to_str().unwrap(), "a pipe"),
        (big.to_str().unwrap(), "at most 4096"),
    ];
    for bin in ["acr-grant", "aks-sp-update"] {
        let input = line(&input_for(bin).unwrap());
        for (path, why) in cases {
            let mut args = vec![
                "--targets-from-input",
                "--client-secret-file",
                path,
                "--timeout",
                "20s",
            ];
            if bin == "acr-grant" {
                args.push("--verify");
            }
            let started = Instant::now();
            let r = run_cmd(sim.cmd(bin), &args, &input);
            let what = format!("{bin} --client-secret-file {why}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what}: too slow"
            );
            assert_eq!(r.code, 1, "{what}: {}", r.stderr);
            let out: Value = serde_json::from_str(r.stdout.trim()).unwrap();
            let msg = out["error"]["message"].as_str().unwrap();
            assert!(
                msg.starts_with("--client-secret-file: ") && msg.contains(why),
                "{what}: {msg}"
            );
            assert_eq!(out["error"]["code"], "InvalidInput", "{what}");
            assert!(
                !msg.contains(path) && !r.stderr.contains(path),
                "{what}: {msg}"
            );
            assert_not_echoed(&what, &r);
        }
    }
    assert!(sim.azure_requests().is_empty(), "nothing was sent");
}
