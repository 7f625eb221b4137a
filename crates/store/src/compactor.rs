//! Periodic compaction for any backend, as kube-apiserver's compactor does for
//! etcd: every interval, compact to the revision observed one interval earlier,
//! so history is kept for at least one interval (for watch resumption), while
//! always retaining at least `min_retained` revisions.

use std::sync::Arc;
use std::time::Duration;

use crate::{Store, StoreError};

/// How much history the compactor keeps.
#[derive(Clone, Debug)]
pub struct CompactorOptions {
    /// Time between compactions (kube-apiserver's default: 5 minutes).
    pub interval: Duration,
    /// Revisions always kept behind the current one.
    pub min_retained: i64,
}

impl Default for CompactorOptions {
    fn default() -> Self {
        CompactorOptions {
            interval: Duration::from_secs(300),
            min_retained: 1000,
        }
    }
}

/// Runs the compaction loop until the task is dropped or aborted.
pub async fn run(store: Arc<dyn Store>, options: CompactorOptions) {
    let mut previous: Option<i64> = None;
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let current = match store.current_revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "compactor could not read the current revision");
                continue;
            }
        };
        if let Some(prev) = previous {
            let target = prev.min(current - options.min_retained);
            if target > 1 {
                match store.compact(target).await {
                    Ok(()) => {
                        tracing::info!(revision = target, backend = store.backend(), "compacted")
                    }
                    Err(StoreError::Compacted { .. }) => {}
                    Err(e) => tracing::warn!(error = %e, revision = target, "compaction failed"),
                }
            }
        }
        previous = Some(current);
    }
}
