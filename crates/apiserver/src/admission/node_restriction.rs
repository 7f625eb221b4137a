//! NodeRestriction, as upstream's admission plugin
//! (`plugin/pkg/admission/noderestriction`): what the Node authorizer lets
//! a kubelet write, narrowed to its own objects — mirror pods bound to
//! itself and owned by its Node, the status of its pods, evictions of its
//! pods, its own Node (no taints, no `node-restriction.kubernetes.io/`
//! labels, only the kubelet's `kubernetes.io` labels), its own Lease and
//! CSINode, PVC status, tokens for its pods' service accounts, and CSRs
//! for its own name. Other users pass.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use skiff_api::ApiError;

use super::{Attributes, Operation, Plugin, Result};
use crate::node_authz::node_name;

pub struct NodeRestriction;

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

#[async_trait::async_trait]
impl Plugin for NodeRestriction {
    fn name(&self) -> &'static str {
        "NodeRestriction"
    }

    async fn admit(&self, a: &Attributes<'_, '_>, obj: &mut Value) -> Result<()> {
        check(a, Some(obj)).await
    }

    async fn validate(&self, a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
        // Creates and updates were checked before the strategy.
        match (a.operation, obj) {
            (Operation::Delete, None) => check(a, None).await,
            _ => Ok(()),
        }
    }
}

/// Upstream's `admission.NewForbidden`: named by the request, else the
/// object's name or generateName, else "Unknown".
fn forbidden(a: &Attributes<'_, '_>, obj: Option<&Value>, why: impl AsRef<str>) -> ApiError {
    let meta = |f: &str| {
        obj.and_then(|o| o.pointer(&format!("/metadata/{f}")))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    };
    let name = Some(a.name())
        .filter(|n| !n.is_empty())
        .or_else(|| meta("name"))
        .or_else(|| meta("generateName"))
        .unwrap_or("Unknown");
    let def = a.ctx.res.def;
    ApiError::forbidden_object(def.group, def.plural, name, why.as_ref())
}

async fn check(a: &Attributes<'_, '_>, obj: Option<&Value>) -> Result<()> {
    let Some(node) = node_name(a.user()) else {
        return Ok(());
    };
    if node.is_empty() {
        return Err(forbidden(
            a,
            obj,
            format!("could not determine node from user {:?}", a.user().name),
        ));
    }
    let def = a.ctx.res.def;
    match (def.group, def.plural) {
        ("", "pods") => match a.subresource() {
            "" => pod(a, obj, node).await,
            "status" => pod_status(a, obj, node),
            "eviction" => eviction(a, obj, node).await,
            sub => Err(forbidden(
                a,
                obj,
                format!(
                    "unexpected pod subresource {sub:?}, only 'status' and 'eviction' are allowed"
                ),
            )),
        },
        ("", "nodes") => node_object(a, obj, node),
        ("", "persistentvolumeclaims") => match a.subresource() {
            "status" => pvc_status(a, obj, node),
            _ => Err(forbidden(a, obj, "may only update PVC status")),
        },
        ("", "serviceaccounts") => token(a, obj, node).await,
        ("coordination.k8s.io", "leases") => {
            if a.namespace() != "kube-node-lease" {
                return Err(forbidden(
                    a,
                    obj,
                    "can only access leases in the \"kube-node-lease\" system namespace",
                ));
            }
            own_name(
                a,
                obj,
                node,
                "can only access node lease with the same name as the requesting node",
            )
        }
        ("storage.k8s.io", "csinodes") => own_name(
            a,
            obj,
            node,
            "can only access CSINode with the same name as the requesting node",
        ),
        ("resource.k8s.io", "resourceslices") => {
            let (slice, what) = match a.operation {
                Operation::Create => (obj, "create"),
                Operation::Delete => (a.old, "delete"),
                Operation::Update => return Ok(()),
            };
            let slice_node = slice
                .and_then(|s| s.pointer("/spec/nodeName"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if slice_node != node {
                return Err(forbidden(
                    a,
                    obj,
                    format!(
                        "can only {what} ResourceSlice with the same NodeName as the requesting node"
                    ),
                ));
            }
            Ok(())
        }
        ("certificates.k8s.io", "certificatesigningrequests") => csr(a, obj, node),
        _ => Ok(()),
    }
}

/// An object a node may write only under its own name: the new object's
/// on create, the request's otherwise.
fn own_name(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str, why: &str) -> Result<()> {
    let name = match a.operation {
        Operation::Create => obj.map_or("", skiff_api::meta::name),
        _ => a.name(),
    };
    if name != node {
        return Err(forbidden(a, obj, why));
    }
    Ok(())
}

/// The stored pod `name` in the request's namespace (upstream's lister:
/// a missing pod is a 404).
async fn stored_pod(a: &Attributes<'_, '_>, name: &str) -> Result<Value> {
    a.ctx
        .server
        .cached_core("pods", a.namespace(), name)
        .await
        .ok_or_else(|| ApiError::not_found("", "pod", name))
}

async fn pod(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    match a.operation {
        Operation::Create => {
            let pod = obj.unwrap_or(&Value::Null);
            pod_create(a, pod, node).await
        }
        Operation::Delete => {
            let existing = stored_pod(a, a.name()).await?;
            if existing.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
                return Err(forbidden(
                    a,
                    obj,
                    format!("node {node:?} can only delete pods with spec.nodeName set to itself"),
                ));
            }
            Ok(())
        }
        Operation::Update => Err(forbidden(
            a,
            obj,
            format!(
                "unexpected operation \"UPDATE\", node {node:?} can only create and delete mirror pods"
            ),
        )),
    }
}

async fn pod_create(a: &Attributes<'_, '_>, pod: &Value, node: &str) -> Result<()> {
    let no = |why: String| Err(forbidden(a, Some(pod), why));
    if pod
        .pointer("/metadata/annotations")
        .and_then(|m| m.get(MIRROR_ANNOTATION))
        .is_none()
    {
        return no(format!(
            "pod does not have \"{MIRROR_ANNOTATION}\" annotation, node {node:?} can only create mirror pods"
        ));
    }
    let spec = &pod["spec"];
    if spec["nodeName"].as_str() != Some(node) {
        return no(format!(
            "node {node:?} can only create pods with spec.nodeName set to itself"
        ));
    }
    let owners = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if owners.len() > 1 {
        return no(format!(
            "node {node:?} can only create pods with a single owner reference set to itself"
        ));
    }
    let Some(owner) = owners.first() else {
        return no(format!(
            "node {node:?} can only create pods with an owner reference set to itself"
        ));
    };
    if owner["apiVersion"] != "v1" || owner["kind"] != "Node" || owner["name"] != node {
        return no(format!(
            "node {node:?} can only create pods with an owner reference set to itself"
        ));
    }
    if owner["controller"] != true {
        return no(format!(
            "node {node:?} can only create pods with a controller owner reference set to itself"
        ));
    }
    if owner["blockOwnerDeletion"] == true {
        return no(format!(
            "node {node:?} must not set blockOwnerDeletion on an owner reference"
        ));
    }
    let stored = a
        .ctx
        .server
        .cached_core("nodes", "", node)
        .await
        .ok_or_else(|| ApiError::not_found("", "node", node))?;
    let node_uid = skiff_api::meta::uid(&stored);
    let owner_uid = owner["uid"].as_str().unwrap_or("");
    if owner_uid != node_uid {
        return no(format!(
            "node {node} UID mismatch: expected {owner_uid} got {node_uid}"
        ));
    }
    if !spec["serviceAccountName"].as_str().unwrap_or("").is_empty() {
        return no(format!(
            "node {node:?} can not create pods that reference a service account"
        ));
    }
    if !skiff_api::podutil::secret_names(spec).is_empty() {
        return no(format!(
            "node {node:?} can not create pods that reference secrets"
        ));
    }
    if !skiff_api::podutil::config_map_names(spec).is_empty() {
        return no(format!(
            "node {node:?} can not create pods that reference configmaps"
        ));
    }
    let volumes = spec["volumes"].as_array().into_iter().flatten();
    let mut trust_bundles = volumes.clone().flat_map(|v| {
        v.pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    });
    if trust_bundles.any(|s| s.get("clusterTrustBundle").is_some_and(|b| !b.is_null())) {
        return no(format!(
            "node {node:?} can not create pods that reference clustertrustbundles"
        ));
    }
    if volumes
        .clone()
        .any(|v| v.get("persistentVolumeClaim").is_some_and(|c| !c.is_null()))
    {
        return no(format!(
            "node {node:?} can not create pods that reference persistentvolumeclaims"
        ));
    }
    Ok(())
}

fn pod_status(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    if a.operation != Operation::Update {
        return Err(forbidden(
            a,
            obj,
            format!("unexpected operation {:?}", a.operation.as_str()),
        ));
    }
    let old = a.old.unwrap_or(&Value::Null);
    if old.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err(forbidden(
            a,
            obj,
            format!(
                "node {node:?} can only update pod status for pods with spec.nodeName set to itself"
            ),
        ));
    }
    let new = obj.unwrap_or(&Value::Null);
    let labels = |o: &Value| {
        o.pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    if labels(old) != labels(new) {
        return Err(forbidden(
            a,
            obj,
            format!("node {node:?} cannot update labels through pod status"),
        ));
    }
    let claims = |o: &Value| {
        o.pointer("/status/resourceClaimStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if claims(old) != claims(new) {
        return Err(forbidden(
            a,
            obj,
            format!("node {node:?} cannot update resource claim statues"),
        ));
    }
    Ok(())
}

async fn eviction(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    if a.operation != Operation::Create {
        return Err(forbidden(
            a,
            obj,
            format!("unexpected operation {}", a.operation.as_str()),
        ));
    }
    let name = Some(a.name())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            obj.and_then(|e| e.pointer("/metadata/name"))
                .and_then(Value::as_str)
        })
        .unwrap_or("");
    if name.is_empty() {
        return Err(forbidden(
            a,
            obj,
            "could not determine pod from request data",
        ));
    }
    let pod = stored_pod(a, name).await?;
    if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err(forbidden(
            a,
            obj,
            format!("node {node} can only evict pods with spec.nodeName set to itself"),
        ));
    }
    Ok(())
}

/// Upstream's `getForbiddenLabels`: `node-restriction.kubernetes.io/`
/// labels, and `kubernetes.io` / `k8s.io` labels the kubelet does not own.
fn forbidden_label(key: &str) -> bool {
    let namespace = key.split_once('/').map_or("", |(ns, _)| ns);
    let within = |domain: &str| namespace == domain || namespace.ends_with(&format!(".{domain}"));
    if within("node-restriction.kubernetes.io") {
        return true;
    }
    let kubernetes = within("kubernetes.io") || within("k8s.io");
    kubernetes && !kubelet_label(key, namespace)
}

/// Upstream's `kubeletapis.IsKubeletLabel`.
fn kubelet_label(key: &str, namespace: &str) -> bool {
    const LABELS: &[&str] = &[
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    ];
    LABELS.contains(&key)
        || ["kubelet.kubernetes.io", "node.kubernetes.io"]
            .iter()
            .any(|d| namespace == *d || namespace.ends_with(&format!(".{d}")))
}

fn node_object(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    let requested = match a.operation {
        Operation::Create => obj.map_or("", skiff_api::meta::name),
        _ => a.name(),
    };
    if requested != node {
        return Err(forbidden(
            a,
            obj,
            format!("node {node:?} is not allowed to modify node {requested:?}"),
        ));
    }
    let labels = |o: Option<&Value>| -> Map<String, Value> {
        o.and_then(|o| o.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let config_source = |o: Option<&Value>| {
        o.and_then(|o| o.pointer("/spec/configSource"))
            .filter(|c| !c.is_null())
            .cloned()
    };
    match a.operation {
        Operation::Create => {
            if config_source(obj).is_some() {
                return Err(forbidden(
                    a,
                    obj,
                    format!(
                        "node {node:?} is not allowed to create pods with a non-nil configSource"
                    ),
                ));
            }
            let bad: Vec<String> = labels(obj)
                .keys()
                .filter(|k| forbidden_label(k))
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if !bad.is_empty() {
                return Err(forbidden(
                    a,
                    obj,
                    format!(
                        "node {node:?} is not allowed to set the following labels: {}",
                        bad.join(", ")
                    ),
                ));
            }
            Ok(())
        }
        Operation::Update => {
            let new_source = config_source(obj);
            if new_source.is_some() && new_source != config_source(a.old) {
                return Err(forbidden(
                    a,
                    obj,
                    format!(
                        "node {node:?} is not allowed to update configSource to a new non-nil configSource"
                    ),
                ));
            }
            let taints = |o: Option<&Value>| {
                o.and_then(|o| o.pointer("/spec/taints"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            };
            if taints(obj) != taints(a.old) {
                return Err(forbidden(
                    a,
                    obj,
                    format!("node {node:?} is not allowed to modify taints"),
                ));
            }
            let (new, old) = (labels(obj), labels(a.old));
            let modified: BTreeSet<String> = new
                .keys()
                .chain(old.keys())
                .filter(|k| new.get(*k) != old.get(*k))
                .filter(|k| forbidden_label(k))
                .cloned()
                .collect();
            if !modified.is_empty() {
                return Err(forbidden(
                    a,
                    obj,
                    format!(
                        "is not allowed to modify labels: {}",
                        modified.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            Ok(())
        }
        Operation::Delete => Ok(()),
    }
}

fn pvc_status(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    if a.operation != Operation::Update {
        return Err(forbidden(
            a,
            obj,
            format!("unexpected operation {:?}", a.operation.as_str()),
        ));
    }
    let strip = |o: Option<&Value>| {
        let mut o = o.cloned().unwrap_or(Value::Null);
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        if let Some(s) = o.get_mut("status").and_then(Value::as_object_mut) {
            for f in [
                "capacity",
                "conditions",
                "allocatedResourceStatuses",
                "allocatedResources",
            ] {
                s.remove(f);
            }
        }
        o
    };
    if semantic(strip(obj)) != semantic(strip(a.old)) {
        return Err(forbidden(
            a,
            obj,
            format!(
                "node {node:?} is not allowed to update fields other than status.quantity and status.conditions"
            ),
        ));
    }
    Ok(())
}

/// As apimachinery's semantic equality sees a value: an empty map or list
/// and an absent one alike.
fn semantic(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, semantic(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(semantic).collect()),
        v => v,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A TokenRequest: only bound to a pod on this node, for an audience its
/// volumes use.
async fn token(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    if a.operation != Operation::Create || a.subresource() != "token" {
        return Ok(());
    }
    let request = obj.unwrap_or(&Value::Null);
    let bound = request
        .pointer("/spec/boundObjectRef")
        .filter(|r| !r.is_null());
    let Some(bound) = bound.filter(|r| {
        r["apiVersion"] == "v1"
            && r["kind"] == "Pod"
            && !r["name"].as_str().unwrap_or("").is_empty()
    }) else {
        return Err(forbidden(a, obj, "node requested token not bound to a pod"));
    };
    let uid = bound["uid"].as_str().unwrap_or("");
    if uid.is_empty() {
        return Err(forbidden(
            a,
            obj,
            "node requested token with a pod binding without a uid",
        ));
    }
    let pod = stored_pod(a, bound["name"].as_str().unwrap_or("")).await?;
    if skiff_api::meta::uid(&pod) != uid {
        return Err(forbidden(
            a,
            obj,
            format!(
                "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    if pod.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node) {
        return Err(forbidden(
            a,
            obj,
            "node requested token bound to a pod scheduled on a different node",
        ));
    }
    // ServiceAccountNodeAudienceRestriction: an audience a projected token
    // volume of the pod asks for (CSI drivers' token requests come with the
    // node agent's CSI support).
    let audiences = request
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let audience = match audiences.as_slice() {
        [] => "",
        [one] => one.as_str().unwrap_or(""),
        _ => return Err(forbidden(a, obj, "node may only request 0 or 1 audiences")),
    };
    let referenced = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|v| {
            v.pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .any(|s| {
            s.get("serviceAccountToken")
                .is_some_and(|t| !t.is_null() && t["audience"].as_str().unwrap_or("") == audience)
        });
    if referenced {
        return Ok(());
    }
    let info = crate::request::RequestInfo {
        version: "v1".into(),
        namespace: a.namespace().to_string(),
        resource: audience.to_string(),
        name: a.name().to_string(),
        verb: "request-serviceaccounts-token-audience".into(),
        ..Default::default()
    };
    let decision = a
        .ctx
        .server
        .inner
        .authorizer
        .authorize(&crate::authz::Attributes {
            user: a.user(),
            resource: Some(&info),
            path: "",
            verb: info.verb.as_str(),
        });
    if decision.allowed() {
        return Ok(());
    }
    Err(forbidden(
        a,
        obj,
        format!(
            "audience {audience:?} not found in pod spec volume, {} is not authorized to request tokens for this audience",
            a.user().name
        ),
    ))
}

fn csr(a: &Attributes<'_, '_>, obj: Option<&Value>, node: &str) -> Result<()> {
    if a.operation != Operation::Create {
        return Ok(());
    }
    let csr = obj.unwrap_or(&Value::Null);
    let signer = csr
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !matches!(
        signer,
        "kubernetes.io/kubelet-serving" | "kubernetes.io/kube-apiserver-client-kubelet"
    ) {
        return Ok(());
    }
    let request = csr
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .unwrap_or("");
    let cn = crate::pki::csr_common_name(request)
        .map_err(|e| forbidden(a, obj, format!("unable to parse csr: {e}")))?;
    if cn != format!("system:node:{node}") {
        return Err(forbidden(
            a,
            obj,
            format!("can only create a node CSR with CN=system:node:{node}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_labels() {
        for ok in [
            "kubernetes.io/hostname",
            "node.kubernetes.io/instance-type",
            "foo.node.kubernetes.io/x",
            "kubelet.kubernetes.io/x",
            "example.com/x",
            "plain",
        ] {
            assert!(!forbidden_label(ok), "{ok}");
        }
        for bad in [
            "node-restriction.kubernetes.io/x",
            "a.node-restriction.kubernetes.io/x",
            "kubernetes.io/role",
            "foo.k8s.io/a",
            "node-role.kubernetes.io/control-plane",
        ] {
            assert!(forbidden_label(bad), "{bad}");
        }
    }
}
