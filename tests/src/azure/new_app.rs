//! The spec of an app registration a test makes by hand ([`super::Operator::create_app`]).

/// An app registration to create in tenant A (the cluster's): see [`super::Operator::create_app`].
#[derive(Debug, Clone)]
pub struct NewApp {
    /// Its `displayName`.
    pub display_name: String,
    /// Its `signInAudience` (`AzureADMultipleOrgs`, `AzureADMyOrg`).
    pub sign_in_audience: String,
    /// Its `web.redirectUris` (none: no `web` at all).
    pub redirect_uris: Vec<String>,
    /// Whether to add a client secret (`addPassword`).
    pub secret: bool,
    /// Whether to create its service principal in tenant A.
    pub sp_in_a: bool,
    /// Whether to create its service principal in tenant B (what consent would do).
    pub sp_in_b: bool,
}

impl NewApp {
    /// A multitenant app (`AzureADMultipleOrgs`), with no redirect URI, secret or service principal.
    pub fn multitenant(display_name: &str) -> Self {
        Self::new(display_name, "AzureADMultipleOrgs")
    }

    /// The app steps 1 and 2 leave: multitenant, redirecting to the procedure's default URI,
    /// with a secret and its service principals in tenants A and B.
    pub fn procedure(display_name: &str) -> Self {
        Self::multitenant(display_name)
            .redirect_uris(&["https://www.microsoft.com"])
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(true)
    }

    /// A single-tenant app (`AzureADMyOrg`), with no redirect URI, secret or service principal.
    pub fn single_tenant(display_name: &str) -> Self {
        Self::new(display_name, "AzureADMyOrg")
    }

    /// An app with this `signInAudience`, with no redirect URI, secret or service principal.
    pub fn new(display_name: &str, sign_in_audience: &str) -> Self {
        Self {
            display_name: display_name.to_owned(),
            sign_in_audience: sign_in_audience.to_owned(),
            redirect_uris: Vec::new(),
            secret: false,
            sp_in_a: false,
            sp_in_b: false,
        }
    }

    /// With these web redirect URIs.
    #[must_use]
    pub fn redirect_uris(mut self, uris: &[&str]) -> Self {
        self.redirect_uris = uris.iter().map(|u| (*u).to_owned()).collect();
        self
    }

    /// With (or without) a client secret.
    #[must_use]
    pub fn secret(mut self, yes: bool) -> Self {
        self.secret = yes;
        self
    }

    /// With (or without) its service principal in tenant A.
    #[must_use]
    pub fn sp_in_a(mut self, yes: bool) -> Self {
        self.sp_in_a = yes;
        self
    }

    /// With (or without) its service principal in tenant B.
    #[must_use]
    pub fn sp_in_b(mut self, yes: bool) -> Self {
        self.sp_in_b = yes;
        self
    }
}
