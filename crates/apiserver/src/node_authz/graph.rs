//! The Node authorizer's graph (upstream's `plugin/pkg/auth/authorizer/node/graph.go`
//! and `graph_populator.go`), kept as indexes: for each node, the objects
//! its pods refer to (counted, as edges), plus persistent volumes (their
//! claim and kubelet secrets) and volume attachments. Fed by reflectors of
//! pods, persistent volumes and volume attachments. Pods not yet bound are
//! not in it; a mirror pod gives only itself; a pod's phase does not matter
//! (a finished pod's objects stay readable until it is deleted).

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::Value;
use tokio::sync::watch;

use crate::store_reflector::Sink;

/// The kinds of object a node may be related to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Secret,
    ConfigMap,
    Pvc,
    ServiceAccount,
    ResourceClaim,
}

type Ref = (Kind, String, String);

#[derive(Default)]
struct Pod {
    node: String,
    refs: Vec<Ref>,
}

struct Pv {
    claim: (String, String),
    secrets: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    /// Bound pods by (namespace, name).
    pods: HashMap<(String, String), Pod>,
    /// For each node, how many of its pods refer to each object.
    refs: HashMap<String, HashMap<Ref, u32>>,
    /// Persistent volumes with a claim, by name.
    pvs: HashMap<String, Pv>,
    /// Volume attachments by name: their node.
    attachments: HashMap<String, String>,
}

impl State {
    fn remove_pod(&mut self, key: &(String, String)) {
        let Some(pod) = self.pods.remove(key) else {
            return;
        };
        if let Some(counts) = self.refs.get_mut(&pod.node) {
            for r in pod.refs {
                if let Some(n) = counts.get_mut(&r) {
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(&r);
                    }
                }
            }
            if counts.is_empty() {
                self.refs.remove(&pod.node);
            }
        }
    }

    fn put_pod(&mut self, key: (String, String), pod: &Value) {
        self.remove_pod(&key);
        let spec = &pod["spec"];
        let node = spec["nodeName"].as_str().unwrap_or("");
        if node.is_empty() {
            return;
        }
        let mirror = pod
            .pointer("/metadata/annotations/kubernetes.io~1config.mirror")
            .is_some();
        let mut refs = Vec::new();
        if !mirror {
            let ns = &key.0;
            let mut add = |kind, names: Vec<String>| {
                refs.extend(names.into_iter().map(|n| (kind, ns.clone(), n)));
            };
            add(Kind::Secret, skiff_api::podutil::secret_names(spec));
            add(Kind::ConfigMap, skiff_api::podutil::config_map_names(spec));
            add(Kind::Pvc, skiff_api::podutil::claim_names(&key.1, spec));
            add(
                Kind::ResourceClaim,
                skiff_api::podutil::resource_claim_names(pod),
            );
            if let Some(sa) = spec["serviceAccountName"]
                .as_str()
                .filter(|s| !s.is_empty())
            {
                add(Kind::ServiceAccount, vec![sa.to_string()]);
            }
        }
        let counts = self.refs.entry(node.to_string()).or_default();
        for r in &refs {
            *counts.entry(r.clone()).or_default() += 1;
        }
        self.pods.insert(
            key,
            Pod {
                node: node.to_string(),
                refs,
            },
        );
    }

    fn refers(&self, node: &str, r: &Ref) -> bool {
        self.refs.get(node).is_some_and(|c| c.contains_key(r))
    }
}

/// Which store prefix an object came from.
#[derive(Clone, Copy)]
enum Source {
    Pods,
    Pvs,
    Attachments,
}

pub struct Graph {
    state: RwLock<State>,
    prefixes: [(String, Source); 3],
    /// Prefixes listed at least once.
    loaded: std::sync::Mutex<u8>,
    synced: watch::Sender<bool>,
}

/// (namespace, name) from `<prefix><namespace>/<name>`, or ("", name).
fn split(rest: &str) -> (String, String) {
    match rest.split_once('/') {
        Some((ns, name)) => (ns.to_string(), name.to_string()),
        None => (String::new(), rest.to_string()),
    }
}

impl Graph {
    pub fn new(pods: String, pvs: String, attachments: String) -> Graph {
        Graph {
            state: RwLock::default(),
            prefixes: [
                (pods, Source::Pods),
                (pvs, Source::Pvs),
                (attachments, Source::Attachments),
            ],
            loaded: std::sync::Mutex::new(0),
            synced: watch::Sender::new(false),
        }
    }

    pub fn prefixes(&self) -> Vec<String> {
        self.prefixes.iter().map(|(p, _)| p.clone()).collect()
    }

    fn source<'k>(&self, key: &'k str) -> Option<(Source, &'k str)> {
        self.prefixes
            .iter()
            .find_map(|(p, s)| key.strip_prefix(p.as_str()).map(|rest| (*s, rest)))
    }

    fn put(state: &mut State, source: Source, rest: &str, value: Option<&[u8]>) {
        let key = split(rest);
        let obj: Option<Value> = value.and_then(|v| serde_json::from_slice(v).ok());
        match (source, obj) {
            (Source::Pods, Some(pod)) => state.put_pod(key, &pod),
            (Source::Pods, None) => state.remove_pod(&key),
            (Source::Pvs, Some(pv)) => {
                let claim = pv.pointer("/spec/claimRef").filter(|c| !c.is_null());
                match claim {
                    Some(c) => {
                        let claim = (
                            c["namespace"].as_str().unwrap_or("").to_string(),
                            c["name"].as_str().unwrap_or("").to_string(),
                        );
                        let secrets = skiff_api::podutil::pv_kubelet_secrets(&pv);
                        state.pvs.insert(key.1, Pv { claim, secrets });
                    }
                    None => {
                        state.pvs.remove(&key.1);
                    }
                }
            }
            (Source::Pvs, None) => {
                state.pvs.remove(&key.1);
            }
            (Source::Attachments, Some(va)) => {
                match va.pointer("/spec/nodeName").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() => {
                        state.attachments.insert(key.1, n.to_string());
                    }
                    _ => {
                        state.attachments.remove(&key.1);
                    }
                }
            }
            (Source::Attachments, None) => {
                state.attachments.remove(&key.1);
            }
        }
    }

    /// Whether every source has been listed.
    pub fn synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits (3 s at most) for the first lists.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), rx.wait_for(|s| *s)).await;
    }

    /// Whether pod `ns/name` is bound to `node` (mirror pods included).
    pub fn pod_on(&self, node: &str, ns: &str, name: &str) -> bool {
        let state = self.state.read().expect("poisoned");
        state
            .pods
            .get(&(ns.to_string(), name.to_string()))
            .is_some_and(|p| p.node == node)
    }

    /// Whether a pod bound to `node` needs the object (directly, or for a
    /// secret through a volume of a claim one of its pods uses).
    pub fn related(&self, node: &str, kind: Kind, ns: &str, name: &str) -> bool {
        let state = self.state.read().expect("poisoned");
        let r = (kind, ns.to_string(), name.to_string());
        if state.refers(node, &r) {
            return true;
        }
        kind == Kind::Secret
            && state.pvs.values().any(|pv| {
                pv.secrets
                    .iter()
                    .any(|(sns, sname)| sns == ns && sname == name)
                    && state.refers(node, &(Kind::Pvc, pv.claim.0.clone(), pv.claim.1.clone()))
            })
    }

    /// Whether persistent volume `name` is bound to a claim a pod of `node` uses.
    pub fn pv_related(&self, node: &str, name: &str) -> bool {
        let state = self.state.read().expect("poisoned");
        state.pvs.get(name).is_some_and(|pv| {
            state.refers(node, &(Kind::Pvc, pv.claim.0.clone(), pv.claim.1.clone()))
        })
    }

    /// Whether volume attachment `name` is for `node`.
    pub fn attachment_on(&self, node: &str, name: &str) -> bool {
        let state = self.state.read().expect("poisoned");
        state.attachments.get(name).is_some_and(|n| n == node)
    }
}

impl Sink for Graph {
    fn replace(&self, prefix: &str, objects: &[(String, bytes::Bytes)]) {
        let Some((source, _)) = self.source(prefix) else {
            return;
        };
        let mut state = self.state.write().expect("poisoned");
        // Forget what the source held, then load it again.
        match source {
            Source::Pods => {
                let keys: Vec<_> = state.pods.keys().cloned().collect();
                for k in keys {
                    state.remove_pod(&k);
                }
            }
            Source::Pvs => state.pvs.clear(),
            Source::Attachments => state.attachments.clear(),
        }
        for (key, value) in objects {
            if let Some((source, rest)) = self.source(key) {
                Self::put(&mut state, source, rest, Some(value));
            }
        }
        drop(state);
        let mut loaded = self.loaded.lock().expect("poisoned");
        *loaded |= 1 << (source as u8);
        if *loaded == 0b111 {
            self.synced.send_replace(true);
        }
    }

    fn apply(&self, key: &str, value: Option<&[u8]>) {
        if let Some((source, rest)) = self.source(key) {
            let mut state = self.state.write().expect("poisoned");
            Self::put(&mut state, source, rest, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn graph() -> Graph {
        Graph::new("/p/".into(), "/pv/".into(), "/va/".into())
    }

    fn put(g: &Graph, key: &str, v: Value) {
        g.apply(key, Some(v.to_string().as_bytes()));
    }

    #[test]
    fn a_bound_pods_references_follow_it() {
        let g = graph();
        let pod = json!({"metadata": {"name": "web"}, "spec": {"nodeName": "n1", "serviceAccountName": "default",
            "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}],
            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}]}});
        put(&g, "/p/apps/web", pod.clone());
        assert!(g.pod_on("n1", "apps", "web"));
        assert!(!g.pod_on("n2", "apps", "web"));
        assert!(g.related("n1", Kind::Secret, "apps", "s"));
        assert!(!g.related("n1", Kind::Secret, "other", "s"));
        assert!(!g.related("n2", Kind::Secret, "apps", "s"));
        assert!(g.related("n1", Kind::ServiceAccount, "apps", "default"));
        // A volume bound to the claim, and its kubelet secret.
        put(
            &g,
            "/pv/vol",
            json!({"spec": {"claimRef": {"namespace": "apps", "name": "data"},
            "iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0, "secretRef": {"name": "chap"}}}}),
        );
        assert!(g.pv_related("n1", "vol"));
        assert!(g.related("n1", Kind::Secret, "apps", "chap"));
        // Two pods share the secret: it stays until both are gone.
        put(&g, "/p/apps/web2", pod);
        g.apply("/p/apps/web", None);
        assert!(g.related("n1", Kind::Secret, "apps", "s"));
        g.apply("/p/apps/web2", None);
        assert!(!g.related("n1", Kind::Secret, "apps", "s"));
        assert!(!g.pv_related("n1", "vol"));
        // Mirror pods give only themselves; unbound pods nothing.
        put(
            &g,
            "/p/kube-system/static",
            json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}},
            "spec": {"nodeName": "n1", "volumes": [{"name": "v", "secret": {"secretName": "m"}}]}}),
        );
        assert!(g.pod_on("n1", "kube-system", "static"));
        assert!(!g.related("n1", Kind::Secret, "kube-system", "m"));
        put(
            &g,
            "/p/apps/pending",
            json!({"spec": {"volumes": [{"name": "v", "secret": {"secretName": "p"}}]}}),
        );
        assert!(!g.related("n1", Kind::Secret, "apps", "p"));
        put(&g, "/va/a1", json!({"spec": {"nodeName": "n1"}}));
        assert!(g.attachment_on("n1", "a1") && !g.attachment_on("n2", "a1"));
    }
}
