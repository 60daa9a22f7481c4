//! `azure-sim --print-env DIR`: the `sim.env` of the simulator serving from DIR as `export`
//! lines for a shell's `eval`, with `XTENANT_AUTH=env` (the tools then sign in as the
//! operator the file names), printed once the simulator answers.

use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

/// The `export` lines, waiting up to `wait` for the simulator to have written `sim.env` and
/// to accept connections at its `SIM_URL`.
pub(crate) fn exports(dir: &Path, wait: Duration) -> anyhow::Result<String> {
    let file = dir.join("sim.env");
    let deadline = Instant::now() + wait;
    loop {
        let why = match std::fs::read_to_string(&file) {
            Ok(text) => match answering(&text) {
                Ok(()) => return render(&text),
                Err(e) => format!("{e:#}"),
            },
            Err(e) => format!("{}: {e}", file.display()),
        };
        if Instant::now() >= deadline {
            bail!(
                "no simulator answers from {} ({why}); start one with azure-sim --dir {} &",
                dir.display(),
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ok when the file names a `SIM_URL` that accepts a connection (a file left by a simulator
/// that has ended does not).
fn answering(text: &str) -> anyhow::Result<()> {
    let Some(url) = pairs(text).find(|(k, _)| *k == "SIM_URL").map(|(_, v)| v) else {
        bail!("sim.env has no SIM_URL yet");
    };
    let url = unquote(url);
    let Some(authority) = url
        .strip_prefix("https://")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
    else {
        bail!("SIM_URL {url} is not an https URL");
    };
    for addr in authority.to_socket_addrs()? {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
    }
    bail!("nothing accepts connections at {url}")
}

/// `export KEY=value` for each line (the file's quoting is the shell's), then `XTENANT_AUTH`.
fn render(text: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((key, _)) = line.split_once('=') else {
            bail!("sim.env line without '=': {line:?}");
        };
        let name_ok = key.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            bail!("sim.env line with an unexpected name: {key:?}");
        }
        out.push_str("export ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("export XTENANT_AUTH=env\n");
    Ok(out)
}

fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| l.split_once('='))
}

/// A value as the file quotes it: bare, or in single quotes with `'\''` for a quote.
fn unquote(v: &str) -> String {
    match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_exported_and_the_auth_added() {
        let text = "XTENANT_CLOUD=/tmp/s/cloud.json\nAZURE_CLIENT_SECRET='a b'\\''c'\n";
        assert_eq!(
            render(text).unwrap(),
            "export XTENANT_CLOUD=/tmp/s/cloud.json\nexport AZURE_CLIENT_SECRET='a b'\\''c'\nexport XTENANT_AUTH=env\n"
        );
        assert!(render("rm -rf /; X=1\n").is_err());
        assert!(render("no equals sign\n").is_err());
        assert_eq!(unquote("'a b'\\''c'"), "a b'c");
    }

    #[test]
    fn a_file_without_a_listening_simulator_is_not_ready() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(answering(&format!("SIM_URL=https://127.0.0.1:{port}\n")).is_err());
        assert!(answering("X=1\n").is_err());
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = open.local_addr().unwrap().port();
        answering(&format!("SIM_URL=https://127.0.0.1:{port}\n")).unwrap();
    }

    #[test]
    fn a_directory_no_simulator_serves_from_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = exports(dir.path(), Duration::from_millis(100)).unwrap_err();
        assert!(
            format!("{e:#}").contains("no simulator answers from"),
            "{e:#}"
        );
    }
}
