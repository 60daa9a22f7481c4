//! A parsed ARM resource id: checked segment by segment, so an id from an envelope can be
//! put in a request path.

use crate::error::{Error, Result};
use crate::validate::{is_guid, shown};

/// A parsed ARM id of a top-level resource: `/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    /// Subscription id (lower case).
    pub subscription: String,
    /// Resource group name.
    pub resource_group: String,
    /// Provider namespace and type, e.g. `Microsoft.ContainerRegistry/registries`.
    pub resource_type: String,
    /// Resource name.
    pub name: String,
}

/// Which segment of an id is checked: ARM allows Unicode letters in a resource group's
/// name, not in a resource's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// A resource group: letters (Unicode), digits, `-_.()`.
    ResourceGroup,
    /// A resource's name: ASCII letters, digits, `-_.()`.
    Name,
}

/// Whether a resource group or resource name segment is safe to put in a path.
fn segment_ok(s: &str, segment: Segment) -> bool {
    let unicode = segment == Segment::ResourceGroup;
    !s.is_empty()
        && s.len() <= 90
        && s != "."
        && s != ".."
        && !s.ends_with('.')
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || "-_.()".contains(c) || (unicode && c.is_alphabetic())
        })
}

impl ResourceId {
    /// Builds an id from its parts, checking each.
    pub fn new(
        field: &str,
        subscription: &str,
        resource_group: &str,
        resource_type: &str,
        name: &str,
    ) -> Result<Self> {
        if !is_guid(subscription) {
            return Err(Error::input(
                field,
                format!(
                    "`{field}`: the subscription must be a GUID, got {}",
                    shown(subscription)
                ),
            ));
        }
        if !segment_ok(resource_group, Segment::ResourceGroup) {
            return Err(Error::input(
                field,
                format!(
                    "`{field}`: {} is not a valid resource group name",
                    shown(resource_group)
                ),
            ));
        }
        if !segment_ok(name, Segment::Name) {
            return Err(Error::input(
                field,
                format!(
                    "`{field}`: {} is not a valid resource name (letters, digits, - _ . ( ))",
                    shown(name)
                ),
            ));
        }
        Ok(Self {
            subscription: subscription.to_ascii_lowercase(),
            resource_group: resource_group.to_owned(),
            resource_type: resource_type.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Parses `value` as the id of a resource of `resource_type` (case-insensitive, as ARM is).
    pub fn parse(field: &str, value: &str, resource_type: &str) -> Result<Self> {
        let example = format!(
            "/subscriptions/<guid>/resourceGroups/<group>/providers/{resource_type}/<name>"
        );
        let bad = |why: &str| {
            Error::input(
                field,
                format!("`{field}` {why}: {} (expected {example})", shown(value)),
            )
        };
        let v = value.trim();
        if v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "?#%\\".contains(c))
        {
            return Err(bad("contains characters that cannot be in a resource id"));
        }
        let parts: Vec<&str> = v
            .strip_prefix('/')
            .ok_or_else(|| bad("must start with /subscriptions/"))?
            .split('/')
            .collect();
        let (want_ns, want_type) = resource_type.split_once('/').expect("namespace/type");
        if parts.len() != 8 {
            return Err(bad("has the wrong number of segments"));
        }
        if !parts[0].eq_ignore_ascii_case("subscriptions")
            || !parts[2].eq_ignore_ascii_case("resourceGroups")
            || !parts[4].eq_ignore_ascii_case("providers")
        {
            return Err(bad("is not a resource id"));
        }
        if !parts[5].eq_ignore_ascii_case(want_ns) || !parts[6].eq_ignore_ascii_case(want_type) {
            return Err(bad(&format!(
                "is a {}/{} id, not a {resource_type} id",
                parts[5], parts[6]
            )));
        }
        Self::new(field, parts[1], parts[3], resource_type, parts[7])
    }

    /// The canonical id.
    pub fn id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}",
            self.subscription, self.resource_group, self.resource_type, self.name
        )
    }
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "Microsoft.ContainerRegistry/registries";

    #[test]
    fn parses_ids_case_insensitively() {
        let id = ResourceId::parse(
            "registry_id",
            "/subscriptions/00000000-0000-0000-0000-00000000000A/resourcegroups/my-rg/providers/microsoft.containerregistry/Registries/myReg",
            REG,
        )
        .unwrap();
        assert_eq!(id.subscription, "00000000-0000-0000-0000-00000000000a");
        assert_eq!(id.name, "myReg");
        assert_eq!(
            id.id(),
            "/subscriptions/00000000-0000-0000-0000-00000000000a/resourceGroups/my-rg/providers/Microsoft.ContainerRegistry/registries/myReg"
        );
    }

    #[test]
    fn refuses_hostile_ids() {
        let base = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/";
        for bad in [
            format!("{base}.."),
            format!("{base}a?b"),
            format!("{base}a#b"),
            format!("{base}a%2fb"),
            format!("{base}a b"),
            format!("{base}ü"),
            format!("{base}x/extra"),
            base.replace(
                "ContainerRegistry/registries",
                "ContainerService/managedClusters",
            ) + "x",
            base.replace("00000000-0000-0000-0000-000000000000", "not-a-guid") + "x",
            base.replace("/rg/", "/../") + "x",
            "subscriptions/x".to_owned(),
            String::new(),
        ] {
            let e = ResourceId::parse("registry_id", &bad, REG).unwrap_err();
            assert!(e.message().contains("registry_id"), "{bad}: {e}");
        }
    }

    /// A resource group may have Unicode letters, a resource's name may not.
    #[test]
    fn unicode_letters_only_in_a_resource_group() {
        let sub = "00000000-0000-0000-0000-000000000000";
        assert!(ResourceId::new("f", sub, "grüppe", REG, "reg").is_ok());
        assert!(segment_ok("grüppe", Segment::ResourceGroup));
        assert!(!segment_ok("grüppe", Segment::Name));
        let e = ResourceId::new("f", sub, "rg", REG, "rüg").unwrap_err();
        assert!(e.message().contains("not a valid resource name"), "{e}");
    }
}
