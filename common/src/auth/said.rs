//! What the SDK and the Azure CLI said, read: Entra's `AADSTS` code, the CLI's one error
//! line, the innermost cause of a transport failure, the host a request failed on.

/// The first `AADSTS<digits>` code in a text.
pub(super) fn aadsts_code(text: &str) -> Option<u32> {
    let at = text.find("AADSTS")? + "AADSTS".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What the Azure CLI (or the SDK) said, in one short line: its first error line without the
/// SDK's prefix, `ERROR:`, trace ids and links.
pub(super) fn az_said(text: &str) -> String {
    let line = text
        .split('\n')
        .map(|l| {
            l.trim()
                .trim_start_matches("AzureCliCredential authentication failed.")
                .trim()
                .trim_start_matches("ERROR:")
                .trim()
        })
        .find(|l| !l.is_empty() && !l.starts_with("To troubleshoot"))
        .unwrap_or("");
    let line = line.split(" Trace ID:").next().unwrap_or(line);
    crate::error::clip(line, 100)
}

/// The innermost cause of a transport failure: the last `: `-separated part of the chain
/// (e.g. `Connection refused (os error 111)`), without the SDK's and reqwest's wording.
pub(super) fn root_cause(text: &str) -> String {
    let line = one_line(text);
    let last = line.rsplit(": ").next().unwrap_or(&line).trim();
    crate::error::clip(last, 80)
}

/// A text on one line: line breaks become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The host of the URL a request failed on, from an error text: reqwest's `for url (…)`, else
/// the last https URL (azure_identity puts a troubleshooting link first).
pub(super) fn host_in(text: &str) -> Option<String> {
    let start = text
        .find("for url (")
        .map(|i| i + "for url (".len())
        .or_else(|| text.rfind("https://"))?;
    let end = text[start..]
        .find(|c: char| c == ')' || c.is_whitespace())
        .map_or(text.len(), |e| start + e);
    let url = url::Url::parse(&text[start..end]).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    })
}

/// An error and its sources as one text.
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = e.source();
    }
    s
}

pub(super) fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_found_in_error_texts() {
        assert_eq!(
            host_in(
                "error sending request for url (https://127.0.0.1:8443/t/oauth2/v2.0/token): x"
            )
            .as_deref(),
            Some("127.0.0.1:8443")
        );
        assert_eq!(host_in("no url here"), None);
        assert_eq!(
            host_in("see https://aka.ms/troubleshoot: error sending request for url (https://login.example/x): e")
                .as_deref(),
            Some("login.example")
        );
    }
}
