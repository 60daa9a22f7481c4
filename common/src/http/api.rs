//! [`Api`]: one service (Graph or ARM) in one tenant, with the object's deadline. Its
//! bearer token only ever goes to that service's own origin.

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::origin::check_origin;
use super::{Auth, Http, Request, Response, Sent, Service};
use crate::error::{Error, Result};
use crate::wait::Deadline;

/// One service in one tenant, with the object's deadline.
#[derive(Clone)]
pub struct Api<'a> {
    pub(super) http: &'a Http,
    pub(super) service: Service,
    pub(super) tenant: String,
    pub(super) deadline: Deadline,
}

impl Api<'_> {
    /// The full URL for a path (with query) on this service.
    pub fn url(&self, path_and_query: &str) -> Result<Url> {
        match self.service {
            Service::Graph => self.http.cloud.graph_url(path_and_query),
            Service::Arm => self.http.cloud.arm_url(path_and_query),
            Service::Registry => Err(Error::usage(
                "registry URLs are built from the login server",
            )),
            Service::KeyVault => Err(Error::usage(
                "Key Vault URLs are built from a secret reference",
            )),
        }
    }

    /// The service's endpoint (its origin is the only one this `Api` sends its token to).
    pub fn endpoint(&self) -> Result<&Url> {
        match self.service {
            Service::Graph => Ok(&self.http.cloud.graph),
            Service::Arm => Ok(&self.http.cloud.arm),
            Service::Registry => Err(Error::usage("registry requests are not sent through Api")),
            Service::KeyVault => Err(Error::usage("Key Vault requests are not sent through Api")),
        }
    }

    /// Refuses `url` (code `UntrustedOrigin`) unless it is on this service's origin;
    /// `what` names it in the error, e.g. "the operation URL in Azure's answer".
    pub fn check_origin(&self, url: &Url, what: &str) -> Result<()> {
        check_origin(url, self.endpoint()?, what)
    }

    /// The tenant acted in.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The deadline.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// The same service and tenant until `deadline` instead (a wait that has a bound of its
    /// own, e.g. a reset sized by the cluster's nodes).
    #[must_use]
    pub fn until(&self, deadline: Deadline) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    /// A request on `url` with this service's auth.
    pub fn request(&self, method: Method, url: Url) -> Request {
        Request::new(method, url, self.service, Auth::Tenant(self.tenant.clone()))
    }

    /// Sends a read (GET or HEAD) built with [`Api::request`]; see [`Http::read`].
    ///
    /// A URL off this service's origin is refused before anything is sent.
    pub async fn read(&self, req: Request) -> Result<Response> {
        self.check_origin(&req.url, "the request URL")?;
        self.http.read(req, self.deadline).await
    }

    /// Sends a write built with [`Api::request`]; see [`Http::write`].
    ///
    /// A URL off this service's origin is refused before anything is sent or reported.
    pub async fn write(&self, req: Request) -> Result<Sent> {
        self.check_origin(&req.url, "the request URL")?;
        self.http.write(req, self.deadline).await
    }

    /// GET a path; the JSON body.
    pub async fn get(&self, path_and_query: &str) -> Result<Value> {
        let url = self.url(path_and_query)?;
        Ok(self.read(self.request(Method::GET, url)).await?.body)
    }

    /// GET a path; `None` on 404.
    pub async fn get_opt(&self, path_and_query: &str) -> Result<Option<Value>> {
        let url = self.url(path_and_query)?;
        let r = self
            .read(self.request(Method::GET, url).accept(&[404]))
            .await?;
        Ok((r.status != 404).then_some(r.body))
    }
}
