//! A reflector over the store (client-go's `Reflector`, for the API
//! server's own in-memory views): list a key prefix, hand every object to
//! a sink, then follow the prefix's watch from the list's revision; when the
//! watch ends, list again. The sink is held weakly: the reflector stops
//! once its owner is gone. The RBAC policy and the Node authorizer's graph
//! are kept this way, with no store read per decision.

use std::sync::{Arc, Weak};
use std::time::Duration;

use skiff_store::{EventType, KeyRange, ListRequest, Store};

/// What a reflector feeds.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Everything under the prefix, replacing what the sink held of it.
    fn replace(&self, prefix: &str, objects: &[(String, bytes::Bytes)]);
    /// An object put (`Some`) or deleted (`None`).
    fn apply(&self, key: &str, value: Option<&[u8]>);
}

/// Follows `prefix` into `sink` until the sink is dropped.
pub(crate) async fn follow<S: Sink>(
    sink: Weak<S>,
    store: Arc<dyn Store>,
    prefix: String,
    what: &'static str,
) {
    loop {
        let list = store
            .list(ListRequest {
                prefix: prefix.clone(),
                ..Default::default()
            })
            .await;
        let Some(me) = sink.upgrade() else { return };
        let watched = match list {
            Ok(list) => {
                let objects: Vec<(String, bytes::Bytes)> =
                    list.kvs.into_iter().map(|kv| (kv.key, kv.value)).collect();
                me.replace(&prefix, &objects);
                drop(me);
                store
                    .watch(KeyRange::Prefix(prefix.clone()), list.revision + 1)
                    .await
            }
            Err(e) => Err(e),
        };
        let mut stream = match watched {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, what, "reflector: listing; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(batch) = stream.next_batch().await {
            let Some(me) = sink.upgrade() else { return };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, what, "reflector: the watch ended; listing again");
                    break;
                }
            };
            for event in batch {
                match event.event_type {
                    EventType::Put => me.apply(&event.kv.key, Some(&event.kv.value)),
                    EventType::Delete => me.apply(&event.kv.key, None),
                }
            }
        }
        if sink.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
