//! What upstream's garbage collector does for an owner deleted with
//! `propagationPolicy: Orphan` or `Foreground` (`pkg/controller/garbagecollector`:
//! `orphanDependents`, `processDeletingDependentsItem`), run by the API server
//! until the controller manager's garbage collector exists, so that
//! `kubectl delete --cascade=orphan|foreground` completes instead of waiting
//! for a finalizer nobody removes:
//!
//! - `orphan`: every dependent (an object whose `ownerReferences` name the
//!   owner's uid) loses that reference, then the finalizer is removed;
//! - `foregroundDeletion`: every dependent is deleted in the foreground too (its
//!   own dependents first); once none that `blockOwnerDeletion` is left, the
//!   finalizer is removed.
//!
//! An owner whose last finalizer goes is deleted. Dependents live in the
//! owner's namespace (or anywhere, for a cluster-scoped owner).

use std::time::Duration;

use serde_json::{Value, json};
use skiff_api::meta;
use skiff_store::{KeyValue, ListRequest, Outcome};

use crate::ApiServer;
use crate::registry::encode;

/// The finalizers handled here.
pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// How soon a foreground deletion looks again at dependents that are going,
/// doubling up to `POLL_MAX`.
const POLL: Duration = Duration::from_millis(100);
const POLL_MAX: Duration = Duration::from_secs(5);

/// Whether an object carries a finalizer handled here.
pub fn has_propagation_finalizer(obj: &Value) -> bool {
    meta::finalizers(obj)
        .iter()
        .any(|f| f == ORPHAN || f == FOREGROUND)
}

/// Runs `task` unless a task under `key` is running already; the key is
/// free again when it ends.
pub(crate) fn spawn_once<F>(server: &ApiServer, key: String, task: impl FnOnce(ApiServer) -> F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let running = &server.inner.deleting_owners;
    if !running.lock().expect("poisoned").insert(key.clone()) {
        return;
    }
    let done = server.clone();
    let work = task(server.clone());
    tokio::spawn(async move {
        work.await;
        done.inner
            .deleting_owners
            .lock()
            .expect("poisoned")
            .remove(&key);
    });
}

/// Starts processing the owner stored at `key` (its namespace: `namespace`),
/// unless it is being processed already.
pub fn owner_deleting(server: &ApiServer, key: String, namespace: String) {
    spawn_once(server, key.clone(), |server| async move {
        if let Err(e) = process(&server, &key, &namespace).await {
            tracing::warn!(owner = %key, error = %e, "processing deletion finalizers");
        }
    });
}

type Error = skiff_store::StoreError;

/// The objects stored under `prefix`.
async fn objects(server: &ApiServer, prefix: String) -> Result<Vec<(KeyValue, Value)>, Error> {
    let page = server
        .inner
        .store
        .list(ListRequest {
            prefix,
            ..Default::default()
        })
        .await?;
    Ok(page
        .kvs
        .into_iter()
        .filter_map(|kv| {
            let obj = serde_json::from_slice::<Value>(&kv.value).ok()?;
            Some((kv, obj))
        })
        .collect())
}

/// The owner's dependents: (key, value, the owner reference blocks deletion).
async fn dependents(
    server: &ApiServer,
    namespace: &str,
    uid: &str,
) -> Result<Vec<(KeyValue, Value, bool)>, Error> {
    let mut prefixes: Vec<String> = if namespace.is_empty() {
        server
            .inner
            .registry
            .storage_prefixes()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    } else {
        server
            .inner
            .registry
            .namespaced_prefixes()
            .into_iter()
            .map(|p| format!("{p}{namespace}/"))
            .collect()
    };
    prefixes.sort();
    prefixes.dedup();
    let mut out = Vec::new();
    for prefix in prefixes {
        for (kv, obj) in objects(server, prefix).await? {
            let reference = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|refs| refs.iter().find(|r| r["uid"] == uid).cloned());
            if let Some(r) = reference {
                let blocks = r["blockOwnerDeletion"] == json!(true);
                out.push((kv, obj, blocks));
            }
        }
    }
    Ok(out)
}

/// Writes `obj` at `key` over `kv`, deleting it when nothing holds it any more
/// (a namespace also waits for its `spec.finalizers`); false when it changed
/// meanwhile.
async fn put(server: &ApiServer, kv: &KeyValue, obj: &Value) -> Result<bool, Error> {
    let namespace_pending = obj
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
        && obj.get("kind").and_then(Value::as_str) == Some("Namespace");
    let outcome = if meta::deletion_timestamp(obj).is_some()
        && meta::finalizers(obj).is_empty()
        && !namespace_pending
    {
        server
            .inner
            .store
            .delete(&kv.key, Some(kv.mod_revision))
            .await?
    } else {
        server
            .inner
            .store
            .update(&kv.key, encode(obj), kv.mod_revision, None)
            .await?
    };
    Ok(matches!(outcome, Outcome::Written { .. }))
}

fn without_finalizer(obj: &mut Value, finalizer: &str) {
    let mut f = meta::finalizers(obj);
    f.retain(|x| x != finalizer);
    meta::set_finalizers(obj, &f);
}

/// Removes the owner reference to `uid` from a dependent.
async fn orphan(server: &ApiServer, mut kv: KeyValue, uid: &str) -> Result<(), Error> {
    for _ in 0..10 {
        let mut obj: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if let Some(refs) = obj
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r["uid"] != uid);
            if refs.is_empty() {
                meta::remove(&mut obj, "ownerReferences");
            }
        }
        if put(server, &kv, &obj).await? {
            return Ok(());
        }
        match server.inner.store.get(&kv.key, 0).await?.1 {
            Some(current) => kv = current,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Deletes a dependent in the foreground: marked for deletion with the
/// `foregroundDeletion` finalizer, then processed as an owner itself.
async fn delete_in_foreground(
    server: &ApiServer,
    kv: KeyValue,
    mut obj: Value,
) -> Result<(), Error> {
    if meta::deletion_timestamp(&obj).is_some() {
        return Ok(());
    }
    let now = meta::now();
    meta::set(&mut obj, "deletionTimestamp", json!(now));
    meta::set(&mut obj, "deletionGracePeriodSeconds", json!(0));
    let mut f = meta::finalizers(&obj);
    if !f.iter().any(|x| x == FOREGROUND) {
        f.push(FOREGROUND.into());
    }
    meta::set_finalizers(&mut obj, &f);
    if put(server, &kv, &obj).await? {
        let namespace = meta::namespace(&obj).to_string();
        owner_deleting(server, kv.key.clone(), namespace);
    }
    Ok(())
}

/// Resumes the owners a previous run left with these finalizers (after a
/// restart).
pub async fn resume(server: &ApiServer) -> Result<(), Error> {
    for (_, prefix) in server.inner.registry.storage_prefixes() {
        for (kv, obj) in objects(server, prefix).await? {
            if meta::deletion_timestamp(&obj).is_some() && has_propagation_finalizer(&obj) {
                owner_deleting(server, kv.key.clone(), meta::namespace(&obj).to_string());
            }
        }
    }
    Ok(())
}

async fn process(server: &ApiServer, key: &str, namespace: &str) -> Result<(), Error> {
    let mut poll = POLL;
    loop {
        let (_, Some(kv)) = server.inner.store.get(key, 0).await? else {
            return Ok(());
        };
        let Ok(mut owner) = serde_json::from_slice::<Value>(&kv.value) else {
            return Ok(());
        };
        let finalizers = meta::finalizers(&owner);
        let (orphaning, foreground) = (
            finalizers.iter().any(|f| f == ORPHAN),
            finalizers.iter().any(|f| f == FOREGROUND),
        );
        if meta::deletion_timestamp(&owner).is_none() || !(orphaning || foreground) {
            return Ok(());
        }
        let uid = meta::uid(&owner).to_string();
        let found = dependents(server, namespace, &uid).await?;
        if orphaning {
            for (dep, _, _) in found {
                orphan(server, dep, &uid).await?;
            }
            without_finalizer(&mut owner, ORPHAN);
        } else {
            let mut blocking = false;
            for (dep, obj, blocks) in found {
                blocking |= blocks;
                delete_in_foreground(server, dep, obj).await?;
            }
            if blocking {
                tokio::time::sleep(poll).await;
                poll = (poll * 2).min(POLL_MAX);
                continue;
            }
            without_finalizer(&mut owner, FOREGROUND);
        }
        if put(server, &kv, &owner).await? && !has_propagation_finalizer(&owner) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalizers_handled_here() {
        let obj = json!({"metadata": {"finalizers": ["orphan", "x"]}});
        assert!(has_propagation_finalizer(&obj));
        let mut other = json!({"metadata": {"finalizers": ["x"]}});
        assert!(!has_propagation_finalizer(&other));
        without_finalizer(&mut other, "x");
        assert!(meta::finalizers(&other).is_empty());
    }
}
