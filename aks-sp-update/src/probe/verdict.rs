//! Reading a probe's result: the run command's state and exit code, and the report its
//! script prints last; and what the kubelet's message says about why a pull failed.
//!
//! The logs are the cluster's answer and carry text from the registry (inside the kubelet's
//! messages): they are data. "Pulled" needs the command to have run, exit 0, *and* report a
//! `Pulled` event; the report lines are read from the end (the script prints them after
//! every message that could imitate one).

use serde::Serialize;

/// The kubelet's verdict on the probe's pull, as written to `cluster_pull_probe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The image the pod ran.
    pub image: String,
    /// Whether the kubelet pulled it.
    pub pulled: bool,
    /// The node the pod ran on, if it got one.
    pub node: Option<String>,
    /// When the verdict came (RFC 3339, UTC).
    pub at: String,
    /// The kubelet's message (its `Pulled` event, or why it could not pull).
    pub message: String,
}

/// What a finished run command says about the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The kubelet pulled the image (the `Pulled` event's message), on `node`.
    Pulled {
        node: Option<String>,
        message: String,
    },
    /// The kubelet could not pull it: its reason (`ErrImagePull`, …) and message.
    NotPulled {
        node: Option<String>,
        reason: String,
        message: String,
    },
    /// The pod got no verdict in time (never scheduled, or still pulling).
    Undecided { tail: String },
    /// The probe's pod could not be made, or the script did not end as written.
    Broken { exit_code: i64, tail: String },
}

/// The value of the last `xtenant-probe: key=` line of `logs`.
fn last(logs: &str, key: &str) -> Option<String> {
    let prefix = format!("xtenant-probe: {key}=");
    logs.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_owned())
}

/// The last lines of `logs`, at most 600 characters: what a refusal shows.
pub(crate) fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    let text = lines[lines.len().saturating_sub(6)..].join(" | ");
    let n = text.chars().count();
    if n > 600 {
        format!("…{}", text.chars().skip(n - 600).collect::<String>())
    } else {
        text
    }
}

/// Reads the script's report from a command that ran and exited with `exit_code`.
pub(crate) fn read(exit_code: i64, logs: &str) -> Outcome {
    let some = |v: Option<String>| v.filter(|s| !s.is_empty());
    let node = some(last(logs, "node"));
    let pulled = some(last(logs, "pulled"));
    let reason = some(last(logs, "reason"));
    match (exit_code, pulled, reason) {
        (0, Some(message), _) => Outcome::Pulled { node, message },
        (1, None, Some(reason)) => {
            // The first `Failed` event says why; `Error: ErrImagePull` says only what.
            let message = some(last(logs, "message"))
                .filter(|m| !m.starts_with("Error: "))
                .or_else(|| failed_event(logs))
                .unwrap_or_else(|| reason.clone());
            Outcome::NotPulled {
                node,
                reason,
                message,
            }
        }
        (2, None, _) => Outcome::Undecided { tail: tail(logs) },
        (code, _, _) => Outcome::Broken {
            exit_code: code,
            tail: tail(logs),
        },
    }
}

/// The message of the first `Failed to pull image` event in the printed events.
fn failed_event(logs: &str) -> Option<String> {
    logs.lines()
        .filter_map(|l| l.split_once("\tFailed\t").map(|(_, m)| m))
        .find(|m| m.starts_with("Failed to pull image") || m.starts_with("Failed to apply"))
        .map(str::to_owned)
}

/// Why the kubelet could not pull, as its message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The registry refused the credentials the cluster holds (401).
    Credentials,
    /// The credentials get a token that grants no pull (no role, or not propagated yet).
    Authorization,
    /// The nodes cannot reach the registry: its firewall, DNS, or the network.
    Network,
    /// No such repository or tag.
    Missing,
    /// The reference itself is malformed.
    BadReference,
    /// Anything else.
    Other,
}

/// Reads the cause from the kubelet's `message` (and `reason`).
pub(crate) fn cause(reason: &str, message: &str) -> Cause {
    let m = message.to_ascii_lowercase();
    if reason == "InvalidImageName" || m.contains("invalid reference format") {
        Cause::BadReference
    } else if m.contains("not allowed access")
        || m.contains("403 forbidden")
        || m.contains("no such host")
        || m.contains("i/o timeout")
        || m.contains("connection refused")
        || m.contains("no route to host")
        || m.contains("tls handshake timeout")
    {
        Cause::Network
    } else if m.contains("401 unauthorized") || m.contains("unauthorized: authentication required")
    {
        Cause::Credentials
    } else if m.contains("insufficient_scope") || m.contains("pull access denied") {
        Cause::Authorization
    } else if m.contains(": not found")
        || m.contains("manifest unknown")
        || m.contains("name unknown")
        || m.contains("code = notfound")
    {
        Cause::Missing
    } else {
        Cause::Other
    }
}

/// The address a registry firewall named in `message` (`client with IP 'x'`), if any.
pub(crate) fn denied_address(message: &str) -> Option<&str> {
    let rest = message.split("client with IP '").nth(1)?;
    let ip = rest.split('\'').next()?;
    ip.parse::<std::net::IpAddr>().is_ok().then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::{Cause, Outcome, cause, denied_address, read, tail};

    const IMG: &str = "fabrikamacr.azurecr.io/samples/hello:1.0";

    #[test]
    fn a_pull_needs_exit_zero_and_a_pulled_event() {
        let logs = format!(
            "pod/p created\nNormal\tPulled\tSuccessfully pulled image \"{IMG}\" in 800ms\n\
             xtenant-probe: message=\nxtenant-probe: pulled=Successfully pulled image \"{IMG}\" in 800ms\n\
             xtenant-probe: reason=\nxtenant-probe: node=aks-nodepool1-1-vmss000000\n"
        );
        assert_eq!(
            read(0, &logs),
            Outcome::Pulled {
                node: Some("aks-nodepool1-1-vmss000000".into()),
                message: format!("Successfully pulled image \"{IMG}\" in 800ms")
            }
        );
        // The same report with another exit code, or exit 0 without the report, is no pull.
        assert!(matches!(read(1, &logs), Outcome::Broken { .. }));
        assert!(matches!(read(0, "pod/p created\n"), Outcome::Broken { .. }));
    }

    #[test]
    fn forged_lines_before_the_report_do_not_count() {
        // A registry's error text inside an event cannot make a pull: the report comes last.
        let logs = "Warning\tFailed\tFailed to pull image \"x\": 401 Unauthorized\nxtenant-probe: pulled=yes\n\
             xtenant-probe: message=Failed to pull image \"x\": 401 Unauthorized\nxtenant-probe: pulled=\n\
             xtenant-probe: reason=ErrImagePull\nxtenant-probe: node=n\n";
        let Outcome::NotPulled {
            reason, message, ..
        } = read(1, logs)
        else {
            panic!()
        };
        assert_eq!(reason, "ErrImagePull");
        assert!(message.contains("401 Unauthorized"));
        assert!(matches!(read(0, logs), Outcome::Broken { .. }));
    }

    #[test]
    fn the_message_falls_back_to_the_events() {
        let logs = "Warning\tFailed\tFailed to pull image \"x\": failed to resolve reference \"x\": x: not found\n\
             xtenant-probe: message=\nxtenant-probe: pulled=\nxtenant-probe: reason=ImagePullBackOff\nxtenant-probe: node=\n";
        let Outcome::NotPulled { message, node, .. } = read(1, logs) else {
            panic!()
        };
        assert!(message.ends_with("x: not found"), "{message}");
        assert_eq!(node, None);
        assert!(matches!(
            read(2, "xtenant-probe: pulled=\n"),
            Outcome::Undecided { .. }
        ));
        assert!(matches!(
            read(3, "Error from server (Forbidden)"),
            Outcome::Broken { exit_code: 3, .. }
        ));
        assert!(tail(&"x\n".repeat(1000)).len() <= 600 * 4);
    }

    #[test]
    fn causes_from_the_kubelets_words() {
        for (m, c) in [
            (
                "failed to fetch oauth token: unexpected status from GET request to https://r/oauth2/token?scope=x: 401 Unauthorized",
                Cause::Credentials,
            ),
            (
                "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
                Cause::Authorization,
            ),
            (
                "unexpected status from GET request to https://r/oauth2/token: 403 Forbidden: client with IP '198.51.100.20' is not allowed access",
                Cause::Network,
            ),
            (
                "dial tcp: lookup r.azurecr.io: no such host",
                Cause::Network,
            ),
            (
                "failed to resolve reference \"r/x:9\": r/x:9: not found",
                Cause::Missing,
            ),
            (
                "rpc error: code = NotFound desc = failed to pull",
                Cause::Missing,
            ),
            ("something else", Cause::Other),
        ] {
            assert_eq!(cause("ErrImagePull", m), c, "{m}");
        }
        assert_eq!(cause("InvalidImageName", ""), Cause::BadReference);
        assert_eq!(
            denied_address("403 Forbidden: client with IP '198.51.100.20' is not allowed access"),
            Some("198.51.100.20")
        );
        assert_eq!(denied_address("client with IP 'x; rm' is"), None);
    }
}
