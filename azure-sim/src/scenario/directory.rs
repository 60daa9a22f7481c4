//! The default scenario's Entra objects: its two tenants, apps and service principals.

use serde_json::Map;

use super::{
    CLUSTER_WRITER_APP_ID, CLUSTER_WRITER_APP_OBJ, CLUSTER_WRITER_SP_A, MSI_CLIENT_ID, MSI_SP_A,
    OLD_APP_ID, OLD_APP_OBJ, OLD_SP_A, OPERATOR_APP_ID, OPERATOR_APP_OBJ, OPERATOR_SP_A,
    OPERATOR_SP_B, READER_APP_ID, READER_APP_OBJ, READER_SP_A, READER_SP_B, TENANT_A, TENANT_B,
    now,
};
use crate::model::{Application, FederatedCredential, ServicePrincipal, Tenant};

fn app(id: &str, app_id: &str, name: &str, multi: bool) -> Application {
    Application {
        id: id.into(),
        app_id: app_id.into(),
        tenant_id: TENANT_A.into(),
        display_name: name.into(),
        unique_name: None,
        sign_in_audience: if multi {
            "AzureADMultipleOrgs"
        } else {
            "AzureADMyOrg"
        }
        .into(),
        redirect_uris: vec!["https://www.microsoft.com".into()],
        created_at: now() - time::Duration::days(30),
        password_credentials: Vec::new(),
        federated_credentials: Vec::new(),
        key_credentials: Vec::new(),
        properties: Map::new(),
        deleted_at: None,
        owners: Vec::new(),
    }
}

fn sp(id: &str, app_id: &str, tenant: &str, roles: &[&str]) -> ServicePrincipal {
    ServicePrincipal {
        id: id.into(),
        app_id: app_id.into(),
        tenant_id: tenant.into(),
        display_name: None,
        service_principal_type: "Application".into(),
        graph_app_roles: roles.iter().map(ToString::to_string).collect(),
        account_enabled: true,
        created_at: now() - time::Duration::days(30),
        properties: Map::new(),
    }
}

/// Tenant A (the cluster's, with a 730-day secret lifetime policy) and tenant B.
pub(super) fn tenants() -> Vec<Tenant> {
    vec![
        Tenant {
            id: TENANT_A.into(),
            display_name: "Contoso AKS".into(),
            domains: vec!["contoso-aks.onmicrosoft.com".into()],
            max_password_lifetime_days: Some(730),
            conditional_access: Vec::new(),
        },
        Tenant {
            id: TENANT_B.into(),
            display_name: "Fabrikam ACR".into(),
            domains: vec!["fabrikam-acr.onmicrosoft.com".into()],
            max_password_lifetime_days: None,
            conditional_access: Vec::new(),
        },
    ]
}

/// The cluster's old app, the operator (with a federated credential), the reader and the
/// cluster-only writer.
pub(super) fn applications() -> Vec<Application> {
    let mut operator = app(OPERATOR_APP_OBJ, OPERATOR_APP_ID, "xtenant-operator", true);
    operator.federated_credentials.push(FederatedCredential {
        id: "5f0a3c1e-0000-4000-8000-0000000000fc".into(),
        name: "cluster-a-operator".into(),
        description: None,
        issuer: "https://oidc.azure.sim/cluster-a".into(),
        subject: "system:serviceaccount:xtenant:operator".into(),
        audiences: vec!["api://AzureADTokenExchange".into()],
    });
    vec![
        app(OLD_APP_OBJ, OLD_APP_ID, "aks-prod-legacy-sp", false),
        operator,
        app(READER_APP_OBJ, READER_APP_ID, "xtenant-reader", true),
        app(
            CLUSTER_WRITER_APP_OBJ,
            CLUSTER_WRITER_APP_ID,
            "aks-prod-cluster-writer",
            false,
        ),
    ]
}

/// Their service principals, and the managed identity cluster's.
pub(super) fn service_principals() -> Vec<ServicePrincipal> {
    vec![
        sp(OLD_SP_A, OLD_APP_ID, TENANT_A, &[]),
        sp(
            OPERATOR_SP_A,
            OPERATOR_APP_ID,
            TENANT_A,
            &["Application.ReadWrite.All"],
        ),
        sp(
            READER_SP_A,
            READER_APP_ID,
            TENANT_A,
            &["Application.Read.All"],
        ),
        sp(CLUSTER_WRITER_SP_A, CLUSTER_WRITER_APP_ID, TENANT_A, &[]),
        ServicePrincipal {
            display_name: Some("aks-msi".into()),
            service_principal_type: "ManagedIdentity".into(),
            ..sp(MSI_SP_A, MSI_CLIENT_ID, TENANT_A, &[])
        },
        sp(
            OPERATOR_SP_B,
            OPERATOR_APP_ID,
            TENANT_B,
            &["Application.ReadWrite.All"],
        ),
        sp(
            READER_SP_B,
            READER_APP_ID,
            TENANT_B,
            &["Application.Read.All"],
        ),
    ]
}
