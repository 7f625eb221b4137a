//! Authentication: who a request is from. x509 client certificates signed by the
//! cluster CA (CN = user, O = groups), bearer tokens from a static token file
//! (upstream's `--token-auth-file` CSV: `token,user,uid,"group1,group2"`), and the
//! loopback identity of in-process components.

use std::collections::HashMap;
use std::path::Path;

/// An authenticated user, as `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    /// What the authenticator adds (a service account token's pod, node and
    /// credential id; impersonated extras), by key.
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// `user.Info` as review objects and audit events carry it: `username`,
    /// `uid` and `extra` when set, `groups`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut u = serde_json::json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            u["uid"] = serde_json::json!(self.uid);
        }
        if !self.extra.is_empty() {
            u["extra"] = serde_json::json!(self.extra);
        }
        u
    }
}

impl UserInfo {
    fn with_authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == "system:authenticated") {
            self.groups.push("system:authenticated".into());
        }
        self
    }

    /// A request without credentials, with `--anonymous-auth`.
    pub fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            ..Default::default()
        }
    }

    /// A service account, as its tokens authenticate it.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> Self {
        UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_string(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            ..Default::default()
        }
    }

    /// The identity of components inside the server process.
    pub fn loopback() -> Self {
        UserInfo {
            name: "system:apiserver".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
            ..Default::default()
        }
        .with_authenticated()
    }

    /// From a verified client certificate's subject: CN is the user, each O a group.
    pub fn from_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(String::from))
            .collect();
        Some(
            UserInfo {
                name,
                uid: String::new(),
                groups,
                ..Default::default()
            }
            .with_authenticated(),
        )
    }
}

/// Why a token file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {why}")]
    Malformed {
        path: String,
        line: usize,
        why: String,
    },
}

/// Authenticates bearer tokens.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
}

impl Authenticator {
    /// Loads upstream's static token file format.
    pub fn from_token_file(path: &Path) -> Result<Self, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| TokenFileError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line);
            if fields.len() < 3 {
                return Err(TokenFileError::Malformed {
                    path: path.display().to_string(),
                    line: i + 1,
                    why: format!(
                        "expected at least 3 columns (token,user,uid), got {}",
                        fields.len()
                    ),
                });
            }
            if fields[0].is_empty() {
                // As upstream: skipped, never an identity for an empty token.
                tracing::warn!(path = %path.display(), line = i + 1, "empty token in the token file");
                continue;
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            tokens.insert(
                fields[0].clone(),
                UserInfo {
                    name: fields[1].clone(),
                    uid: fields[2].clone(),
                    groups,
                    ..Default::default()
                }
                .with_authenticated(),
            );
        }
        Ok(Authenticator { tokens })
    }

    /// The user of an `Authorization` header value, if it carries a known token.
    pub fn authenticate_header(&self, header: &str) -> Option<UserInfo> {
        self.tokens.get(bearer_token(header)?).cloned()
    }
}

/// The token of an `Authorization` header (upstream's bearer token
/// authenticator: "Bearer <token>", the scheme in any case); an empty token
/// is none.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.split(' ').next().unwrap_or("").trim();
    (!token.is_empty()).then_some(token)
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        std::fs::write(
            &path,
            "# comment\nsecret1,alice,1001,\"dev,ops\"\nsecret2,bob,1002\n",
        )
        .unwrap();
        let a = Authenticator::from_token_file(&path).unwrap();
        let alice = a.authenticate_header("Bearer secret1").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(a.authenticate_header("Bearer secret2").unwrap().uid, "1002");
        assert!(a.authenticate_header("Bearer nope").is_none());
    }

    #[test]
    fn empty_bearer_tokens_never_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, ",nobody,0\nsecret,admin,1,system:masters\n").unwrap();
        let a = Authenticator::from_token_file(&path).unwrap();
        for header in [
            "Bearer ",
            "Bearer",
            "bearer  ",
            "Basic secret",
            "Bearer  secret",
        ] {
            assert!(a.authenticate_header(header).is_none(), "{header:?}");
        }
        assert_eq!(
            a.authenticate_header("BEARER secret").unwrap().name,
            "admin"
        );
        assert_eq!(
            a.authenticate_header("Bearer secret").unwrap().name,
            "admin"
        );
    }
}
