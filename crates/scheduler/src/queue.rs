//! The scheduling queue (upstream's `backend/queue`): pods waiting for a
//! node, in three places —
//!
//! - the active queue, popped by the scheduling loop: highest priority
//!   first, then the earliest queued (PrioritySort);
//! - the backoff queue: pods that failed, each waiting 1 s, 2 s, 4 s ...
//!   up to 10 s by its number of attempts before it is active again; when
//!   the active queue is empty its head is popped early (1.33's
//!   `SchedulerPopFromBackoffQ`), except pods that failed by an error;
//! - the unschedulable pods: rejected by plugins, parked until a cluster
//!   event one of those plugins registered for (a node added, an assigned
//!   pod deleted, ...) could make them fit, or five minutes pass;
//!
//! and the gated pods a PreEnqueue plugin holds back (scheduling gates).
//! A pod is in one place at a time; heaps hold keys and stale entries are
//! skipped when popped. Time is passed in (`now`), so tests control it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::framework::{ClusterEvent, PodInfo, Status};

/// Upstream's `DefaultPodInitialBackoffDuration`.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream's `DefaultPodMaxBackoffDuration`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `DefaultPodMaxInUnschedulablePodsDuration`.
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// A pod in the queue with its scheduling history (upstream's `QueuedPodInfo`).
#[derive(Clone, Debug)]
pub struct QueuedPodInfo {
    pub pod: Arc<PodInfo>,
    /// When it was last (re)queued: the tie-break of the sort, the start of backoff.
    pub timestamp: Instant,
    /// How many times it was popped.
    pub attempts: u32,
    /// When it was first popped.
    pub initial_attempt: Option<Instant>,
    /// The plugins that rejected it in its last cycle.
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// The scheduling cycle it was popped in.
    pub cycle: u64,
}

/// Where a pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Active,
    Backoff,
    Unschedulable,
    Gated,
    /// Popped, being scheduled or bound.
    InFlight,
}

struct Slot {
    info: QueuedPodInfo,
    place: Place,
    /// Matches the heap entry that is current.
    seq: u64,
    /// The pod changed while it was being scheduled.
    updated_in_flight: bool,
    /// It failed by an error (not popped from backoff early).
    error: bool,
}

type ActiveKey = Reverse<(i64, Instant, u64, String)>;
type BackoffKey = Reverse<(Instant, i64, Instant, u64, String)>;

#[derive(Default)]
struct Inner {
    pods: HashMap<String, Slot>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<BackoffKey>,
    unschedulable: HashSet<String>,
    seq: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    closed: bool,
}

/// Decides whether a pod may be queued (its profile's PreEnqueue plugins).
pub type PreEnqueue = Arc<dyn Fn(&PodInfo) -> Status + Send + Sync>;

/// The queue, shared by the event handlers and the scheduling loop.
pub struct SchedulingQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    initial_backoff: Duration,
    max_backoff: Duration,
    pre_enqueue: PreEnqueue,
    /// The events each plugin registered (its rejections are retried on them).
    events: HashMap<&'static str, Vec<ClusterEvent>>,
}

/// How many pods are where (`scheduler_pending_pods`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub gated: usize,
}

impl SchedulingQueue {
    pub fn new(
        initial_backoff: Duration,
        max_backoff: Duration,
        pre_enqueue: PreEnqueue,
        events: HashMap<&'static str, Vec<ClusterEvent>>,
    ) -> SchedulingQueue {
        SchedulingQueue {
            inner: Mutex::new(Inner::default()),
            ready: Condvar::new(),
            initial_backoff,
            max_backoff,
            pre_enqueue,
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Upstream's `calculateBackoffDuration`: 1 s doubled per attempt
    /// after the first, at most the maximum.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            if d > self.max_backoff.saturating_sub(d) {
                return self.max_backoff;
            }
            d += d;
        }
        d.min(self.max_backoff)
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts)
    }

    fn push_active(&self, inner: &mut Inner, key: &str) {
        inner.seq += 1;
        let seq = inner.seq;
        let slot = inner.pods.get_mut(key).expect("queued pod");
        slot.place = Place::Active;
        slot.seq = seq;
        let prio = -i64::from(slot.info.pod.priority());
        let ts = slot.info.timestamp;
        inner.unschedulable.remove(key);
        inner.active.push(Reverse((prio, ts, seq, key.to_string())));
        self.ready.notify_one();
    }

    fn push_backoff(&self, inner: &mut Inner, key: &str) {
        inner.seq += 1;
        let seq = inner.seq;
        let slot = inner.pods.get_mut(key).expect("queued pod");
        slot.place = Place::Backoff;
        slot.seq = seq;
        let expiry = self.backoff_expiry(&slot.info);
        let prio = -i64::from(slot.info.pod.priority());
        let ts = slot.info.timestamp;
        inner.unschedulable.remove(key);
        inner
            .backoff
            .push(Reverse((expiry, prio, ts, seq, key.to_string())));
        // PopFromBackoffQ may take it at once.
        self.ready.notify_one();
    }

    fn park(&self, inner: &mut Inner, key: &str, place: Place) {
        inner.seq += 1;
        let seq = inner.seq;
        let slot = inner.pods.get_mut(key).expect("queued pod");
        slot.place = place;
        slot.seq = seq;
        if place == Place::Unschedulable {
            inner.unschedulable.insert(key.to_string());
        } else {
            inner.unschedulable.remove(key);
        }
    }

    /// Active, or backoff while still backing off (upstream's
    /// `queueAfterBackoff` / requeue on events).
    fn requeue(&self, inner: &mut Inner, key: &str, now: Instant) {
        let backing_off = inner
            .pods
            .get(key)
            .is_some_and(|s| self.backoff_expiry(&s.info) > now);
        if backing_off {
            self.push_backoff(inner, key);
        } else {
            self.push_active(inner, key);
        }
    }

    /// A pod without a node appeared (upstream's `Add`), or changed.
    pub fn add(&self, pod: Arc<PodInfo>, now: Instant) {
        let mut inner = self.lock();
        if inner.pods.contains_key(&pod.key) {
            drop(inner);
            return self.update(pod, now);
        }
        let key = pod.key.clone();
        let gated = !(self.pre_enqueue)(&pod).is_success();
        inner.pods.insert(
            key.clone(),
            Slot {
                info: QueuedPodInfo {
                    pod,
                    timestamp: now,
                    attempts: 0,
                    initial_attempt: None,
                    unschedulable_plugins: BTreeSet::new(),
                    cycle: 0,
                },
                place: Place::Gated,
                seq: 0,
                updated_in_flight: false,
                error: false,
            },
        );
        if gated {
            self.park(&mut inner, &key, Place::Gated);
        } else {
            self.push_active(&mut inner, &key);
        }
    }

    /// A queued pod changed (upstream's `Update`): gated pods are checked
    /// again; unschedulable pods whose spec or metadata changed are
    /// retried; others keep their place with the new object.
    pub fn update(&self, pod: Arc<PodInfo>, now: Instant) {
        let mut inner = self.lock();
        let key = pod.key.clone();
        let Some(slot) = inner.pods.get_mut(&key) else {
            drop(inner);
            return self.add(pod, now);
        };
        let changed = scheduling_relevant_change(&slot.info.pod, &pod);
        slot.info.pod = pod;
        match slot.place {
            Place::Gated if (self.pre_enqueue)(&slot.info.pod).is_success() => {
                self.push_active(&mut inner, &key);
            }
            Place::Unschedulable if changed => self.requeue(&mut inner, &key, now),
            Place::InFlight => slot.updated_in_flight = true,
            _ => {}
        }
    }

    /// The pod was deleted or got a node from elsewhere.
    pub fn delete(&self, key: &str) {
        let mut inner = self.lock();
        inner.pods.remove(key);
        inner.unschedulable.remove(key);
    }

    fn take(&self, inner: &mut Inner, key: &str, now: Instant) -> QueuedPodInfo {
        inner.scheduling_cycle += 1;
        let cycle = inner.scheduling_cycle;
        let slot = inner.pods.get_mut(key).expect("queued pod");
        slot.place = Place::InFlight;
        slot.updated_in_flight = false;
        slot.error = false;
        slot.info.attempts += 1;
        slot.info.initial_attempt.get_or_insert(now);
        slot.info.unschedulable_plugins.clear();
        slot.info.cycle = cycle;
        slot.info.clone()
    }

    /// The next pod to schedule, if any (upstream's `Pop` without waiting).
    pub fn try_pop(&self, now: Instant) -> Option<QueuedPodInfo> {
        let mut inner = self.lock();
        self.pop_locked(&mut inner, now)
    }

    fn pop_locked(&self, inner: &mut Inner, now: Instant) -> Option<QueuedPodInfo> {
        while let Some(Reverse((_, _, seq, key))) = inner.active.pop() {
            if inner
                .pods
                .get(&key)
                .is_some_and(|s| s.seq == seq && s.place == Place::Active)
            {
                return Some(self.take(inner, &key, now));
            }
        }
        // PopFromBackoffQ: the backoff head, unless it failed by an error.
        while let Some(Reverse((_, _, _, seq, key))) = inner.backoff.peek().cloned() {
            let valid = inner
                .pods
                .get(&key)
                .is_some_and(|s| s.seq == seq && s.place == Place::Backoff);
            if !valid {
                inner.backoff.pop();
                continue;
            }
            if inner.pods[&key].error {
                return None;
            }
            inner.backoff.pop();
            return Some(self.take(inner, &key, now));
        }
        None
    }

    /// Waits for the next pod (upstream's `Pop`); None once closed.
    pub fn pop(&self) -> Option<QueuedPodInfo> {
        let mut inner = self.lock();
        loop {
            if inner.closed {
                return None;
            }
            if let Some(p) = self.pop_locked(&mut inner, Instant::now()) {
                return Some(p);
            }
            inner = self
                .ready
                .wait_timeout(inner, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Stops `pop`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The pod was bound (or given up): it leaves the queue.
    pub fn done(&self, key: &str) {
        let mut inner = self.lock();
        if inner
            .pods
            .get(key)
            .is_some_and(|s| s.place == Place::InFlight)
        {
            inner.pods.remove(key);
        }
    }

    /// A cycle failed for `info` (upstream's `AddUnschedulableIfNotPresent`):
    /// an error backs off; a rejection parks the pod unless something that
    /// may help happened while it was being scheduled.
    pub fn add_unschedulable(&self, info: QueuedPodInfo, now: Instant) {
        let mut inner = self.lock();
        let key = info.pod.key.clone();
        let move_request_cycle = inner.move_request_cycle;
        let Some(slot) = inner.pods.get_mut(&key) else {
            return; // deleted meanwhile
        };
        if slot.place != Place::InFlight {
            return;
        }
        let latest = slot.info.pod.clone();
        let updated = slot.updated_in_flight;
        slot.info = QueuedPodInfo {
            pod: latest,
            timestamp: now,
            ..info
        };
        if slot.info.unschedulable_plugins.is_empty() {
            slot.error = true;
            self.push_backoff(&mut inner, &key);
        } else if updated || move_request_cycle >= slot.info.cycle {
            self.requeue(&mut inner, &key, now);
        } else {
            self.park(&mut inner, &key, Place::Unschedulable);
        }
    }

    /// A cluster event happened (upstream's `MoveAllToActiveOrBackoffQueue`):
    /// unschedulable pods rejected by a plugin registered for it are retried.
    pub fn move_all(&self, event: ClusterEvent, now: Instant) {
        let wildcard = event.resource == crate::framework::Resource::All;
        let registered = self.events.values().flatten().any(|e| e.covers(&event));
        if !wildcard && !registered {
            return; // no plugin cares
        }
        let mut inner = self.lock();
        inner.move_request_cycle = inner.scheduling_cycle;
        let keys: Vec<String> = inner
            .unschedulable
            .iter()
            .filter(|k| {
                let plugins = &inner.pods[*k].info.unschedulable_plugins;
                wildcard
                    || plugins.iter().any(|p| {
                        self.events
                            .get(p)
                            .is_none_or(|evs| evs.iter().any(|e| e.covers(&event)))
                    })
            })
            .cloned()
            .collect();
        for key in keys {
            self.requeue(&mut inner, &key, now);
        }
    }

    /// Pods whose backoff is over become active (every second).
    pub fn flush_backoff_completed(&self, now: Instant) {
        let mut inner = self.lock();
        while let Some(Reverse((expiry, _, _, seq, key))) = inner.backoff.peek().cloned() {
            if expiry > now {
                break;
            }
            inner.backoff.pop();
            if inner
                .pods
                .get(&key)
                .is_some_and(|s| s.seq == seq && s.place == Place::Backoff)
            {
                self.push_active(&mut inner, &key);
            }
        }
    }

    /// Pods unschedulable for five minutes are retried (every 30 s).
    pub fn flush_unschedulable_leftover(&self, now: Instant) {
        let mut inner = self.lock();
        let keys: Vec<String> = inner
            .unschedulable
            .iter()
            .filter(|k| now.duration_since(inner.pods[*k].info.timestamp) > MAX_IN_UNSCHEDULABLE)
            .cloned()
            .collect();
        for key in keys {
            self.requeue(&mut inner, &key, now);
        }
    }

    /// Where a pod is, if queued.
    pub fn place(&self, key: &str) -> Option<Place> {
        self.lock().pods.get(key).map(|s| s.place)
    }

    pub fn pending(&self) -> Pending {
        let inner = self.lock();
        let mut p = Pending::default();
        for s in inner.pods.values() {
            match s.place {
                Place::Active => p.active += 1,
                Place::Backoff => p.backoff += 1,
                Place::Unschedulable => p.unschedulable += 1,
                Place::Gated => p.gated += 1,
                Place::InFlight => {}
            }
        }
        p
    }
}

/// Upstream's `isPodUpdated`: anything but status, resourceVersion,
/// generation and managedFields changed.
fn scheduling_relevant_change(old: &PodInfo, new: &PodInfo) -> bool {
    let (o, n) = (&old.pod, &new.pod);
    o.spec != n.spec
        || o.metadata.labels != n.metadata.labels
        || o.metadata.annotations != n.metadata.annotations
        || o.metadata.finalizers != n.metadata.finalizers
        || o.metadata.owner_references != n.metadata.owner_references
        || o.metadata.deletion_timestamp != n.metadata.deletion_timestamp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32, gates: &[&str]) -> Arc<PodInfo> {
        let gates: Vec<_> = gates.iter().map(|g| json!({"name": g})).collect();
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"containers": [], "priority": priority, "schedulingGates": gates},
            }))
            .unwrap(),
        )))
    }

    fn queue() -> SchedulingQueue {
        let gates = crate::plugins::scheduling_gates::SchedulingGates;
        let mut events = HashMap::new();
        events.insert(
            "NodeResourcesFit",
            vec![ClusterEvent::NODE_ADD, ClusterEvent::ASSIGNED_POD_DELETE],
        );
        events.insert(
            "TaintToleration",
            vec![ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE],
        );
        SchedulingQueue::new(
            DEFAULT_INITIAL_BACKOFF,
            DEFAULT_MAX_BACKOFF,
            Arc::new(move |p| {
                use crate::framework::PreEnqueuePlugin;
                gates.pre_enqueue(p)
            }),
            events,
        )
    }

    fn name(q: &QueuedPodInfo) -> &str {
        q.pod.name()
    }

    #[test]
    fn pops_by_priority_then_age() {
        let q = queue();
        let t = Instant::now();
        q.add(pod("low", 0, &[]), t);
        q.add(pod("high", 10, &[]), t + Duration::from_millis(1));
        q.add(pod("low2", 0, &[]), t + Duration::from_millis(2));
        let order: Vec<String> =
            std::iter::from_fn(|| q.try_pop(t).map(|p| name(&p).to_string())).collect();
        assert_eq!(order, ["high", "low", "low2"]);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let q = queue();
        let d: Vec<u64> = (0..7).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(d, [0, 1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn unschedulable_pods_wait_for_an_event_their_plugins_registered() {
        let q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, &[]), t);
        let mut p = q.try_pop(t).unwrap();
        p.unschedulable_plugins.insert("TaintToleration");
        q.add_unschedulable(p, t);
        assert_eq!(q.place("ns/p"), Some(Place::Unschedulable));
        // An event the plugin did not register for leaves it parked.
        q.move_all(ClusterEvent::ASSIGNED_POD_DELETE, t);
        assert_eq!(q.place("ns/p"), Some(Place::Unschedulable));
        // A node update may help: back to the queue, in backoff for 1 s.
        q.move_all(ClusterEvent::NODE_UPDATE, t + Duration::from_millis(10));
        assert_eq!(q.place("ns/p"), Some(Place::Backoff));
        q.flush_backoff_completed(t + Duration::from_millis(500));
        assert_eq!(q.place("ns/p"), Some(Place::Backoff));
        q.flush_backoff_completed(t + Duration::from_secs(1));
        assert_eq!(q.place("ns/p"), Some(Place::Active));
        let p = q.try_pop(t).unwrap();
        assert_eq!(p.attempts, 2);
        q.done("ns/p");
        assert_eq!(q.place("ns/p"), None);
    }

    #[test]
    fn an_event_while_in_flight_sends_the_pod_to_backoff_not_to_the_parking() {
        let q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, &[]), t);
        let mut p = q.try_pop(t).unwrap();
        q.move_all(ClusterEvent::NODE_ADD, t);
        p.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(p, t);
        assert_eq!(q.place("ns/p"), Some(Place::Backoff));
        // With the active queue empty, the backoff head is popped early.
        assert_eq!(
            q.try_pop(t).map(|p| name(&p).to_string()).as_deref(),
            Some("p")
        );
    }

    #[test]
    fn errors_back_off_and_are_not_popped_early() {
        let q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, &[]), t);
        let p = q.try_pop(t).unwrap();
        q.add_unschedulable(p, t);
        assert_eq!(q.place("ns/p"), Some(Place::Backoff));
        assert!(q.try_pop(t).is_none());
        q.flush_backoff_completed(t + Duration::from_secs(1));
        assert!(q.try_pop(t).is_some());
    }

    #[test]
    fn gated_pods_enter_when_their_gates_are_removed() {
        let q = queue();
        let t = Instant::now();
        q.add(pod("g", 0, &["wait"]), t);
        assert_eq!(q.place("ns/g"), Some(Place::Gated));
        assert!(q.try_pop(t).is_none());
        assert_eq!(q.pending().gated, 1);
        q.update(pod("g", 0, &[]), t);
        assert_eq!(q.place("ns/g"), Some(Place::Active));
    }

    #[test]
    fn leftovers_are_retried_after_five_minutes_and_deleted_pods_vanish() {
        let q = queue();
        let t = Instant::now();
        q.add(pod("p", 0, &[]), t);
        let mut p = q.try_pop(t).unwrap();
        p.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(p, t);
        q.flush_unschedulable_leftover(t + Duration::from_secs(299));
        assert_eq!(q.place("ns/p"), Some(Place::Unschedulable));
        q.flush_unschedulable_leftover(t + Duration::from_secs(301));
        assert_eq!(q.place("ns/p"), Some(Place::Active));
        q.delete("ns/p");
        assert!(q.try_pop(t).is_none());
    }
}
