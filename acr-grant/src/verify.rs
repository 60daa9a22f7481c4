//! `--verify`: the app's own credential against the registry, waiting out propagation.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use common::Secret;
use common::binding::{Bound, Claims};
use common::driver::Ctx;
use common::envelope::{fields, is_placeholder};
use common::error::{Error, ErrorKind, Result};
use common::http::Api;
use common::registry::{Denied, PullAs, PullCheck, wait_for_pull};
use common::wait::{human, now_rfc3339};

use crate::inputs::Check;
use crate::lookup::Registry;
use crate::role::{Role, cannot_pull};

/// How long a refused credential counts as "not yet": a new secret or service principal
/// takes a little while to reach the registry's token service, a wrong secret never does.
const CREDENTIALS_GRACE: Duration = Duration::from_secs(120);

/// The secret `check` names (none without `--verify`), proven to be the key of `app_id` the object names (see
/// [`common::binding`]) in the app's home tenant: the object's `cluster_tenant_id`, else the
/// tenant the app's service principal in tenant B (the Graph of `graph`) names as its owner.
/// An app only planned by a dry run has no key (and a dry run verifies nothing): `None`.
pub(crate) async fn bound_secret(
    ctx: &Ctx,
    graph: &Api<'_>,
    app_id: &str,
    check: Option<&Check>,
) -> Result<Option<Bound>> {
    let Some(check) = check.filter(|_| !is_placeholder(app_id)) else {
        return Ok(None);
    };
    let home = match &check.home_tenant {
        Some(t) => t.clone(),
        None => common::binding::owner_tenant(graph, app_id)
            .await?
            .ok_or_else(|| {
                Error::input(
                    fields::CLUSTER_TENANT_ID.name,
                    format!(
                        "`cluster_tenant_id` is missing and app {app_id} has no service principal in tenant B to name its home tenant: the secret cannot be proven to be the app's before the role is assigned"
                    ),
                )
                .with_hint("pipe in the output of entra-app-create (it carries cluster_tenant_id)")
            })?,
    };
    let claims = Claims {
        tenant: &home,
        app_id,
        key_id: check.key_id.as_deref(),
        // Step 3 may run seconds after step 1: Graph's read lag is waited out.
        settled: false,
    };
    check.secret.fetch_bound(ctx, &claims).await.map(Some)
}

/// Waits until the app's credential gets a pull token (and the manifest, with an image);
/// returns the moment it did, in RFC 3339 UTC.
pub(crate) async fn run(
    ctx: &Ctx,
    reg: &Registry,
    app_id: &str,
    sp_id: &str,
    check: &Check,
    secret: &Secret,
    role: &Role,
) -> Result<String> {
    let started = Instant::now();
    let last: RefCell<Option<Denied>> = RefCell::new(None);
    let fail = |d: &Denied| failure(d, reg, app_id, sp_id, check, role, started.elapsed());
    let label = format!("waiting until the app can pull from {}", reg.login_server);
    let pull = PullAs {
        login_server: &reg.login_server,
        app_id,
        secret,
        repository: &check.repository,
        reference: check.image.as_ref().map(|i| i.reference.as_str()),
    };
    let result = wait_for_pull(
        ctx.http(),
        pull,
        ctx.deadline(),
        &label,
        |denied, waited| {
            let final_ = match denied {
                Denied::ImageMissing => true,
                Denied::Credentials(_) => waited >= CREDENTIALS_GRACE,
                // A role known not to grant pull here will not start to by waiting.
                Denied::NoPullRole | Denied::ManifestRefused(_) => !role.can_pull,
            };
            if final_ {
                return None;
            }
            let status = match denied {
                Denied::Credentials(_) => "the registry refuses the app's credentials",
                Denied::NoPullRole => "the token grants no pull yet",
                _ => "the manifest is refused yet",
            };
            *last.borrow_mut() = Some(denied.clone());
            Some(status.to_owned())
        },
    )
    .await;
    match result {
        Ok(PullCheck::Allowed) => Ok(now_rfc3339()),
        Ok(PullCheck::Denied(d)) => Err(fail(&d)),
        Err(e) if matches!(e.kind(), ErrorKind::Timeout) => match last.take() {
            Some(d) => Err(fail(&d)),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The error for a pull that does not work, saying which part is wrong.
fn failure(
    d: &Denied,
    reg: &Registry,
    app_id: &str,
    sp_id: &str,
    check: &Check,
    role: &Role,
    waited: Duration,
) -> Error {
    let mut message = format!(
        "app {app_id} cannot pull from {}: {}",
        reg.login_server,
        d.explain()
    );
    let hint = match d {
        // Refused for less than the grace: --timeout ended the wait, nothing says the secret is
        // wrong (a new principal is unknown to the registry until it replicated).
        Denied::Credentials(_) if waited < CREDENTIALS_GRACE => {
            message = format!(
                "{message}; refused for {} only: a new service principal or secret takes a while to reach the registry",
                human(waited)
            );
            format!(
                "rerun with a longer --timeout (a refusal lasting {} means the client secret is wrong)",
                human(CREDENTIALS_GRACE)
            )
        }
        Denied::Credentials(_) => {
            message = format!(
                "{message}; the app's service principal exists in tenant B ({sp_id}), so the client secret is what is wrong"
            );
            format!(
                "check the client secret given (client_secret, client_secret_ref, --client-secret-file, --client-secret-env or --client-secret-ref): it must be a current secret of app {app_id}; `entra-app-create --new-secret` mints a new one"
            )
        }
        Denied::NoPullRole | Denied::ManifestRefused(_) if !role.can_pull => {
            cannot_pull(&role.name, reg)
        }
        Denied::NoPullRole | Denied::ManifestRefused(_) => format!(
            "{} is assigned on {}, but it had not reached the registry after {}; rerun with a longer --timeout (Azure can take up to 30 minutes)",
            role.name,
            reg.name,
            human(waited)
        ),
        Denied::ImageMissing => {
            let image = check
                .image
                .as_ref()
                .map_or_else(String::new, |i| format!("{}:{}", i.repository, i.reference));
            format!("check --image: {image} is not in {}", reg.login_server)
        }
    };
    Error::step(common::error::codes::PULL_VERIFICATION_FAILED, message).with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::Mode;
    use common::client_secret::ClientSecret;
    use time::format_description::well_known::Rfc3339;

    fn parts() -> (Registry, Check, Role) {
        let reg = Registry {
            id: "/r".into(),
            name: "abacreg".into(),
            login_server: "abacreg.azurecr.io".into(),
            mode: Mode::Abac,
        };
        let check = Check {
            secret: ClientSecret::Value(Secret::new("hunter2-secret")),
            image: None,
            repository: common::registry::PROBE_REPOSITORY.into(),
            home_tenant: None,
            key_id: None,
        };
        let role = Role {
            id: "/d".into(),
            name: "AcrPull".into(),
            can_pull: false,
        };
        (reg, check, role)
    }

    #[test]
    fn failures_say_which_part_is_wrong() {
        let (reg, check, role) = parts();
        // The same registry, app and check each time: what failed, the role and the wait differ.
        let fail = |denied: &Denied, role: &Role, waited: Duration| {
            failure(denied, &reg, "app", "sp", &check, role, waited)
        };
        let e = fail(
            &Denied::Credentials("UNAUTHORIZED: x".into()),
            &role,
            CREDENTIALS_GRACE,
        );
        assert_eq!(e.code(), "PullVerificationFailed");
        assert!(
            e.message().contains("the client secret is what is wrong")
                && e.hint().unwrap().contains("client secret"),
            "{e}"
        );
        // Refused for a moment only (--timeout ended the wait): not called wrong.
        let e = fail(
            &Denied::Credentials("UNAUTHORIZED: Application not registered with AAD".into()),
            &role,
            Duration::from_secs(2),
        );
        assert!(
            !e.message().contains("is what is wrong")
                && e.message().contains("takes a while")
                && e.hint().unwrap().contains("--timeout"),
            "{e}"
        );
        assert!(!e.full_message().contains("hunter2"));
        let e = fail(&Denied::NoPullRole, &role, Duration::ZERO);
        assert!(e.hint().unwrap().contains("ABAC"), "{:?}", e.hint());
        let ok_role = Role {
            can_pull: true,
            ..role
        };
        let e = fail(&Denied::NoPullRole, &ok_role, Duration::from_secs(90));
        assert!(
            e.hint().unwrap().contains("90s") && e.hint().unwrap().contains("--timeout"),
            "{:?}",
            e.hint()
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(
            time::OffsetDateTime::parse(&t, &Rfc3339).is_ok() && t.ends_with('Z'),
            "{t}"
        );
    }
}
