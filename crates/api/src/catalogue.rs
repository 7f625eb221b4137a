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

/// An owned description of a resource that is not built in (a custom
/// resource, an aggregated API's), made into a [`ResourceDef`] by
/// [`ResourceSpec::intern`] so that it is served as built-in ones are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub subresources: Vec<SubresourceSpec>,
}

/// An owned [`SubresourceDef`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SubresourceSpec {
    pub name: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

impl ResourceSpec {
    /// The definition of this description, made once per distinct
    /// description and kept for the life of the process (definitions are
    /// few and handed out as `&'static`, as the catalogue's are; a resource
    /// redefined with the same description gets the same definition back).
    pub fn intern(&self) -> &'static ResourceDef {
        use std::collections::{HashMap, HashSet};
        use std::sync::{Mutex, OnceLock};
        static DEFS: OnceLock<Mutex<HashMap<ResourceSpec, &'static ResourceDef>>> = OnceLock::new();
        static STRINGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut defs = DEFS
            .get_or_init(Default::default)
            .lock()
            .expect("interned definitions");
        if let Some(def) = defs.get(self) {
            return def;
        }
        let mut strings = STRINGS
            .get_or_init(Default::default)
            .lock()
            .expect("interned strings");
        let strings = &mut *strings;
        fn s(strings: &mut HashSet<&'static str>, v: &str) -> &'static str {
            match strings.get(v) {
                Some(s) => s,
                None => {
                    let leaked: &'static str = Box::leak(v.to_string().into_boxed_str());
                    strings.insert(leaked);
                    leaked
                }
            }
        }
        fn list(strings: &mut HashSet<&'static str>, vs: &[String]) -> &'static [&'static str] {
            let items: Vec<&'static str> = vs.iter().map(|v| s(strings, v)).collect();
            Box::leak(items.into_boxed_slice())
        }
        let subresources: Vec<SubresourceDef> = self
            .subresources
            .iter()
            .map(|r| SubresourceDef {
                name: s(strings, &r.name),
                group: s(strings, &r.group),
                version: s(strings, &r.version),
                kind: s(strings, &r.kind),
                verbs: list(strings, &r.verbs),
            })
            .collect();
        let def: &'static ResourceDef = Box::leak(Box::new(ResourceDef {
            group: s(strings, &self.group),
            version: s(strings, &self.version),
            kind: s(strings, &self.kind),
            plural: s(strings, &self.plural),
            singular: s(strings, &self.singular),
            namespaced: self.namespaced,
            verbs: list(strings, &self.verbs),
            short_names: list(strings, &self.short_names),
            categories: list(strings, &self.categories),
            subresources: Box::leak(subresources.into_boxed_slice()),
        }));
        defs.insert(self.clone(), def);
        def
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    #[test]
    fn a_description_is_interned_once() {
        let spec = ResourceSpec {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            verbs: vec!["get".into(), "list".into()],
            subresources: vec![SubresourceSpec {
                name: "status".into(),
                group: "example.com".into(),
                version: "v1".into(),
                kind: "Widget".into(),
                verbs: vec!["get".into()],
            }],
            ..Default::default()
        };
        let a = spec.intern();
        assert!(std::ptr::eq(a, spec.clone().intern()));
        assert_eq!(
            (a.group, a.plural, a.kind),
            ("example.com", "widgets", "Widget")
        );
        assert!(a.has_verb("list") && !a.has_verb("create"));
        assert_eq!(a.subresource("status").map(|s| s.kind), Some("Widget"));
        let other = ResourceSpec {
            namespaced: false,
            ..spec
        };
        assert!(!std::ptr::eq(a, other.intern()));
    }
}
