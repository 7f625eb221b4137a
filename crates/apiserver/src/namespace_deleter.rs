//! What upstream's namespace controller does for a namespace being deleted
//! (`pkg/controller/namespace/deletion/namespaced_resources_deleter.go`), run
//! by the API server until the controller manager exists: every namespaced
//! resource's content is deleted through the API (so finalizers hold objects
//! with a deletionTimestamp and pods get their grace period), pods first and
//! alone until they are gone (1.33's `OrderedNamespaceDeletion`); the
//! namespace's `status.conditions` say what remains; once nothing does, the
//! `kubernetes` finalizer is removed through `namespaces/<name>/finalize` and
//! the namespace goes.
//!
//! Each namespace is processed by one task at a time; a restarted server
//! resumes every namespace that is terminating.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use skiff_api::meta;

use crate::{ApiServer, UserInfo};

/// The finalizer the namespace deleter owns.
pub const FINALIZER: &str = "kubernetes";

/// Longest wait before looking again at content that remains.
const MAX_RECHECK: Duration = Duration::from_secs(5);

/// Upper bound of the retry delay after a failure (upstream's queue backs off
/// further; a server re-checks sooner).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts deleting the content of namespace `name`, unless a task is already.
pub fn namespace_deleted(server: &ApiServer, name: &str) {
    let name = name.to_string();
    let key = format!("namespace/{name}");
    crate::dependents::spawn_once(server, key, |server| async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match sync(&server, &name).await {
                Ok(None) => break,
                Ok(Some(wait)) => tokio::time::sleep(wait).await,
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e, "deleting namespace content");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    });
}

/// Resumes every namespace a previous run left terminating.
pub async fn resume(server: &ApiServer) {
    let (status, list) = call(server, "GET", "/api/v1/namespaces", None).await;
    if status != 200 {
        return;
    }
    for ns in list["items"].as_array().into_iter().flatten() {
        if meta::deletion_timestamp(ns).is_some() {
            namespace_deleted(server, meta::name(ns));
        }
    }
}

/// One request through the server's own handler, as the loopback user.
async fn call(server: &ApiServer, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())))
        .expect("valid request");
    let resp = server.handle(req, Some(UserInfo::loopback())).await;
    let status = resp.status().as_u16();
    let bytes = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(never) => match never {},
    };
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// What is left in the namespace after a round of deletion.
#[derive(Default)]
struct Remaining {
    /// "configmaps." → instances left.
    resources: BTreeMap<String, usize>,
    /// Finalizer → instances that carry it.
    finalizers: BTreeMap<String, usize>,
    /// Deletion errors, as messages.
    failures: Vec<String>,
    /// Seconds until the pods left should be gone.
    estimate: i64,
}

/// One pass over a deleting namespace; `Some(wait)` when content remains
/// (look again after `wait`), `None` when it is done (or gone).
async fn sync(server: &ApiServer, name: &str) -> Result<Option<Duration>, String> {
    let ns_path = format!("/api/v1/namespaces/{name}");
    let (status, ns) = call(server, "GET", &ns_path, None).await;
    match status {
        200 => {}
        404 => return Ok(None),
        _ => return Err(format!("reading the namespace: {status} {ns}")),
    }
    if meta::deletion_timestamp(&ns).is_none() {
        return Ok(None);
    }
    let finalizers: Vec<String> = ns
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(None);
    }
    // Pods first, and nothing else while any is left.
    let mut remaining = Remaining::default();
    let resources = server.inner.registry.namespaced_collections();
    let (pods, others): (Vec<_>, Vec<_>) = resources
        .into_iter()
        .partition(|r| r.def.group.is_empty() && r.def.plural == "pods");
    for r in &pods {
        delete_content(server, r, name, &mut remaining).await;
    }
    if remaining.resources.is_empty() && remaining.failures.is_empty() {
        for r in &others {
            delete_content(server, r, name, &mut remaining).await;
        }
    }
    update_conditions(server, name, &ns, &remaining).await?;
    if !remaining.resources.is_empty() {
        // Upstream requeues after half the estimate plus a second (minutes
        // for pods with long grace periods); looking every few seconds
        // lets a namespace go soon after its last object does.
        let secs = u64::try_from(remaining.estimate / 2 + 1).unwrap_or(1);
        return Ok(Some(Duration::from_secs(secs).min(MAX_RECHECK)));
    }
    if !remaining.failures.is_empty() {
        return Err(remaining.failures.join("; "));
    }
    // Finalize: only the `kubernetes` finalizer goes.
    let mut finalized = ns.clone();
    finalized["spec"]["finalizers"] = json!(
        finalizers
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect::<Vec<_>>()
    );
    let (status, body) = call(
        server,
        "PUT",
        &format!("{ns_path}/finalize"),
        Some(&finalized),
    )
    .await;
    match status {
        200 | 404 => Ok(None),
        // Changed meanwhile: look again at once.
        409 => Ok(Some(Duration::ZERO)),
        _ => Err(format!("finalizing: {status} {body}")),
    }
}

/// Deletes a resource's content in the namespace and counts what is left.
async fn delete_content(
    server: &ApiServer,
    r: &crate::registry::Resource,
    ns: &str,
    remaining: &mut Remaining,
) {
    let base = if r.def.group.is_empty() {
        format!("/api/{}/namespaces/{ns}/{}", r.def.version, r.def.plural)
    } else {
        format!(
            "/apis/{}/{}/namespaces/{ns}/{}",
            r.def.group, r.def.version, r.def.plural
        )
    };
    let qualified = format!("{}.{}", r.def.plural, r.def.group);
    let (status, body) = call(
        server,
        "DELETE",
        &format!("{base}?propagationPolicy=Background"),
        None,
    )
    .await;
    if !(200..300).contains(&status) && status != 404 {
        remaining.failures.push(format!(
            "{qualified}: {}",
            body["message"].as_str().unwrap_or("deletion failed")
        ));
        return;
    }
    let (status, list) = call(server, "GET", &base, None).await;
    if status != 200 {
        remaining
            .failures
            .push(format!("{qualified}: listing: {status}"));
        return;
    }
    let items = list["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return;
    }
    remaining.resources.insert(qualified, items.len());
    // Objects without finalizers that are still there (pods in their grace
    // period) are, to upstream, content that failed to go.
    if items.iter().any(|i| meta::finalizers(i).is_empty()) {
        let gv = if r.def.group.is_empty() {
            r.def.version.to_string()
        } else {
            format!("{}/{}", r.def.group, r.def.version)
        };
        let gv = if r.def.group.is_empty() {
            format!("/{gv}")
        } else {
            gv
        };
        remaining.failures.push(format!(
            "unexpected items still remain in namespace: {ns} for gvr: {gv}, Resource={}",
            r.def.plural
        ));
    }
    for item in &items {
        for f in meta::finalizers(item) {
            *remaining.finalizers.entry(f.to_string()).or_default() += 1;
        }
        if r.def.plural == "pods" {
            let grace = item
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            remaining.estimate = remaining.estimate.max(grace);
        }
    }
}

/// Sets upstream's five deletion conditions on the namespace's status.
async fn update_conditions(
    server: &ApiServer,
    name: &str,
    ns: &Value,
    remaining: &Remaining,
) -> Result<(), String> {
    let listed = |m: &BTreeMap<String, usize>, sep: &str| {
        m.iter()
            .map(|(k, n)| format!("{k}{sep}{n} resource instances"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted: [(&str, bool, &str, String); 5] = [
        (
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ),
        if remaining.failures.is_empty() {
            (
                "NamespaceDeletionContentFailure",
                false,
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".into(),
            )
        } else {
            (
                "NamespaceDeletionContentFailure",
                true,
                "ContentDeletionFailed",
                {
                    let mut failures = remaining.failures.clone();
                    failures.sort();
                    format!(
                        "Failed to delete all resource types, {} remaining: {}",
                        failures.len(),
                        failures.join(", ")
                    )
                },
            )
        },
        if remaining.resources.is_empty() {
            (
                "NamespaceContentRemaining",
                false,
                "ContentRemoved",
                "All content successfully removed".into(),
            )
        } else {
            (
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                format!(
                    "Some resources are remaining: {}",
                    listed(&remaining.resources, " has ")
                ),
            )
        },
        if remaining.finalizers.is_empty() {
            (
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".into(),
            )
        } else {
            (
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    listed(&remaining.finalizers, " in ")
                ),
            )
        },
    ];
    let old: Vec<Value> = ns
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut conditions = old.clone();
    for (ty, status, reason, message) in wanted {
        let status = if status { "True" } else { "False" };
        let existing = conditions
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(ty));
        match existing {
            Some(c)
                if c["status"] == status && c["reason"] == reason && c["message"] == message => {}
            Some(c) => {
                if c["status"] != status {
                    c["lastTransitionTime"] = json!(meta::now());
                }
                c["status"] = json!(status);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
            None => conditions.push(json!({
                "type": ty,
                "status": status,
                "lastTransitionTime": meta::now(),
                "reason": reason,
                "message": message,
            })),
        }
    }
    if conditions == old {
        return Ok(());
    }
    let mut updated = ns.clone();
    updated["status"]["conditions"] = json!(conditions);
    let (status, body) = call(
        server,
        "PUT",
        &format!("/api/v1/namespaces/{name}/status"),
        Some(&updated),
    )
    .await;
    match status {
        200 | 404 | 409 => Ok(()),
        _ => Err(format!("namespace status: {status} {body}")),
    }
}
