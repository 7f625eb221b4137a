//! Audit, as upstream's `WithAudit`: every request gets an `Audit-Id`;
//! with an audit policy, the request's event is started here (stage
//! `RequestReceived`, at the level the policy's first matching rule gives
//! for the authenticated user), learns who it impersonates and what the
//! authorizer decided, and ends with the answer (`ResponseComplete`; a
//! long-running request's `ResponseStarted` now and `ResponseComplete`
//! when its body ends; `Panic` when the endpoint panics). The events
//! themselves are `crate::audit`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures::FutureExt;
use serde_json::json;
use skiff_api::{ApiError, meta};

use super::request_info::Info;
use crate::audit::Event;
use crate::response::{self, Body};
use crate::{ApiServer, UserInfo};

pub struct Audit {
    id: String,
    event: Option<Event>,
    /// What the endpoint adds to the event.
    pub annotations: crate::audit::Annotations,
}

/// The addresses a request came from: `X-Forwarded-For`'s, then the peer's.
fn source_ips(parts: &http::request::Parts) -> Vec<String> {
    let mut ips: Vec<String> = parts
        .headers
        .get("X-Forwarded-For")
        .and_then(|v| v.to_str().ok())
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|ip| ip.trim().to_string())
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .collect();
    if let Some(peer) = parts.extensions.get::<crate::connect::PeerAddr>() {
        let ip = peer.0.ip().to_string();
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips
}

/// What the audit event says of the request, for `user`.
fn request<'a>(
    id: &'a str,
    user: &'a UserInfo,
    parts: &'a http::request::Parts,
    info: &'a Info,
) -> crate::audit::Request<'a> {
    crate::audit::Request {
        audit_id: id,
        user,
        impersonator: None,
        verb: info.verb.as_str(),
        resource: info.resource(),
        path: &info.path,
        uri: parts
            .uri
            .path_and_query()
            .map_or(info.path.as_str(), |p| p.as_str()),
        source_ips: source_ips(parts),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        received: chrono::Utc::now(),
    }
}

/// Starts the request's audit record (for the authenticated user).
pub fn begin(
    server: &ApiServer,
    parts: &http::request::Parts,
    info: &Info,
    user: &UserInfo,
) -> Audit {
    let id = meta::new_uid();
    let event = server
        .inner
        .options
        .audit
        .as_ref()
        .and_then(|auditor| Event::begin(auditor, &request(&id, user, parts, info)));
    Audit {
        id,
        event,
        annotations: Default::default(),
    }
}

/// A request refused 401, audited as upstream's
/// `WithFailedAuthenticationAudit`: no user, the methods attempted, stage
/// `ResponseStarted`.
pub fn failed_authentication(
    server: &ApiServer,
    parts: &http::request::Parts,
    info: &Info,
    attempted: Option<&str>,
) {
    let Some(auditor) = &server.inner.options.audit else {
        return;
    };
    let id = meta::new_uid();
    let nobody = UserInfo {
        name: String::new(),
        uid: String::new(),
        groups: Vec::new(),
        ..Default::default()
    };
    let Some(mut event) = Event::prepare(auditor, &request(&id, &nobody, parts, info)) else {
        return;
    };
    let message = match attempted {
        Some(m) => format!("Authentication failed, attempted: {m}"),
        None => "Authentication failed, no credentials provided".to_string(),
    };
    event.respond(401, Some(&json!({"message": message})), None);
    event.emit("ResponseStarted");
}

/// What a panic carried, as text.
pub fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl Audit {
    /// Whether the event records the request's object.
    pub fn wants_request(&self) -> bool {
        self.event.as_ref().is_some_and(Event::wants_request)
    }

    /// Records who the request acts as.
    pub fn impersonated(&mut self, user: &UserInfo) {
        if let Some(e) = &mut self.event {
            e.impersonated(user);
        }
    }

    /// Records the authorizer's decision.
    pub fn authorized(&mut self, allowed: bool, reason: &str) {
        if let Some(e) = &mut self.event {
            e.authorized(allowed, reason);
        }
    }

    /// Records the request's body (and its content type).
    pub fn record_request(&mut self, body: Option<(Bytes, String)>) {
        if let Some(e) = &mut self.event {
            e.request_body = body;
        }
    }

    /// Runs the endpoint; if it panics, the event ends with stage `Panic`
    /// before the panic goes on to panic recovery.
    pub async fn around<T>(&mut self, fut: impl Future<Output = T>) -> T {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(v) => v,
            Err(panic) => {
                if let Some(mut e) = self.event.take() {
                    let status = json!({
                        "status": "Failure",
                        "message": format!("APIServer panic'd: {}", panic_message(&panic)),
                        "reason": "InternalError",
                    });
                    e.respond(500, Some(&status), None);
                    e.emit("Panic");
                }
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// The response with its `Audit-Id`, the event completed (for a
    /// long-running request: started now, completed when its body ends).
    pub async fn finish(
        self,
        mut resp: http::Response<Body>,
        failure: Option<&ApiError>,
        long_running: bool,
    ) -> http::Response<Body> {
        if let Ok(v) = http::HeaderValue::from_str(&self.id) {
            resp.headers_mut().insert("Audit-Id", v);
        }
        let Some(mut event) = self.event else {
            return resp;
        };
        event.annotate(&self.annotations.lock().expect("poisoned"));
        let code = resp.status().as_u16();
        let status = failure.map(ApiError::status);
        if long_running && failure.is_none() {
            event.respond(code, None, None);
            event.emit("ResponseStarted");
            return resp.map(|body| response::holding(body, crate::audit::CompleteOnDrop(event)));
        }
        let (parts, body) = resp.into_parts();
        let (body, bytes) = if event.wants_response() {
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (response::full(bytes.clone()), Some(bytes))
        } else {
            (body, None)
        };
        event.respond(code, status.as_ref(), bytes.as_deref());
        event.emit("ResponseComplete");
        http::Response::from_parts(parts, body)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A panicking endpoint ends its event with stage `Panic` and a 500
    /// status, then panic recovery answers 500.
    #[tokio::test]
    async fn a_panic_is_audited_then_answered() {
        let dir = tempfile::tempdir().unwrap();
        let policy_file = dir.path().join("policy.yaml");
        std::fs::write(
            &policy_file,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
        )
        .unwrap();
        let log = dir.path().join("audit.log");
        let auditor = crate::audit::Auditor::new(
            crate::audit::Policy::from_file(&policy_file).unwrap(),
            crate::audit::LogOptions {
                path: log.clone(),
                max_age_days: 0,
                max_backups: 0,
                max_size_mb: 0,
            },
        )
        .unwrap();
        let store =
            skiff_store::sqlite::SqliteStore::open(dir.path().join("db"), Default::default())
                .await
                .unwrap();
        let server = ApiServer::new(
            Arc::new(store),
            crate::Options {
                audit: Some(Arc::new(auditor)),
                ..crate::Options::default()
            },
        );
        let req = http::Request::get("/api/v1/namespaces").body(()).unwrap();
        let (parts, ()) = req.into_parts();
        let info = super::super::request_info::resolve(&server, &parts);
        let resp = super::super::panic_recovery::recover(parts.uri.clone(), async {
            let mut audit = begin(&server, &parts, &info, &UserInfo::loopback());
            audit
                .around(async {
                    panic!("boom");
                })
                .await
        })
        .await;
        assert_eq!(resp.status(), 500);
        let events: Vec<serde_json::Value> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let stages: Vec<&str> = events
            .iter()
            .map(|e| e["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["RequestReceived", "Panic"]);
        assert_eq!(events[1]["responseStatus"]["code"], 500);
        assert_eq!(
            events[1]["responseStatus"]["message"],
            "APIServer panic'd: boom"
        );
    }
}
