//! The cluster a reset acts on: the one the person named — `--cluster` (or its three parts),
//! or the input's `cluster_id` only with `--targets-from-input`, never another than the
//! flag's (see [`common::target`]).

use common::Result;
use common::arm::ResourceId;
use common::envelope::{Envelope, fields};
use common::target::{Same, Target};

use common::arm::clusters::CLUSTER_TYPE;

use crate::Cli;

/// The cluster, the target of the reset: named by a flag, or by the input with --targets-from-input.
const CLUSTER: Target = Target {
    field: fields::CLUSTER_ID,
    flag: "--cluster ID (or -g GROUP -n NAME)",
    what: "cluster",
    write: "is reset",
    fields: &[
        fields::CLUSTER_ID.name,
        fields::CLUSTER_PROVISIONING_STATE.name,
        fields::CLUSTER_OPERATION_URL.name,
    ],
};

/// The cluster `--status --probe-image` runs its command in (a write, unlike the report).
const PROBED: Target = Target {
    write: "runs the probe's command (--status --probe-image)",
    ..CLUSTER
};

fn parse_cluster(value: &str) -> Result<ResourceId> {
    ResourceId::parse(fields::CLUSTER_ID.name, value, CLUSTER_TYPE)
}

/// The cluster of one object.
pub(crate) fn cluster(cli: &Cli, env: &Envelope) -> Result<ResourceId> {
    chosen(&CLUSTER, cli, env)
}

/// The cluster a report's probe runs its command in: named as the reset's is.
pub(crate) fn probed(cli: &Cli, env: &Envelope) -> Result<ResourceId> {
    chosen(&PROBED, cli, env)
}

fn chosen(t: &Target, cli: &Cli, env: &Envelope) -> Result<ResourceId> {
    let flag = cli
        .cluster_id()?
        .as_deref()
        .map(parse_cluster)
        .transpose()?;
    let same = |a: &ResourceId, b: &ResourceId| {
        if a.id().eq_ignore_ascii_case(&b.id()) {
            Same::Yes
        } else {
            Same::No
        }
    };
    Ok(t.choose(
        flag,
        env.str(&fields::CLUSTER_ID)?.as_deref(),
        cli.targets_from_input,
        parse_cluster,
        same,
    )?
    .target)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;
    use common::Error;

    /// A cluster's id, as ARM spells it (the inputs' tests name it too).
    pub(crate) const ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";

    /// The three flags that name [`ID`] by its parts (the subscription in another spelling).
    pub(crate) const PARTS: [&str; 6] = [
        "--resource-group",
        "rg",
        "--name",
        "aks1",
        "--cluster-subscription",
        "00000000-0000-0000-0000-00000000000A",
    ];

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once(&"aks-sp-update").chain(args)).unwrap()
    }

    fn on(args: &[&str], id: Option<&str>) -> Result<ResourceId> {
        let input = id.map_or_else(
            || "{}".to_owned(),
            |id| serde_json::json!({ "cluster_id": id }).to_string(),
        );
        cluster(&cli(args), &Envelope::parse(&input).unwrap())
    }

    fn refused(e: &Error) -> String {
        assert_eq!(
            e.kind(),
            &common::ErrorKind::Input {
                field: "cluster_id".into()
            },
            "{e}"
        );
        e.full_message()
    }

    #[test]
    fn the_cluster_is_the_one_a_flag_names() {
        let other = ID.replace("/aks1", "/aks2");
        // The flag, and the input naming the same cluster in another spelling.
        let shouted = ID.to_ascii_uppercase();
        assert_eq!(on(&["--cluster", ID], Some(&shouted)).unwrap().id(), ID);
        let parts = PARTS;
        assert_eq!(on(&parts, Some(ID)).unwrap().id(), ID);
        assert_eq!(on(&parts, None).unwrap().id(), ID);
        // Another cluster in the input: a mismatch, with --targets-from-input too.
        for flags in [
            vec!["--cluster", ID],
            parts.to_vec(),
            vec!["--cluster", ID, "--targets-from-input"],
        ] {
            let m = refused(&on(&flags, Some(&other)).unwrap_err());
            assert!(m.contains("--cluster names") && m.contains("aks2"), "{m}");
            assert!(m.contains("jq 'del(.cluster_id, "), "{m}");
        }
        // The input alone names it only with --targets-from-input.
        let m = refused(&on(&[], Some(&other)).unwrap_err());
        assert!(
            m.contains("--targets-from-input") && m.contains("aks2"),
            "{m}"
        );
        assert_eq!(
            on(&["--targets-from-input"], Some(&other)).unwrap().name,
            "aks2"
        );
        // Neither: missing, naming the flag; a malformed flag names the field.
        let m = refused(&on(&["--targets-from-input"], None).unwrap_err());
        assert!(m.contains("missing: pass --cluster"), "{m}");
        refused(&on(&["--cluster", "/subscriptions/x"], Some(ID)).unwrap_err());
    }
}
