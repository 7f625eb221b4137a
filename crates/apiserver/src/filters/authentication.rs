//! Authentication, as upstream's `WithAuthentication`: the connection
//! authenticated its credentials (x509 client certificates, bearer tokens:
//! `authn.rs`); a request without any is `system:anonymous` when
//! `--anonymous-auth` allows, else 401, as is one whose credentials failed
//! (audited as upstream's `WithFailedAuthenticationAudit`).

use skiff_api::ApiError;

use super::Credentials;
use crate::{ApiServer, UserInfo};

/// The user, or 401 with the methods attempted (None: no credentials).
pub fn user(
    server: &ApiServer,
    credentials: Credentials,
) -> Result<UserInfo, (ApiError, Option<&'static str>)> {
    match credentials {
        Credentials::User(u) => Ok(u),
        Credentials::None if server.inner.options.anonymous_auth => Ok(UserInfo::anonymous()),
        Credentials::None => Err((ApiError::unauthorized(), None)),
        Credentials::Failed(method) => Err((ApiError::unauthorized(), Some(method))),
    }
}
