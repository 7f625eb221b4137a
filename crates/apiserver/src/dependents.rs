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
//! owner's namespace (or anywhere, for a cluster-scoped owner). Objects are
//! read and written through the generic registry store, as they are,
//! bypassing the strategies (upstream's collector patches only metadata).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use skiff_api::{ApiError, meta};

use crate::ApiServer;
use crate::registry::Resource;
use crate::registry::store::{Error as WriteError, Store};

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

/// Starts processing the owner `name` of `res` in `namespace`, unless it is
/// being processed already.
pub fn owner_deleting(server: &ApiServer, res: Arc<Resource>, namespace: &str, name: &str) {
    let key = res.key(namespace, name);
    let (namespace, name) = (namespace.to_string(), name.to_string());
    spawn_once(server, key.clone(), |server| async move {
        if let Err(e) = process(&server, &res, &namespace, &name).await {
            tracing::warn!(owner = %key, error = %e, "processing deletion finalizers");
        }
    });
}

/// An object as read, at its resource version, with the resource it is of.
struct Found {
    res: Arc<Resource>,
    obj: Value,
    rev: i64,
}

impl Found {
    fn store<'a>(&'a self, server: &'a ApiServer) -> Store<'a> {
        Store::new(server, &self.res, meta::namespace(&self.obj))
    }
}

/// The objects of every stored resource in `namespace` (every namespace and
/// the cluster when ""): each storage once.
async fn objects(server: &ApiServer, namespace: &str) -> Result<Vec<Found>, ApiError> {
    let mut out = Vec::new();
    for res in server.inner.registry.storages() {
        if !namespace.is_empty() && !res.def.namespaced {
            continue;
        }
        for obj in Store::new(server, &res, namespace).list_all().await? {
            let rev = meta::resource_version(&obj).parse().unwrap_or(0);
            out.push(Found {
                res: res.clone(),
                obj,
                rev,
            });
        }
    }
    Ok(out)
}

/// The owner's dependents, and whether each one's reference blocks the
/// owner's deletion.
async fn dependents(
    server: &ApiServer,
    namespace: &str,
    uid: &str,
) -> Result<Vec<(Found, bool)>, ApiError> {
    let mut out = Vec::new();
    for found in objects(server, namespace).await? {
        let reference = found
            .obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| refs.iter().find(|r| r["uid"] == uid).cloned());
        if let Some(r) = reference {
            let blocks = r["blockOwnerDeletion"] == json!(true);
            out.push((found, blocks));
        }
    }
    Ok(out)
}

/// Writes `obj` over the object read at `rev`, removing it when nothing
/// holds it any more (a namespace also waits for its `spec.finalizers`);
/// false when it changed meanwhile.
async fn put(store: &Store<'_>, obj: &Value, rev: i64) -> Result<bool, ApiError> {
    let namespace_pending = obj
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
        && obj.get("kind").and_then(Value::as_str) == Some("Namespace");
    if meta::deletion_timestamp(obj).is_some()
        && meta::finalizers(obj).is_empty()
        && !namespace_pending
    {
        return store.remove_as_is(obj, rev).await;
    }
    match store.write_as_is(obj, rev).await {
        Ok(_) => Ok(true),
        Err(WriteError::Conflict(_)) => Ok(false),
        Err(WriteError::Api(e)) if e.code == 404 => Ok(false),
        Err(WriteError::Api(e)) => Err(e),
    }
}

fn without_finalizer(obj: &mut Value, finalizer: &str) {
    let mut f = meta::finalizers(obj);
    f.retain(|x| x != finalizer);
    meta::set_finalizers(obj, &f);
}

/// Removes the owner reference to `uid` from a dependent.
async fn orphan(server: &ApiServer, found: Found, uid: &str) -> Result<(), ApiError> {
    let store = found.store(server);
    let name = meta::name(&found.obj).to_string();
    let (mut obj, mut rev) = (found.obj.clone(), found.rev);
    for _ in 0..10 {
        if let Some(refs) = obj
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r["uid"] != uid);
            if refs.is_empty() {
                meta::remove(&mut obj, "ownerReferences");
            }
        }
        if put(&store, &obj, rev).await? {
            return Ok(());
        }
        match store.get(&name).await {
            Ok(current) => (obj, rev) = current,
            Err(e) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes a dependent in the foreground: marked for deletion with the
/// `foregroundDeletion` finalizer, then processed as an owner itself.
async fn delete_in_foreground(server: &ApiServer, found: Found) -> Result<(), ApiError> {
    let mut obj = found.obj.clone();
    if meta::deletion_timestamp(&obj).is_some() {
        return Ok(());
    }
    meta::set(&mut obj, "deletionTimestamp", json!(meta::now()));
    meta::set(&mut obj, "deletionGracePeriodSeconds", json!(0));
    let mut f = meta::finalizers(&obj);
    if !f.iter().any(|x| x == FOREGROUND) {
        f.push(FOREGROUND.into());
    }
    meta::set_finalizers(&mut obj, &f);
    if put(&found.store(server), &obj, found.rev).await? {
        owner_deleting(
            server,
            found.res.clone(),
            meta::namespace(&obj),
            meta::name(&obj),
        );
    }
    Ok(())
}

/// Resumes the owners a previous run left with these finalizers (after a
/// restart).
pub async fn resume(server: &ApiServer) -> Result<(), ApiError> {
    for found in objects(server, "").await? {
        let obj = &found.obj;
        if meta::deletion_timestamp(obj).is_some() && has_propagation_finalizer(obj) {
            owner_deleting(
                server,
                found.res.clone(),
                meta::namespace(obj),
                meta::name(obj),
            );
        }
    }
    Ok(())
}

async fn process(
    server: &ApiServer,
    res: &Resource,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let store = Store::new(server, res, namespace);
    let mut poll = POLL;
    loop {
        let (mut owner, rev) = match store.get(name).await {
            Ok(found) => found,
            Err(e) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e),
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
            for (dep, _) in found {
                orphan(server, dep, &uid).await?;
            }
            without_finalizer(&mut owner, ORPHAN);
        } else {
            let mut blocking = false;
            for (dep, blocks) in found {
                blocking |= blocks;
                delete_in_foreground(server, dep).await?;
            }
            if blocking {
                tokio::time::sleep(poll).await;
                poll = (poll * 2).min(POLL_MAX);
                continue;
            }
            without_finalizer(&mut owner, FOREGROUND);
        }
        if put(&store, &owner, rev).await? && !has_propagation_finalizer(&owner) {
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
