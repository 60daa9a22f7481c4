//! Azure Resource Manager: subscriptions, resource groups, registries, role definitions, role
//! assignments, managed clusters and the service-principal reset with its async operation.
//!
//! Paths compare case-insensitively. Every call needs a token for the ARM audience from the
//! tenant that owns the subscription it touches, and the permission the real action needs.

mod checks;
mod clusters;
mod registries;
mod reset;
mod resources;
mod role_assignments;
mod roles;
mod run_command;
mod subscriptions;
mod tags;
mod versions;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::core::{AuthFail, Bucket, Core, Principal, audience_in};
use crate::http::{Req, arm_err, set_header, set_retry_after, with_caller};
use crate::rbac::normalize_scope;
use crate::sync::lock;
use reset::operation;
use resources::{list_resources, resource};
use roles::authorization;
use subscriptions::{get_subscription, list_subscriptions, list_tenants, resource_groups};

type R = Result<Response, Response>;

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
    let audiences = core.cloud.arm_audiences();
    let p = match core.bearer(req, &|a| audience_in(a, audiences)) {
        Ok(p) => p,
        Err(e) => return auth_error(&e, audiences),
    };
    let r = (|| {
        if req.q("api-version").is_none_or(str::is_empty) {
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ));
        }
        versions::check(core, req)?;
        let write = matches!(
            req.method,
            Method::PUT | Method::POST | Method::PATCH | Method::DELETE
        );
        let kind = if write { Kind::Write } else { Kind::Read };
        let remaining = throttle(core, &p, subscription_of(req), kind)?;
        let mut r = route(core, req, &p)?;
        if let Some(left) = remaining {
            left.set_on(&mut r);
        }
        Ok(r)
    })()
    .unwrap_or_else(|e| e);
    with_caller(r, &p.app_id, &p.tenant_id)
}

fn auth_error(e: &AuthFail, audiences: &[&str]) -> Response {
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
                    .map(crate::dates::fmt_secs)
                    .unwrap_or_default(),
                crate::dates::fmt_secs(crate::clock::wall())
            ),
            "The access token expired.",
        ),
        AuthFail::WrongAudience { aud } => (
            "InvalidAuthenticationToken",
            format!(
                "The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences {}.",
                audiences
                    .iter()
                    .rev()
                    .flat_map(|a| [format!("'{a}/'"), format!("'{a}'")])
                    .collect::<Vec<_>>()
                    .join(",")
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

/// The subscription a request acts in (`""` for a tenant-level request).
fn subscription_of(req: &Req) -> &str {
    match req.segs.as_slice() {
        [first, sub, ..] if first.eq_ignore_ascii_case("subscriptions") => sub,
        _ => "",
    }
}

/// What a request spends: ARM throttles reads and writes with a bucket each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Self::Read => "reads",
            Self::Write => "writes",
        }
    }
}

/// The tokens left after a request, as ARM reports them (since the 2024 token buckets):
/// `x-ms-ratelimit-remaining-subscription-writes` (or `-reads`) for the caller's own bucket
/// (per principal and subscription), `x-ms-ratelimit-remaining-subscription-global-writes`
/// (or `-global-reads`) for the subscription's bucket shared by every principal (15 times
/// the size and rate). A real answer to a role assignment PUT carries both (reference
/// recording `test_role_assignment_at_scope.yaml`: 199 and 2999 of 200 and 3000).
struct Remaining {
    kind: Kind,
    principal: u64,
    global: u64,
}

impl Remaining {
    fn set_on(&self, r: &mut Response) {
        let word = self.kind.word();
        set_header(
            r,
            &format!("x-ms-ratelimit-remaining-subscription-{word}"),
            &self.principal.to_string(),
        );
        set_header(
            r,
            &format!("x-ms-ratelimit-remaining-subscription-global-{word}"),
            &self.global.to_string(),
        );
    }
}

/// How many times a principal's limit the subscription's global limit is.
const GLOBAL_FACTOR: f64 = 15.0;

/// Take one token of `kind` for the caller in `subscription` (its own bucket and the
/// subscription's global one), or answer 429 as ARM does. A request outside a subscription
/// (tenant-level) is not throttled here.
fn throttle(
    core: &Core,
    p: &Principal,
    subscription: &str,
    kind: Kind,
) -> Result<Option<Remaining>, Response> {
    let limit = match kind {
        Kind::Write => core.write_limit,
        Kind::Read => core.read_limit.filter(|_| !subscription.is_empty()),
    };
    let Some(limit) = limit else {
        return Ok(None);
    };
    // ARM refills its buckets at its own pace: on Azure's clock (compressed by the time
    // scale, moved on by the control API).
    let t = core.now();
    let mut buckets = lock(&core.buckets);
    let sub = subscription.to_ascii_lowercase();
    let burst = f64::from(limit.burst.max(1));
    // Refills a bucket to now; its tokens.
    let mut refill = |key: String, size: f64, rate: f64| {
        let b = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: size,
            at: t,
        });
        let ran = (t - b.at).as_seconds_f64().max(0.0);
        b.tokens = (b.tokens + ran * rate).min(size);
        b.at = t;
        key
    };
    let word = kind.word();
    let own = refill(
        format!("{word}/{}/{}/{sub}", p.tenant_id, p.oid),
        burst,
        limit.per_second,
    );
    let global = refill(
        format!("{word}/global/{sub}"),
        burst * GLOBAL_FACTOR,
        limit.per_second * GLOBAL_FACTOR,
    );
    let (mine, all) = (buckets[&own].tokens, buckets[&global].tokens);
    if mine >= 1.0 && all >= 1.0 {
        for k in [&own, &global] {
            if let Some(b) = buckets.get_mut(k) {
                b.tokens -= 1.0;
            }
        }
        return Ok(Some(Remaining {
            kind,
            principal: (mine - 1.0).floor() as u64,
            global: (all - 1.0).floor() as u64,
        }));
    }
    let (short, rate) = if mine < 1.0 {
        (mine, limit.per_second)
    } else {
        (all, limit.per_second * GLOBAL_FACTOR)
    };
    let wait = if rate > 0.0 {
        ((1.0 - short) / rate).ceil().max(1.0) as u64
    } else {
        60
    };
    let mut r = arm_err(
        StatusCode::TOO_MANY_REQUESTS,
        "SubscriptionRequestsThrottled",
        &format!(
            "Number of '{}' requests for subscription actor '{}' exceeded. Please try again after '{wait}' seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
            match kind {
                Kind::Read => "read",
                Kind::Write => "write",
            },
            p.oid
        ),
    );
    // Whole seconds of Azure's time, as ARM says it; on a compressed clock also the exact
    // real wait in `retry-after-ms`.
    set_retry_after(&mut r, &core.clock, wait);
    Remaining {
        kind,
        principal: mine.max(0.0).floor() as u64,
        global: all.max(0.0).floor() as u64,
    }
    .set_on(&mut r);
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
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.containerservice",
            "managedclusters",
            _,
            "runcommand" | "commandresults",
            ..,
        ] => run_command::handle(core, req, p),
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
        let r = auth_error(&AuthFail::Expired { exp: 1 }, &[]);
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let body = crate::registry::body_bytes(r);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "ExpiredAuthenticationToken");
        let r = auth_error(
            &AuthFail::WrongAudience {
                aud: "https://management.azure.com".into(),
            },
            &[
                "https://management.chinacloudapi.cn",
                "https://management.core.chinacloudapi.cn",
            ],
        );
        let body = crate::registry::body_bytes(r);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().ends_with(
                "allowed audiences 'https://management.core.chinacloudapi.cn/','https://management.core.chinacloudapi.cn','https://management.chinacloudapi.cn/','https://management.chinacloudapi.cn'."
            ),
            "{v}"
        );
    }
}
