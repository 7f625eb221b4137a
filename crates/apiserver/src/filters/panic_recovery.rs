//! Panic recovery, as upstream's `WithPanicRecovery`: a request whose
//! handling panics is answered 500 (and logged) instead of taking the
//! connection, or the server, with it.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::response::{self, Body};

pub async fn recover(
    uri: http::Uri,
    fut: impl Future<Output = http::Response<Body>>,
) -> http::Response<Body> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(resp) => resp,
        Err(panic) => {
            tracing::error!(
                uri = %uri,
                panic = %super::audit::panic_message(&panic),
                "a request panicked"
            );
            response::text(
                500,
                "This request caused apiserver to panic. Look in the logs for details.\n",
            )
        }
    }
}
