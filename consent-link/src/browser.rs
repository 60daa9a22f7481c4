//! `--open`: the user's browser, by the xdg `$BROWSER` convention, else the platform opener.

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

/// Starts one command; `Ok` when it exits successfully or is still running after a grace period.
async fn launch(argv: &[String]) -> Result<(), String> {
    let (program, rest) = argv
        .split_first()
        .ok_or_else(|| "empty command".to_owned())?;
    // stdout carries only envelope objects, so the browser's output must not reach it.
    let mut child = tokio::process::Command::new(program)
        .args(rest)
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
    let mut failures = Vec::new();
    for argv in commands(browser.as_deref(), url) {
        match launch(&argv).await {
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
        assert!(
            launch(&["/nonexistent/browser".to_owned(), U.to_owned()])
                .await
                .is_err()
        );
        assert!(
            launch(&["false".to_owned()])
                .await
                .unwrap_err()
                .contains("exited")
        );
        assert!(launch(&["true".to_owned(), U.to_owned()]).await.is_ok());
    }
}
