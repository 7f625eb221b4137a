//! The request path before the endpoint, as upstream's
//! `DefaultBuildHandlerChain` (`k8s.io/apiserver/pkg/server/config.go`), in
//! its order: panic recovery, request info, authentication, audit,
//! impersonation, the in-flight limit, authorization, then the endpoint
//! (`handlers::endpoint`). Each filter is a module of its own and none
//! knows about resources beyond the request info.

mod audit;
mod authentication;
mod authorization;
pub mod impersonation;
mod max_in_flight;
mod panic_recovery;
mod request_info;

use std::time::Instant;

use crate::handlers::RequestBody;
use crate::response::Body;
use crate::{ApiServer, UserInfo, health};

/// What the connection's credentials came to.
pub enum Credentials {
    User(UserInfo),
    /// Credentials were presented and failed; the method (`bearer`).
    Failed(&'static str),
    None,
}

/// Serves one request through every filter.
pub async fn handle(
    server: &ApiServer,
    req: http::Request<RequestBody>,
    credentials: Credentials,
) -> http::Response<Body> {
    panic_recovery::recover(req.uri().clone(), chain(server, req, credentials)).await
}

async fn chain(
    server: &ApiServer,
    req: http::Request<RequestBody>,
    credentials: Credentials,
) -> http::Response<Body> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let info = request_info::resolve(server, &parts);
    let user = match authentication::user(server, credentials) {
        Ok(u) => u,
        Err((e, attempted)) => {
            audit::failed_authentication(server, &parts, &info, attempted);
            return crate::response::error(&e);
        }
    };
    // The server's own requests skip the in-flight limit; decided on who
    // asks, before any impersonation.
    let loopback = user == UserInfo::loopback();
    let mut audit = audit::begin(server, &parts, &info, &user);
    let user = match impersonation::filter(server, &parts, user, &mut audit).await {
        Ok(u) => u,
        Err((resp, failure)) => return audit.finish(resp, failure.as_ref(), false).await,
    };
    let _permit = match max_in_flight::acquire(server, &info, loopback) {
        Ok(p) => p,
        Err(e) => {
            let resp = crate::response::error(&e);
            return audit.finish(resp, Some(&e), false).await;
        }
    };
    if let Err(e) = authorization::authorize(server, &info, &user, &mut audit).await {
        return audit
            .finish(crate::response::error(&e), Some(&e), false)
            .await;
    }
    // Health and version: authorized as any path (RBAC's
    // `system:public-info-viewer` lets everyone, anonymous included, read
    // them).
    if let Some(resp) = health::serve(server, &info.path, &info.params).await {
        return audit.finish(resp, None, false).await;
    }
    let owed = crate::audit::EndpointAudit {
        record_body: audit.wants_request(),
        annotations: audit.annotations.clone(),
    };
    let (result, request_body) = audit
        .around(crate::handlers::endpoint(
            server,
            info.route.clone(),
            &parts,
            &info.params,
            body,
            &user,
            owed,
        ))
        .await;
    audit.record_request(request_body);
    let (resp, failure) = match result {
        Ok(r) => (r, None),
        Err(e) => (crate::response::error_for(&e, &parts.headers), Some(e)),
    };
    server.inner.metrics.observe(
        &info.verb,
        &info.metric_resource,
        info.scope,
        resp.status().as_u16(),
        start.elapsed(),
        info.long_running,
    );
    audit
        .finish(resp, failure.as_ref(), info.long_running)
        .await
}
