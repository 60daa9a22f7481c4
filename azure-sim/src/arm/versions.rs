//! API versions per resource type: a version the cloud does not have is answered as ARM does,
//! listing the supported versions: `NoRegisteredProviderFound` for the regional types (managed
//! clusters, registries) and role definitions (Azure/azure-sdk-for-java#28334: "for location
//! '…' … for type 'roleDefinitions' … The supported locations are ''"), `InvalidResourceType`
//! for role assignments ("The resource type 'roleAssignments' could not be found in the
//! namespace 'Microsoft.Authorization' for api version '…'", Azure/azure-sdk-for-java#28334,
//! Azure/azure-sdk-for-go#15624, Azure/acs-engine#4037, Azure/azure-powershell#6628: oldest
//! first, no spaces), and `InvalidApiVersionParameter` for ARM's own types
//! (pulumi/pulumi-azure-native#3637).

use axum::http::StatusCode;
use axum::response::Response;

use super::lc;
use crate::api_versions::{MANAGED_CLUSTERS, REGISTRIES};
use crate::core::Core;
use crate::http::{Req, arm_err};
use crate::model::State;

/// The resource type a request addresses (`Namespace/type`), if its versions can be checked.
fn resource_type(segs: &[String]) -> Option<String> {
    let l: Vec<String> = segs.iter().map(|s| lc(s)).collect();
    if let Some(i) = (0..l.len().saturating_sub(2))
        .rev()
        .find(|&i| l[i] == "providers" && l[i + 1] == "microsoft.authorization")
    {
        let ty = match l[i + 2].as_str() {
            "roleassignments" => "roleAssignments",
            "roledefinitions" => "roleDefinitions",
            _ => segs[i + 2].as_str(),
        };
        return Some(format!("Microsoft.Authorization/{ty}"));
    }
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    match l.as_slice() {
        ["subscriptions" | "tenants"] | ["subscriptions", _] => {
            Some(format!("Microsoft.Resources/{}", segs[0]))
        }
        ["subscriptions", _, "resourcegroups", ..] if l.len() <= 4 => {
            Some("Microsoft.Resources/resourceGroups".into())
        }
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.containerservice",
            "locations",
            ..,
        ] => None,
        ["subscriptions", _, "providers", ns, ty, ..]
        | [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            ns,
            ty,
            ..,
        ] => Some(
            match (*ns, *ty) {
                ("microsoft.containerservice", "managedclusters") => MANAGED_CLUSTERS,
                ("microsoft.containerregistry", "registries") => REGISTRIES,
                _ => return Some(format!("{ns}/{ty}")),
            }
            .to_string(),
        ),
        _ => None,
    }
}

/// The locations a regional type is offered in here (those of its resources).
fn locations(state: &State, ty: &str) -> Vec<String> {
    let mut v: Vec<String> = if ty == MANAGED_CLUSTERS {
        state.clusters.iter().map(|c| c.location.clone()).collect()
    } else {
        state
            .registries
            .iter()
            .map(|r| r.location.clone())
            .collect()
    };
    v.sort();
    v.dedup();
    v
}

/// The location named by the request's resource, or the first one the type is offered in.
fn location(state: &State, req: &Req, ty: &str, offered: &[String]) -> String {
    let path = format!("/{}", req.segs.join("/"));
    let own = if ty == MANAGED_CLUSTERS {
        state
            .clusters
            .iter()
            .find(|c| {
                path.to_ascii_lowercase()
                    .starts_with(&c.id.to_ascii_lowercase())
            })
            .map(|c| c.location.clone())
    } else {
        state
            .registries
            .iter()
            .find(|r| {
                path.to_ascii_lowercase()
                    .starts_with(&r.id.to_ascii_lowercase())
            })
            .map(|r| r.location.clone())
    };
    own.or_else(|| offered.first().cloned())
        .unwrap_or_else(|| "eastus".into())
}

/// Refuse an `api-version` the addressed resource type does not have in this cloud.
pub(super) fn check(core: &Core, req: &Req) -> Result<(), Response> {
    let Some(ty) = resource_type(&req.segs) else {
        return Ok(());
    };
    let version = req.q("api-version").unwrap_or_default();
    let state = core.state();
    let Some(supported) = state.behaviour.versions(&ty) else {
        return Ok(());
    };
    if supported.iter().any(|v| v.eq_ignore_ascii_case(version)) {
        return Ok(());
    }
    if ty == MANAGED_CLUSTERS || ty == REGISTRIES {
        let offered = locations(&state, &ty);
        let loc = location(&state, req, &ty, &offered);
        let short = ty.rsplit('/').next().unwrap_or_default();
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "NoRegisteredProviderFound",
            &format!(
                "No registered resource provider found for location '{loc}' and API version '{version}' for type '{short}'. The supported api-versions are '{}'. The supported locations are '{}'.",
                supported.join(", "),
                offered.join(", ")
            ),
        ));
    }
    if let Some(short) = ty.strip_prefix("Microsoft.Authorization/") {
        let mut oldest_first = supported.clone();
        oldest_first.reverse();
        if short.eq_ignore_ascii_case("roleDefinitions") {
            let offered = locations(&state, MANAGED_CLUSTERS);
            let loc = offered.first().map_or("eastus", String::as_str);
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "NoRegisteredProviderFound",
                &format!(
                    "No registered resource provider found for location '{loc}' and API version '{version}' for type 'roleDefinitions'. The supported api-versions are '{}'. The supported locations are ''.",
                    oldest_first.join(", ")
                ),
            ));
        }
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            &format!(
                "The resource type '{short}' could not be found in the namespace 'Microsoft.Authorization' for api version '{version}'. The supported api-versions are '{}'.",
                oldest_first.join(",")
            ),
        ));
    }
    Err(arm_err(
        StatusCode::BAD_REQUEST,
        "InvalidApiVersionParameter",
        &format!(
            "The api-version '{version}' is invalid. The supported versions are '{}'.",
            supported.join(",")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::resource_type;

    fn segs(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn types_of_paths() {
        assert_eq!(
            resource_type(&segs(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c/resetServicePrincipalProfile"
            ))
            .as_deref(),
            Some("Microsoft.ContainerService/managedClusters")
        );
        assert_eq!(
            resource_type(&segs(
                "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/x"
            ))
            .as_deref(),
            Some("Microsoft.Authorization/roleAssignments")
        );
        assert_eq!(
            resource_type(&segs(
                "/subscriptions/s/providers/Microsoft.ContainerService/locations/eastus/operations/1"
            )),
            None
        );
        assert_eq!(
            resource_type(&segs("/subscriptions")).as_deref(),
            Some("Microsoft.Resources/subscriptions")
        );
    }
}
