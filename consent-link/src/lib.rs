//! consent-link: step 2, the admin-consent link for tenant B, and optionally waiting for it.
//!
//! An administrator of tenant B opens the link, signs in and accepts on behalf of the
//! organization; that provisions the app's service principal in tenant B. `--wait` turns
//! this manual step into one a pipeline can wait on; `--create` provisions the service
//! principal directly when the caller may.

mod browser;
mod link;

use clap::Parser;
use common::cli::CommonArgs;
use common::driver::{Ctx, Done, Tool};
use common::envelope::{Envelope, fields};
use common::error::{Error, ErrorKind, Result};
use common::http::{Api, Sent};
use common::wait::{Poll, human, poll_until};
use common::{graph, ui, validate};
use reqwest::Method;
use serde_json::{Value, json};

pub use link::Form;
use link::{check_app, consent_url};

/// The redirect URI of the procedure (and of entra-app-create).
pub use common::envelope::DEFAULT_REDIRECT_URI;

/// Print the admin-consent link for tenant B; optionally wait for the consent, or create the service principal
///
/// Step 2 of the cross-tenant pull procedure. An administrator of tenant B (the registry's
/// tenant) opens the link, signs in and clicks Accept (consent on behalf of the
/// organization); that creates the app's service principal in tenant B, which step 3
/// (acr-grant) gives the pull role to.
///
/// Writes `consent_url` (also shown on stderr). When the input carries `cluster_tenant_id`
/// (tenant A, the app's home), the app is first read there: a single-tenant app, an unknown
/// app id or an unregistered redirect URI is reported now rather than on the consent page.
/// Without `--wait` or `--create` and without `cluster_tenant_id`, nothing is sent anywhere.
///
/// --wait polls tenant B (with a credential for tenant B) until the service principal
/// exists, up to --timeout, then writes `registry_sp_object_id`.
/// --create makes the service principal in tenant B directly (Graph upsert by appId); it
/// needs Application.ReadWrite.All there (an administrator's rights), else it fails with an
/// explanation. Both together: create when allowed, otherwise wait for an administrator to
/// consent. Either way, a service principal that already exists is taken as is (no write).
#[derive(Debug, Clone, Parser)]
#[command(name = "consent-link", version)]
pub struct Cli {
    /// Tenant B, the registry's tenant: its id or a verified domain [field: registry_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub registry_tenant: Option<String>,

    /// The multitenant app's client id, from step 1 [field: app_id]
    #[arg(long, value_name = "GUID")]
    pub app_id: Option<String>,

    /// Tenant A, the app's home tenant: check the app there before giving the link [field: cluster_tenant_id]
    #[arg(long, value_name = "TENANT")]
    pub cluster_tenant: Option<String>,

    /// Where the consent page sends the administrator afterwards; must be one of the app's web
    /// redirect URIs, exactly as registered (it is sent as given, only percent-encoded)
    /// [default: https://www.microsoft.com] [field: redirect_uri]
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,

    /// Which consent endpoint the link uses
    #[arg(long, value_enum, default_value_t = Form::Authorize)]
    pub form: Form,

    /// Also open the link in a browser ($BROWSER, a :-separated list with %s for the URL, else xdg-open/open); failing to is only a warning
    #[arg(long)]
    pub open: bool,

    /// Wait (up to --timeout) until the app's service principal exists in tenant B, then write registry_sp_object_id
    #[arg(long)]
    pub wait: bool,

    /// Create the app's service principal in tenant B directly instead of waiting for a person (needs admin rights there); with --wait, wait for the consent when not allowed
    #[arg(long)]
    pub create: bool,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Validated inputs of one object.
struct Inputs {
    tenant_b: String,
    app_id: String,
    tenant_a: Option<String>,
    redirect_uri: String,
}

impl Cli {
    /// Applies the flags to the object and validates every input; nothing is sent before this.
    fn inputs(&self, env: &mut Envelope) -> Result<Inputs> {
        env.apply_flag(&fields::REGISTRY_TENANT_ID, self.registry_tenant.as_deref());
        env.apply_flag(&fields::APP_ID, self.app_id.as_deref());
        env.apply_flag(&fields::CLUSTER_TENANT_ID, self.cluster_tenant.as_deref());
        let tenant_b = validate::tenant(
            fields::REGISTRY_TENANT_ID.name,
            &env.require_str(&fields::REGISTRY_TENANT_ID)?,
        )?;
        let app_id = validate::guid(fields::APP_ID.name, &env.require_str(&fields::APP_ID)?)?;
        let tenant_a = match env.str(&fields::CLUSTER_TENANT_ID)? {
            Some(t) => Some(validate::tenant(fields::CLUSTER_TENANT_ID.name, &t)?),
            None => None,
        };
        env.apply_flag(&fields::REDIRECT_URI, self.redirect_uri.as_deref());
        let redirect_uri = env
            .str(&fields::REDIRECT_URI)?
            .map_or_else(|| DEFAULT_REDIRECT_URI.to_owned(), |r| r.trim().to_owned());
        validate::redirect_uri(fields::REDIRECT_URI.name, &redirect_uri).map_err(|e| {
            e.with_hint("pass --redirect-uri with one of the app's web redirect URIs")
        })?;
        env.set(fields::REDIRECT_URI.name, &redirect_uri);
        Ok(Inputs {
            tenant_b,
            app_id,
            tenant_a,
            redirect_uri,
        })
    }
}

impl Tool for Cli {
    const NAME: &'static str = "consent-link";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    async fn run(&self, mut env: Envelope, ctx: &Ctx) -> Result<Done> {
        let inp = self.inputs(&mut env)?;

        match &inp.tenant_a {
            Some(a) => read_app_in_a(ctx, a, &inp).await?,
            None => ui::debug(
                "no cluster_tenant_id: the app is not checked in its home tenant (pass --cluster-tenant to check it)",
            ),
        }

        let url = consent_url(
            &ctx.cloud().login,
            &inp.tenant_b,
            &inp.app_id,
            &inp.redirect_uri,
            self.form,
        )?;
        env.set(fields::CONSENT_URL.name, url.as_str());
        ui::info(&format!(
            "an administrator of tenant B ({}) must open this link, sign in, and click Accept (consent on behalf of the organization):",
            inp.tenant_b
        ));
        ui::info(&format!("  {url}"));
        if self.open {
            match browser::open(url.as_str()).await {
                Ok(by) => ui::info(&format!("opened the link with {by}")),
                Err(why) => ui::warn(&format!(
                    "could not open a browser ({why}): open the link yourself"
                )),
            }
        }

        if !self.wait && !self.create {
            return Ok(Done {
                envelope: env,
                changed: false,
                summary: format!(
                    "consent link for app {} in tenant {}",
                    inp.app_id, inp.tenant_b
                ),
            });
        }

        let api = ctx.graph(&inp.tenant_b);
        let (sp_id, created, summary) = self
            .provision(ctx, &api, &inp, url.as_str())
            .await
            .map_err(|e| with_link(e, url.as_str()))?;
        if let Some(id) = &sp_id {
            env.set(fields::REGISTRY_SP_OBJECT_ID.name, id);
        }
        Ok(Done {
            envelope: env,
            changed: created,
            summary,
        })
    }
}

impl Cli {
    /// `--create` and/or `--wait`: the service principal id (None only in a dry run), whether it was created, a summary.
    async fn provision(
        &self,
        ctx: &Ctx,
        api: &Api<'_>,
        inp: &Inputs,
        url: &str,
    ) -> Result<(Option<String>, bool, String)> {
        let (app, b) = (&inp.app_id, &inp.tenant_b);
        if let Some(id) = graph::service_principal_id(api, app)
            .await
            .map_err(|e| explain_read(e, b))?
        {
            return Ok((
                Some(id.clone()),
                false,
                format!("app {app} already has its service principal {id} in tenant {b}"),
            ));
        }
        if self.create {
            match create_sp(ctx, api, app).await {
                Ok(Some(id)) => {
                    return Ok((
                        Some(id.clone()),
                        true,
                        format!("created the service principal {id} of app {app} in tenant {b}"),
                    ));
                }
                Ok(None) => {
                    return Ok((
                        None,
                        false,
                        format!("would create the service principal of app {app} in tenant {b}"),
                    ));
                }
                Err(e) if e.status() == Some(403) && self.wait => {
                    ui::warn(&format!(
                        "{} may not create service principals in tenant {b} ({}): waiting for an administrator of tenant B to consent instead",
                        ctx.http().credentials().describe(),
                        e.code()
                    ));
                }
                Err(e) if e.status() == Some(403) => {
                    return Err(e
                        .with_message(format!(
                            "{} may not create the app's service principal in tenant {b} (it needs Application.ReadWrite.All there): \
                             an administrator of tenant B must open the consent link and click Accept instead",
                            ctx.http().credentials().describe()
                        ))
                        .with_hint(format!(
                            "send the link to an administrator of tenant B; rerun with --wait to continue once they have accepted: {url}"
                        )));
                }
                Err(e) => return Err(e),
            }
        }
        let label = format!("waiting for an administrator of tenant {b} to consent");
        let waited = poll_until(&label, ctx.deadline(), || async {
            Ok(
                match graph::service_principal_id(api, app)
                    .await
                    .map_err(|e| explain_read(e, b))?
                {
                    Some(id) => Poll::Ready(id),
                    None => {
                        Poll::Pending("the app has no service principal there yet".into(), None)
                    }
                },
            )
        })
        .await;
        match waited {
            Ok(id) => Ok((Some(id.clone()), false, format!("consent given: app {app} has its service principal {id} in tenant {b}"))),
            Err(e) if e.kind() == &ErrorKind::Timeout => Err(Error::step(
                "ConsentTimeout",
                format!(
                    "nobody consented within {} (--timeout): app {app} still has no service principal in tenant {b}. The consent link is {url}",
                    human(ctx.deadline().timeout())
                ),
            )
            .with_hint("have an administrator of tenant B open the link and click Accept, then rerun this step (it returns at once when the consent has been given)")),
            Err(e) => Err(e),
        }
    }
}

/// Reads the app in tenant A and checks it; a credential or permission problem there is only a warning.
async fn read_app_in_a(ctx: &Ctx, tenant_a: &str, inp: &Inputs) -> Result<()> {
    let api = ctx.graph(tenant_a);
    let path = graph::alt_key("applications", "appId", &inp.app_id);
    match api.get_opt(&path).await {
        Ok(Some(app)) => check_app(&app, &inp.app_id, tenant_a, &inp.redirect_uri),
        Ok(None) => Err(Error::step(
            "AppNotFound",
            format!("no app with app id {} exists in tenant A ({tenant_a}): there is nothing tenant B could consent to", inp.app_id),
        )
        .with_hint("check app_id and cluster_tenant_id, or create the app with entra-app-create")),
        Err(e) if matches!(e.kind(), ErrorKind::Credential) || matches!(e.status(), Some(401 | 403)) => {
            ui::warn(&format!(
                "could not read the app in tenant A ({tenant_a}) to check it: {} ({}); giving the link unchecked",
                e.message(),
                e.code()
            ));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Graph upsert of the service principal by appId; `None` in a dry run.
///
/// A just-created app may not back a service principal yet (NoBackingApplicationObject):
/// that is waited out up to the deadline.
async fn create_sp(ctx: &Ctx, api: &Api<'_>, app_id: &str) -> Result<Option<String>> {
    let url = api.url(&graph::alt_key("servicePrincipals", "appId", app_id))?;
    let sent = poll_until(
        "waiting for the app to be usable in tenant B",
        ctx.deadline(),
        || async {
            let req = api
                .request(Method::PATCH, url.clone())
                .header("Prefer", "create-if-missing")
                .json(json!({"accountEnabled": true}));
            match api.write(req).await {
                Ok(sent) => Ok(Poll::Ready(sent)),
                Err(e) if e.is_code("NoBackingApplicationObject") => {
                    Ok(Poll::Pending("the app is not known there yet".into(), None))
                }
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    let Sent::Done(resp) = sent else {
        return Ok(None);
    };
    if let Some(id) = resp.body.get("id").and_then(Value::as_str) {
        return Ok(Some(id.to_owned()));
    }
    // 204: it was made in the meantime (someone consented); read its id.
    graph::service_principal_id(api, app_id)
        .await?
        .map(Some)
        .ok_or_else(|| Error::step("ServicePrincipalMissing", format!("Graph accepted the upsert of app {app_id}'s service principal but it cannot be read back")))
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

/// Keeps the consent link in a failed object: as its `consent_url` field, and in the message.
fn with_link(e: Error, url: &str) -> Error {
    let e = e.with_field(fields::CONSENT_URL.name, url);
    if e.message().contains(url) || e.hint().is_some_and(|h| h.contains(url)) {
        e
    } else {
        let m = format!("{} (consent link: {url})", e.message());
        e.with_message(m)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("consent-link").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_fill_the_object_and_inputs_are_validated() {
        let c = cli(&[
            "--registry-tenant",
            "Fabrikam.onmicrosoft.com",
            "--app-id",
            "11111111-2222-3333-4444-555555555555",
        ]);
        let mut env = Envelope::parse(r#"{"app_id":"x","keep":1}"#).unwrap();
        let inp = c.inputs(&mut env).unwrap();
        assert_eq!(inp.tenant_b, "fabrikam.onmicrosoft.com");
        assert_eq!(inp.redirect_uri, DEFAULT_REDIRECT_URI);
        assert!(inp.tenant_a.is_none());
        assert_eq!(
            env.to_line(),
            r#"{"app_id":"11111111-2222-3333-4444-555555555555","keep":1,"registry_tenant_id":"Fabrikam.onmicrosoft.com","redirect_uri":"https://www.microsoft.com"}"#
        );

        let bad = |args: &[&str], input: &str, field: &str| {
            let mut env = Envelope::parse(input).unwrap();
            let e = cli(args)
                .inputs(&mut env)
                .err()
                .unwrap_or_else(|| panic!("{args:?} {input} passed"));
            assert_eq!(
                e.kind(),
                &ErrorKind::Input {
                    field: field.into()
                },
                "{e}"
            );
        };
        let ok_app = r#"{"app_id":"11111111-2222-3333-4444-555555555555","registry_tenant_id":"b.example.com"}"#;
        bad(&[], "{}", "registry_tenant_id");
        bad(&["--registry-tenant", "b.example.com"], "{}", "app_id");
        bad(
            &["--registry-tenant", "not a tenant"],
            ok_app,
            "registry_tenant_id",
        );
        bad(&["--app-id", "nope"], ok_app, "app_id");
        bad(&["--cluster-tenant", "a/b"], ok_app, "cluster_tenant_id");
        bad(
            &["--redirect-uri", "http://www.microsoft.com"],
            ok_app,
            "redirect_uri",
        );
        bad(
            &["--redirect-uri", "https://x.example/#frag"],
            ok_app,
            "redirect_uri",
        );
        bad(
            &[],
            r#"{"app_id":"11111111-2222-3333-4444-555555555555","registry_tenant_id":5}"#,
            "registry_tenant_id",
        );
    }

    #[test]
    fn the_link_is_added_to_failures_once() {
        let e = with_link(Error::step("X", "boom"), "https://l/x");
        assert_eq!(e.message(), "boom (consent link: https://l/x)");
        assert_eq!(
            e.extra_fields(),
            &[("consent_url".to_owned(), json!("https://l/x"))]
        );
        let e = with_link(Error::step("X", "see https://l/x"), "https://l/x");
        assert_eq!(e.message(), "see https://l/x");
    }
}
