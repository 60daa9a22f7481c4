//! Azure Policy, as far as a cluster update meets it: a tag policy that denies a write carrying
//! a tag it does not allow, anywhere under its scope (a subscription, a resource group).
//!
//! AKS copies a cluster's tags onto the resources of its node resource group on every update
//! (azure-cli#16055's help text for `az aks update --tags`, Azure/AKS#3707); a policy there that
//! refuses one of them fails the whole operation (Azure/AKS#5856; the AKS troubleshooting page
//! aka.ms/aks-requestdisallowedbypolicy; the message's form as AKS reported it for a node resource
//! group in MicrosoftDocs/azure-docs#99846).

use serde::{Deserialize, Serialize};

/// A policy assignment that denies tags.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TagPolicy {
    /// The assignment's name, as a refusal names it.
    #[serde(default = "default_name")]
    pub name: String,
    /// Where it applies: an ARM id; everything under it is governed.
    pub scope: String,
    /// The tag names it refuses, case-insensitive; a trailing `*` matches any rest.
    pub deny_tags: Vec<String>,
}

fn default_name() -> String {
    "deny-tags".into()
}

fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    match p.strip_suffix('*') {
        Some(prefix) => n.starts_with(prefix),
        None => p == n,
    }
}

/// The first policy that refuses writing `tags` on `resource_id`, and the tag it refuses.
pub(crate) fn denied<'p, 't>(
    policies: &'p [TagPolicy],
    resource_id: &str,
    mut tags: impl Iterator<Item = &'t String>,
) -> Option<(&'p TagPolicy, String)> {
    let id = resource_id.to_ascii_lowercase();
    let governing: Vec<&TagPolicy> = policies
        .iter()
        .filter(|p| {
            let scope = p.scope.trim_end_matches('/').to_ascii_lowercase();
            id == scope || id.starts_with(&format!("{scope}/"))
        })
        .collect();
    tags.find_map(|t| {
        governing
            .iter()
            .find(|p| p.deny_tags.iter().any(|d| matches(d, t)))
            .map(|p| (*p, t.clone()))
    })
}

/// ARM's own refusal of a write a deny policy governs (the resource itself, its group or its
/// subscription): 403 `RequestDisallowedByPolicy` before the request reaches the resource
/// provider, so nothing of it is kept (learn.microsoft.com/azure/governance/policy/concepts/
/// effect-deny: "deny prevents the request before being sent to the Resource Provider. The
/// request is returned as a 403 (Forbidden)"; the body as learn.microsoft.com/azure/
/// azure-resource-manager/troubleshooting/error-policy-requestdisallowedbypolicy shows it, with
/// ARM's `additionalInfo` of type `PolicyViolation`).
pub(crate) fn arm_refusal(policy: &TagPolicy, resource_id: &str, tag: &str) -> serde_json::Value {
    let name = resource_id.rsplit('/').next().unwrap_or(resource_id);
    let scope = policy.scope.trim_end_matches('/');
    let assignment = assignment_id(policy);
    let sub = scope
        .split('/')
        .nth(2)
        .map_or_else(String::new, |s| format!("/subscriptions/{s}"));
    let definition = format!(
        "{sub}/providers/Microsoft.Authorization/policyDefinitions/{}",
        policy.name
    );
    serde_json::json!({"error": {
        "code": "RequestDisallowedByPolicy",
        "target": name,
        "message": disallowed(
            name,
            &format!(
                "{{\"policyAssignment\":{{\"name\":\"{}\",\"id\":\"{assignment}\"}},\"policyDefinition\":{{\"name\":\"{}\",\"id\":\"{definition}\"}}}}",
                policy.name, policy.name
            ),
            tag
        ),
        "additionalInfo": [{
            "type": "PolicyViolation",
            "info": {
                "policyDefinitionDisplayName": policy.name,
                "policyDefinitionId": definition,
                "policyDefinitionName": policy.name,
                "policyDefinitionEffect": "deny",
                "policyAssignmentId": assignment,
                "policyAssignmentName": policy.name,
                "policyAssignmentDisplayName": policy.name,
                "policyAssignmentScope": scope,
            },
        }],
    }})
}

/// AKS's error for a node resource group write a policy refused (its identifiers name the
/// assignment only).
pub(crate) fn refusal(policy: &TagPolicy, resource_id: &str, tag: &str) -> String {
    let rg = resource_id.rsplit('/').next().unwrap_or(resource_id);
    let identifier = format!(
        "{{\"policyAssignment\":{{\"name\":\"{}\",\"id\":\"{}\"}}}}",
        policy.name,
        assignment_id(policy)
    );
    format!(
        "Resource request failed due to RequestDisallowedByPolicy. Please see https://aka.ms/aks-requestdisallowedbypolicy for more details. The detailed error message: Code=\"RequestDisallowedByPolicy\" Message=\"{}\" Target=\"{rg}\"",
        disallowed(rg, &identifier, tag)
    )
}

/// The policy assignment's ARM id.
fn assignment_id(policy: &TagPolicy) -> String {
    format!(
        "{}/providers/Microsoft.Authorization/policyAssignments/{}",
        policy.scope.trim_end_matches('/'),
        policy.name
    )
}

/// Azure Policy's words for a write it denied: the resource, the policy (its identifier, a
/// JSON object) and the tag.
fn disallowed(resource: &str, identifier: &str, tag: &str) -> String {
    format!(
        "Resource '{resource}' was disallowed by policy. Policy identifiers: '[{identifier}]'. Reasons: 'The tag '{tag}' is not allowed.'."
    )
}

#[cfg(test)]
mod tests {
    use super::{TagPolicy, arm_refusal, denied, refusal};

    #[test]
    fn a_policy_denies_its_tags_under_its_scope_only() {
        let p = vec![TagPolicy {
            name: "no-xtenant".into(),
            scope: "/subscriptions/S/resourceGroups/MC_rg_aks_eastus".into(),
            deny_tags: vec!["xtenant-*".into(), "Owner".into()],
        }];
        let tags = ["team".to_string(), "XTENANT-client-id".to_string()];
        let node_rg = "/subscriptions/S/resourceGroups/MC_rg_aks_eastus";
        let (policy, tag) = denied(&p, node_rg, tags.iter()).unwrap();
        assert_eq!(
            (policy.name.as_str(), tag.as_str()),
            ("no-xtenant", "XTENANT-client-id")
        );
        assert!(denied(&p, &format!("{node_rg}/providers/X/y/z"), tags.iter()).is_some());
        assert!(denied(&p, "/subscriptions/S/resourceGroups/rg", tags.iter()).is_none());
        assert!(denied(&p, node_rg, ["team".to_string()].iter()).is_none());
        assert!(denied(&p, node_rg, ["owner".to_string()].iter()).is_some());
        let m = refusal(policy, node_rg, &tag);
        assert!(
            m.contains("RequestDisallowedByPolicy") && m.contains("MC_rg_aks_eastus"),
            "{m}"
        );
    }

    /// The two refusals' words, as ARM and AKS write them (the same sentence, ARM's naming
    /// the definition too).
    #[test]
    fn the_refusals_read_as_azure_writes_them() {
        let p = TagPolicy {
            name: "no-x".into(),
            scope: "/subscriptions/S/resourceGroups/rg/".into(),
            deny_tags: vec!["x".into()],
        };
        let assignment = "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Authorization/policyAssignments/no-x";
        assert_eq!(
            refusal(&p, "/subscriptions/S/resourceGroups/rg", "x"),
            format!(
                r#"Resource request failed due to RequestDisallowedByPolicy. Please see https://aka.ms/aks-requestdisallowedbypolicy for more details. The detailed error message: Code="RequestDisallowedByPolicy" Message="Resource 'rg' was disallowed by policy. Policy identifiers: '[{{"policyAssignment":{{"name":"no-x","id":"{assignment}"}}}}]'. Reasons: 'The tag 'x' is not allowed.'." Target="rg""#
            )
        );
        let arm = arm_refusal(
            &p,
            "/subscriptions/S/resourceGroups/rg/providers/P/t/aks",
            "x",
        );
        assert_eq!(
            arm["error"]["message"],
            format!(
                r#"Resource 'aks' was disallowed by policy. Policy identifiers: '[{{"policyAssignment":{{"name":"no-x","id":"{assignment}"}},"policyDefinition":{{"name":"no-x","id":"/subscriptions/S/providers/Microsoft.Authorization/policyDefinitions/no-x"}}}}]'. Reasons: 'The tag 'x' is not allowed.'."#
            )
        );
        assert_eq!(
            arm["error"]["additionalInfo"][0]["info"]["policyAssignmentId"],
            assignment
        );
    }
}
