//! The envelope's `cluster_operation_url`, checked before any request: the reset a rerun
//! follows instead of posting again.

use common::arm::{OperationKind, ResourceId};
use common::cloud::Cloud;
use common::envelope::fields;
use common::validate::shown;
use common::{Error, Result};
use url::Url;

/// An operation URL from an earlier run, checked as far as the flags and the envelope allow:
/// an operation of `Microsoft.ContainerService` in the cluster's own subscription, on this
/// cloud's ARM endpoint. Its location is checked against the cluster once it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperationRef {
    /// The URL, as given.
    pub url: Url,
    /// How it reports the end (`…/operations/{id}`: a status; `…/operationresults/{id}`: 202 until done).
    pub kind: OperationKind,
    /// The location it names (lower case).
    pub location: String,
}

/// The envelope's `cluster_operation_url`. A claim by whoever wrote the envelope: it is
/// followed (a read) only when it has the shape of the operation AKS answers a reset with
/// (`{ARM}/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{location}/operations/{id}`,
/// or `…/operationresults/{id}`, as in the recorded `ManagedClustersResetServicePrincipalProfile`
/// example) in the cluster's subscription; anything else, e.g. another ARM URL that answers
/// 200 without a status, is refused here, before any request.
impl OperationRef {
    /// Checks `value` (see the type); refused naming the field.
    pub(crate) fn parse(value: &str, cloud: &Cloud, cluster: &ResourceId) -> Result<Self> {
        let field = fields::CLUSTER_OPERATION_URL.name;
        let bad = |why: &str| {
            Error::input(field, format!("`{field}` {why}: {}", shown(value)))
                .with_hint("remove the field to post the reset again, or pass the object exactly as aks-sp-update wrote it")
        };
        let url = Url::parse(value.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !common::http::same_origin(&url, &cloud.arm) {
            return Err(bad(&format!(
                "is not on this cloud's Resource Manager endpoint ({})",
                cloud.arm.origin().ascii_serialization()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(bad("carries credentials or a fragment"));
        }
        let not_aks = || {
            bad(&format!(
                "is not an operation of Microsoft.ContainerService in the cluster's subscription {}              (…/subscriptions/{}/providers/Microsoft.ContainerService/locations/<location>/operations/<id>)",
                cluster.subscription, cluster.subscription
            ))
        };
        // The path below the endpoint's own (a custom cloud's endpoint may have one).
        let base = cloud.arm.path().trim_end_matches('/');
        let path = url.path().strip_prefix(base).ok_or_else(not_aks)?;
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let word = |i: usize, w: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(w));
        let plain =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let kind = match segs.get(6).map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("operations") => OperationKind::Status,
            Some("operationresults") => OperationKind::Location,
            _ => return Err(not_aks()),
        };
        let shaped = segs.len() == 8
            && word(0, "subscriptions")
            && word(1, &cluster.subscription)
            && word(2, "providers")
            && word(3, "Microsoft.ContainerService")
            && word(4, "locations")
            && plain(segs[5])
            && plain(segs[7]);
        if !shaped {
            return Err(not_aks());
        }
        Ok(Self {
            kind,
            location: segs[5].to_ascii_lowercase(),
            url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::arm::clusters::CLUSTER_TYPE;

    const ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";

    #[test]
    fn operation_urls_must_be_aks_operations_in_the_clusters_subscription() {
        let c = Cloud::azure_public();
        let id = ResourceId::parse("cluster_id", ID, CLUSTER_TYPE).unwrap();
        let sub = "00000000-0000-0000-0000-00000000000a";
        // The recorded 202 of ManagedClustersResetServicePrincipalProfile (Location), and
        // the Azure-AsyncOperation form AKS answers beside it.
        let location = format!(
            "https://management.azure.com/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/eastus/operationresults/00000000-0000-0000-0000-000000000000?api-version=2017-08-31"
        );
        let status = format!(
            "https://management.azure.com/subscriptions/{}/providers/microsoft.containerservice/locations/EastUS/operations/43feeb4b-0000-4000-8000-000000000001?api-version=2016-03-30&t=1&c=x&s=y&h=z",
            sub.to_uppercase()
        );
        let op = OperationRef::parse(&location, &c, &id).unwrap();
        assert_eq!(
            (op.url.as_str(), op.kind, op.location.as_str()),
            (location.as_str(), OperationKind::Location, "eastus")
        );
        let op = OperationRef::parse(&status, &c, &id).unwrap();
        assert_eq!(
            (op.kind, op.location.as_str()),
            (OperationKind::Status, "eastus")
        );
        for bad in [
            "https://management.azure.com.evil.com/x".to_owned(),
            "https://user:pw@management.azure.com/x".to_owned(),
            "https://management.azure.com:8443/x".to_owned(),
            "nope".to_owned(),
            // Issue 23, attack 2: an ARM URL that answers 200 without a status.
            "https://management.azure.com/subscriptions?api-version=2022-12-01".to_owned(),
            format!("https://management.azure.com{ID}?api-version=2025-10-01"),
            location.replace(sub, "00000000-0000-0000-0000-00000000000b"),
            location.replace("ContainerService", "Resources"),
            location.replace("operationresults", "deployments"),
            location.replace("operationresults/", "operationresults/x/"),
            location.replace("/eastus/", "/east%2Fus/"),
            location.replace("?api", "#f?api"),
        ] {
            let e = OperationRef::parse(&bad, &c, &id).unwrap_err();
            assert!(e.message().contains("cluster_operation_url"), "{bad}: {e}");
        }
    }
}
