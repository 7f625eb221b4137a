//! Watching a resource's objects (upstream's `Store.Watch` over the
//! cacher): from the watch cache when it covers the start, else from the
//! key value store; filtered by selectors (an object leaving the selection
//! is DELETED, entering it ADDED, as upstream's cacher does), with initial
//! events, bookmarks and timeouts. Events go to a [`WatchSink`] (the watch
//! endpoint's stream, in the form its client asked for); the store knows
//! nothing of HTTP.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use skiff_api::ApiError;
use skiff_store::{EventType as StoreEventType, KeyRange, ListRequest, StoreError};

use super::list::Selectors;
use super::store::Store;
use super::{Resource, store_error, with_resource_version};
use crate::cacher::CachedEvent;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(15);

/// Upstream's `watch.EventType` of an object event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// Upstream's `metav1.ListOptions` of a watch, validated and parsed.
pub struct WatchOptions {
    pub selectors: Selectors,
    /// "" or "0": from the current state, sent first as ADDED events.
    pub resource_version: String,
    /// `sendInitialEvents=true` (with bookmarks, their end is marked).
    pub send_initial_events: bool,
    pub allow_bookmarks: bool,
    /// When the watch ends.
    pub timeout: Duration,
}

/// Where a watch's events go; each method answers false (or completes)
/// once the watcher is gone.
pub trait WatchSink: Send + Sync + 'static {
    /// An object event, the object as served.
    fn event(&self, kind: EventType, served: Bytes) -> impl Future<Output = bool> + Send;
    /// A BOOKMARK at `rv` (`initial_end`: the initial events are all sent).
    fn bookmark(&self, rv: i64, initial_end: bool) -> impl Future<Output = bool> + Send;
    /// An ERROR event; the watch ends after it.
    fn error(&self, err: &ApiError) -> impl Future<Output = ()> + Send;
    /// Completes when the watcher goes away.
    fn closed(&self) -> impl Future<Output = ()> + Send;
}

/// What a watch task needs, owned.
struct Watch<S> {
    res: Arc<Resource>,
    sel: Selectors,
    sink: S,
}

impl<S: WatchSink> Watch<S> {
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
                .sink
                .event(
                    EventType::Added,
                    with_resource_version(&kv.value, kv.mod_revision),
                )
                .await
            {
                return false;
            }
        }
        true
    }
}

impl Store<'_> {
    /// Starts a watch whose events go to `sink` (the task runs until the
    /// timeout, the watcher leaving, or an error); refuses what cannot be
    /// watched before the first event.
    pub async fn watch<S: WatchSink>(&self, opts: WatchOptions, sink: S) -> Result<()> {
        let store = self.server.inner.store.clone();
        let res = Arc::new(Resource::clone(self.res));
        let sel = opts.selectors;
        let prefix = res.namespace_prefix(self.namespace);
        let range = match sel.fields.pinned("metadata.name") {
            Some(name) if !res.def.namespaced || !self.namespace.is_empty() => {
                KeyRange::Key(res.key(self.namespace, name))
            }
            _ => KeyRange::Prefix(prefix.clone()),
        };
        let rv_param = opts.resource_version.as_str();
        let explicit_initial = opts.send_initial_events;
        let send_initial = explicit_initial || rv_param.is_empty() || rv_param == "0";
        let bookmarks = opts.allow_bookmarks;
        let timeout = opts.timeout;
        let watcher = Watch { res, sel, sink };
        // From the watch cache when it covers the start; otherwise from the store.
        let after = if send_initial {
            None
        } else {
            Some(rv_param.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
            })?)
        };
        // Not filled in time: upstream's answer while its cache (re)initializes.
        let Some(cacher) = self
            .server
            .inner
            .caches
            .get(&watcher.res.prefix(), &store)
            .await
        else {
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
            return Ok(());
        }
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
        tokio::spawn(async move {
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    watcher.sink.error(&watch_error(e)).await;
                    return;
                }
            };
            let mut last_rv = start - 1;
            if let Some(kvs) = initial {
                if !watcher.send_initial(&kvs).await {
                    return;
                }
                if explicit_initial && bookmarks && !watcher.sink.bookmark(last_rv, true).await {
                    return;
                }
            }
            let (deadline, mut ticker) = clocks(timeout);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => return,
                    _ = watcher.sink.closed() => return,
                    _ = ticker.tick(), if bookmarks => {
                        if !watcher.sink.bookmark(last_rv, false).await { return; }
                    }
                    batch = stream.next_batch() => {
                        let events = match batch {
                            Some(Ok(events)) => events,
                            Some(Err(e)) => { watcher.sink.error(&watch_error(e)).await; return; }
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
        Ok(())
    }
}

/// When a watch started now ends, and its bookmark ticker.
fn clocks(timeout: Duration) -> (tokio::time::Instant, tokio::time::Interval) {
    let now = tokio::time::Instant::now();
    let ticker = tokio::time::interval_at(now + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
    (now + timeout, ticker)
}

/// A watch served from the watch cache.
async fn watch_cache<S: WatchSink>(
    w: Watch<S>,
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
    if initial_bookmark && !w.sink.bookmark(start.revision, true).await {
        return;
    }
    for e in &start.replay {
        if e.event.kv.key.starts_with(&prefix) && !deliver(&w, e).await {
            return;
        }
        last_rv = last_rv.max(e.revision());
    }
    let mut live = start.live;
    let (deadline, mut ticker) = clocks(timeout);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = w.sink.closed() => return,
            _ = ticker.tick(), if bookmarks => {
                if !w.sink.bookmark(last_rv, false).await { return; }
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
async fn deliver<S: WatchSink>(w: &Watch<S>, e: &CachedEvent) -> bool {
    let Some(prev_obj) = (match e.event.event_type {
        StoreEventType::Put => Some(e.event.prev_kv.is_some()),
        StoreEventType::Delete => e.event.prev_kv.as_ref().map(|_| true),
    }) else {
        return true;
    };
    match e.event.event_type {
        StoreEventType::Put => {
            if w.sel.is_empty() {
                let kind = if prev_obj {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                return w.sink.event(kind, e.served().clone()).await;
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
                (true, true) => w.sink.event(EventType::Modified, e.served().clone()).await,
                (false, true) => w.sink.event(EventType::Added, e.served().clone()).await,
                // Left the selection: the state that matched, at the new
                // resource version (as upstream's cache watcher).
                (true, false) => {
                    let left = crate::registry::with_resource_version(
                        e.prev_value(),
                        e.event.kv.mod_revision,
                    );
                    w.sink.event(EventType::Deleted, left).await
                }
                (false, false) => true,
            }
        }
        StoreEventType::Delete => {
            if !w.sel.is_empty() {
                let matched = serde_json::from_slice::<Value>(e.prev_value())
                    .map(|o| w.matches(&o))
                    .unwrap_or(false);
                if !matched {
                    return true;
                }
            }
            w.sink.event(EventType::Deleted, e.served().clone()).await
        }
    }
}
