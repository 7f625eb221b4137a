//! Authentication, as upstream's `WithAuthentication`: the connection
//! authenticated its credentials (x509 client certificates, bearer tokens:
//! `authn.rs`); a request without any is `system:anonymous` when
//! `--anonymous-auth` allows, else 401.

use skiff_api::ApiError;

use crate::{ApiServer, UserInfo};

pub fn user(server: &ApiServer, user: Option<UserInfo>) -> Result<UserInfo, ApiError> {
    match user {
        Some(u) => Ok(u),
        None if server.inner.options.anonymous_auth => Ok(UserInfo::anonymous()),
        None => Err(ApiError::unauthorized()),
    }
}
