//! The resource catalogue: every resource Skiff serves, with what discovery
//! reports of it and what the generic machinery needs to serve it.
//!
//! Adding a built-in kind is an entry in `catalogue/builtin.rs` (what upstream's
//! discovery reports for Kubernetes 1.33) plus, when it has one, its strategy.

mod builtin;

/// A subresource as discovery reports it (`pods/status`, `deployments/scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubresourceDef {
    /// The part after the slash: "status", "scale", "log", "exec", ...
    pub name: &'static str,
    /// Group, version and kind of the object the subresource takes and returns
    /// (e.g. autoscaling/v1 Scale for `deployments/scale`).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// One resource of one group/version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceDef {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The URL segment: "pods".
    pub plural: &'static str,
    /// "pod".
    pub singular: &'static str,
    pub namespaced: bool,
    /// In discovery's order: create, delete, deletecollection, get, list, patch,
    /// update, watch (sorted alphabetically, as upstream reports them).
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [SubresourceDef],
}

impl ResourceDef {
    /// "apps/v1", or "v1" for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    pub fn subresource(&self, name: &str) -> Option<&'static SubresourceDef> {
        self.subresources.iter().find(|s| s.name == name)
    }
}

/// Every built-in resource of every served group/version.
pub fn builtin() -> &'static [ResourceDef] {
    builtin::BUILTIN
}

/// The group versions served, in discovery's order (preferred version first
/// within a group), as (group, versions).
pub fn builtin_groups() -> &'static [(&'static str, &'static [&'static str])] {
    builtin::GROUPS
}
