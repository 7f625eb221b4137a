//! The in-flight limit, as upstream's `WithMaxInFlightLimit`: 400 read-only
//! and 200 mutating requests at once (`--max-requests-inflight`,
//! `--max-mutating-requests-inflight`), further ones 429. Long-running
//! requests are exempt, as are the server's own loopback requests (exempt
//! in upstream's priority and fairness, so that its bootstrap controllers
//! keep its lease under load) and health probes (upstream's `probes` flow
//! schema).

use skiff_api::ApiError;
use tokio::sync::SemaphorePermit;

use super::request_info::Info;
use crate::{ApiServer, health};

pub fn acquire<'s>(
    server: &'s ApiServer,
    info: &Info,
    loopback: bool,
) -> Result<Option<SemaphorePermit<'s>>, ApiError> {
    if info.long_running || loopback || health::is_health_path(&info.path) {
        return Ok(None);
    }
    let sem = if info.mutating {
        &server.inner.inflight_mutating
    } else {
        &server.inner.inflight
    };
    sem.try_acquire()
        .map(Some)
        .map_err(|_| ApiError::too_many_requests(1))
}
