//! The stream a watch returns, common to every backend: batches of events in
//! revision order, and progress reports when asked for them (etcd's
//! `RequestProgress`), ended by an error or when the store goes away.
//! Dropping the stream cancels the watch.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{Notify, mpsc};

use crate::{Event, Result};

/// What a watch delivers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchUpdate {
    /// A non-empty batch of events in revision order, continuing exactly
    /// after the previous one.
    Events(Vec<Event>),
    /// Every event of the watched range up to this revision has been
    /// delivered (etcd's progress notification): the watcher has caught up
    /// with the store as of it. Sent only when requested.
    Progress(i64),
}

/// Asks a watch for a [`WatchUpdate::Progress`]; cheap to clone. Requests
/// made while one is pending are answered together.
#[derive(Clone, Debug)]
pub struct ProgressRequester(Arc<Notify>);

impl ProgressRequester {
    pub(crate) fn new() -> (Self, Arc<Notify>) {
        let notify = Arc::new(Notify::new());
        (ProgressRequester(notify.clone()), notify)
    }

    /// Requests a progress report as soon as the watch has delivered every
    /// event up to the store's current revision.
    pub fn request(&self) {
        self.0.notify_one();
    }
}

/// Updates for one watch.
pub struct WatchStream {
    rx: mpsc::Receiver<Result<WatchUpdate>>,
    progress: Option<ProgressRequester>,
    _guard: Option<Box<dyn Send + Sync>>,
}

impl WatchStream {
    pub(crate) fn new(
        rx: mpsc::Receiver<Result<WatchUpdate>>,
        progress: Option<ProgressRequester>,
    ) -> Self {
        WatchStream {
            rx,
            progress,
            _guard: None,
        }
    }

    /// Keeps `guard` alive as long as the stream (a task handle that aborts on drop).
    pub(crate) fn with_guard(mut self, guard: impl Send + Sync + 'static) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }

    /// The next batch of events, passing over progress reports; None once
    /// the watch has ended.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>>> {
        loop {
            match self.rx.recv().await? {
                Ok(WatchUpdate::Events(events)) => return Some(Ok(events)),
                Ok(WatchUpdate::Progress(_)) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next update, events or progress; None once the watch has ended.
    pub async fn next_update(&mut self) -> Option<Result<WatchUpdate>> {
        self.rx.recv().await
    }

    /// How to ask this watch for progress reports; None when the backend
    /// cannot give trustworthy ones (etcd before 3.4.31 and 3.5.13, as
    /// upstream's `endpointSupportsRequestWatchProgress` decides).
    pub fn progress_requester(&self) -> Option<ProgressRequester> {
        self.progress.clone()
    }
}

impl Stream for WatchStream {
    type Item = Result<Vec<Event>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(WatchUpdate::Progress(_)))) => continue,
                Poll::Ready(Some(Ok(WatchUpdate::Events(events)))) => {
                    return Poll::Ready(Some(Ok(events)));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Aborts a task when dropped, so that a dropped watch stops its feeder.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
