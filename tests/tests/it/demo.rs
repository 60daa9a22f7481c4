//! `make demo` as a user with their own `CARGO_TARGET_DIR` runs it: the demo finds the
//! binaries where cargo put them, not in `./target/debug`.

use std::path::Path;

use xtenant_tests::make_demo;
use xtenant_tests::steps::par_map;

#[test]
fn make_demo_works_with_cargo_target_dir_set() {
    demo(&[]);
}

/// `make demo SCENARIO=…`: the whole procedure in the shipped national-cloud scenario
/// (restricted api-versions, Graph read lag, no uniqueName key).
#[test]
fn make_demo_runs_the_national_cloud_scenario() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let file = repo.join("azure-sim/scenarios/national.json");
    let stderr = demo(&[&format!("SCENARIO={}", file.display())]);
    assert!(stderr.contains("this cloud has no api-version"), "{stderr}");
    assert!(stderr.contains("no uniqueName key"), "{stderr}");
}

/// `make demo SCENARIO=china`: the procedure in Azure China with the tools on their built-in
/// `AzureChinaCloud` table (names resolved to the simulator), ending in a pull, the consent
/// link printed as the procedure's China edition writes it; Graph with the `uniqueName` key
/// (`SIM_FLAGS=--unique-name-key`) and without it (the scenario's default).
#[test]
fn make_demo_runs_in_azure_china() {
    // The two demos side by side (each its own simulator and copy of the Makefile).
    let runs = par_map(&[false, true], 2, |&key| {
        let flags = if key {
            "SIM_FLAGS=--unique-name-key"
        } else {
            "SIM_FLAGS="
        };
        (key, make_demo(&["SCENARIO=china", flags]))
    });
    for (key, (stdout, stderr)) in runs {
        let all = format!("{stdout}\n{stderr}");
        assert!(
            stdout.contains("cloud: AzureChinaCloud (the tools' built-in table)"),
            "{stdout}"
        );
        let prefix = "https://login.chinacloudapi.cn/fabrikam-acr.onmicrosoft.com/oauth2/authorize?client_id=";
        let at = all
            .find(prefix)
            .unwrap_or_else(|| panic!("no China consent link: {all}"));
        let rest = &all[at + prefix.len()..];
        let app_id = &rest[..36];
        assert!(
            app_id.len() == 36 && app_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
            "{rest}"
        );
        assert!(
            rest[36..]
                .starts_with("&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com"),
            "{rest}"
        );
        assert!(
            stdout.contains(
                "aks-sp-update: cluster aks-prod pulled fabrikamacr.azurecr.cn/samples/hello:1.0 from inside (node "
            ),
            "the cluster itself pulled, through AKS run command: {stdout}"
        );
        assert_eq!(stderr.contains("no uniqueName key"), !key, "{stderr}");
        assert!(stderr.contains("using 2021-10-01"), "{stderr}");
    }
}

/// Runs `make demo` (with `extra` make arguments) from a copy of the Makefile; its stderr.
fn demo(extra: &[&str]) -> String {
    make_demo(extra).1
}
