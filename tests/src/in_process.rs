//! `common` in the test's own process against the simulator: a step's context, and reads
//! a test makes with the tools' own code.

use std::sync::Arc;
use std::time::Duration;

use common::cloud::Cloud;
use common::http::{Http, build_client};

use crate::TestSim;

impl TestSim {
    /// A step's context in process, as the driver builds it from the flags: this simulator's
    /// cloud and operator, `timeout` for each wait, no dry run.
    pub fn ctx(&self, timeout: Duration) -> common::driver::Ctx {
        common::driver::Ctx::new(
            Cloud::from_arg(&self.var("XTENANT_CLOUD")).expect("the sim's cloud"),
            &self.var("AZURE_CLIENT_ID"),
            common::Secret::new(self.var("AZURE_CLIENT_SECRET")),
            timeout,
            false,
        )
        .expect("a context on the simulator")
    }

    /// The value of the vault secret `reference` (a `client_secret_ref`), read as the
    /// operator in tenant A with common's Key Vault client.
    pub fn vault_value(&self, reference: &str) -> String {
        let cloud = Arc::new(
            Cloud::from_file(std::path::Path::new(&self.var("XTENANT_CLOUD")))
                .expect("the sim's cloud file"),
        );
        let client = build_client(&cloud).expect("an HTTP client");
        let creds = Arc::new(common::auth::Credentials::client_secret(
            &self.var("AZURE_CLIENT_ID"),
            common::Secret::new(self.var("AZURE_CLIENT_SECRET")),
            Arc::clone(&cloud),
            client.clone(),
        ));
        let http = Http::new(client, Arc::clone(&cloud), creds, false);
        let r = common::keyvault::SecretRef::parse("client_secret_ref", reference, &cloud)
            .expect("a vault secret reference");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(common::keyvault::get_secret(
            &http,
            &self.var("CLUSTER_TENANT_ID"),
            &r,
            common::wait::Deadline::after(Duration::from_secs(30)),
        ))
        .expect("the vault secret")
        .expose()
        .to_owned()
    }
}
