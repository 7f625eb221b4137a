//! Watch delivery for the SQLite backend, from the write path.
//!
//! A watch subscribes to the writer's broadcast of committed batches *before*
//! reading history, so that every revision is either in the history it reads or in
//! a batch it receives afterwards (duplicates are skipped by revision). A watcher
//! that falls behind the broadcast — a slow consumer, or one whose next batch
//! has left the writer's window — catches up from the `log` table and then
//! rejoins the broadcast: no gap, no duplicate, no unbounded buffer.
//!
//! Asked for progress, a feeder reports the revision it has delivered up to
//! once it has taken every batch already announced: the writer announces a
//! batch before it publishes its revision, so the report covers every
//! revision the asker could have read.

use std::sync::{Arc, Weak};

use tokio::sync::{Notify, broadcast, mpsc};

use super::reader::{self, Readers};
use super::writer::Batch;
use crate::{Event, KeyRange, Result, StoreError, WatchUpdate};

/// Events read from history per query while catching up.
const HISTORY_PAGE: i64 = 1000;

/// What a feeder needs from the store; held weakly so that dropping the store
/// ends its watches.
pub(crate) trait Source: Send + Sync + 'static {
    fn subscribe(&self) -> broadcast::Receiver<Weak<Batch>>;
}

/// Feeds `tx` with the events of `range` from revision `next` on.
pub(crate) async fn feed(
    source: Weak<dyn Source>,
    readers: Arc<Readers>,
    range: KeyRange,
    mut next: i64,
    mut sub: broadcast::Receiver<Weak<Batch>>,
    progress: Arc<Notify>,
    tx: mpsc::Sender<Result<WatchUpdate>>,
) {
    let mut want_progress = false;
    loop {
        // Catch up from history.
        loop {
            let range2 = range.clone();
            let from = next;
            let page = readers
                .run(move |t| reader::history(t, &range2, from, HISTORY_PAGE))
                .await;
            match page {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    let full = events.len() as i64 == HISTORY_PAGE;
                    next = events.last().map(|e| e.revision() + 1).unwrap_or(next);
                    if tx.send(Ok(WatchUpdate::Events(events))).await.is_err() {
                        return;
                    }
                    if !full {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        // Then live, until the broadcast leaves us behind.
        loop {
            if want_progress && sub.is_empty() {
                want_progress = false;
                if tx.send(Ok(WatchUpdate::Progress(next - 1))).await.is_err() {
                    return;
                }
            }
            let received = tokio::select! {
                r = sub.recv() => r,
                () = progress.notified(), if !want_progress => {
                    want_progress = true;
                    continue;
                }
            };
            match received {
                Ok(batch) => {
                    // Gone from the writer's window: read it from history.
                    let Some(batch) = batch.upgrade() else {
                        tracing::debug!(
                            next,
                            "watcher's next batch left the window; catching up from history"
                        );
                        break;
                    };
                    let events: Vec<Event> = batch
                        .events
                        .iter()
                        .filter(|e| e.revision() >= next && range.contains(&e.kv.key))
                        .cloned()
                        .collect();
                    next = next.max(batch.revision + 1);
                    batch.taken();
                    drop(batch);
                    if !events.is_empty() && tx.send(Ok(WatchUpdate::Events(events))).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        next,
                        "watcher fell behind; catching up from history"
                    );
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = tx
                        .send(Err(StoreError::Closed("the store was closed".into())))
                        .await;
                    return;
                }
            }
        }
        match source.upgrade() {
            Some(s) => sub = s.subscribe(),
            None => {
                let _ = tx
                    .send(Err(StoreError::Closed("the store was closed".into())))
                    .await;
                return;
            }
        }
        // Anything committed before the new subscription is in history; a batch
        // that is both in history and in the subscription is deduplicated by `next`.
    }
}
