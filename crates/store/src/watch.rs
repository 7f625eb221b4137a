//! The stream a watch returns, common to every backend: batches of events in
//! revision order, ended by an error or when the store goes away. Dropping the
//! stream cancels the watch.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::{Event, Result};

/// Batches of events for one watch. Every batch is non-empty and in revision
/// order; the next batch continues exactly after the previous one.
pub struct WatchStream {
    rx: mpsc::Receiver<Result<Vec<Event>>>,
    _guard: Option<Box<dyn Send + Sync>>,
}

impl WatchStream {
    pub(crate) fn new(rx: mpsc::Receiver<Result<Vec<Event>>>) -> Self {
        WatchStream { rx, _guard: None }
    }

    /// Keeps `guard` alive as long as the stream (a task handle that aborts on drop).
    pub(crate) fn with_guard(mut self, guard: impl Send + Sync + 'static) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }

    /// The next batch; None once the watch has ended.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>>> {
        self.rx.recv().await
    }
}

impl Stream for WatchStream {
    type Item = Result<Vec<Event>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Aborts a task when dropped, so that a dropped watch stops its feeder.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
