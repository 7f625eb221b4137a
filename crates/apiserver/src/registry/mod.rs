//! The registry: which resources are served (built-in ones from the catalogue,
//! others added and removed while the server runs), and Kubernetes objects in
//! the store. Owns the key layout
//! (`/registry/<group>/<resource>/<namespace>/<name>`), the stored encoding (JSON
//! without `resourceVersion`; the store's mod revision is the resource version,
//! spliced in when an object is served) and the mapping of store errors onto
//! API errors.

pub mod list;
pub mod rest;
pub mod store;
pub mod watch;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;
use skiff_api::schema::{self, Ty};
use skiff_api::strategy::{self, Strategy};
use skiff_api::{ApiError, ResourceDef, catalogue};
use skiff_store::StoreError;

/// A served resource: its catalogue entry and strategy.
#[derive(Clone)]
pub struct Resource {
    pub def: &'static ResourceDef,
    pub strategy: Arc<dyn Strategy>,
    /// The group whose key space stores it (shared by all versions of a resource).
    pub storage_group: &'static str,
    /// The kind's type in the built-in schema (`Untyped` for kinds without one).
    pub ty: Ty,
    /// What its storage does beside the generic store, when anything.
    pub rest: Option<Arc<dyn rest::Rest>>,
    /// How it prints as a Table.
    pub printer: crate::table::Printer,
}

impl Resource {
    /// A served resource: `storage_group` names the key space its objects live in.
    pub fn new(
        def: &'static ResourceDef,
        strategy: Arc<dyn Strategy>,
        storage_group: &'static str,
    ) -> Resource {
        Resource {
            def,
            strategy,
            storage_group,
            ty: schema::of_kind(def.group, def.version, def.kind)
                .map_or(Ty::Untyped, |d| Ty::Struct(d.name)),
            rest: rest::of(def),
            printer: crate::table::Printer::of(def),
        }
    }

    /// The key of one object.
    pub fn key(&self, namespace: &str, name: &str) -> String {
        if self.def.namespaced {
            format!("{}{namespace}/{name}", self.prefix())
        } else {
            format!("{}{name}", self.prefix())
        }
    }

    /// The prefix of every object of the resource.
    pub fn prefix(&self) -> String {
        let g = if self.storage_group.is_empty() {
            "core"
        } else {
            self.storage_group
        };
        format!("/registry/{g}/{}/", self.def.plural)
    }

    /// The prefix of the objects in one namespace (all of them when `namespace` is empty).
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        if self.def.namespaced && !namespace.is_empty() {
            format!("{}{namespace}/", self.prefix())
        } else {
            self.prefix()
        }
    }
}

/// Every served resource, changeable while the server runs: built-in
/// resources from the catalogue at start, others (custom resources,
/// aggregated APIs) added and removed later. Readers take a [`Snapshot`],
/// one consistent view that a concurrent change does not disturb.
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
}

/// One view of the registry.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// group → version → plural.
    by_path: HashMap<&'static str, HashMap<&'static str, HashMap<&'static str, Arc<Resource>>>>,
    /// The served groups in discovery's order, each with its versions
    /// (preferred first) and their resources.
    groups: Vec<Group>,
}

/// A served group, as discovery lists it.
#[derive(Clone)]
pub struct Group {
    pub name: &'static str,
    pub versions: Vec<GroupVersion>,
}

/// A served group version and its resources in discovery's order.
#[derive(Clone)]
pub struct GroupVersion {
    pub version: &'static str,
    pub resources: Vec<Arc<Resource>>,
}

impl Registry {
    /// The built-in resources of the catalogue.
    pub fn new() -> Self {
        let mut snapshot = Snapshot::default();
        for (group, versions) in catalogue::builtin_groups() {
            snapshot.groups.push(Group {
                name: group,
                versions: versions
                    .iter()
                    .map(|v| GroupVersion {
                        version: v,
                        resources: Vec::new(),
                    })
                    .collect(),
            });
        }
        for def in catalogue::builtin() {
            let storage_group = match (def.group, def.plural) {
                // events.k8s.io/v1 Events are core/v1 Events, stored once.
                ("events.k8s.io", "events") => "",
                _ => def.group,
            };
            snapshot.insert(Resource::new(def, strategy::of(def), storage_group));
        }
        Registry {
            current: RwLock::new(Arc::new(snapshot)),
        }
    }

    /// The registry as it is now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("registry lock").clone()
    }

    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.snapshot().resource(group, version, plural)
    }

    /// Serves a resource (replacing one of the same group, version and plural).
    pub fn add(&self, resource: Resource) {
        let mut current = self.current.write().expect("registry lock");
        let mut next = Snapshot::clone(&current);
        next.insert(resource);
        *current = Arc::new(next);
    }

    /// Stops serving a resource; its stored objects stay where they are.
    pub fn remove(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        let mut current = self.current.write().expect("registry lock");
        let mut next = Snapshot::clone(&current);
        let removed = next.remove(group, version, plural);
        if removed.is_some() {
            *current = Arc::new(next);
        }
        removed
    }
}

impl Snapshot {
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.by_path.get(group)?.get(version)?.get(plural).cloned()
    }

    /// The served groups in discovery's order (the core group first).
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// A served group.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Every served resource.
    pub fn resources(&self) -> impl Iterator<Item = &Arc<Resource>> {
        self.groups
            .iter()
            .flat_map(|g| g.versions.iter().flat_map(|v| v.resources.iter()))
    }

    fn insert(&mut self, resource: Resource) {
        let def = resource.def;
        self.remove(def.group, def.version, def.plural);
        let resource = Arc::new(resource);
        self.by_path
            .entry(def.group)
            .or_default()
            .entry(def.version)
            .or_default()
            .insert(def.plural, resource.clone());
        let group = match self.groups.iter().position(|g| g.name == def.group) {
            Some(i) => &mut self.groups[i],
            None => {
                self.groups.push(Group {
                    name: def.group,
                    versions: Vec::new(),
                });
                self.groups.last_mut().expect("pushed")
            }
        };
        let version = match group.versions.iter().position(|v| v.version == def.version) {
            Some(i) => &mut group.versions[i],
            None => {
                group.versions.push(GroupVersion {
                    version: def.version,
                    resources: Vec::new(),
                });
                // Preferred first: upstream's kube-aware version order.
                group
                    .versions
                    .sort_by(|a, b| skiff_api::version::compare_kube_aware(b.version, a.version));
                let at = group
                    .versions
                    .iter()
                    .position(|v| v.version == def.version)
                    .expect("inserted");
                &mut group.versions[at]
            }
        };
        version.resources.push(resource);
    }

    fn remove(&mut self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        let removed = self
            .by_path
            .get_mut(group)?
            .get_mut(version)?
            .remove(plural)?;
        if let Some(gi) = self.groups.iter().position(|g| g.name == group) {
            let g = &mut self.groups[gi];
            if let Some(vi) = g.versions.iter().position(|v| v.version == version) {
                g.versions[vi].resources.retain(|r| r.def.plural != plural);
                if g.versions[vi].resources.is_empty() {
                    g.versions.remove(vi);
                }
            }
            if g.versions.is_empty() {
                self.groups.remove(gi);
            }
        }
        Some(removed)
    }
}

/// Maps a store failure onto the API error a client sees.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Compacted {
            requested,
            compact_revision,
        } => ApiError::expired(format!(
            "too old resource version: {requested} ({compact_revision})"
        )),
        StoreError::FutureRevision { requested, current } => {
            ApiError::too_large_resource_version(requested, current)
        }
        StoreError::ValueTooLarge { .. } => ApiError::too_large(e.to_string()),
        other => ApiError::internal(other),
    }
}

/// The stored form of an object: `apiVersion`, `kind` and `metadata` first (so
/// that the resource version can be spliced in without parsing), without
/// `metadata.resourceVersion`.
pub fn encode(obj: &Value) -> Bytes {
    let mut out = BytesMut::with_capacity(512);
    out.put_u8(b'{');
    let map = obj.as_object();
    let mut first = true;
    let mut emit = |out: &mut BytesMut, k: &str, v: &Value| {
        if !first {
            out.put_u8(b',');
        }
        first = false;
        out.extend_from_slice(&serde_json::to_vec(k).expect("string"));
        out.put_u8(b':');
        out.extend_from_slice(&serde_json::to_vec(v).expect("value"));
    };
    if let Some(m) = map {
        for k in ["apiVersion", "kind"] {
            if let Some(v) = m.get(k) {
                emit(&mut out, k, v);
            }
        }
        let mut meta = m
            .get("metadata")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(mm) = meta.as_object_mut() {
            mm.remove("resourceVersion");
        }
        emit(&mut out, "metadata", &meta);
        for (k, v) in m {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                emit(&mut out, k, v);
            }
        }
    }
    out.put_u8(b'}');
    out.freeze()
}

/// The served form of a stored object: its bytes with `metadata.resourceVersion`.
pub fn with_resource_version(stored: &[u8], rv: i64) -> Bytes {
    const NEEDLE: &[u8] = b"\"metadata\":{";
    let Some(pos) = stored.windows(NEEDLE.len()).position(|w| w == NEEDLE) else {
        return Bytes::copy_from_slice(stored);
    };
    let at = pos + NEEDLE.len();
    let mut out = BytesMut::with_capacity(stored.len() + 32);
    out.extend_from_slice(&stored[..at]);
    out.extend_from_slice(b"\"resourceVersion\":\"");
    out.extend_from_slice(rv.to_string().as_bytes());
    out.put_u8(b'"');
    if stored.get(at) != Some(&b'}') {
        out.put_u8(b',');
    }
    out.extend_from_slice(&stored[at..]);
    out.freeze()
}

/// Parses a stored object and sets its resource version.
pub fn decode(stored: &[u8], rv: i64) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(stored)
        .map_err(|e| ApiError::internal(format!("decoding a stored object: {e}")))?;
    skiff_api::meta::set(&mut v, "resourceVersion", Value::String(rv.to_string()));
    Ok(v)
}

impl Registry {
    /// Every stored resource ("deployments.apps") with its storage prefix, once each.
    pub fn storage_prefixes(&self) -> Vec<(String, String)> {
        let snapshot = self.snapshot();
        let mut out: Vec<(String, String)> = snapshot
            .resources()
            .filter(|r| r.def.has_verb("list"))
            .map(|r| {
                (
                    skiff_api::errors::qualified(r.storage_group, r.def.plural),
                    r.prefix(),
                )
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every namespaced resource whose content can be listed and deleted as a
    /// collection, once per storage (the core form of a resource served in
    /// two groups, one version of several).
    pub fn namespaced_collections(&self) -> Vec<Arc<Resource>> {
        let snapshot = self.snapshot();
        let mut out: Vec<Arc<Resource>> = snapshot
            .resources()
            .filter(|r| {
                r.def.namespaced && r.def.has_verb("list") && r.def.has_verb("deletecollection")
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            (
                a.prefix(),
                a.def.group != a.storage_group,
                a.def.group,
                a.def.version,
            )
                .cmp(&(
                    b.prefix(),
                    b.def.group != b.storage_group,
                    b.def.group,
                    b.def.version,
                ))
        });
        out.dedup_by(|a, b| a.prefix() == b.prefix());
        out
    }

    /// Every listable resource once per storage (the core form of a
    /// resource served in two groups, the first version of several).
    pub fn storages(&self) -> Vec<Arc<Resource>> {
        let snapshot = self.snapshot();
        let mut out: Vec<Arc<Resource>> = snapshot
            .resources()
            .filter(|r| r.def.has_verb("list"))
            .cloned()
            .collect();
        // The storage's own form first: its group, and a version whose
        // objects are stored as they are served (no lossy conversion).
        out.sort_by_key(|r| {
            (
                r.prefix(),
                r.def.group != r.storage_group,
                skiff_api::conversion::converted(r.def),
            )
        });
        out.dedup_by(|a, b| a.prefix() == b.prefix());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_version_splice() {
        let obj = json!({"kind": "Pod", "apiVersion": "v1", "data": {"metadata": {"x": 1}}, "metadata": {"name": "p", "resourceVersion": "7"}});
        let stored = encode(&obj);
        assert!(stored.starts_with(b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"));
        let served: Value = serde_json::from_slice(&with_resource_version(&stored, 42)).unwrap();
        assert_eq!(served["metadata"]["resourceVersion"], "42");
        assert_eq!(served["data"]["metadata"]["x"], 1);
        let empty = encode(&json!({"kind": "X"}));
        let served: Value = serde_json::from_slice(&with_resource_version(&empty, 3)).unwrap();
        assert_eq!(served["metadata"]["resourceVersion"], "3");
    }
}
