//! `Microsoft.ContainerRegistry/registries`: the registry resource.

use serde_json::{Value, json};

use axum::http::StatusCode;

use super::R;
use super::checks::{authorize, check_scope, resource_not_found};
use crate::core::{Core, Principal};
use crate::dates::fmt_ticks;
use crate::http::{Req, json};
use crate::model::{Registry, State};

pub(super) fn registry_json(core: &Core, r: &Registry) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "type": "Microsoft.ContainerRegistry/registries",
        "location": r.location,
        "tags": {},
        "sku": {"name": r.sku, "tier": r.sku},
        "properties": {
            "loginServer": core.login_server(&r.name),
            "creationDate": fmt_ticks(r.created_at),
            "provisioningState": "Succeeded",
            "adminUserEnabled": false,
            "networkRuleSet": r.network_rules.arm_json(),
            "policies": {
                "quarantinePolicy": {"status": "disabled"},
                "trustPolicy": {"type": "Notary", "status": "disabled"},
                "retentionPolicy": {"days": 7, "lastUpdatedTime": fmt_ticks(r.created_at), "status": "disabled"},
                "exportPolicy": {"status": "enabled"},
                "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
            },
            "encryption": {"status": "disabled"},
            "status": null,
            "dataEndpointEnabled": false,
            "dataEndpointHostNames": [],
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Enabled",
            "networkRuleBypassOptions": "AzureServices",
            "networkRuleBypassAllowedForTasks": false,
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": false,
            "roleAssignmentMode": r.role_assignment_mode,
        }
    })
}

/// `GET .../registries/{name}`.
pub(super) fn get_registry(core: &Core, req: &Req, p: &Principal, state: &State, id: &str) -> R {
    let segs = &req.segs;
    authorize(state, p, id, "Microsoft.ContainerRegistry/registries/read")?;
    check_scope(
        state,
        p,
        &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
    )?;
    let r = state
        .registries
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))?;
    Ok(json(StatusCode::OK, &registry_json(core, r)))
}
