//! The generic registry: Kubernetes objects in the store. Owns the key layout
//! (`/registry/<group>/<resource>/<namespace>/<name>`), the stored encoding (JSON
//! without `resourceVersion`; the store's mod revision is the resource version,
//! spliced in when an object is served) and the mapping of store errors onto
//! API errors.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;
use skiff_api::schema::{self, Ty};
use skiff_api::strategy::{self, Strategy};
use skiff_api::{ApiError, ResourceDef, catalogue};
use skiff_store::StoreError;

/// A served resource: its catalogue entry and strategy.
pub struct Resource {
    pub def: &'static ResourceDef,
    pub strategy: Arc<dyn Strategy>,
    /// The group whose key space stores it (shared by all versions of a resource).
    pub storage_group: &'static str,
    /// The kind's type in the built-in schema (`Untyped` for kinds without one).
    pub ty: Ty,
}

impl Resource {
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

/// Every served resource, by (group, version, plural).
pub struct Registry {
    by_path: HashMap<(&'static str, &'static str, &'static str), Arc<Resource>>,
}

impl Registry {
    pub fn new() -> Self {
        let mut by_path = HashMap::new();
        for def in catalogue::builtin() {
            let storage_group = match (def.group, def.plural) {
                // events.k8s.io/v1 Events are core/v1 Events, stored once.
                ("events.k8s.io", "events") => "",
                _ => def.group,
            };
            let r = Resource {
                def,
                strategy: strategy::of(def),
                storage_group,
                ty: schema::of_kind(def.group, def.version, def.kind)
                    .map_or(Ty::Untyped, |d| Ty::Struct(d.name)),
            };
            by_path.insert((def.group, def.version, def.plural), Arc::new(r));
        }
        Registry { by_path }
    }

    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.by_path
            .iter()
            .find(|((g, v, p), _)| *g == group && *v == version && *p == plural)
            .map(|(_, r)| r.clone())
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
        let mut out: Vec<(String, String)> = self
            .by_path
            .values()
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
        let mut out: Vec<Arc<Resource>> = self
            .by_path
            .values()
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

    /// The storage prefixes of every namespaced resource.
    pub fn namespaced_prefixes(&self) -> Vec<String> {
        self.by_path
            .values()
            .filter(|r| r.def.namespaced)
            .map(|r| r.prefix())
            .collect()
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
