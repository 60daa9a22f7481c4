//! `--open`: the user's browser, by the xdg `$BROWSER` convention, else the platform opener.
//!
//! The browser is a program of the user's choosing that outlives this tool, and the link
//! it opens comes from an envelope: it is started without the operator's credentials.
//! [`is_secret_variable`] says which environment variables it does not inherit.

use std::ffi::{OsStr, OsString};
use std::process::Stdio;
use std::time::Duration;

/// How long a launcher may take to say it failed; one still running after that is a browser window.
const LAUNCH_GRACE: Duration = Duration::from_secs(3);

/// The commands to try, in order: each `$BROWSER` entry (`:`-separated; `%s` is the URL,
/// `%%` a literal `%`, the URL appended when there is no `%s`), else the platform opener.
pub(crate) fn commands(browser: Option<&str>, url: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = browser
        .unwrap_or("")
        .split(':')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let mut substituted = false;
            let mut argv: Vec<String> = entry
                .split_whitespace()
                .map(|w| {
                    let (word, had) = expand(w, url);
                    substituted |= had;
                    word
                })
                .collect();
            if !substituted {
                argv.push(url.to_owned());
            }
            argv
        })
        .collect();
    if out.is_empty() {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        out.push(vec![opener.to_owned(), url.to_owned()]);
    }
    out
}

/// Credential variables the Azure SDKs and tools read whose names the word rule below misses.
const CREDENTIAL_VARIABLES: [&str; 4] = [
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    "AZURE_USERNAME",
    "IDENTITY_HEADER",
];

/// Words that mark a variable as holding a secret or pointing at one, wherever they occur
/// in its name (`AZURE_CLIENT_SECRET`, `MSI_SECRET`, `AZURE_FEDERATED_TOKEN_FILE`,
/// `GITHUB_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `GOOGLE_APPLICATION_CREDENTIALS`, …).
const SECRET_WORDS: [&str; 7] = [
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
];

/// Whether the browser must not inherit the variable `name`: one of
/// [`CREDENTIAL_VARIABLES`], or a name containing one of [`SECRET_WORDS`] (ASCII case
/// ignored). Everything else (`DISPLAY`, `WAYLAND_DISPLAY`, `HOME`, `PATH`, `LANG`, …)
/// is kept, so the browser still finds the user's session.
pub(crate) fn is_secret_variable(name: &OsStr) -> bool {
    let upper = name.to_string_lossy().to_ascii_uppercase();
    CREDENTIAL_VARIABLES.contains(&upper.as_str()) || SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// The environment a browser is started with: `vars` without the secret variables.
fn browser_env(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    vars.filter(|(k, _)| !is_secret_variable(k)).collect()
}

/// Replaces `%s` with `url` and `%%` with `%`; says whether `%s` occurred.
fn expand(word: &str, url: &str) -> (String, bool) {
    let mut out = String::with_capacity(word.len());
    let mut had = false;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('s')) => {
                chars.next();
                out.push_str(url);
                had = true;
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            _ => out.push(c),
        }
    }
    (out, had)
}

/// Starts one command with the environment `env` (and nothing else); `Ok` when it exits
/// successfully or is still running after a grace period.
async fn launch(argv: &[String], env: &[(OsString, OsString)]) -> Result<(), String> {
    let (program, rest) = argv
        .split_first()
        .ok_or_else(|| "empty command".to_owned())?;
    // stdout carries only envelope objects, so the browser's output must not reach it.
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    match tokio::time::timeout(LAUNCH_GRACE, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{program} exited with {status}")),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => Ok(()),
    }
}

/// Opens `url`; returns the command that did, or why none could.
pub(crate) async fn open(url: &str) -> Result<String, String> {
    let browser = std::env::var("BROWSER").ok();
    let env = browser_env(std::env::vars_os());
    let mut failures = Vec::new();
    for argv in commands(browser.as_deref(), url) {
        match launch(&argv, &env).await {
            Ok(()) => return Ok(argv[0].clone()),
            Err(why) => failures.push(why),
        }
    }
    Err(failures.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "https://login.example/t/oauth2/authorize?client_id=a&response_type=code";

    #[test]
    fn browser_list_is_split_and_substituted() {
        let c = commands(Some("firefox --new-window %s:  :w3m:echo 100%% '%s'"), U);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0],
            vec![
                "firefox".to_owned(),
                "--new-window".to_owned(),
                U.to_owned()
            ]
        );
        assert_eq!(c[1], vec!["w3m".to_owned(), U.to_owned()]);
        assert_eq!(
            c[2],
            vec!["echo".to_owned(), "100%".to_owned(), format!("'{U}'")]
        );
    }

    #[test]
    fn platform_opener_without_browser() {
        for b in [None, Some(""), Some(" : ")] {
            let c = commands(b, U);
            assert_eq!(c.len(), 1);
            assert!(c[0][0] == "xdg-open" || c[0][0] == "open");
            assert_eq!(c[0][1], U);
        }
    }

    #[tokio::test]
    async fn launch_reports_failures() {
        let env = browser_env(std::env::vars_os());
        assert!(
            launch(&["/nonexistent/browser".to_owned(), U.to_owned()], &env)
                .await
                .is_err()
        );
        assert!(
            launch(&["false".to_owned()], &env)
                .await
                .unwrap_err()
                .contains("exited")
        );
        assert!(
            launch(&["true".to_owned(), U.to_owned()], &env)
                .await
                .is_ok()
        );
    }

    #[test]
    fn secret_variables_are_recognised() {
        for name in [
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_PASSWORD",
            "AZURE_USERNAME",
            "IDENTITY_HEADER",
            "MSI_SECRET",
            "READER_CLIENT_SECRET",
            "XTENANT_CLIENT_SECRET_FILE",
            "GITHUB_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "OPENAI_API_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "azure_client_secret",
            "My_Passphrase",
        ] {
            assert!(is_secret_variable(OsStr::new(name)), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "XDG_RUNTIME_DIR",
            "DBUS_SESSION_BUS_ADDRESS",
            "LANG",
            "BROWSER",
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
            "XTENANT_CLOUD",
            "XTENANT_AUTH",
        ] {
            assert!(!is_secret_variable(OsStr::new(name)), "{name}");
        }
    }

    #[tokio::test]
    async fn the_browser_gets_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-browser");
        let dump = dir.path().join("env.txt");
        std::fs::write(&script, "#!/bin/sh\nenv > \"$DUMP\"\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let secrets = [
            ("AZURE_CLIENT_SECRET", "s3cret-client-value"),
            ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "s3cret-cert-password"),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/s3cret/cert.pem"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/s3cret/token"),
            ("AZURE_PASSWORD", "s3cret-user-password"),
            ("IDENTITY_HEADER", "s3cret-identity-header"),
            ("MSI_SECRET", "s3cret-msi"),
            ("SOME_API_KEY", "s3cret-api-key"),
        ];
        let mut vars: Vec<(OsString, OsString)> = secrets
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect();
        for (k, v) in [
            ("PATH", "/usr/bin:/bin"),
            ("DISPLAY", ":0"),
            ("AZURE_CLIENT_ID", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"),
        ] {
            vars.push((k.into(), v.into()));
        }
        vars.push(("DUMP".into(), dump.clone().into_os_string()));
        let env = browser_env(vars.into_iter());
        launch(&[script.display().to_string(), U.to_owned()], &env)
            .await
            .unwrap();
        let seen = std::fs::read_to_string(&dump).unwrap();
        assert!(!seen.contains("s3cret"), "{seen}");
        for (k, _) in secrets {
            assert!(!seen.contains(k), "{k} reached the browser: {seen}");
        }
        assert!(seen.contains("DISPLAY=:0"), "{seen}");
        assert!(
            seen.contains("AZURE_CLIENT_ID=0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"),
            "{seen}"
        );
    }
}
