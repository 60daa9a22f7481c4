//! Paging: [`Api::list`] follows `nextLink` / `@odata.nextLink` — only on the origin of
//! the request that returned it, so a page cannot send the service's token elsewhere.

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::Api;
use super::client::host_path;
use super::origin::check_origin;
use crate::error::{Error, Result};
use crate::validate::shown;

impl Api<'_> {
    /// GET a list, following `nextLink` / `@odata.nextLink`; all `value` items.
    pub async fn list(&self, path_and_query: &str) -> Result<Vec<Value>> {
        let mut url = self.url(path_and_query)?;
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self
                .read(self.request(Method::GET, url.clone()))
                .await?
                .body;
            if let Some(v) = body.get("value").and_then(Value::as_array) {
                items.extend(v.iter().cloned());
            }
            match body
                .get("nextLink")
                .or_else(|| body.get("@odata.nextLink"))
                .and_then(Value::as_str)
            {
                Some(next) if !next.is_empty() => {
                    let parsed = Url::parse(next).map_err(|e| {
                        Error::step(
                            crate::error::codes::BAD_NEXT_LINK,
                            format!("bad nextLink {}: {e}", shown(next)),
                        )
                    })?;
                    // The next page is fetched with the same token: only from the same origin.
                    check_origin(
                        &parsed,
                        &url,
                        &format!("the next-page link of {}", host_path(&url)),
                    )?;
                    url = parsed;
                }
                _ => return Ok(items),
            }
        }
        // A partial list must not pass for the whole one.
        Err(Error::step(
            crate::error::codes::TOO_MANY_PAGES,
            format!(
                "{} has more than {MAX_PAGES} pages; the list was not read to its end",
                host_path(&url)
            ),
        ))
    }
}

/// How many pages [`Api::list`] follows before giving up (a guard against a nextLink loop).
const MAX_PAGES: usize = 1000;
