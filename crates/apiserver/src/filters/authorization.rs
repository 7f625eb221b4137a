//! Authorization, as upstream's `WithAuthorization`: the authorizer chain
//! (`authz.rs`) decides on the request info and the (impersonated) user;
//! a refusal is 403 with upstream's message and the authorizers' reasons.
//! A request refused before RBAC's policy or the Node authorizer's graph
//! was first loaded (a server just started) is asked again once it is,
//! within a bound.

use skiff_api::ApiError;

use super::audit::Audit;
use super::request_info::Info;
use crate::{ApiServer, UserInfo};

pub async fn authorize(
    server: &ApiServer,
    info: &Info,
    user: &UserInfo,
    audit: &mut Audit,
) -> Result<(), ApiError> {
    let attributes = crate::authz::Attributes {
        user,
        resource: info.resource(),
        path: &info.path,
        verb: info.verb.as_str(),
    };
    let mut decision = server.inner.authorizer.authorize(&attributes);
    if !decision.allowed()
        && let Some(rbac) = &server.inner.rbac
        && !rbac.synced()
    {
        rbac.wait_synced().await;
        decision = server.inner.authorizer.authorize(&attributes);
    }
    if !decision.allowed()
        && let Some(graph) = &server.inner.node_graph
        && !graph.synced()
        && crate::node_authz::node_name(user).is_some()
    {
        graph.wait_synced().await;
        decision = server.inner.authorizer.authorize(&attributes);
    }
    audit.authorized(decision.allowed(), decision.reason());
    if decision.allowed() {
        return Ok(());
    }
    let request = match info.resource() {
        Some(i) => skiff_api::errors::Forbidden {
            verb: info.verb.as_str(),
            group: &i.group,
            resource: &i.resource,
            subresource: &i.subresource,
            namespace: &i.namespace,
            name: &i.name,
            path: None,
        },
        None => skiff_api::errors::Forbidden {
            verb: info.verb.as_str(),
            path: Some(&info.path),
            ..Default::default()
        },
    };
    Err(ApiError::forbidden(&user.name, &request, decision.reason()))
}
