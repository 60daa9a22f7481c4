//! Playing a person in a browser: the admin-consent page and the simulator's truth endpoint.

use std::path::Path;

use anyhow::{Context as _, bail};

/// An HTTP client that trusts the simulator's CA (`ca_pem`), uses no proxy and follows no
/// redirect; with the resolve rules of `XTENANT_RESOLVE` (the China cloud's `sim.env`).
pub(crate) fn client(ca_pem: &Path) -> anyhow::Result<reqwest::Client> {
    client_resolving(ca_pem, std::env::var("XTENANT_RESOLVE").ok().as_deref())
}

/// [`client`] with the exact-host rules of `resolve` (`HOST:443:IP:PORT`, comma-separated,
/// as `sim.env` writes them; `*.` rules are skipped: the people of the tests reach only the
/// login host and the control API). Only loopback addresses are taken.
pub(crate) fn client_resolving(
    ca_pem: &Path,
    resolve: Option<&str>,
) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(ca_pem).with_context(|| format!("read {}", ca_pem.display()))?;
    common::http::install_crypto();
    let mut b = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    for rule in resolve.unwrap_or("").split(',').filter(|r| !r.is_empty()) {
        let mut parts = rule.splitn(3, ':');
        let (Some(host), Some("443"), Some(to)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("XTENANT_RESOLVE rule {rule:?} is not HOST:443:IP:PORT");
        };
        let addr: std::net::SocketAddr = to
            .parse()
            .with_context(|| format!("XTENANT_RESOLVE rule {rule:?}"))?;
        if !addr.ip().is_loopback() {
            bail!("XTENANT_RESOLVE rule {rule:?}: the tests reach only loopback addresses");
        }
        if !host.starts_with("*.") {
            b = b.resolve(host, addr);
        }
    }
    Ok(b.build()?)
}

/// The value of the attribute `name` in one tag's text (`<input a="b" c='d'>`), unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    tag.match_indices(&key).find_map(|(i, _)| {
        if !tag[..i].ends_with(char::is_whitespace) {
            return None; // a longer name ending in `name`
        }
        let rest = &tag[i + key.len()..];
        let quote = rest.chars().next().filter(|q| matches!(q, '"' | '\''))?;
        let end = rest[1..].find(quote)? + 1;
        Some(html_unescape(&rest[1..end]))
    })
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The form on a consent page: where it posts, and the fields to send with `button`.
pub fn parse_form(page: &str, button: &str) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let form_start = page.find("<form").context("the page has no form")?;
    let form_tag_end = page[form_start..]
        .find('>')
        .context("unterminated form tag")?
        + form_start;
    let form_tag = &page[form_start..=form_tag_end];
    if !attr(form_tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
        bail!("the form does not POST: {form_tag}");
    }
    let action = attr(form_tag, "action").context("the form has no action")?;
    let body_end = page[form_tag_end..]
        .find("</form>")
        .map_or(page.len(), |e| e + form_tag_end);
    let body = &page[form_tag_end..body_end];
    let mut fields = Vec::new();
    let mut chosen = false;
    for (i, _) in body.match_indices('<') {
        let tag_end = body[i..].find('>').map_or(body.len(), |e| e + i);
        let tag = &body[i..=tag_end.min(body.len() - 1)];
        if tag.starts_with("<input") && attr(tag, "type").as_deref() == Some("hidden") {
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                fields.push((n, v));
            }
        } else if tag.starts_with("<button")
            && attr(tag, "value").is_some_and(|v| v.eq_ignore_ascii_case(button))
        {
            if let Some(n) = attr(tag, "name") {
                fields.push((n, attr(tag, "value").unwrap_or_default()));
            }
            chosen = true;
        }
    }
    if !chosen {
        bail!("the form has no {button:?} button");
    }
    Ok((action, fields))
}

/// What submitting a consent form answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status (302 when the browser is sent on).
    pub status: u16,
    /// Where the browser is sent next (the `Location` header), if anywhere.
    pub location: Option<String>,
    /// The body (an error page when there is no redirect).
    pub body: String,
}

/// Opens a consent URL and presses `button` ("accept" or "cancel") as an administrator would;
/// returns the answer to the form as it is. Fails when the page is not a consent form.
pub fn submit(url: &str, ca_pem: &Path, button: &str) -> anyhow::Result<Answer> {
    submit_resolving(
        url,
        ca_pem,
        std::env::var("XTENANT_RESOLVE").ok().as_deref(),
        button,
    )
}

/// [`submit`] with the resolve rules `resolve` (see [`client_resolving`]).
pub fn submit_resolving(
    url: &str,
    ca_pem: &Path,
    resolve: Option<&str>,
    button: &str,
) -> anyhow::Result<Answer> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = client_resolving(ca_pem, resolve)?;
        let page_resp = c.get(url).send().await.context("open the consent page")?;
        let status = page_resp.status();
        let page = page_resp.text().await?;
        if !status.is_success() {
            bail!(
                "the consent page answered {status}: {}",
                page.chars().take(300).collect::<String>()
            );
        }
        let (action, fields) = parse_form(&page, button)?;
        let target = url::Url::parse(url)?.join(&action)?;
        let resp = c
            .post(target)
            .form(&fields)
            .send()
            .await
            .context("submit the consent form")?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            location,
            body,
        })
    })
}

/// Opens a consent URL and presses `button` ("accept" or "cancel") as an administrator would;
/// returns where the browser is sent next (the `Location` of the answer), which must be a redirect.
pub fn consent(url: &str, ca_pem: &Path, button: &str) -> anyhow::Result<String> {
    consent_resolving(
        url,
        ca_pem,
        std::env::var("XTENANT_RESOLVE").ok().as_deref(),
        button,
    )
}

/// [`consent`] with the resolve rules `resolve` (see [`client_resolving`]).
pub fn consent_resolving(
    url: &str,
    ca_pem: &Path,
    resolve: Option<&str>,
    button: &str,
) -> anyhow::Result<String> {
    let answer = submit_resolving(url, ca_pem, resolve, button)?;
    match answer.location {
        Some(l) if (300..400).contains(&answer.status) => Ok(l),
        _ => bail!(
            "the consent form answered {} without a redirect: {}",
            answer.status,
            answer.body.chars().take(300).collect::<String>()
        ),
    }
}

/// Asks the simulator whether `cluster` can pull `image` now: `{"pulled", "status", "reason"}`.
pub fn can_pull(
    sim_url: &str,
    ca_pem: &Path,
    cluster: &str,
    image: &str,
) -> anyhow::Result<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = client(ca_pem)?;
        let mut u = url::Url::parse(sim_url)?.join(&format!("/_sim/clusters/{cluster}/pull"))?;
        u.query_pairs_mut().append_pair("image", image);
        Ok(c.get(u).send().await?.error_for_status()?.json().await?)
    })
}
