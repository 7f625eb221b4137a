//! `/healthz`, `/livez`, `/readyz` (with per-check detail under `?verbose`) and
//! `/version`: authenticated and authorized as any path (upstream's
//! `system:public-info-viewer` lets everyone read them; with
//! `--anonymous-auth=false` a request without credentials gets 401), but
//! exempt from the in-flight limit. The `etcd` checks ask the store (either
//! backend) and fail when it does not answer.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde_json::json;

use crate::ApiServer;
use crate::response::{self, Body};

/// The Kubernetes version Skiff serves the API of.
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

/// How long a store health result is reused: the checks are unauthenticated,
/// and on the embedded store each one commits a transaction.
const HEALTH_CACHE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the store answered its health check (within
/// [`skiff_store::HEALTH_TIMEOUT`]), checked at most once per
/// [`HEALTH_CACHE`] however many ask at once.
async fn store_healthy(server: &ApiServer) -> bool {
    let mut last = server.inner.store_health.lock().await;
    if let Some((at, ok)) = *last
        && at.elapsed() < HEALTH_CACHE
    {
        return ok;
    }
    let ok = match tokio::time::timeout(
        skiff_store::HEALTH_TIMEOUT,
        server.inner.store.check_health(),
    )
    .await
    {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "store health check failed");
            false
        }
        Err(_) => {
            tracing::warn!("store health check timed out");
            false
        }
    };
    *last = Some((tokio::time::Instant::now(), ok));
    ok
}

async fn checks(server: &ApiServer, endpoint: &str) -> Vec<(&'static str, bool)> {
    let store = store_healthy(server).await;
    let mut out = vec![("ping", true), ("log", true), ("etcd", store)];
    if endpoint == "readyz" {
        out.push(("etcd-readiness", store));
        out.push(("informer-sync", true));
        out.push((
            "poststarthook/bootstrap-controller",
            server.inner.ready.load(Ordering::SeqCst),
        ));
        out.push(("shutdown", true));
    }
    out
}

/// Whether `path` is one [`serve`] answers.
pub fn is_health_path(path: &str) -> bool {
    let trimmed = path.trim_start_matches('/');
    let endpoint = trimmed.split_once('/').map_or(trimmed, |(e, _)| e);
    matches!(endpoint, "healthz" | "livez" | "readyz") || path == "/version" || path == "/version/"
}

/// Serves a health or version path, or None for any other path.
pub async fn serve(
    server: &ApiServer,
    path: &str,
    params: &HashMap<String, String>,
) -> Option<http::Response<Body>> {
    if path == "/version" || path == "/version/" {
        let (major, minor) = KUBERNETES_VERSION;
        return Some(response::json(
            200,
            &json!({
                "major": major,
                "minor": minor,
                "emulationMajor": major,
                "emulationMinor": minor,
                "minCompatibilityMajor": major,
                "minCompatibilityMinor": "32",
                "gitVersion": format!("v{major}.{minor}.0-skiff.{}", env!("CARGO_PKG_VERSION")),
                "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "",
                "goVersion": "",
                "compiler": "rustc",
                "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
            }),
        ));
    }
    let trimmed = path.trim_start_matches('/');
    let (endpoint, check) = match trimmed.split_once('/') {
        Some((e, c)) => (e, Some(c)),
        None => (trimmed, None),
    };
    if !matches!(endpoint, "healthz" | "livez" | "readyz") {
        return None;
    }
    let all = checks(server, endpoint).await;
    if let Some(c) = check {
        return Some(match all.iter().find(|(n, _)| *n == c) {
            Some((_, true)) => response::text(200, "ok"),
            Some((_, false)) => response::text(500, format!("[-]{c} failed: reason withheld\n")),
            None => response::text(404, "404 page not found\n"),
        });
    }
    let healthy = all.iter().all(|(_, ok)| *ok);
    let status = if healthy { 200 } else { 500 };
    if params.contains_key("verbose") || !healthy {
        let mut body = String::new();
        for (n, ok) in &all {
            if *ok {
                body.push_str(&format!("[+]{n} ok\n"));
            } else {
                body.push_str(&format!("[-]{n} failed: reason withheld\n"));
            }
        }
        body.push_str(&if healthy {
            format!("{endpoint} check passed\n")
        } else {
            format!("{endpoint} check failed\n")
        });
        return Some(response::text(status, body));
    }
    Some(response::text(200, "ok"))
}
