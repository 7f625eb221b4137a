//! The watch cache, one per resource (storage prefix), as upstream's cacher:
//! the current objects and a window of recent events in memory, fed by one store
//! watch. LISTs that need no snapshot of the past and WATCHes are served from
//! it; consistent reads first wait until the cache has caught up with the
//! store's current revision, which the cache learns from the store's progress
//! reports (etcd's `RequestProgress`, the embedded writer's revision) when
//! no event of its own resource moves it on. Each event's served bytes are
//! made once and shared by every watcher.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use skiff_store::{
    Event, EventType, KeyRange, KeyValue, ListRequest, ProgressRequester, Store, WatchUpdate,
};
use tokio::sync::{broadcast, watch};

use crate::registry::with_resource_version;

/// Events kept for watchers that start from a recent resource version, and
/// for live watchers to take theirs from.
const WINDOW: usize = 10_000;
/// And at most this many bytes of them (values, previous values, keys): a
/// large object written over and over cannot make the window hold gigabytes.
const WINDOW_BYTES: usize = 64 << 20;
/// How long a request waits for a new cache to be filled.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);
/// Events buffered per watcher before it is cut off (it then re-watches).
const BROADCAST: usize = 4096;
/// How long a consistent read waits for the cache to catch up before it
/// reads the store (upstream's `blockTimeout`).
const CONSISTENT_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a waiting read asks the store's watch for progress (upstream's
/// progress requester ticks every 100 ms).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// An event as the cache keeps it.
pub struct CachedEvent {
    pub event: Event,
    /// The cache's count of events (1, 2, ...; 0 outside the cache): several
    /// events can share a revision (etcd deletes every key of an expired
    /// lease in one), so a watcher tells what it has seen by this.
    pub seq: u64,
    served: OnceLock<Bytes>,
}

impl CachedEvent {
    pub fn new(event: Event) -> Self {
        CachedEvent {
            event,
            seq: 0,
            served: OnceLock::new(),
        }
    }

    pub fn revision(&self) -> i64 {
        self.event.revision()
    }

    /// What the event holds in memory, roughly.
    fn bytes(&self) -> usize {
        self.event.kv.key.len()
            + self.event.kv.value.len()
            + self.event.prev_kv.as_ref().map_or(0, |p| p.value.len())
            + 64
    }

    /// The object's previous state (a delete's last state), as stored; `{}`
    /// when the event has none.
    pub fn prev_value(&self) -> &[u8] {
        self.event
            .prev_kv
            .as_ref()
            .map(|p| &p.value[..])
            .unwrap_or(b"{}")
    }

    /// The object as served (with its resource version): the new object of a
    /// put, the last state of a deleted one. Made once for every watcher.
    pub fn served(&self) -> &Bytes {
        self.served.get_or_init(|| match self.event.event_type {
            EventType::Put => {
                with_resource_version(&self.event.kv.value, self.event.kv.mod_revision)
            }
            EventType::Delete => {
                with_resource_version(self.prev_value(), self.event.kv.mod_revision)
            }
        })
    }
}

struct State {
    objects: BTreeMap<String, KeyValue>,
    /// The revision the cache reflects.
    revision: i64,
    window: VecDeque<Arc<CachedEvent>>,
    /// The bytes of the events in the window.
    window_bytes: usize,
    /// The revision of the newest event no longer in the window: a watch
    /// from before it cannot be replayed (events of one revision may be
    /// split by the window's edge).
    evicted: i64,
    /// The sequence number of the newest event.
    seq: u64,
    /// Live events for watchers. The window holds them: a watcher so far
    /// behind that its next event has left the window finds it gone and is
    /// cut off (it watches again from its last resource version), so
    /// memory is bounded by the window, never by the slowest watcher.
    events: broadcast::Sender<Weak<CachedEvent>>,
}

/// The cache of one resource.
pub struct Cacher {
    prefix: String,
    state: RwLock<State>,
    revision: watch::Sender<i64>,
    /// Asks the store's watch for a progress report; None while there is
    /// no watch or when the store cannot give trustworthy ones.
    progress: Mutex<Option<ProgressRequester>>,
}

/// A consistent view for a new watcher: the objects (when asked), the events
/// after the requested revision, and the subscription for what follows.
pub struct Start {
    pub initial: Vec<KeyValue>,
    pub replay: Vec<Arc<CachedEvent>>,
    pub revision: i64,
    /// The sequence number of the newest event the view reflects: live
    /// events up to it are already in `initial` or `replay`.
    pub seq: u64,
    pub live: broadcast::Receiver<Weak<CachedEvent>>,
}

impl Cacher {
    fn new(prefix: String) -> Arc<Self> {
        let (events, _) = broadcast::channel(BROADCAST);
        let (revision, _) = watch::channel(0);
        Arc::new(Cacher {
            prefix,
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                revision: 0,
                window: VecDeque::new(),
                window_bytes: 0,
                evicted: 0,
                seq: 0,
                events,
            }),
            revision,
            progress: Mutex::new(None),
        })
    }

    /// Fills the cache and follows the store until the store goes away.
    async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            if let Err(e) = self.sync(&store).await {
                tracing::warn!(prefix = %self.prefix, error = %e, "watch cache lost the store's watch; relisting");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if Arc::strong_count(&self) <= 1 {
                return;
            }
        }
    }

    async fn sync(&self, store: &Arc<dyn Store>) -> Result<(), skiff_store::StoreError> {
        let list = store
            .list(ListRequest {
                prefix: self.prefix.clone(),
                ..Default::default()
            })
            .await?;
        {
            let mut s = self.state.write().expect("poisoned");
            s.objects = list
                .kvs
                .into_iter()
                .map(|kv| (kv.key.clone(), kv))
                .collect();
            s.revision = list.revision;
            // Watchers replaying from before a relist would miss what changed: start a new window.
            s.window.clear();
            s.window_bytes = 0;
            s.evicted = list.revision;
            let (events, _) = broadcast::channel(BROADCAST);
            s.events = events;
        }
        self.revision.send_replace(list.revision);
        let mut watch = store
            .watch(KeyRange::Prefix(self.prefix.clone()), list.revision + 1)
            .await?;
        *self.progress.lock().expect("poisoned") = watch.progress_requester();
        loop {
            let batch = match watch.next_update().await {
                None => return Ok(()),
                Some(Err(e)) => {
                    *self.progress.lock().expect("poisoned") = None;
                    return Err(e);
                }
                Some(Ok(WatchUpdate::Events(batch))) => batch,
                Some(Ok(WatchUpdate::Progress(revision))) => {
                    // Nothing of this resource changed up to `revision`.
                    let mut s = self.state.write().expect("poisoned");
                    if revision > s.revision {
                        s.revision = revision;
                        drop(s);
                        self.revision.send_replace(revision);
                    }
                    continue;
                }
            };
            let mut s = self.state.write().expect("poisoned");
            for event in batch {
                let rev = event.revision();
                match event.event_type {
                    EventType::Put => {
                        s.objects.insert(event.kv.key.clone(), event.kv.clone());
                    }
                    EventType::Delete => {
                        s.objects.remove(&event.kv.key);
                    }
                }
                s.seq += 1;
                let cached = Arc::new(CachedEvent {
                    seq: s.seq,
                    ..CachedEvent::new(event)
                });
                s.window_bytes += cached.bytes();
                s.window.push_back(cached.clone());
                while s.window.len() > 1
                    && (s.window.len() > WINDOW || s.window_bytes > WINDOW_BYTES)
                    && let Some(old) = s.window.pop_front()
                {
                    s.window_bytes -= old.bytes();
                    s.evicted = old.revision();
                }
                s.revision = s.revision.max(rev);
                let _ = s.events.send(Arc::downgrade(&cached));
            }
            let rev = s.revision;
            drop(s);
            self.revision.send_replace(rev);
        }
    }

    /// Waits until the cache reflects at least `revision`.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.revision.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until the cache reflects at least `revision`, the store's
    /// current one read by a consistent LIST, asking the store's watch for
    /// progress meanwhile (upstream's `waitUntilFreshAndBlock` with its
    /// progress requester). False when it has not within
    /// [`CONSISTENT_READ_TIMEOUT`], or cannot know (no progress reports):
    /// the caller reads the store.
    pub async fn wait_fresh(&self, revision: i64) -> bool {
        let mut rx = self.revision.subscribe();
        if *rx.borrow_and_update() >= revision {
            return true;
        }
        let Some(progress) = self.progress.lock().expect("poisoned").clone() else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + CONSISTENT_READ_TIMEOUT;
        loop {
            progress.request();
            let wait = PROGRESS_INTERVAL.min(deadline - tokio::time::Instant::now());
            match tokio::time::timeout(wait, rx.wait_for(|r| *r >= revision)).await {
                Ok(Ok(_)) => return true,
                Ok(Err(_)) => return false,
                Err(_) if tokio::time::Instant::now() >= deadline => return false,
                Err(_) => {}
            }
        }
    }

    /// The object at `key`, as the cache holds it now.
    pub fn get(&self, key: &str) -> Option<KeyValue> {
        self.state
            .read()
            .expect("poisoned")
            .objects
            .get(key)
            .cloned()
    }

    /// The objects under `prefix` (a namespace, or the whole resource) and the revision.
    pub fn list(&self, prefix: &str) -> (Vec<KeyValue>, i64) {
        let s = self.state.read().expect("poisoned");
        let items = s
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect();
        (items, s.revision)
    }

    /// Starts a watch at `after` (events with a greater revision), or with the
    /// current objects when `after` is None. None when the window no longer
    /// covers `after` (the caller falls back to the store).
    pub fn start(&self, after: Option<i64>, prefix: &str) -> Option<Start> {
        let s = self.state.read().expect("poisoned");
        let live = s.events.subscribe();
        match after {
            None => {
                let initial = s
                    .objects
                    .range(prefix.to_string()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(_, v)| v.clone())
                    .collect();
                Some(Start {
                    initial,
                    replay: Vec::new(),
                    revision: s.revision,
                    seq: s.seq,
                    live,
                })
            }
            Some(rv) => {
                if rv < s.evicted || rv > s.revision {
                    return None;
                }
                let replay = s
                    .window
                    .iter()
                    .filter(|e| e.revision() > rv)
                    .cloned()
                    .collect();
                Some(Start {
                    initial: Vec::new(),
                    replay,
                    revision: s.revision,
                    seq: s.seq,
                    live,
                })
            }
        }
    }
}

/// Every resource's cache, created on first use.
#[derive(Default)]
pub struct Caches {
    by_prefix: Mutex<HashMap<String, Arc<Cacher>>>,
}

impl Caches {
    /// The cache of the resource stored under `prefix`, started if new, and
    /// ready (filled from the store) when returned; None when it is not
    /// filled within [`READY_TIMEOUT`] (the store does not answer).
    pub async fn get(&self, prefix: &str, store: &Arc<dyn Store>) -> Option<Arc<Cacher>> {
        let (cacher, new) = {
            let mut map = self.by_prefix.lock().expect("poisoned");
            match map.get(prefix) {
                Some(c) => (c.clone(), false),
                None => {
                    let c = Cacher::new(prefix.to_string());
                    map.insert(prefix.to_string(), c.clone());
                    (c, true)
                }
            }
        };
        if new {
            tokio::spawn(cacher.clone().run(store.clone()));
        }
        let mut rx = cacher.revision.subscribe();
        // Filled within a bound, or not used: a store that does not answer
        // never holds a request (and its in-flight slot) forever.
        match tokio::time::timeout(READY_TIMEOUT, rx.wait_for(|r| *r > 0)).await {
            Ok(Ok(_)) => Some(cacher),
            _ => None,
        }
    }
}
