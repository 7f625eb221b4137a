//! Authorization: whether a user may do a verb on a resource, as upstream's
//! `authorizer.Authorizer`. Until RBAC lands, every authenticated user is
//! allowed (`AlwaysAllow` for authenticated users); the request path already
//! asks, so RBAC is an implementation of this trait.

use crate::UserInfo;
use crate::request::RequestInfo;

/// What a request asks to do (upstream's `authorizer.Attributes`).
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    /// The resource request, or None for a non-resource path.
    pub resource: Option<&'a RequestInfo>,
    pub path: &'a str,
    pub verb: &'a str,
}

/// An authorizer's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, attributes: &Attributes<'_>) -> Decision;
}

/// Allows every authenticated user.
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn authorize(&self, a: &Attributes<'_>) -> Decision {
        if a.user.groups.iter().any(|g| g == "system:authenticated") {
            Decision::Allow
        } else {
            Decision::Deny("not authenticated".into())
        }
    }
}
