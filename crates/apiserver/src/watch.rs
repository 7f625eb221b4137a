//! WATCH: a stream of `{"type": ..., "object": ...}` lines from the store's
//! watch, filtered by selectors (an object leaving the selection is DELETED,
//! entering it is ADDED, as upstream's cacher does), with initial events,
//! bookmarks, timeouts and ERROR events carrying a `Status`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use skiff_api::{ApiError, meta};
use skiff_store::{EventType, KeyRange, ListRequest, StoreError};
use tokio::sync::mpsc;

use crate::handlers::Ctx;
use crate::list::{As, Selectors, wanted};
use crate::registry::{Resource, store_error, with_resource_version};
use crate::response::{self, Body};
use crate::table;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(15);

/// What a watch task needs, owned.
struct Watcher {
    res: Arc<Resource>,
    sel: Selectors,
    form: As,
    params: std::collections::HashMap<String, String>,
    tx: mpsc::Sender<Bytes>,
}

impl Watcher {
    fn matches(&self, obj: &Value) -> bool {
        self.sel.labels.matches(meta::labels(obj))
            && self
                .sel
                .fields
                .matches(|f| self.res.strategy.field_value(obj, f))
    }

    /// Sends one event; false when the client is gone.
    async fn send(&self, kind: &str, served: Bytes) -> bool {
        let object: Bytes = match self.form {
            As::Object => served,
            As::PartialObjectMetadata => match serde_json::from_slice::<Value>(&served) {
                Ok(o) => Bytes::from(serde_json::to_vec(&json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata")})).unwrap_or_default()),
                Err(_) => return true,
            },
            As::Table => match serde_json::from_slice::<Value>(&served) {
                Ok(o) => {
                    let rv = meta::resource_version(&o).to_string();
                    Bytes::from(serde_json::to_vec(&table::table(&self.res, vec![o], &rv, None, &self.params)).unwrap_or_default())
                }
                Err(_) => return true,
            },
        };
        let mut line = BytesMut::with_capacity(object.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(&object);
        line.extend_from_slice(b"}\n");
        self.tx.send(line.freeze()).await.is_ok()
    }

    async fn bookmark(&self, rv: i64, initial_end: bool) -> bool {
        let def = self.res.def;
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata});
        let line = format!("{{\"type\":\"BOOKMARK\",\"object\":{}}}\n", obj);
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn error(&self, err: &ApiError) {
        let line = format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", err.status());
        let _ = self.tx.send(Bytes::from(line)).await;
    }
}

pub async fn watch(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let sel = Selectors::parse(ctx)?;
    let store = ctx.server.inner.store.clone();
    let prefix = ctx.res.namespace_prefix(ctx.namespace());
    let range = match sel.fields.pinned("metadata.name") {
        Some(name) if !ctx.res.def.namespaced || !ctx.namespace().is_empty() => {
            KeyRange::Key(ctx.res.key(ctx.namespace(), name))
        }
        _ => KeyRange::Prefix(prefix.clone()),
    };
    let rv_param = ctx
        .params
        .get("resourceVersion")
        .cloned()
        .unwrap_or_default();
    let send_initial = match ctx.params.get("sendInitialEvents").map(String::as_str) {
        Some("true") => true,
        Some("false") | None => rv_param.is_empty() || rv_param == "0",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid sendInitialEvents {other:?}"
            )));
        }
    };
    let explicit_initial = ctx
        .params
        .get("sendInitialEvents")
        .is_some_and(|v| v == "true");
    let bookmarks = ctx
        .params
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let timeout = match ctx.params.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => Duration::from_secs(1800 + rand_secs()),
    };
    // The initial state, when asked for, then events after it.
    let (initial, start) = if send_initial {
        let list = store
            .list(ListRequest {
                prefix: prefix.clone(),
                ..Default::default()
            })
            .await
            .map_err(store_error)?;
        (Some(list.kvs), list.revision + 1)
    } else {
        let rv: i64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
        })?;
        (None, rv + 1)
    };
    let stream = store.watch(range, start).await;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let watcher = Watcher {
        res: ctx.res.clone(),
        sel,
        form: wanted(ctx.headers),
        params: ctx.params.clone(),
        tx,
    };
    tokio::spawn(async move {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                watcher.error(&watch_error(e)).await;
                return;
            }
        };
        let mut last_rv = start - 1;
        if let Some(kvs) = initial {
            for kv in kvs {
                if !watcher.sel.is_empty() {
                    let Ok(obj) = serde_json::from_slice::<Value>(&kv.value) else {
                        continue;
                    };
                    if !watcher.matches(&obj) {
                        continue;
                    }
                }
                if !watcher
                    .send("ADDED", with_resource_version(&kv.value, kv.mod_revision))
                    .await
                {
                    return;
                }
            }
            if explicit_initial && bookmarks && !watcher.bookmark(last_rv, true).await {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = watcher.tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if !watcher.bookmark(last_rv, false).await { return; }
                }
                batch = stream.next_batch() => {
                    let events = match batch {
                        Some(Ok(events)) => events,
                        Some(Err(e)) => { watcher.error(&watch_error(e)).await; return; }
                        None => return,
                    };
                    for e in events {
                        last_rv = e.revision();
                        if !deliver(&watcher, e).await { return; }
                    }
                }
            }
        }
    });
    Ok(http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("Cache-Control", "no-cache, private")
        .body(response::streamed(rx))
        .expect("valid response"))
}

fn rand_secs() -> u64 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        % 1800) as u64
}

fn watch_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Compacted {
            requested,
            compact_revision,
        } => ApiError::expired(format!(
            "too old resource version: {} ({compact_revision})",
            requested - 1
        )),
        other => store_error(other),
    }
}

/// Turns one store event into the watch event the client sees, if any.
async fn deliver(w: &Watcher, e: skiff_store::Event) -> bool {
    let rev = e.revision();
    match e.event_type {
        EventType::Put => {
            let served = with_resource_version(&e.kv.value, rev);
            if w.sel.is_empty() {
                let kind = if e.prev_kv.is_some() {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                return w.send(kind, served).await;
            }
            let now = serde_json::from_slice::<Value>(&e.kv.value)
                .map(|o| w.matches(&o))
                .unwrap_or(false);
            let before = e
                .prev_kv
                .as_ref()
                .and_then(|p| serde_json::from_slice::<Value>(&p.value).ok())
                .map(|o| w.matches(&o))
                .unwrap_or(false);
            match (before, now) {
                (true, true) => w.send("MODIFIED", served).await,
                (false, true) => w.send("ADDED", served).await,
                (true, false) => w.send("DELETED", served).await,
                (false, false) => true,
            }
        }
        EventType::Delete => {
            let Some(prev) = e.prev_kv else { return true };
            if !w.sel.is_empty() {
                let matched = serde_json::from_slice::<Value>(&prev.value)
                    .map(|o| w.matches(&o))
                    .unwrap_or(false);
                if !matched {
                    return true;
                }
            }
            w.send("DELETED", with_resource_version(&prev.value, rev))
                .await
        }
    }
}
