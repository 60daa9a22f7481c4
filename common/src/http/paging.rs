//! Paging: [`Api::list`] follows `nextLink` / `@odata.nextLink` — only on the origin of
//! the request that returned it, so a page cannot send the service's token elsewhere.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::Api;
use super::client::host_path;
use super::origin::check_origin;
use crate::error::{Error, Result};
use crate::json::{lenient, object};
use crate::validate::shown;

/// A page of a list: its items and the link to the next page (ARM's `nextLink`, Graph's
/// `@odata.nextLink`).
#[derive(Deserialize)]
struct Page {
    #[serde(default, deserialize_with = "lenient")]
    value: Vec<Value>,
    #[serde(rename = "nextLink", default, deserialize_with = "lenient")]
    next_link: Option<String>,
    #[serde(rename = "@odata.nextLink", default, deserialize_with = "lenient")]
    odata_next_link: Option<String>,
}

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
            // Not an object: no items, no next page (as a body without them).
            let page = object::<Page>(&body).unwrap_or(Page {
                value: Vec::new(),
                next_link: None,
                odata_next_link: None,
            });
            items.extend(page.value);
            match page.next_link.or(page.odata_next_link).as_deref() {
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
