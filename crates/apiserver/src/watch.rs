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

use crate::cacher::CachedEvent;
use crate::handlers::Ctx;
use crate::list::As;
use crate::registry::list::Selectors;
use crate::registry::{Resource, store_error, with_resource_version};
use crate::response::{self, Body};
use crate::table;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(15);
/// Bytes of events a watcher's client may leave unread before the watcher
/// waits (and, as the cache moves on, is cut off).
const WATCHER_BUDGET: u32 = 8 << 20;
/// The longest watch timeout honoured (ten years; longer ones are as good).
const MAX_TIMEOUT_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// What a watch task needs, owned.
struct Watcher {
    res: Arc<Resource>,
    sel: Selectors,
    form: As,
    params: std::collections::HashMap<String, String>,
    tx: response::StreamSender,
}

impl Watcher {
    fn matches(&self, obj: &Value) -> bool {
        self.sel.matches(&self.res, obj)
    }

    /// Sends the matching objects of the initial state as ADDED events; false
    /// when the client is gone.
    async fn send_initial(&self, kvs: &[skiff_store::KeyValue]) -> bool {
        for kv in kvs {
            if !self.sel.is_empty() {
                let matched =
                    serde_json::from_slice::<Value>(&kv.value).is_ok_and(|o| self.matches(&o));
                if !matched {
                    continue;
                }
            }
            if !self
                .send("ADDED", with_resource_version(&kv.value, kv.mod_revision))
                .await
            {
                return false;
            }
        }
        true
    }

    /// Sends one event; false when the client is gone.
    async fn send(&self, kind: &str, served: Bytes) -> bool {
        let served = crate::list::served_form(self.res.def, served);
        let object: Bytes = match self.form {
            // Watches never stream YAML (negotiation refuses it).
            As::Object | As::Yaml => served,
            As::Protobuf => {
                return match serde_json::from_slice::<Value>(&served) {
                    Ok(o) => self.send_protobuf(kind, &o).await,
                    Err(_) => true,
                };
            }
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

    /// Sends one event as a protobuf `WatchEvent` frame; false when the client is gone.
    async fn send_protobuf(&self, kind: &str, obj: &Value) -> bool {
        match skiff_api::proto::encode(obj) {
            Ok(object) => self
                .tx
                .send(Bytes::from(skiff_api::proto::watch_frame(kind, &object)))
                .await
                .is_ok(),
            Err(e) => {
                tracing::warn!(error = %e.message, "watch event without a protobuf form");
                true
            }
        }
    }

    async fn bookmark(&self, rv: i64, initial_end: bool) -> bool {
        let def = self.res.def;
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata});
        if self.form == As::Protobuf {
            return self.send_protobuf("BOOKMARK", &obj).await;
        }
        let line = format!("{{\"type\":\"BOOKMARK\",\"object\":{}}}\n", obj);
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn error(&self, err: &ApiError) {
        if self.form == As::Protobuf {
            self.send_protobuf("ERROR", &err.status()).await;
            return;
        }
        let line = format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", err.status());
        let _ = self.tx.send(Bytes::from(line)).await;
    }
}

pub async fn watch(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let sel = crate::list::list_options(ctx, true)?.selectors;
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
    // `sendInitialEvents` (streaming lists) is refused by validation while
    // the WatchList gate is off, as 1.33's default; this path serves it
    // once it is on.
    let explicit_initial =
        crate::request::param_bool(ctx.params, "sendInitialEvents").unwrap_or(false);
    let send_initial = explicit_initial || rv_param.is_empty() || rv_param == "0";
    let bookmarks = crate::request::param_bool(ctx.params, "allowWatchBookmarks").unwrap_or(false);
    let (tx, body) = response::streamed(WATCHER_BUDGET);
    // Protobuf only for kinds that have a protobuf form (else JSON, as
    // upstream's negotiation falls through to the next acceptable type).
    let form = match crate::negotiation::negotiate(ctx.headers, true)? {
        As::Protobuf
            if !skiff_api::proto::has_message(&ctx.res.def.api_version(), ctx.res.def.kind) =>
        {
            As::Object
        }
        form => form,
    };
    // An int64 as upstream's: 0 is the default, a negative one ends the
    // watch at once; a huge one is capped where an instant can hold it.
    let timeout = match ctx.params.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => match t
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?
        {
            0 => Duration::from_secs(1800 + rand_secs()),
            t => Duration::from_secs(t.clamp(0, MAX_TIMEOUT_SECONDS) as u64),
        },
        None => Duration::from_secs(1800 + rand_secs()),
    };
    let watcher = Watcher {
        res: ctx.res.clone(),
        sel,
        form,
        params: ctx.params.clone(),
        tx,
    };
    // From the watch cache when it covers the start; otherwise from the store.
    let after = if send_initial {
        None
    } else {
        Some(rv_param.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
        })?)
    };
    // Not filled in time: upstream's answer while its cache (re)initializes.
    let Some(cacher) = ctx.server.inner.caches.get(&ctx.res.prefix(), &store).await else {
        let mut e = ApiError::too_many_requests(1);
        e.message = "storage is (re)initializing".into();
        return Err(e);
    };
    if let Some(start) = cacher.start(after, &prefix) {
        tokio::spawn(watch_cache(
            watcher,
            start,
            after,
            prefix,
            explicit_initial && bookmarks,
            bookmarks,
            timeout,
        ));
        return Ok(streaming(body, form));
    }
    let Watcher {
        res,
        sel,
        form,
        params,
        tx,
    } = watcher;
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
    let watcher = Watcher {
        res,
        sel,
        form,
        params,
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
            if !watcher.send_initial(&kvs).await {
                return;
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
                        if !deliver(&watcher, &CachedEvent::new(e)).await { return; }
                    }
                }
            }
        }
    });
    Ok(streaming(body, form))
}

fn streaming(body: Body, form: As) -> http::Response<Body> {
    let content_type = match form {
        As::Protobuf => "application/vnd.kubernetes.protobuf;stream=watch",
        _ => "application/json",
    };
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .header("Cache-Control", "no-cache, private")
        .body(body)
        .expect("valid response")
}

/// A watch served from the watch cache.
async fn watch_cache(
    w: Watcher,
    start: crate::cacher::Start,
    after: Option<i64>,
    prefix: String,
    initial_bookmark: bool,
    bookmarks: bool,
    timeout: Duration,
) {
    if !w.send_initial(&start.initial).await {
        return;
    }
    let mut last_rv = after.unwrap_or(start.revision);
    let mut last_seq = start.seq;
    if initial_bookmark && !w.bookmark(start.revision, true).await {
        return;
    }
    for e in &start.replay {
        if e.event.kv.key.starts_with(&prefix) && !deliver(&w, e).await {
            return;
        }
        last_rv = last_rv.max(e.revision());
    }
    let mut live = start.live;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + BOOKMARK_INTERVAL,
        BOOKMARK_INTERVAL,
    );
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = w.tx.closed() => return,
            _ = ticker.tick(), if bookmarks => {
                if !w.bookmark(last_rv, false).await { return; }
            }
            event = live.recv() => match event {
                Ok(e) => {
                    // Gone from the window: this watcher fell that far
                    // behind. Cut off, as a lagging one is.
                    let Some(e) = e.upgrade() else { return };
                    // Already in the view the watch started from. Not by
                    // revision: events can share one.
                    if e.seq <= last_seq {
                        continue;
                    }
                    last_seq = e.seq;
                    last_rv = last_rv.max(e.revision());
                    if e.event.kv.key.starts_with(&prefix) && !deliver(&w, &e).await {
                        return;
                    }
                }
                // Too slow, or the cache relisted: end the watch; the client
                // watches again from the last resource version it saw.
                Err(_) => return,
            }
        }
    }
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

/// Turns one event into the watch event the client sees, if any.
async fn deliver(w: &Watcher, e: &CachedEvent) -> bool {
    let Some(prev_obj) = (match e.event.event_type {
        EventType::Put => Some(e.event.prev_kv.is_some()),
        EventType::Delete => e.event.prev_kv.as_ref().map(|_| true),
    }) else {
        return true;
    };
    match e.event.event_type {
        EventType::Put => {
            if w.sel.is_empty() {
                let kind = if prev_obj { "MODIFIED" } else { "ADDED" };
                return w.send(kind, e.served().clone()).await;
            }
            let now = serde_json::from_slice::<Value>(&e.event.kv.value)
                .map(|o| w.matches(&o))
                .unwrap_or(false);
            let before = e
                .event
                .prev_kv
                .as_ref()
                .and_then(|p| serde_json::from_slice::<Value>(&p.value).ok())
                .map(|o| w.matches(&o))
                .unwrap_or(false);
            match (before, now) {
                (true, true) => w.send("MODIFIED", e.served().clone()).await,
                (false, true) => w.send("ADDED", e.served().clone()).await,
                // Left the selection: the state that matched, at the new
                // resource version (as upstream's cache watcher).
                (true, false) => {
                    let left = crate::registry::with_resource_version(
                        e.prev_value(),
                        e.event.kv.mod_revision,
                    );
                    w.send("DELETED", left).await
                }
                (false, false) => true,
            }
        }
        EventType::Delete => {
            if !w.sel.is_empty() {
                let matched = serde_json::from_slice::<Value>(e.prev_value())
                    .map(|o| w.matches(&o))
                    .unwrap_or(false);
                if !matched {
                    return true;
                }
            }
            w.send("DELETED", e.served().clone()).await
        }
    }
}
