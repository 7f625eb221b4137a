//! Bootstrap tokens, as upstream's authenticator
//! (`plugin/pkg/auth/authenticator/token/bootstrap`): a bearer token
//! `<id>.<secret>` (6 and 16 of `[a-z0-9]`) authenticates as
//! `system:bootstrap:<id>` in `system:bootstrappers` (and the token's
//! `auth-extra-groups`) while the Secret `kube-system/bootstrap-token-<id>`
//! of type `bootstrap.kubernetes.io/token` holds that secret, allows
//! authentication and has not expired. This is how `kubeadm join` and a
//! node agent joining a cluster first speak to the API server.

use base64::Engine;
use serde_json::Value;
use skiff_api::meta;

use crate::{ApiServer, UserInfo};

/// Whether `token` has a bootstrap token's shape: its id and secret.
fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// A Secret's `data` field, decoded.
fn data(secret: &Value, field: &str) -> Option<String> {
    let raw = secret.pointer(&format!("/data/{field}"))?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()
}

/// Equal, in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The user a bootstrap token stands for, if it is a live one.
pub async fn authenticate(server: &ApiServer, token: &str) -> Option<UserInfo> {
    let (id, secret) = parse(token)?;
    let stored = server
        .stored_core("secrets", "kube-system", &format!("bootstrap-token-{id}"))
        .await?;
    if meta::deletion_timestamp(&stored).is_some()
        || stored["type"] != "bootstrap.kubernetes.io/token"
    {
        return None;
    }
    let held = data(&stored, "token-secret")?;
    if !constant_time_eq(held.as_bytes(), secret.as_bytes())
        || data(&stored, "token-id").as_deref() != Some(id)
        || data(&stored, "usage-bootstrap-authentication").as_deref() != Some("true")
    {
        return None;
    }
    if let Some(expiration) = data(&stored, "expiration") {
        let expires = chrono::DateTime::parse_from_rfc3339(&expiration).ok()?;
        if expires <= chrono::Utc::now() {
            return None;
        }
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    if let Some(extra) = data(&stored, "auth-extra-groups") {
        for g in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            // Upstream's rule: only groups under system:bootstrappers:.
            if !g.starts_with("system:bootstrappers:") {
                return None;
            }
            groups.push(g.to_string());
        }
    }
    groups.push("system:authenticated".into());
    Some(UserInfo {
        name: format!("system:bootstrap:{id}"),
        uid: String::new(),
        groups,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bootstrap_shaped_tokens() {
        assert_eq!(
            parse("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for bad in [
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef0123456789abcdef",
            "abc.def",
            "a.b.c",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
