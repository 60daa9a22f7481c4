//! Azure Resource Manager: subscriptions, resource groups, registries, role definitions, role
//! assignments, managed clusters and the service-principal reset with its async operation.
//!
//! Paths compare case-insensitively. Every call needs a token for the ARM audience from the
//! tenant that owns the subscription it touches, and the permission the real action needs.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::core::{AuthFail, Bucket, Core, Principal, audience_in, lock};
use crate::crypto::{digest_eq, sha256_hex};
use crate::http::{Req, arm_err, empty, is_guid, json, set_header, with_caller};
use crate::model::{
    Cluster, Operation, Registry, RoleAssignment, RoleDefinition, State, Subscription, fmt_ticks,
    now,
};
use crate::rbac::{allows, has_any_role_near, normalize_scope, scope_covers};

type R = Result<Response, Response>;

const ARM_AUDIENCES: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
];

const KNOWN_NAMESPACES: &[&str] = &[
    "microsoft.containerregistry",
    "microsoft.containerservice",
    "microsoft.authorization",
    "microsoft.network",
    "microsoft.managedidentity",
    "microsoft.compute",
    "microsoft.storage",
    "microsoft.resources",
];

/// Serve an ARM request.
pub(crate) fn handle(core: &Core, req: &Req) -> Response {
    let p = match core.bearer(req, &|a| audience_in(a, ARM_AUDIENCES)) {
        Ok(p) => p,
        Err(e) => return auth_error(&e),
    };
    let r = (|| {
        if req.q("api-version").is_none_or(str::is_empty) {
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ));
        }
        let write = matches!(
            req.method,
            Method::PUT | Method::POST | Method::PATCH | Method::DELETE
        );
        let remaining = if write { throttle(core, &p)? } else { None };
        let mut r = route(core, req, &p)?;
        if let Some(n) = remaining {
            set_header(
                &mut r,
                "x-ms-ratelimit-remaining-subscription-writes",
                &n.to_string(),
            );
        }
        Ok(r)
    })()
    .unwrap_or_else(|e| e);
    with_caller(r, &p.app_id, &p.tenant_id)
}

fn auth_error(e: &AuthFail) -> Response {
    let (code, msg, desc) = match e {
        AuthFail::Missing => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
            "The authentication failed because of missing 'Authorization' header.",
        ),
        AuthFail::Expired { exp } => (
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                time::OffsetDateTime::from_unix_timestamp(*exp)
                    .map(crate::model::fmt_secs)
                    .unwrap_or_default(),
                crate::model::fmt_secs(now())
            ),
            "The access token expired.",
        ),
        AuthFail::WrongAudience { aud } => (
            "InvalidAuthenticationToken",
            format!(
                "The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
            ),
            "The access token has been obtained for wrong audience or resource.",
        ),
        AuthFail::Malformed | AuthFail::BadSignature | AuthFail::NotYetValid => (
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_string(),
            "The access token is invalid.",
        ),
    };
    let mut r = arm_err(StatusCode::UNAUTHORIZED, code, &msg);
    set_header(
        &mut r,
        "www-authenticate",
        &format!(
            "Bearer authorization_uri=\"https://login.windows.net/\", error=\"invalid_token\", error_description=\"{desc}\""
        ),
    );
    r
}

/// Take one write token for the caller, or answer 429 as ARM does.
fn throttle(core: &Core, p: &Principal) -> Result<Option<u64>, Response> {
    let Some(limit) = core.write_limit else {
        return Ok(None);
    };
    let mut buckets = lock(&core.buckets);
    let key = format!("{}/{}", p.tenant_id, p.oid);
    let t = std::time::Instant::now();
    let burst = f64::from(limit.burst.max(1));
    let b = buckets.entry(key).or_insert(Bucket {
        tokens: burst,
        at: t,
    });
    b.tokens = (b.tokens + t.duration_since(b.at).as_secs_f64() * limit.per_second).min(burst);
    b.at = t;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        return Ok(Some(b.tokens.floor() as u64));
    }
    let wait = if limit.per_second > 0.0 {
        ((1.0 - b.tokens) / limit.per_second).ceil().max(1.0) as u64
    } else {
        60
    };
    let mut r = arm_err(
        StatusCode::TOO_MANY_REQUESTS,
        "SubscriptionRequestsThrottled",
        &format!(
            "Number of 'write' requests for subscription actor '{}' exceeded. Please try again after '{wait}' seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
            p.oid
        ),
    );
    set_header(&mut r, "retry-after", &wait.to_string());
    set_header(&mut r, "x-ms-ratelimit-remaining-subscription-writes", "0");
    Err(r)
}

fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn not_allowed(req: &Req) -> Response {
    arm_err(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!(
            "The HTTP method '{}' is not supported for the resource path '{}'.",
            req.method, req.path
        ),
    )
}

fn route(core: &Core, req: &Req, p: &Principal) -> R {
    let segs = &req.segs;
    // Authorization extension resources at any scope.
    if let Some(i) = (0..segs.len().saturating_sub(1))
        .rev()
        .find(|&i| lc(&segs[i]) == "providers" && lc(&segs[i + 1]) == "microsoft.authorization")
    {
        let scope = normalize_scope(&segs[..i].join("/"));
        let ext = &segs[i + 2..];
        return authorization(core, req, p, &scope, ext);
    }
    let l: Vec<String> = segs.iter().map(|s| lc(s)).collect();
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    match l.as_slice() {
        ["subscriptions"] if req.method == Method::GET => Ok(list_subscriptions(core, p)),
        ["tenants"] if req.method == Method::GET => Ok(list_tenants(core, p)),
        ["subscriptions", _] if req.method == Method::GET => get_subscription(core, p, &segs[1]),
        ["subscriptions", _, "resourcegroups"] if req.method == Method::GET => {
            resource_groups(core, p, &segs[1], None)
        }
        ["subscriptions", _, "resourcegroups", _] if req.method == Method::GET => {
            resource_groups(core, p, &segs[1], Some(&segs[3]))
        }
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.containerservice",
            "locations",
            _,
            kind @ ("operations" | "operationresults"),
            _,
        ] if req.method == Method::GET => {
            operation(core, p, &segs[1], &segs[7], *kind == "operationresults")
        }
        ["subscriptions", _, "providers", ns, ty] => {
            list_resources(core, req, p, &segs[1], None, ns, ty)
        }
        ["subscriptions", _, "resourcegroups", _, "providers", ns, ty] => {
            list_resources(core, req, p, &segs[1], Some(&segs[3]), ns, ty)
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            ns,
            ty,
            _,
            rest @ ..,
        ] => resource(core, req, p, ns, ty, rest),
        ["subscriptions", _, rest @ ..] if !rest.is_empty() => Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceId",
            &format!("The resource id '{}' is not valid.", req.path),
        )),
        [] | ["subscriptions" | "tenants", ..] => Err(not_allowed(req)),
        _ => Err(arm_err(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("The requested resource '{}' does not exist.", req.path),
        )),
    }
}

// ---------------------------------------------------------------- checks

/// The subscription, if it exists and belongs to the caller's tenant.
fn check_sub<'a>(state: &'a State, p: &Principal, sub: &str) -> Result<&'a Subscription, Response> {
    if !is_guid(sub) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidSubscriptionId",
            &format!("The provided subscription identifier '{sub}' is malformed or invalid."),
        ));
    }
    let s = state.subscription(sub).ok_or_else(|| {
        arm_err(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        )
    })?;
    if !s.tenant_id.eq_ignore_ascii_case(&p.tenant_id) {
        return Err(arm_err(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenTenant",
            &format!(
                "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the tenant 'https://sts.windows.net/{}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
                p.tenant_id, s.tenant_id, s.tenant_id
            ),
        ));
    }
    Ok(s)
}

fn authorize(state: &State, p: &Principal, scope: &str, action: &str) -> Result<(), Response> {
    if allows(state, &p.oid, scope, action) {
        Ok(())
    } else {
        Err(arm_err(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            &format!(
                "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                p.app_id, p.oid
            ),
        ))
    }
}

/// Check that an ARM scope exists and is the caller's; returns the subscription id (if any).
fn check_scope(state: &State, p: &Principal, scope: &str) -> Result<Option<String>, Response> {
    if scope == "/" {
        return Ok(None);
    }
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let invalid = || {
        arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceId",
            &format!("The scope '{scope}' is not a valid resource id."),
        )
    };
    if segs.len() < 2 || lc(segs[0]) != "subscriptions" {
        return Err(invalid());
    }
    let sub = check_sub(state, p, segs[1])?.clone();
    if segs.len() == 2 {
        return Ok(Some(sub.id));
    }
    if segs.len() < 4 || lc(segs[2]) != "resourcegroups" {
        return Err(invalid());
    }
    let rg = segs[3];
    if !sub
        .resource_groups
        .iter()
        .any(|g| g.name.eq_ignore_ascii_case(rg))
    {
        return Err(arm_err(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        ));
    }
    if segs.len() == 4 {
        return Ok(Some(sub.id));
    }
    if segs.len() < 8 || lc(segs[4]) != "providers" || !segs.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let exists = state
        .registries
        .iter()
        .any(|r| r.id.eq_ignore_ascii_case(scope))
        || state
            .clusters
            .iter()
            .any(|c| c.id.eq_ignore_ascii_case(scope))
        || state
            .resources
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(scope));
    if !exists {
        return Err(resource_not_found(segs[5], &segs[6..], rg));
    }
    Ok(Some(sub.id))
}

fn resource_not_found(ns: &str, type_name: &[&str], rg: &str) -> Response {
    let (types, name): (Vec<&str>, &str) = {
        let n = type_name.last().copied().unwrap_or_default();
        let t: Vec<&str> = type_name.iter().step_by(2).copied().collect();
        (t, n)
    };
    arm_err(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!(
            "The Resource '{ns}/{}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            types.join("/")
        ),
    )
}

// ---------------------------------------------------------------- subscriptions, groups

fn sub_json(s: &Subscription) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.id,
        "tenantId": s.tenant_id,
        "displayName": s.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
    })
}

fn list_subscriptions(core: &Core, p: &Principal) -> Response {
    let state = core.state();
    let value: Vec<Value> = state
        .subscriptions
        .iter()
        .filter(|s| {
            s.tenant_id.eq_ignore_ascii_case(&p.tenant_id)
                && has_any_role_near(&state, &p.oid, &format!("/subscriptions/{}", s.id))
        })
        .map(sub_json)
        .collect();
    let n = value.len();
    json(
        StatusCode::OK,
        &json!({"value": value, "count": {"type": "Total", "value": n}}),
    )
}

fn list_tenants(core: &Core, p: &Principal) -> Response {
    let state = core.state();
    let value: Vec<Value> = state
        .tenant(&p.tenant_id)
        .map(|t| {
            json!({
                "id": format!("/tenants/{}", t.id),
                "tenantId": t.id,
                "tenantCategory": "Home",
                "displayName": t.display_name,
                "defaultDomain": t.domains[0],
                "domains": t.domains,
            })
        })
        .into_iter()
        .collect();
    json(StatusCode::OK, &json!({"value": value}))
}

fn get_subscription(core: &Core, p: &Principal, sub: &str) -> R {
    let state = core.state();
    let s = check_sub(&state, p, sub)?;
    let scope = format!("/subscriptions/{}", s.id);
    if !has_any_role_near(&state, &p.oid, &scope) {
        authorize(&state, p, &scope, "Microsoft.Resources/subscriptions/read")?;
    }
    Ok(json(StatusCode::OK, &sub_json(s)))
}

fn resource_groups(core: &Core, p: &Principal, sub: &str, rg: Option<&str>) -> R {
    let state = core.state();
    let s = check_sub(&state, p, sub)?.clone();
    let rg_json = |name: &str, location: &str| {
        json!({
            "id": format!("/subscriptions/{}/resourceGroups/{name}", s.id),
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        })
    };
    if let Some(rg) = rg {
        let scope = format!("/subscriptions/{}/resourceGroups/{rg}", s.id);
        authorize(
            &state,
            p,
            &scope,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        )?;
        let g = s
            .resource_groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(rg))
            .ok_or_else(|| {
                arm_err(
                    StatusCode::NOT_FOUND,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{rg}' could not be found."),
                )
            })?;
        return Ok(json(StatusCode::OK, &rg_json(&g.name, &g.location)));
    }
    let value: Vec<Value> = s
        .resource_groups
        .iter()
        .filter(|g| {
            allows(
                &state,
                &p.oid,
                &format!("/subscriptions/{}/resourceGroups/{}", s.id, g.name),
                "Microsoft.Resources/subscriptions/resourceGroups/read",
            )
        })
        .map(|g| rg_json(&g.name, &g.location))
        .collect();
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

// ---------------------------------------------------------------- resources

fn registry_json(core: &Core, r: &Registry) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "type": "Microsoft.ContainerRegistry/registries",
        "location": r.location,
        "tags": {},
        "sku": {"name": r.sku, "tier": r.sku},
        "properties": {
            "loginServer": core.login_server(&r.name),
            "creationDate": fmt_ticks(r.created_at),
            "provisioningState": "Succeeded",
            "adminUserEnabled": false,
            "networkRuleSet": {"defaultAction": "Allow", "ipRules": []},
            "policies": {
                "quarantinePolicy": {"status": "disabled"},
                "trustPolicy": {"type": "Notary", "status": "disabled"},
                "retentionPolicy": {"days": 7, "lastUpdatedTime": fmt_ticks(r.created_at), "status": "disabled"},
                "exportPolicy": {"status": "enabled"},
                "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
            },
            "encryption": {"status": "disabled"},
            "status": null,
            "dataEndpointEnabled": false,
            "dataEndpointHostNames": [],
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Enabled",
            "networkRuleBypassOptions": "AzureServices",
            "networkRuleBypassAllowedForTasks": false,
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": false,
            "roleAssignmentMode": r.role_assignment_mode,
        }
    })
}

fn cluster_json(state: &State, c: &Cluster) -> Value {
    let subnet = state
        .resources
        .iter()
        .find(|r| {
            r.id.to_ascii_lowercase().contains("/subnets/")
                && r.id.to_ascii_lowercase().starts_with(&format!(
                    "/subscriptions/{}/",
                    c.subscription_id.to_ascii_lowercase()
                ))
        })
        .map(|r| r.id.clone());
    let dns = format!("{}-dns", c.name);
    let etag = &sha256_hex(
        format!(
            "{}{}{}",
            c.id, c.service_principal_client_id, c.provisioning_state
        )
        .as_bytes(),
    )[..8];
    let mut pool = json!({
        "name": "nodepool1",
        "availabilityZones": ["1", "2", "3"],
        "count": 3,
        "currentOrchestratorVersion": c.kubernetes_version,
        "eTag": etag,
        "maxPods": 110,
        "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202501.12.0",
        "orchestratorVersion": c.kubernetes_version,
        "osType": "Linux",
        "provisioningState": c.provisioning_state,
        "upgradeSettings": {"maxSurge": "33%"},
        "vmSize": "Standard_DS2_v2",
    });
    if let Some(s) = &subnet {
        pool["vnetSubnetID"] = json!(s);
    }
    let mut v = json!({
        "name": c.name,
        "type": "Microsoft.ContainerService/managedClusters",
        "eTag": etag,
        "id": c.id,
        "location": c.location,
        "properties": {
            "agentPoolProfiles": [pool],
            "azurePortalFQDN": format!("{dns}-portal.hcp.{}.azmk8s.io", c.location),
            "currentKubernetesVersion": c.kubernetes_version,
            "diskEncryptionSetID": null,
            "dnsPrefix": dns,
            "enableRBAC": true,
            "fqdn": format!("{dns}.hcp.{}.azmk8s.io", c.location),
            "kubernetesVersion": c.kubernetes_version,
            "linuxProfile": {"adminUsername": "azureuser", "ssh": {"publicKeys": [{"keyData": "ssh-rsa AAAAB3NzaC1yc2E simulated"}]}},
            "maxAgentPools": 100,
            "networkProfile": {
                "dnsServiceIP": "10.0.0.10",
                "ipFamilies": ["IPv4"],
                "loadBalancerProfile": {
                    "allocatedOutboundPorts": 0,
                    "effectiveOutboundIPs": [{"id": format!("/subscriptions/{}/resourceGroups/MC_{}_{}_{}/providers/Microsoft.Network/publicIPAddresses/outbound-ip", c.subscription_id, c.resource_group, c.name, c.location)}],
                    "idleTimeoutInMinutes": 30,
                    "outboundIPs": {"publicIPs": []},
                },
                "loadBalancerSku": "standard",
                "networkPlugin": if subnet.is_some() { "azure" } else { "kubenet" },
                "outboundType": "loadBalancer",
                "podCidr": "10.244.0.0/16",
                "podCidrs": ["10.244.0.0/16"],
                "serviceCidr": "10.0.0.0/16",
                "serviceCidrs": ["10.0.0.0/16"],
            },
            "nodeResourceGroup": format!("MC_{}_{}_{}", c.resource_group, c.name, c.location),
            "provisioningState": c.provisioning_state,
            "servicePrincipalProfile": {"clientId": c.service_principal_client_id},
            "upgradeSettings": {"overrideSettings": {"forceUpgrade": false, "until": null}},
        },
        "tags": {},
    });
    if let Some(id) = &c.identity {
        v["identity"] =
            json!({"type": id.kind, "principalId": id.principal_id, "tenantId": id.tenant_id});
    }
    v
}

fn namespace_check(req: &Req, ns: &str, ty: &str, known_types: &[&str]) -> Result<(), Response> {
    if !KNOWN_NAMESPACES.contains(&ns) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceNamespace",
            &format!("The resource namespace '{ns}' is invalid."),
        ));
    }
    if !known_types.is_empty() && !known_types.contains(&ty) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            &format!(
                "The resource type '{ty}' could not be found in the namespace '{ns}' for api version '{}'.",
                req.q("api-version").unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn list_resources(
    core: &Core,
    req: &Req,
    p: &Principal,
    sub: &str,
    rg: Option<&str>,
    ns: &str,
    ty: &str,
) -> R {
    if req.method != Method::GET {
        return Err(not_allowed(req));
    }
    let state = core.state();
    let s = check_sub(&state, p, sub)?.clone();
    let scope = match rg {
        Some(g) => format!("/subscriptions/{}/resourceGroups/{g}", s.id),
        None => format!("/subscriptions/{}", s.id),
    };
    check_scope(&state, p, &scope)?;
    let in_scope = |id: &str| scope_covers(&scope, id);
    let value: Vec<Value> = match (ns, ty) {
        ("microsoft.containerregistry", "registries") => state
            .registries
            .iter()
            .filter(|r| {
                in_scope(&r.id)
                    && allows(
                        &state,
                        &p.oid,
                        &r.id,
                        "Microsoft.ContainerRegistry/registries/read",
                    )
            })
            .map(|r| registry_json(core, r))
            .collect(),
        ("microsoft.containerservice", "managedclusters") => state
            .clusters
            .iter()
            .filter(|c| {
                in_scope(&c.id)
                    && allows(
                        &state,
                        &p.oid,
                        &c.id,
                        "Microsoft.ContainerService/managedClusters/read",
                    )
            })
            .map(|c| cluster_json(&state, c))
            .collect(),
        _ => {
            namespace_check(req, ns, ty, &["registries", "managedclusters"])?;
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "InvalidResourceType",
                &format!("The resource type '{ty}' could not be found in the namespace '{ns}'."),
            ));
        }
    };
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

fn resource(core: &Core, req: &Req, p: &Principal, ns: &str, ty: &str, rest: &[&str]) -> R {
    let segs = &req.segs;
    let id_len = 8 + rest.len() - rest.len() % 2;
    let id = format!("/{}", segs[..id_len.min(segs.len())].join("/"));
    let action = (rest.len() % 2 == 1).then(|| lc(rest[rest.len() - 1]));
    let mut state = core.state();
    check_sub(&state, p, &segs[1])?;
    match (ns, ty, rest.len(), action.as_deref()) {
        ("microsoft.containerregistry", "registries", 0, None) => {
            if req.method != Method::GET {
                return Err(not_allowed(req));
            }
            authorize(
                &state,
                p,
                &id,
                "Microsoft.ContainerRegistry/registries/read",
            )?;
            check_scope(
                &state,
                p,
                &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
            )?;
            let r = state
                .registries
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(&id))
                .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))?;
            Ok(json(StatusCode::OK, &registry_json(core, r)))
        }
        ("microsoft.containerservice", "managedclusters", 0, None) => {
            if req.method != Method::GET {
                return Err(not_allowed(req));
            }
            authorize(
                &state,
                p,
                &id,
                "Microsoft.ContainerService/managedClusters/read",
            )?;
            check_scope(
                &state,
                p,
                &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
            )?;
            let c = state
                .clusters
                .iter()
                .find(|c| c.id.eq_ignore_ascii_case(&id))
                .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))?;
            Ok(json(StatusCode::OK, &cluster_json(&state, c)))
        }
        (
            "microsoft.containerservice",
            "managedclusters",
            1,
            Some("resetserviceprincipalprofile"),
        ) => {
            if req.method != Method::POST {
                return Err(not_allowed(req));
            }
            reset(core, req, p, &mut state, &id)
        }
        (_, _, _, None) if req.method == Method::GET => {
            namespace_check(req, ns, ty, &[])?;
            authorize(&state, p, &id, &format!("{}/{}/read", segs[5], segs[6]))?;
            check_scope(
                &state,
                p,
                &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
            )?;
            let r = state
                .resources
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(&id))
                .ok_or_else(|| {
                    let tn: Vec<&str> = segs[6..id_len].iter().map(String::as_str).collect();
                    resource_not_found(&segs[5], &tn, &segs[3])
                })?;
            let types: Vec<&str> = segs[5..id_len]
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 2 == 1 || *i == 0)
                .map(|(_, s)| s.as_str())
                .collect();
            Ok(json(
                StatusCode::OK,
                &json!({
                    "id": r.id,
                    "name": r.id.rsplit('/').next(),
                    "type": types.join("/"),
                    "location": r.location,
                    "properties": {"provisioningState": "Succeeded"},
                }),
            ))
        }
        _ => {
            namespace_check(req, ns, ty, &[])?;
            Err(not_allowed(req))
        }
    }
}

// ---------------------------------------------------------------- the reset and its operation

#[expect(
    clippy::too_many_lines,
    reason = "AKS checks a reset in one fixed order"
)]
fn reset(core: &Core, req: &Req, p: &Principal, state: &mut State, id: &str) -> R {
    let segs = &req.segs;
    authorize(
        state,
        p,
        id,
        "Microsoft.ContainerService/managedClusters/resetServicePrincipalProfile/action",
    )?;
    check_scope(
        state,
        p,
        &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
    )?;
    let cluster = state
        .clusters
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id))
        .cloned()
        .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))?;
    let body = json_object(req)?;
    let client_id = body
        .get("clientId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if client_id.is_empty() {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Required parameter servicePrincipalProfile.clientId is missing (null).",
        ));
    }
    if cluster
        .service_principal_client_id
        .eq_ignore_ascii_case("msi")
        || cluster.identity.is_some()
    {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "This action cannot be performed on a cluster that is not using a service principal",
        ));
    }
    if let Some(op) = state.running_operation(id) {
        return Err(arm_err(
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            &format!(
                "Operation is not allowed because there's an in progress reset service principal profile operation (operation id '{}', provisioning state 'Updating'). Please wait for it to finish before starting a new operation.",
                op.id
            ),
        ));
    }
    let Some(secret) = body
        .get("secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Required parameter servicePrincipalProfile.secret is missing (null).",
        ));
    };
    if secret.len() > 190 {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            &format!(
                "The value of parameter servicePrincipalProfile.secret is invalid: the secret is {} bytes long; it must not be longer than 190 bytes.",
                secret.len()
            ),
        ));
    }
    validate_sp_credentials(state, &cluster, &client_id, secret)?;
    let outcome = crate::faults::take_operation_outcome(core);
    let op_id = uuid::Uuid::new_v4().to_string();
    let loc = cluster.location.clone();
    let (final_status, fault_code, fault_message) = match &outcome {
        Some(o) => (o.status.clone(), o.code.clone(), o.message.clone()),
        None => ("Succeeded".to_string(), None, None),
    };
    let (error_code, error_message) =
        match final_status.as_str() {
            "Failed" => (
                Some(fault_code.unwrap_or_else(|| "InternalOperationError".into())),
                Some(fault_message.unwrap_or_else(|| {
                    "Resetting the service principal profile failed (injected by azure-sim).".into()
                })),
            ),
            "Canceled" => (
                Some(fault_code.unwrap_or_else(|| "OperationCanceled".into())),
                Some(fault_message.unwrap_or_else(|| {
                    "The operation was canceled (injected by azure-sim).".into()
                })),
            ),
            _ => (None, None),
        };
    state.operations.push(Operation {
        id: op_id.clone(),
        cluster_id: cluster.id.clone(),
        subscription_id: cluster.subscription_id.clone(),
        location: loc.clone(),
        started_at: now(),
        duration_ms: core.lro_duration.as_millis() as u64,
        outcome: final_status,
        error_code,
        error_message,
        new_client_id: client_id,
        new_secret_sha256: Some(sha256_hex(secret.as_bytes())),
        status: "InProgress".into(),
        ended_at: None,
    });
    if let Some(c) = state
        .clusters
        .iter_mut()
        .find(|c| c.id.eq_ignore_ascii_case(id))
    {
        "Updating".clone_into(&mut c.provisioning_state);
    }
    let base = format!(
        "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{loc}",
        core.url, cluster.subscription_id
    );
    let mut r = empty(StatusCode::ACCEPTED);
    set_header(
        &mut r,
        "azure-asyncoperation",
        &format!("{base}/operations/{op_id}?api-version=2016-03-30"),
    );
    set_header(
        &mut r,
        "location",
        &format!("{base}/operationresults/{op_id}?api-version=2016-03-30"),
    );
    set_header(
        &mut r,
        "retry-after",
        &retry_after(core.lro_duration.as_secs_f64(), false).to_string(),
    );
    Ok(r)
}

/// AKS checks the new credential before accepting a reset.
fn validate_sp_credentials(
    state: &State,
    cluster: &Cluster,
    client_id: &str,
    secret: &str,
) -> Result<(), Response> {
    let not_found = || {
        arm_err(
            StatusCode::BAD_REQUEST,
            "ServicePrincipalValidationClientError",
            &format!(
                "Service principal clientID: {client_id} not found in Active Directory tenant {}, Please see https://aka.ms/aks-sp-help for more details.",
                cluster.tenant_id
            ),
        )
    };
    let app = state.app_by_app_id(client_id).ok_or_else(not_found)?;
    state
        .sp_in_tenant(client_id, &cluster.tenant_id)
        .ok_or_else(not_found)?;
    let h = sha256_hex(secret.as_bytes());
    let t = now();
    if !app
        .password_credentials
        .iter()
        .any(|p| digest_eq(&p.secret_sha256, &h) && p.start <= t && t < p.end)
    {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "ServicePrincipalValidationClientError",
            &format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        ));
    }
    Ok(())
}

/// Seconds to wait before polling again: at least 1, at most the time left, capped at 10.
fn retry_after(remaining_secs: f64, hang: bool) -> u64 {
    if hang {
        return 5;
    }
    (remaining_secs.floor() as u64).clamp(1, 10)
}

fn operation(core: &Core, p: &Principal, sub: &str, op_id: &str, result: bool) -> R {
    let state = core.state();
    check_sub(&state, p, sub)?;
    let op = state
        .operations
        .iter()
        .find(|o| o.id.eq_ignore_ascii_case(op_id) && o.subscription_id.eq_ignore_ascii_case(sub))
        .ok_or_else(|| {
            arm_err(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("The operation '{op_id}' could not be found."),
            )
        })?;
    let error = || json!({"code": op.error_code, "message": op.error_message});
    if result {
        return Ok(match op.status.as_str() {
            "InProgress" => {
                let mut r = empty(StatusCode::ACCEPTED);
                let base = format!(
                    "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{}",
                    core.url, op.subscription_id, op.location
                );
                set_header(
                    &mut r,
                    "location",
                    &format!("{base}/operationresults/{}?api-version=2016-03-30", op.id),
                );
                set_header(&mut r, "retry-after", &remaining(op).to_string());
                r
            }
            "Succeeded" => empty(StatusCode::NO_CONTENT),
            "Canceled" => json(StatusCode::CONFLICT, &json!({"error": error()})),
            _ => json(StatusCode::BAD_REQUEST, &json!({"error": error()})),
        });
    }
    let mut v = json!({
        "name": op.id,
        "status": op.status,
        "startTime": fmt_ticks(op.started_at),
    });
    if let Some(e) = op.ended_at {
        v["endTime"] = json!(fmt_ticks(e));
    }
    if op.status == "Failed" || op.status == "Canceled" {
        v["error"] = error();
    }
    let mut r = json(StatusCode::OK, &v);
    if op.status == "InProgress" {
        set_header(&mut r, "retry-after", &remaining(op).to_string());
    }
    Ok(r)
}

fn remaining(op: &Operation) -> u64 {
    let ends = op.started_at.saturating_add(time::Duration::milliseconds(
        i64::try_from(op.duration_ms).unwrap_or(i64::MAX),
    ));
    retry_after((ends - now()).as_seconds_f64(), op.outcome == "Hang")
}

// ---------------------------------------------------------------- Microsoft.Authorization

fn authorization(core: &Core, req: &Req, p: &Principal, scope: &str, ext: &[String]) -> R {
    let l: Vec<String> = ext.iter().map(|s| lc(s)).collect();
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    match (l.as_slice(), &req.method) {
        (["roledefinitions"], &Method::GET) => list_role_definitions(core, req, p, scope),
        (["roledefinitions", _], &Method::GET) => get_role_definition(core, p, scope, &ext[1]),
        (["roleassignments"], &Method::GET) => list_role_assignments(core, req, p, scope),
        (["roleassignments", _], &Method::GET) => get_role_assignment(core, p, scope, &ext[1]),
        (["roleassignments", _], &Method::PUT) => put_role_assignment(core, req, p, scope, &ext[1]),
        (["roleassignments", _], &Method::DELETE) => {
            delete_role_assignment(core, p, scope, &ext[1])
        }
        (["roledefinitions" | "roleassignments", ..] | [], _) => Err(not_allowed(req)),
        ([other, ..], _) => Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            &format!(
                "The resource type '{other}' could not be found in the namespace 'Microsoft.Authorization' for api version '{}'.",
                req.q("api-version").unwrap_or_default()
            ),
        )),
    }
}

fn role_def_json(rd: &RoleDefinition, sub: Option<&str>) -> Value {
    let id = match sub {
        Some(s) => format!(
            "/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{}",
            rd.id
        ),
        None => format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{}",
            rd.id
        ),
    };
    json!({
        "properties": {
            "roleName": rd.role_name,
            "type": rd.role_type,
            "description": rd.description,
            "assignableScopes": rd.assignable_scopes,
            "permissions": [{
                "actions": rd.actions,
                "notActions": rd.not_actions,
                "dataActions": rd.data_actions,
                "notDataActions": rd.not_data_actions,
            }],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
            "createdBy": null,
            "updatedBy": null,
        },
        "id": id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": rd.id,
    })
}

fn list_role_definitions(core: &Core, req: &Req, p: &Principal, scope: &str) -> R {
    let state = core.state();
    let sub = check_scope(&state, p, scope)?;
    let mut name_filter: Option<String> = None;
    let mut type_filter: Option<String> = None;
    if let Some(f) = req.q("$filter") {
        for clause in f.split(" and ") {
            let c = clause.trim();
            let parse = |prefix: &str| {
                c.strip_prefix(prefix)
                    .map(str::trim)
                    .and_then(|v| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .map(|v| v.replace("''", "'"))
            };
            if let Some(v) = parse("roleName eq") {
                name_filter = Some(v);
            } else if let Some(v) = parse("type eq") {
                type_filter = Some(v);
            } else {
                return Err(arm_err(
                    StatusCode::BAD_REQUEST,
                    "InvalidFilterInQueryString",
                    &format!("Invalid $filter '{f}' specified in the query string."),
                ));
            }
        }
    }
    let value: Vec<Value> = state
        .role_definitions
        .iter()
        .filter(|d| {
            name_filter
                .as_ref()
                .is_none_or(|n| d.role_name.eq_ignore_ascii_case(n))
        })
        .filter(|d| {
            type_filter
                .as_ref()
                .is_none_or(|t| d.role_type.eq_ignore_ascii_case(t))
        })
        .map(|d| role_def_json(d, sub.as_deref()))
        .collect();
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

fn get_role_definition(core: &Core, p: &Principal, scope: &str, id: &str) -> R {
    let state = core.state();
    let sub = check_scope(&state, p, scope)?;
    let rd = state.role_definition(id).ok_or_else(|| {
        arm_err(
            StatusCode::NOT_FOUND,
            "RoleDefinitionDoesNotExist",
            &format!("The specified role definition with ID '{id}' does not exist."),
        )
    })?;
    Ok(json(StatusCode::OK, &role_def_json(rd, sub.as_deref())))
}

fn ra_json(state: &State, ra: &RoleAssignment, fresh: bool) -> Value {
    let (sub, _, _) = crate::model::split_arm_id(&ra.scope);
    let rd_id = if sub.is_empty() {
        format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{}",
            ra.role_definition_id
        )
    } else {
        format!(
            "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{}",
            ra.role_definition_id
        )
    };
    let tenant = state
        .subscription(&sub)
        .map(|s| s.tenant_id.clone())
        .unwrap_or_default();
    let ptype = ra.principal_type.clone().unwrap_or_else(|| {
        if state.service_principals.iter().any(|s| {
            s.id.eq_ignore_ascii_case(&ra.principal_id) && s.tenant_id.eq_ignore_ascii_case(&tenant)
        }) {
            "ServicePrincipal".into()
        } else {
            "Unknown".into()
        }
    });
    json!({
        "properties": {
            "roleDefinitionId": rd_id,
            "principalId": ra.principal_id,
            "principalType": ptype,
            "scope": ra.scope,
            "condition": ra.condition,
            "conditionVersion": ra.condition_version,
            "createdOn": fmt_ticks(ra.created_at),
            "updatedOn": fmt_ticks(ra.updated_at),
            "createdBy": if fresh { None } else { ra.created_by.clone() },
            "updatedBy": ra.updated_by,
            "delegatedManagedIdentityResourceId": null,
            "description": ra.description,
        },
        "id": ra.arm_id(),
        "type": "Microsoft.Authorization/roleAssignments",
        "name": ra.name,
    })
}

enum PrincipalFilter {
    None,
    PrincipalId(String),
    AssignedTo(String),
}

fn parse_ra_filter(f: &str) -> Result<(bool, PrincipalFilter), Response> {
    let bad = || {
        arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidFilterInQueryString",
            &format!("Invalid $filter '{f}' specified in the query string."),
        )
    };
    let mut at_scope = false;
    let mut pf = PrincipalFilter::None;
    for clause in f.split(" and ") {
        let c = clause.trim();
        let quoted = |s: &str| {
            let s = s.trim();
            s.strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(str::to_string)
        };
        if c.eq_ignore_ascii_case("atScope()") {
            at_scope = true;
        } else if let Some(v) = c.strip_prefix("principalId eq") {
            pf = PrincipalFilter::PrincipalId(quoted(v).ok_or_else(bad)?);
        } else if let Some(v) = c
            .strip_prefix("assignedTo(")
            .and_then(|v| v.strip_suffix(')'))
        {
            pf = PrincipalFilter::AssignedTo(quoted(v).ok_or_else(bad)?);
        } else {
            return Err(bad());
        }
    }
    Ok((at_scope, pf))
}

fn list_role_assignments(core: &Core, req: &Req, p: &Principal, scope: &str) -> R {
    let state = core.state();
    check_scope(&state, p, scope)?;
    if scope != "/" {
        authorize(
            &state,
            p,
            scope,
            "Microsoft.Authorization/roleAssignments/read",
        )?;
    }
    let (at_scope, pf) = match req.q("$filter") {
        Some(f) if !f.trim().is_empty() => parse_ra_filter(f)?,
        _ => (false, PrincipalFilter::None),
    };
    let value: Vec<Value> = state
        .role_assignments
        .iter()
        .filter(|ra| {
            scope_covers(&ra.scope, scope) || (!at_scope && scope_covers(scope, &ra.scope))
        })
        .filter(|ra| match &pf {
            PrincipalFilter::None => true,
            PrincipalFilter::PrincipalId(id) | PrincipalFilter::AssignedTo(id) => {
                ra.principal_id.eq_ignore_ascii_case(id)
            }
        })
        .filter(|ra| {
            scope == "/"
                || crate::model::split_arm_id(&ra.scope)
                    .0
                    .eq_ignore_ascii_case(&crate::model::split_arm_id(scope).0)
        })
        .map(|ra| ra_json(&state, ra, false))
        .collect();
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

fn find_ra<'a>(state: &'a State, scope: &str, name: &str) -> Option<&'a RoleAssignment> {
    state.role_assignments.iter().find(|ra| {
        ra.name.eq_ignore_ascii_case(name) && normalize_scope(&ra.scope).eq_ignore_ascii_case(scope)
    })
}

fn ra_not_found(name: &str) -> Response {
    arm_err(
        StatusCode::NOT_FOUND,
        "RoleAssignmentNotFound",
        &format!("The role assignment '{name}' is not found."),
    )
}

fn get_role_assignment(core: &Core, p: &Principal, scope: &str, name: &str) -> R {
    let state = core.state();
    check_scope(&state, p, scope)?;
    authorize(
        &state,
        p,
        scope,
        "Microsoft.Authorization/roleAssignments/read",
    )?;
    let ra = find_ra(&state, scope, name).ok_or_else(|| ra_not_found(name))?;
    Ok(json(StatusCode::OK, &ra_json(&state, ra, false)))
}

fn delete_role_assignment(core: &Core, p: &Principal, scope: &str, name: &str) -> R {
    let mut state = core.state();
    check_scope(&state, p, scope)?;
    authorize(
        &state,
        p,
        scope,
        "Microsoft.Authorization/roleAssignments/delete",
    )?;
    let Some(ra) = find_ra(&state, scope, name).cloned() else {
        return Ok(empty(StatusCode::NO_CONTENT));
    };
    let v = ra_json(&state, &ra, false);
    state
        .role_assignments
        .retain(|x| !(x.name == ra.name && x.scope == ra.scope));
    Ok(json(StatusCode::OK, &v))
}

#[expect(
    clippy::too_many_lines,
    reason = "ARM validates a role assignment in one fixed order"
)]
fn put_role_assignment(core: &Core, req: &Req, p: &Principal, scope: &str, name: &str) -> R {
    let mut state = core.state();
    let sub = check_scope(&state, p, scope)?;
    authorize(
        &state,
        p,
        scope,
        "Microsoft.Authorization/roleAssignments/write",
    )?;
    if !is_guid(name) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidRoleAssignmentId",
            &format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    let body = json_object(req)?;
    let props = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let rd_full = text("roleDefinitionId").unwrap_or_default();
    let rd_guid = rd_full
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let rd_shape_ok = rd_full
        .to_ascii_lowercase()
        .contains("/providers/microsoft.authorization/roledefinitions/")
        && is_guid(&rd_guid);
    if !rd_shape_ok {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
            &format!("The role definition ID '{rd_full}' is not valid."),
        ));
    }
    if state.role_definition(&rd_guid).is_none() {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "RoleDefinitionDoesNotExist",
            &format!("The specified role definition with ID '{rd_guid}' does not exist."),
        ));
    }
    let principal_id = text("principalId").unwrap_or_default();
    if !is_guid(&principal_id) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalId",
            "A valid principal ID must be provided for role assignment.",
        ));
    }
    let principal_type = text("principalType");
    if let Some(t) = &principal_type
        && ![
            "User",
            "Group",
            "ServicePrincipal",
            "ForeignGroup",
            "Device",
        ]
        .iter()
        .any(|x| x.eq_ignore_ascii_case(t))
    {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalType",
            &format!("The principal type '{t}' is not valid."),
        ));
    }
    let condition = text("condition");
    let condition_version = text("conditionVersion");
    if condition.is_some() && condition_version.as_deref().is_some_and(|v| v != "2.0") {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidConditionVersion",
            "The condition version must be '2.0'.",
        ));
    }
    let tenant = sub
        .as_deref()
        .and_then(|s| state.subscription(s))
        .map_or_else(|| p.tenant_id.clone(), |s| s.tenant_id.clone());
    if principal_type.is_none() {
        let visible = state.service_principals.iter().any(|s| {
            s.id.eq_ignore_ascii_case(&principal_id)
                && s.tenant_id.eq_ignore_ascii_case(&tenant)
                && s.created_at.saturating_add(core.delay()) <= now()
        });
        if !visible {
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "PrincipalNotFound",
                &format!(
                    "Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
                    principal_id.replace('-', "")
                ),
            ));
        }
    }
    if let Some(existing) = find_ra(&state, scope, name).cloned() {
        let same = existing.principal_id.eq_ignore_ascii_case(&principal_id)
            && existing.role_definition_id.eq_ignore_ascii_case(&rd_guid);
        if !same {
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            ));
        }
        return Ok(json(StatusCode::CREATED, &ra_json(&state, &existing, true)));
    }
    if let Some(dup) = state.role_assignments.iter().find(|ra| {
        ra.principal_id.eq_ignore_ascii_case(&principal_id)
            && ra.role_definition_id.eq_ignore_ascii_case(&rd_guid)
            && normalize_scope(&ra.scope).eq_ignore_ascii_case(scope)
            && ra.condition == condition
    }) {
        return Err(arm_err(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            &format!(
                "The role assignment already exists. The ID of the existing role assignment is {}.",
                dup.name.replace('-', "")
            ),
        ));
    }
    let t = now();
    let ra = RoleAssignment {
        name: name.to_ascii_lowercase(),
        scope: scope.to_string(),
        role_definition_id: rd_guid,
        principal_id: principal_id.to_ascii_lowercase(),
        principal_type: principal_type.or_else(|| Some("ServicePrincipal".into())),
        condition,
        condition_version,
        description: text("description"),
        created_at: t,
        updated_at: t,
        created_by: Some(p.oid.clone()),
        updated_by: Some(p.oid.clone()),
    };
    let v = ra_json(&state, &ra, true);
    state.role_assignments.push(ra);
    Ok(json(StatusCode::CREATED, &v))
}

/// The request body as a JSON object, or ARM's `InvalidRequestContent`.
fn json_object(req: &Req) -> Result<serde_json::Map<String, Value>, Response> {
    match req.json() {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: expected a JSON object.",
        )),
        Err(e) => Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            &format!("The request content was invalid and could not be deserialized: '{e}'."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::auth_error;
    use crate::core::AuthFail;

    #[test]
    fn expired_tokens_get_arm_codes() {
        let r = auth_error(&AuthFail::Expired { exp: 1 });
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let body = crate::registry::body_bytes(r);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "ExpiredAuthenticationToken");
    }
}
