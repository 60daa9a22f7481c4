//! Names of the environment variables the tools read, in one place.

/// The cloud: a name or the path of a cloud file (`--cloud`).
pub const XTENANT_CLOUD: &str = "XTENANT_CLOUD";
/// Name resolution pointed elsewhere (`--resolve`): `HOST:443:ADDR[:PORT]`, comma-separated.
pub const XTENANT_RESOLVE: &str = "XTENANT_RESOLVE";
/// A CA certificate file (PEM) trusted besides the system roots, for any cloud (`--ca-file`).
pub const XTENANT_CA_FILE: &str = "XTENANT_CA_FILE";
/// How long a read made before an object arrived stands for it, at most 30 s
/// (`aks-sp-update --early-read-max-age`; `0`: every object reads afresh).
pub const XTENANT_EARLY_READ_MAX_AGE: &str = "XTENANT_EARLY_READ_MAX_AGE";
/// How long a write already sent is waited for after SIGINT or SIGTERM, at most 5 s
/// (`--write-grace`; `0`: not at all).
pub const XTENANT_WRITE_GRACE: &str = "XTENANT_WRITE_GRACE";
/// The credential kind (`--auth`).
pub const XTENANT_AUTH: &str = "XTENANT_AUTH";
/// Client (app) id of the identity the tools act as (azure_identity's convention).
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// Client secret of that identity.
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// Federated token file, for workload identity.
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
/// Managed identity endpoint (App Service and similar); its presence enables managed identity in `auto`.
pub const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
/// Opt in to managed identity through the instance metadata service in `auto`.
pub const XTENANT_USE_IMDS: &str = "XTENANT_USE_IMDS";
/// Where the Azure CLI keeps its configuration (default `~/.azure`); its `config` file names the active cloud.
pub const AZURE_CONFIG_DIR: &str = "AZURE_CONFIG_DIR";
