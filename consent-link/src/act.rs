//! The step: the consent link, then with `--create` / `--wait` the app's service principal in tenant B.

use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Envelope, fields, is_placeholder, placeholder};
use common::error::{Error, ErrorKind, Result, codes};
use common::http::Api;
use common::wait::{Poll, human, poll_until};
use common::{graph, ui};

use crate::browser;
use crate::inputs::Inputs;
use crate::link::{check_app, consent_url};

/// The fields step 2 writes.
#[derive(Debug, Clone)]
pub struct Output {
    /// The redirect URI the link returns to.
    pub redirect_uri: String,
    /// The admin-consent URL.
    pub consent_url: String,
    /// The app's service principal in tenant B (`--wait` / `--create`; none in a dry run).
    pub registry_sp_object_id: Option<String>,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        object.set(fields::REDIRECT_URI.name, &self.redirect_uri);
        object.set(fields::CONSENT_URL.name, &self.consent_url);
        if let Some(id) = &self.registry_sp_object_id {
            object.set(fields::REGISTRY_SP_OBJECT_ID.name, id);
        }
    }
}

/// What a failed `--wait` / `--create` leaves: the link, for the administrator.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// The admin-consent URL, once made.
    pub consent_url: Option<String>,
}

impl Fields for Partial {
    fn write_to(&self, object: &mut Envelope) {
        if let Some(u) = &self.consent_url {
            object.set(fields::CONSENT_URL.name, u);
        }
    }
}

/// Step 2 on one object.
pub(crate) async fn run(inp: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Failed<Partial>> {
    if let Some(a) = &inp.tenant_a {
        let (b_from, a_from) = inp.tenants_from;
        common::tenants::refuse_same(
            ctx.http(),
            ctx.deadline(),
            common::tenants::Named {
                from: a_from,
                tenant: a,
            },
            common::tenants::Named {
                from: b_from,
                tenant: &inp.tenant_b,
            },
            inp.same_tenant,
        )
        .await?;
    }
    let new_app = is_placeholder(&inp.app_id);
    let api = ctx.graph(&inp.tenant_b);
    let check_in_a = async {
        match &inp.tenant_a {
            // A dry run of a new app: nothing to read yet, in either tenant.
            Some(_) if new_app => Ok(()),
            Some(a) => read_app_in_a(ctx, a, inp).await,
            None => {
                ui::debug(
                    "no cluster_tenant_id: the app is not checked in its home tenant (pass --cluster-tenant to check it)",
                );
                Ok(())
            }
        }
    };
    // The first look for the service principal in tenant B goes out beside the check in
    // tenant A: it is a read, and saves a round trip. Nothing is written to tenant B before
    // that check has passed; when it fails, the look is dropped, answered or not, and its
    // own error counts only after the check passed.
    let look_in_b = async {
        let found = if new_app || !(inp.wait || inp.create) {
            Ok(None)
        } else {
            graph::service_principal_id(&api, &inp.app_id)
                .await
                .map_err(|e| explain_read(e, &inp.tenant_b))
        };
        Ok::<_, Error>(found)
    };
    let ((), found) = tokio::try_join!(check_in_a, look_in_b)?;

    let url = consent_url(
        &ctx.cloud().login,
        &inp.tenant_b,
        &inp.app_id,
        &inp.redirect_uri,
        inp.form,
    )?;
    let mut out = Output {
        redirect_uri: inp.redirect_uri.clone(),
        consent_url: url.to_string(),
        registry_sp_object_id: None,
    };
    if !inp.wait && !inp.create {
        ask_an_administrator(inp, url.as_str()).await;
        return Ok(Done {
            output: out,
            changed: false,
            summary: format!(
                "consent link for app {} in tenant {}",
                inp.app_id, inp.tenant_b
            ),
        });
    }

    let found = found.map_err(|e| with_link(e, url.as_str()))?;
    let (sp_id, changed, summary) = provision(ctx, &api, inp, url.as_str(), found)
        .await
        .map_err(|e| with_link(e, url.as_str()))?;
    out.registry_sp_object_id = sp_id;
    Ok(Done {
        output: out,
        changed,
        summary,
    })
}

/// Shows the link to the person who must act (even with `-q`: it is what they need), once,
/// and opens it with `--open`.
async fn ask_an_administrator(inp: &Inputs, url: &str) {
    ui::notice(&format!(
        "an administrator of tenant B ({}) must open this link and click Accept:",
        inp.tenant_b
    ));
    ui::notice(&format!("  {url}"));
    if inp.open {
        match browser::open(url).await {
            Ok(by) => ui::info(&format!("opened the link with {by}")),
            Err(why) => ui::warn(&format!(
                "could not open a browser ({why}): open the link yourself"
            )),
        }
    }
}

/// `--create` and/or `--wait`, after the first look for the service principal in tenant B
/// (`found`; none for a dry run's new app): the service principal id (None only in a dry
/// run), whether tenant B changed during the run, a summary.
async fn provision(
    ctx: &Ctx,
    api: &Api<'_>,
    inp: &Inputs,
    url: &str,
    found: Option<String>,
) -> Result<(Option<String>, bool, String)> {
    let (app, b) = (&inp.app_id, &inp.tenant_b);
    if let Some(id) = found {
        return Ok((
            Some(id.clone()),
            false,
            format!("the app already has its service principal in tenant {b}"),
        ));
    }
    if inp.create {
        match graph::ensure_service_principal(api, app, false).await {
            Ok(Some((id, created))) => {
                let verb = if created { "created" } else { "found" };
                return Ok((
                    Some(id.clone()),
                    created,
                    format!("{verb} the app's service principal in tenant {b}"),
                ));
            }
            Ok(None) => {
                return Ok((
                    Some(placeholder(&fields::REGISTRY_SP_OBJECT_ID)),
                    false,
                    format!("would create the service principal of app {app} in tenant {b}"),
                ));
            }
            Err(e) if e.status() == Some(403) && inp.wait => {
                ui::warn(&format!(
                    "{} may not create service principals in tenant {b} ({}): waiting for an administrator of tenant B to consent instead",
                    ctx.http().credentials().describe(),
                    e.code()
                ));
            }
            Err(e) if e.status() == Some(403) => {
                return Err(e
                    .with_message(format!(
                        "{} may not create the app's service principal in tenant {b} (needs Application.ReadWrite.All there)",
                        ctx.http().credentials().describe()
                    ))
                    .with_hint(format!(
                        "an administrator of tenant B must open the link and accept; then run consent-link --wait on this output: {url}"
                    )));
            }
            Err(e) => return Err(e),
        }
    }
    if ctx.dry_run() {
        return Ok((
            Some(placeholder(&fields::REGISTRY_SP_OBJECT_ID)),
            false,
            format!("would wait for an administrator of tenant {b} to consent to app {app}"),
        ));
    }
    ask_an_administrator(inp, url).await;
    let label = "waiting for tenant B's administrator to consent";
    let waited = poll_until(label, ctx.deadline(), || async {
        Ok(
            match graph::service_principal_id(api, app)
                .await
                .map_err(|e| explain_read(e, b))?
            {
                Some(id) => Poll::Ready(id),
                None => Poll::Pending("no service principal yet".into(), None),
            },
        )
    })
    .await;
    match waited {
        Ok(id) => Ok((
            Some(id.clone()),
            true,
            "tenant B's administrator consented: the app has its service principal there".to_owned(),
        )),
        Err(e) if e.is_timeout() => Err(Error::step(
            codes::CONSENT_TIMEOUT,
            format!(
                "nobody consented within {} (--timeout): app {app} has no service principal in tenant {b} yet",
                human(ctx.deadline().timeout())
            ),
        )
        .with_hint("once an administrator of tenant B has opened the link and clicked Accept, rerun this step on this output (consent_url holds the link)")),
        Err(e) => Err(e),
    }
}

/// Reads the app in tenant A and checks it; a credential or permission problem there is only a warning.
async fn read_app_in_a(ctx: &Ctx, tenant_a: &str, inp: &Inputs) -> Result<()> {
    let api = ctx.graph(tenant_a);
    let path = graph::alt_key("applications", "appId", &inp.app_id);
    let looked = if inp.app_made_earlier {
        graph::wait_until_readable(
            &format!("app {} (step 1 made it)", inp.app_id),
            ctx.deadline(),
            || api.get_opt(&path),
        )
        .await
    } else {
        api.get_opt(&path).await
    };
    match looked {
        Ok(Some(app)) => check_app(&app, &inp.app_id, tenant_a, &inp.redirect_uri),
        Ok(None) => Err(Error::step(
            codes::APP_NOT_FOUND,
            format!("no app with app id {} exists in tenant A ({tenant_a}): there is nothing tenant B could consent to", inp.app_id),
        )
        .with_hint("check app_id and cluster_tenant_id, or create the app with entra-app-create")),
        Err(e) if matches!(e.kind(), ErrorKind::Credential) || matches!(e.status(), Some(401 | 403)) => {
            ui::debug(e.message());
            ui::warn(&format!(
                "the app is not checked in tenant A ({}: -v says why); the link is given unchecked",
                e.code()
            ));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A read in tenant B that was refused: say what the identity needs there.
fn explain_read(e: Error, tenant_b: &str) -> Error {
    if e.status() == Some(403) && e.hint().is_none() {
        e.with_hint(format!(
            "--wait and --create read service principals in tenant {tenant_b}: act as an identity with Application.Read.All there"
        ))
    } else {
        e
    }
}

/// Keeps the consent link in a failed object, as its `consent_url` field (the message does
/// not repeat it: it was shown once already, or the hint carries it).
fn with_link(e: Error, url: &str) -> Failed<Partial> {
    Failed::with(
        e,
        Partial {
            consent_url: Some(url.to_owned()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_kept_in_the_field_not_repeated_in_the_message() {
        let f = with_link(Error::step(codes::OPERATION_FAILED, "boom"), "https://l/x");
        assert_eq!(f.error.message(), "boom");
        assert_eq!(f.partial.consent_url.as_deref(), Some("https://l/x"));
    }
}
