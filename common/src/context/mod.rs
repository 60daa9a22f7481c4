//! What a step's `act` works with: [`Ctx`] (the cloud, the HTTP client, the deadline, the
//! run's typed memos), and [`Memo`]. Built by the driver for each object, or by
//! [`Ctx::new`] in a test against the simulator.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::arm::RoleDefinition;
use crate::auth::Credentials;
use crate::cli::CommonArgs;
use crate::cloud::Cloud;
use crate::error::Result;
use crate::http::{Api, Http, build_client};
use crate::interrupt::Interrupt;
use crate::secret::Secret;
use crate::wait::Deadline;

mod memo;

pub use memo::{Memo, Primed};

/// The run's memos: one per kind of lookup, each typed.
#[derive(Default)]
pub(crate) struct Memos {
    /// (tenant, app id) → the app's service principal's object id.
    service_principals: Memo<(String, String), String>,
    /// (tenant, subscription, role name) → a role definition.
    roles: Memo<(String, String, String), RoleDefinition>,
    /// (tenant, role definition id) → its role name.
    role_names: Memo<(String, String), String>,
    /// A vault's base URL → its tenant (from its challenge).
    vault_tenants: Memo<String, String>,
    /// A vault secret's identifier with its version → that version (a version never changes).
    pub(crate) vault_versions: Memo<String, crate::keyvault::Stored>,
    /// (tenant, app id) → the app's registration there, with its keys.
    pub(crate) registrations: Memo<(String, String), crate::app_keys::Registration>,
    /// (tenant, app id, SHA-256 of a secret) → the secret signed in as the app there (the
    /// tenant's id from the token, if it said).
    pub(crate) sign_ins: Memo<(String, String, String), Option<String>>,
}

pub(crate) struct Shared {
    pub(crate) http: Http,
    pub(crate) common: CommonArgs,
    pub(crate) memos: Memos,
    /// Files a step writes at most once per run (see [`Ctx::claim_file`]).
    pub(crate) claimed_files: std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>,
    /// A tool's own typed per-run state (see [`Ctx::state`]), one value per type.
    pub(crate) states: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The run's interrupt (SIGINT, SIGTERM): every deadline of the run carries it.
    pub(crate) interrupt: &'static Interrupt,
}

impl Shared {
    /// A deadline for one object: `--timeout` from now, ending early on the run's interrupt.
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::watched(self.common.timeout(), self.interrupt)
    }
}

/// What a step works with for one object: the cloud, the HTTP client, the deadline.
pub struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) deadline: Deadline,
}

/// The shared flags at their defaults (as if none were given).
fn default_common() -> CommonArgs {
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        common: CommonArgs,
    }
    Flags::parse_from(["xtenant"]).common
}

impl Ctx {
    /// A context of its own (for tests and programs): `cloud`, acting as `client_id` with
    /// `secret`, each object given `timeout`, writes only reported when `dry_run`.
    pub fn new(
        cloud: Cloud,
        client_id: &str,
        secret: Secret,
        timeout: Duration,
        dry_run: bool,
    ) -> Result<Self> {
        let cloud = Arc::new(cloud);
        let client = build_client(&cloud)?;
        let creds = Arc::new(Credentials::client_secret(
            client_id,
            secret,
            cloud.clone(),
            client.clone(),
        ));
        let mut common = default_common();
        common.timeout = Some(timeout);
        common.dry_run = dry_run;
        let shared = Arc::new(Shared {
            http: Http::new(client, cloud, creds, dry_run),
            common,
            memos: Memos::default(),
            claimed_files: std::sync::Mutex::default(),
            states: std::sync::Mutex::default(),
            interrupt: Interrupt::unwatched(),
        });
        Ok(Self {
            shared,
            deadline: Deadline::after(timeout),
        })
    }

    /// The same run (client, credentials, memos) with a fresh deadline: the next object.
    #[must_use]
    pub fn next_object(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            deadline: self.shared.deadline(),
        }
    }

    /// The HTTP client (credentials included).
    pub fn http(&self) -> &Http {
        &self.shared.http
    }

    /// The cloud.
    pub fn cloud(&self) -> &Cloud {
        self.shared.http.cloud()
    }

    /// This object's deadline.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Microsoft Graph acting in `tenant`.
    pub fn graph(&self, tenant: &str) -> Api<'_> {
        self.shared.http.graph(tenant, self.deadline)
    }

    /// ARM acting in `tenant`.
    pub fn arm(&self, tenant: &str) -> Api<'_> {
        self.shared.http.arm(tenant, self.deadline)
    }

    /// Whether writes are only reported.
    pub fn dry_run(&self) -> bool {
        self.shared.common.dry_run
    }

    /// The shared flags.
    pub fn common(&self) -> &CommonArgs {
        &self.shared.common
    }

    /// The run's value of type `T` (made with `T::default()` on first use): a tool's own
    /// typed memos, e.g. what [`crate::driver::Tool::prepare`] started for its objects.
    pub fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut states = self
            .shared
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let any = states
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        drop(states);
        any.downcast::<T>()
            .unwrap_or_else(|_| unreachable!("the state of a type is kept under its TypeId"))
    }

    /// Starts `work` on the run's runtime and forgets it: early work whose answer lands in
    /// a memo (a token, a lookup), where the object that needs it finds it. Its failure is
    /// not kept, so that object asks again and carries the error itself.
    pub fn spawn<Fut>(&self, work: Fut)
    where
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        drop(tokio::spawn(async move {
            if let Err(e) = work.await {
                crate::ui::debug(&format!(
                    "early work failed (the object asks again): {}",
                    e.message()
                ));
            }
        }));
    }

    /// Gets the tokens for `apis` in `tenant` now (cached for the run), before an object
    /// asks: a failure here is only logged; an object that asked meanwhile shares it
    /// ([`Credentials::token`]), a later one asks again, and each fails with it.
    pub fn sign_in_early(&self, tenant: &str, apis: EarlyTokens) {
        let cloud = self.cloud();
        let scopes = [
            Some(cloud.graph_scope()),
            (apis == EarlyTokens::GraphAndArm).then(|| cloud.arm_scope()),
        ];
        for scope in scopes.into_iter().flatten() {
            let run = self.next_object();
            let tenant = tenant.to_owned();
            self.spawn(async move {
                run.shared
                    .http
                    .credentials()
                    .token(&tenant, &scope)
                    .await
                    .map(drop)
            });
        }
    }

    /// Claims `path` for this object: `false` when an earlier object of the run claimed it
    /// (a file that holds one object's result, e.g. a secret, is written once per run).
    pub fn claim_file(&self, path: &std::path::Path) -> bool {
        self.shared
            .claimed_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_path_buf())
    }

    /// [`crate::graph::service_principal_id`] for `app_id` in the tenant of `graph`, looked
    /// up once per run (`None` is asked again).
    pub async fn service_principal_id(
        &self,
        graph: &Api<'_>,
        app_id: &str,
    ) -> Result<Option<String>> {
        let key = (
            graph.tenant().to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
        );
        self.shared
            .memos
            .service_principals
            .get_or(key, || crate::graph::service_principal_id(graph, app_id))
            .await
    }

    /// [`crate::arm::find_role`] for a built-in role (one id per subscription) at `scope`,
    /// looked up once per run and subscription.
    pub async fn built_in_role(
        &self,
        arm: &Api<'_>,
        scope: &str,
        role_name: &str,
    ) -> Result<Option<RoleDefinition>> {
        let subscription = scope.split('/').nth(2).unwrap_or("").to_ascii_lowercase();
        let key = (
            arm.tenant().to_ascii_lowercase(),
            subscription,
            role_name.to_ascii_lowercase(),
        );
        self.shared
            .memos
            .roles
            .get_or(key, || crate::arm::find_role(arm, scope, role_name))
            .await
    }

    /// The tenant of the vault `r` is in, from its challenge ([`crate::keyvault::vault_tenant`]),
    /// learned once per run and vault.
    pub async fn vault_tenant(&self, r: &crate::keyvault::SecretRef) -> Result<String> {
        let found = self
            .shared
            .memos
            .vault_tenants
            .get_or(r.vault_url().to_ascii_lowercase(), || async {
                crate::keyvault::vault_tenant(&self.shared.http, r, self.deadline)
                    .await
                    .map(Some)
            })
            .await?;
        found.ok_or_else(|| {
            crate::error::Error::usage("internal error: a vault's tenant was not kept")
        })
    }

    /// The name of the role `role_definition_id`, read once per run; `None` when it cannot be read.
    pub async fn role_name(
        &self,
        arm: &Api<'_>,
        role_definition_id: &str,
    ) -> Result<Option<String>> {
        let key = (
            arm.tenant().to_ascii_lowercase(),
            role_definition_id.to_ascii_lowercase(),
        );
        self.shared
            .memos
            .role_names
            .get_or(key, || async {
                let def = crate::arm::role_definition(arm, role_definition_id).await?;
                Ok(def.map(|d| d.role_name))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn a_lookup_is_made_once_per_run_unless_it_found_nothing() {
        let memo: Memo<&str, i64> = Memo::default();
        let calls = std::cell::Cell::new(0);
        let look = |v: Option<i64>| {
            calls.set(calls.get() + 1);
            async move { Ok(v) }
        };
        assert_eq!(memo.get_or("k", || look(None)).await.unwrap(), None);
        assert_eq!(memo.get_or("k", || look(Some(1))).await.unwrap(), Some(1));
        assert_eq!(memo.get_or("k", || look(Some(2))).await.unwrap(), Some(1));
        assert_eq!(
            calls.get(),
            2,
            "nothing found is asked again; an answer is kept"
        );
        let e = memo
            .get_or("e", || async {
                Err(Error::step(crate::error::codes::OPERATION_FAILED, "x"))
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), "OperationFailed");
        assert_eq!(
            memo.get_or("e", || look(Some(3))).await.unwrap(),
            Some(3),
            "an error is not kept"
        );
        // Two jobs asking at once share one lookup.
        let slow = |v: i64| {
            calls.set(calls.get() + 1);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Some(v))
            }
        };
        let before = calls.get();
        let (a, b) = tokio::join!(memo.get_or("j", || slow(1)), memo.get_or("j", || slow(2)));
        assert_eq!((a.unwrap(), b.unwrap()), (Some(1), Some(1)));
        assert_eq!(calls.get(), before + 1);
    }
}

/// Which tokens [`Ctx::sign_in_early`] gets ahead of the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyTokens {
    /// Microsoft Graph's only.
    Graph,
    /// Microsoft Graph's and Azure Resource Manager's.
    GraphAndArm,
}
