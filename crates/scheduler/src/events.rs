//! Kubernetes Events for what users need to see (upstream's
//! `client-go/tools/events` broadcaster as the scheduler uses it):
//! `events.k8s.io/v1` Events recorded without blocking the caller, sent
//! by a background task, a repeat of the same event within six minutes
//! counted in its `series` instead of a new object, and dropped when the
//! queue is full rather than slowing scheduling (as upstream's
//! broadcaster drops).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::{Mutex, mpsc};

/// Upstream's `validation.NoteLengthLimit`.
pub const NOTE_LENGTH_LIMIT: usize = 1024;
/// How long a repeat joins the earlier event's series.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How many events may wait to be sent.
const QUEUE: usize = 10_000;

/// One event to record.
#[derive(Clone, Debug)]
pub struct Record {
    pub regarding: ObjectReference,
    /// A second object the event is about (the preemptor of a victim).
    pub related: Option<ObjectReference>,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
    pub note: String,
}

/// Records events for one reporting controller.
#[derive(Clone)]
pub struct EventRecorder {
    tx: mpsc::Sender<Record>,
}

type SeriesKey = (String, String, &'static str, &'static str, String);

struct Sent {
    namespace: String,
    name: String,
    count: i32,
    at: Instant,
}

/// Upstream's note truncation: at most 1024 bytes, ending in " ...".
pub fn truncate_note(note: &str) -> String {
    if note.len() <= NOTE_LENGTH_LIMIT {
        return note.to_string();
    }
    let mut end = NOTE_LENGTH_LIMIT - 4;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ...", &note[..end])
}

impl EventRecorder {
    /// A recorder sending through `client` as `controller` (`instance`:
    /// upstream's reportingInstance), its sender running until the last
    /// recorder is dropped.
    pub fn spawn(client: kube::Client, controller: &str, instance: &str) -> EventRecorder {
        let (tx, rx) = mpsc::channel::<Record>(QUEUE);
        let controller = controller.to_string();
        let instance = instance.to_string();
        let sent: Arc<Mutex<HashMap<SeriesKey, Sent>>> = Arc::default();
        tokio::spawn(async move {
            let mut last_gc = Instant::now();
            tokio_stream_from(rx)
                .for_each_concurrent(8, |r| {
                    let (client, controller, instance, sent) = (
                        client.clone(),
                        controller.clone(),
                        instance.clone(),
                        sent.clone(),
                    );
                    if last_gc.elapsed() > Duration::from_secs(60) {
                        last_gc = Instant::now();
                        let sent = sent.clone();
                        tokio::spawn(async move {
                            sent.lock()
                                .await
                                .retain(|_, s| s.at.elapsed() < SERIES_WINDOW);
                        });
                    }
                    async move {
                        if let Err(e) = send(&client, &controller, &instance, &sent, r).await {
                            tracing::debug!(error = %e, "recording an event");
                        }
                    }
                })
                .await;
        });
        EventRecorder { tx }
    }

    /// Records an event (dropped when too many are waiting).
    pub fn record(&self, r: Record) {
        if self.tx.try_send(r).is_err() {
            tracing::debug!("event queue full, dropping an event");
        }
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn send(
    client: &kube::Client,
    controller: &str,
    instance: &str,
    sent: &Mutex<HashMap<SeriesKey, Sent>>,
    r: Record,
) -> Result<(), kube::Error> {
    let namespace = r
        .regarding
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let now = k8s_openapi::jiff::Timestamp::now();
    let key: SeriesKey = (
        r.regarding.uid.clone().unwrap_or_default(),
        r.regarding.name.clone().unwrap_or_default(),
        r.reason,
        r.action,
        r.note.clone(),
    );
    let repeat = {
        let mut map = sent.lock().await;
        match map.get_mut(&key) {
            Some(s) if s.at.elapsed() < SERIES_WINDOW => {
                s.count += 1;
                s.at = Instant::now();
                Some((s.namespace.clone(), s.name.clone(), s.count))
            }
            _ => None,
        }
    };
    if let Some((ns, name, count)) = repeat {
        let api: Api<Event> = Api::namespaced(client.clone(), &ns);
        let patch = serde_json::json!({
            "series": EventSeries { count, last_observed_time: MicroTime(now) }
        });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                sent.lock().await.remove(&key);
            }
            Err(e) => return Err(e),
        }
    }
    let base = r
        .regarding
        .name
        .clone()
        .unwrap_or_else(|| controller.into());
    let name = format!("{base}.{:x}", now.as_nanosecond());
    let event = Event {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some(r.action.into()),
        reason: Some(r.reason.into()),
        note: Some(truncate_note(&r.note)),
        regarding: Some(r.regarding),
        related: r.related,
        reporting_controller: Some(controller.into()),
        reporting_instance: Some(instance.into()),
        type_: Some(r.type_.into()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &event).await?;
    sent.lock().await.insert(
        key,
        Sent {
            namespace,
            name,
            count: 1,
            at: Instant::now(),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_as_upstream() {
        let note = "x".repeat(2000);
        let t = truncate_note(&note);
        assert_eq!(t.len(), 1024);
        assert!(t.ends_with(" ..."));
        assert_eq!(truncate_note("short"), "short");
    }
}
