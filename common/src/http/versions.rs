//! ARM api-versions a cloud does not have: each operation declares the range it works
//! with; on ARM's refusal of a version (400 `NoRegisteredProviderFound`,
//! `InvalidResourceType` or `InvalidApiVersionParameter`, whose message lists "the
//! supported api-versions"), the newest listed version inside that range is chosen, the
//! request is sent once more, and the choice is kept for the rest of the run, per
//! resource type. A version outside the listed ones is never tried. Operations on one type may
//! need different ranges (the legacy-tag removal needs the cluster's `eTag`, from
//! 2024-09-01): a version chosen for the type is used only by an operation whose range holds
//! it; another one chooses from the listing the cloud gave (or tries its pinned version).
//!
//! National clouds lag the public one (Azure/azure-cli#23985, "Latest API version not
//! available in sovereign clouds"; `az aks` in chinaeast2 failing with
//! `NoRegisteredProviderFound`), and the exact sets are not published.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use super::Api;
use crate::error::{Error, Result, codes};
use crate::ui;

/// The api-versions an operation on one resource type can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersions {
    /// The ARM type, e.g. `Microsoft.ContainerService/managedClusters` (the choice is kept per type).
    pub resource_type: &'static str,
    /// The version the operation is written for (tried first).
    pub pinned: &'static str,
    /// The oldest version that has everything the operation needs.
    pub oldest: &'static str,
}

/// The versions chosen in this run and the versions the cloud listed, per resource type
/// (lower case).
#[derive(Debug, Clone, Default)]
pub(super) struct Chosen(Arc<Mutex<HashMap<String, Choice>>>);

/// One type's chosen version and the versions the cloud listed when it refused one.
#[derive(Debug, Clone, Default)]
struct Choice {
    chosen: Option<String>,
    listed: Option<Vec<String>>,
}

impl Chosen {
    /// The version to try first for `v`: the one chosen for its type if `v`'s range holds it,
    /// else the newest usable one of the cloud's listing (`Err`: the listing has none), else
    /// the pinned one.
    fn get(&self, v: &ApiVersions) -> std::result::Result<String, Vec<String>> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(c) = map.get(&v.resource_type.to_ascii_lowercase()) else {
            return Ok(v.pinned.to_owned());
        };
        if let Some(chosen) = c.chosen.as_ref().filter(|c| in_range(v, c)) {
            return Ok(chosen.clone());
        }
        match &c.listed {
            Some(listed) => choose(v, listed).ok_or_else(|| listed.clone()),
            None => Ok(v.pinned.to_owned()),
        }
    }

    fn set(&self, v: &ApiVersions, version: &str, listed: &[String]) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let c = map.entry(v.resource_type.to_ascii_lowercase()).or_default();
        c.chosen = Some(version.to_owned());
        c.listed = Some(listed.to_vec());
    }

    fn listed(&self, v: &ApiVersions, listed: &[String]) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(v.resource_type.to_ascii_lowercase())
            .or_default()
            .listed = Some(listed.to_vec());
    }
}

fn in_range(versions: &ApiVersions, v: &str) -> bool {
    stable(v) && v >= versions.oldest && v <= versions.pinned
}

/// `ApiVersionUnsupported`: the cloud lists no version of `versions`' range (`refused`: the
/// version it refused just now, if one was sent).
fn unsupported(versions: &ApiVersions, refused: Option<&str>, listed: &[String]) -> Error {
    let refused = refused
        .map(|r| format!("it refused {r} and "))
        .unwrap_or_default();
    Error::step(
        codes::API_VERSION_UNSUPPORTED,
        format!(
            "this cloud's Azure Resource Manager has no api-version of {} that the tool can use: {refused}it has {}; the tool needs {} or newer, up to {}",
            versions.resource_type,
            listed.join(", "),
            versions.oldest,
            versions.pinned
        ),
    )
    .with_hint("the resource provider in this cloud is older than the tool supports; nothing was changed")
}

/// The codes with which ARM refuses an api-version it does not have for a type.
const REFUSALS: [&str; 3] = [
    "NoRegisteredProviderFound",
    "InvalidResourceType",
    "InvalidApiVersionParameter",
];

/// The versions an ARM refusal lists ("The supported api-versions are '2023-11-01,
/// 2023-10-01'", or "The supported versions are '…'"), if `e` is such a refusal.
pub fn supported_versions(e: &Error) -> Option<Vec<String>> {
    if e.status() != Some(400) || !REFUSALS.iter().any(|c| e.is_code(c)) {
        return None;
    }
    // Azure's whole text: the message holds it shortened.
    let m = e.detail().unwrap_or(e.message());
    let lower = m.to_ascii_lowercase();
    let start = ["supported api-versions are '", "supported versions are '"]
        .iter()
        .find_map(|k| lower.find(k).map(|i| i + k.len()))?;
    let rest = &m[start..];
    let list = &rest[..rest.find('\'')?];
    let versions: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!versions.is_empty()).then_some(versions)
}

/// Whether `v` is a stable api-version (`YYYY-MM-DD`, no `-preview` suffix).
fn stable(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// The newest of `listed` the operation can work with: stable, not older than
/// `oldest`, not newer than `pinned` (a newer one may mean something else).
pub fn choose(versions: &ApiVersions, listed: &[String]) -> Option<String> {
    listed
        .iter()
        .filter(|v| in_range(versions, v))
        .max()
        .cloned()
}

impl Api<'_> {
    /// Runs `op` with the api-version to use for `versions` (the one chosen earlier in the
    /// run, else the pinned one). When ARM refuses that version and lists the ones it has,
    /// the newest usable one is chosen, kept for the run, and `op` runs once more with it.
    /// None usable: `ApiVersionUnsupported`, naming what the cloud has and what is needed.
    pub async fn with_api_version<T, F, Fut>(&self, versions: &ApiVersions, op: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let first = match self.http.versions.get(versions) {
            Ok(v) => v,
            Err(listed) => return Err(unsupported(versions, None, &listed)),
        };
        let e = match op(first.clone()).await {
            Err(e) => e,
            ok => return ok,
        };
        let Some(listed) = supported_versions(&e) else {
            return Err(e);
        };
        let Some(next) = choose(versions, &listed).filter(|v| *v != first) else {
            self.http.versions.listed(versions, &listed);
            return Err(unsupported(versions, Some(&first), &listed));
        };
        ui::info(&format!(
            "this cloud has no api-version {first} of {}: using {next}, the newest it lists that has what is needed",
            versions.resource_type
        ));
        self.http.versions.set(versions, &next, &listed);
        op(next).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    const AKS: ApiVersions = ApiVersions {
        resource_type: "Microsoft.ContainerService/managedClusters",
        pinned: "2025-10-01",
        oldest: "2020-01-01",
    };

    fn refusal(code: &str, message: &str) -> Error {
        Error::azure(ErrorKind::Http { status: 400 }, code, message)
    }

    #[test]
    fn reads_both_listings() {
        let e = refusal(
            "NoRegisteredProviderFound",
            "No registered resource provider found for location 'chinaeast2' and API version '2025-10-01' for type 'managedClusters'. The supported api-versions are '2023-11-01, 2023-10-01, 2019-02-01, 2024-01-02-preview'. The supported locations are 'chinaeast2'.",
        );
        let listed = supported_versions(&e).unwrap();
        assert_eq!(listed.len(), 4);
        assert_eq!(choose(&AKS, &listed).as_deref(), Some("2023-11-01"));
        let e = refusal(
            "InvalidApiVersionParameter",
            "The api-version '2025-10-01' is invalid. The supported versions are '2022-04-01,2018-01-01'.",
        );
        assert_eq!(
            supported_versions(&e).unwrap(),
            ["2022-04-01", "2018-01-01"]
        );
        // Another 400, or a refusal that lists nothing: not a version problem.
        assert!(
            supported_versions(&refusal(
                "InvalidParameter",
                "supported api-versions are '2023-11-01'"
            ))
            .is_none()
        );
        assert!(supported_versions(&refusal("InvalidResourceType", "no listing")).is_none());
    }

    #[test]
    fn never_chooses_outside_the_listed_range() {
        let l = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // Only versions too old, a preview, or newer than pinned: none.
        assert_eq!(
            choose(
                &AKS,
                &l(&["2019-02-01", "2026-01-01", "2023-11-01-preview"])
            ),
            None
        );
        assert_eq!(
            choose(&AKS, &l(&["2020-01-01"])).as_deref(),
            Some("2020-01-01")
        );
        assert_eq!(
            choose(&AKS, &l(&["2025-10-01", "2024-01-01"])).as_deref(),
            Some("2025-10-01")
        );
    }

    #[test]
    fn a_version_chosen_for_a_type_serves_only_the_operations_whose_range_holds_it() {
        const ETAG: ApiVersions = ApiVersions {
            oldest: "2024-09-01",
            ..AKS
        };
        let chosen = Chosen::default();
        assert_eq!(
            chosen.get(&ETAG).as_deref(),
            Ok("2025-10-01"),
            "nothing known"
        );
        let lagging = ["2023-11-01".to_owned(), "2022-04-01".to_owned()];
        chosen.set(&AKS, "2023-11-01", &lagging);
        assert_eq!(chosen.get(&AKS).as_deref(), Ok("2023-11-01"));
        // The cloud's listing has no version of the narrower range: no request to make.
        assert_eq!(chosen.get(&ETAG), Err(lagging.to_vec()));
        // A listing with one: chosen from it without another refusal.
        let newer = ["2024-10-01".to_owned(), "2023-11-01".to_owned()];
        chosen.set(&AKS, "2023-11-01", &newer);
        assert_eq!(chosen.get(&ETAG).as_deref(), Ok("2024-10-01"));
        chosen.set(&ETAG, "2024-10-01", &newer);
        assert_eq!(
            chosen.get(&AKS).as_deref(),
            Ok("2024-10-01"),
            "in both ranges"
        );
    }
}
