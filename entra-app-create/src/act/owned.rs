//! Whether an existing app is this tool's own, without `--adopt`: its tag `xtenant:managed` is
//! a claim its owners wrote (anyone who may register apps in the tenant may make one with the
//! default uniqueName and that tag), and an app a create's upsert updated (204) shows what
//! this run wrote over it. Only an app whose owners are exactly the signed-in identity is
//! taken for the tool's, and only while it holds no credential this tool never makes (a
//! certificate, a federated identity credential: an app handed over to the operator may carry
//! its maker's); the reader's `--adopt` takes any other, after checking it.

use common::binding::signed_in_object_id;
use common::error::codes;
use common::graph::{Permissions, app_owners};
use common::{Error, Result};
use serde_json::Value;

use crate::act::Step;
use crate::graph::{Application, MANAGED_TAG};

/// The fields the create's upsert writes, over an app that already existed (204).
pub(crate) const UPSERT_FIELDS: &str = "displayName, signInAudience, web.redirectUris, tags (adding the tag xtenant:managed) and requiredResourceAccess";

impl Step<'_> {
    /// Refuses, before anything is written, an existing app this run may not take for the
    /// tool's own: one the create's upsert updated (it existed: someone made it between this
    /// run's read and its create), or one tagged `xtenant:managed` whose owners are not
    /// exactly the identity this run signs in as, or that holds a certificate or a federated
    /// identity credential (this tool makes neither: someone else signs in as that app).
    /// `--adopt` (the reader's flag) skips all three.
    pub(super) async fn check_own(&self, app: &Application) -> Result<()> {
        if self.new_app || self.inputs.options.adopt {
            return Ok(());
        }
        let tenant = &self.inputs.tenant;
        if self.upserted_over {
            return Err(Error::step(
                codes::APP_NOT_MANAGED,
                format!(
                    "the app {:?} (app_id {}) in tenant {tenant} was made by someone else between this run's read and its create, and Graph's upsert updated it (204): it overwrote its {UPSERT_FIELDS}; \
                     the tag {MANAGED_TAG} it now carries is this run's own write, no evidence that entra-app-create made it, so no service principal or secret was made for it",
                    app.display_name, app.app_id
                ),
            )
            .with_hint(format!(
                "check the app's owners (az ad app owner list --id {}) and put back what it had if it is not yours; if it is the app you mean, rerun with entra-app-create --app-id {} --adopt",
                app.app_id, app.app_id
            )));
        }
        if !app.managed() {
            // Not claimed as the tool's: only reads and the reader's --adopt change it.
            return Ok(());
        }
        let extra = beyond_user_read(app);
        if !extra.is_empty() {
            return Err(Error::step(
                codes::APP_NOT_MANAGED,
                format!(
                    "refusing to take the app {:?} (app_id {}) in tenant {tenant} for this tool's: it requests {}, beyond Microsoft Graph's User.Read (delegated), \
                     the one permission entra-app-create asks for; an administrator of the registry's tenant consenting through step 2's link would grant it all",
                    app.display_name,
                    app.app_id,
                    extra.join(", ")
                ),
            )
            .with_hint(format!(
                "remove those permissions (az ad app permission delete --id {id} --api API), or, after checking why the app asks for them, rerun with entra-app-create --app-id {id} --adopt",
                id = app.app_id
            )));
        }
        let me = signed_in_object_id(self.ctx, tenant).await?;
        let owners = app_owners(&self.api, &app.id).await?;
        let others: Vec<&str> = owners
            .iter()
            .map(String::as_str)
            .filter(|o| !o.eq_ignore_ascii_case(&me))
            .collect();
        if !others.is_empty() || owners.is_empty() {
            let who = if others.is_empty() {
                "it has no owner".to_owned()
            } else {
                format!("it is owned by {}", others.join(", "))
            };
            return Err(Error::step(
                codes::APP_NOT_MANAGED,
                format!(
                    "refusing to take the app {:?} (app_id {}) in tenant {tenant} for this tool's: {who}, not only by the identity this run signs in as ({me}); \
                     its tag {MANAGED_TAG} was written by its owners, who may also add secrets to it",
                    app.display_name, app.app_id
                ),
            )
            .with_hint(format!(
                "check who those owners are (az ad app owner list --id {}); if the app is yours to use, rerun with entra-app-create --app-id {} --adopt; else pass another --unique-name",
                app.app_id, app.app_id
            )));
        }
        self.check_no_foreign_credential(app).await
    }

    /// Refuses `app` when it holds a certificate (`keyCredentials`, from the app's read) or a
    /// federated identity credential (`GET /applications/{id}/federatedIdentityCredentials`):
    /// entra-app-create makes neither, so whoever added it signs in as the app, and would get
    /// what steps 2-3 grant it.
    async fn check_no_foreign_credential(&self, app: &Application) -> Result<()> {
        let federated = self
            .api
            .list(&format!(
                "/applications/{}/federatedIdentityCredentials",
                app.id
            ))
            .await?;
        if app.certificates.is_empty() && federated.is_empty() {
            return Ok(());
        }
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
        let mut found = Vec::new();
        if !app.certificates.is_empty() {
            found.push(format!(
                "certificate (keyCredentials) key ids {}",
                app.certificates.join(", ")
            ));
        }
        if !federated.is_empty() {
            let names: Vec<String> = federated
                .iter()
                .map(|f| {
                    format!(
                        "{:?} (subject {:?}, issuer {})",
                        text(f, "name"),
                        text(f, "subject"),
                        text(f, "issuer")
                    )
                })
                .collect();
            found.push(format!(
                "federated identity credentials {}",
                names.join(", ")
            ));
        }
        Err(Error::step(
            codes::APP_NOT_MANAGED,
            format!(
                "refusing to take the app {:?} (app_id {}) in tenant {} for this tool's: it holds {}; entra-app-create never makes these, \
                 so whoever added them signs in as this app, and would get what steps 2-3 grant it: this run made no service principal or secret for it",
                app.display_name,
                app.app_id,
                self.inputs.tenant,
                found.join("; ")
            ),
        )
        .with_hint(format!(
            "remove them (az ad app credential delete --id {id} --key-id KEY --cert; az ad app federated-credential delete --id {id} --federated-credential-id NAME), \
             or, after checking who added them and that they are yours, rerun with entra-app-create --app-id {id} --adopt",
            id = app.app_id
        )))
    }
}

/// What `app` requests (`requiredResourceAccess`) beyond Microsoft Graph's User.Read
/// (delegated), the one permission this tool writes: each as `type id of API`. Step 2's
/// admin-consent link grants whatever the app requests, in tenant B.
fn beyond_user_read(app: &Application) -> Vec<String> {
    match app.required_resource_access.as_deref() {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => Permissions::of(v).map_or_else(
            || {
                vec![format!(
                    "permissions of a shape this tool does not read ({v})"
                )]
            },
            |p| p.beyond_user_read(),
        ),
    }
}
