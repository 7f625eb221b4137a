//! Impersonation, as upstream's `WithImpersonation` filter: a request with
//! `Impersonate-User` (and optionally `Impersonate-Group`, `Impersonate-Uid`,
//! `Impersonate-Extra-<key>`) acts as that user, once the authorizer allows
//! the requestor the `impersonate` verb on each of them — users, groups,
//! serviceaccounts (a `system:serviceaccount:<ns>:<name>` user), uids and
//! userextras/<key> of authentication.k8s.io. Groups default as upstream's:
//! a service account's own, and `system:authenticated` (or
//! `system:unauthenticated` for `system:anonymous`).

use http::HeaderMap;
use skiff_api::ApiError;

use super::audit::Audit;
use crate::response::{self, Body};

use crate::UserInfo;
use crate::authz::{Attributes, Authorizer};
use crate::request::RequestInfo;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// The filter: the user the request acts as, or its refusal (403, or 500
/// for headers that do not parse, as upstream answers them).
pub async fn filter(
    server: &crate::ApiServer,
    parts: &http::request::Parts,
    user: UserInfo,
    audit: &mut Audit,
) -> Result<UserInfo, (http::Response<Body>, Option<ApiError>)> {
    let asks = parts
        .headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"));
    if !asks {
        return Ok(user);
    }
    // Impersonation is authorized too: with RBAC's policy loaded.
    if let Some(rbac) = &server.inner.rbac
        && !rbac.synced()
    {
        rbac.wait_synced().await;
    }
    match impersonate(server.inner.authorizer.as_ref(), &parts.headers, user) {
        Ok(u) => {
            audit.impersonated(&u);
            Ok(u)
        }
        Err(Refused::Forbidden(e)) => Err((response::error(&e), Some(e))),
        Err(Refused::Malformed(why)) => {
            let uri = parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path(), |p| p.as_str());
            Err((
                response::text(500, format!("Internal Server Error: {uri:?}: {why}\n")),
                None,
            ))
        }
    }
}

/// One thing the requestor asks to act as (upstream builds ObjectReferences).
struct Request {
    kind: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: String,
    namespace: String,
    name: String,
}

impl Request {
    /// Go's `%v` of the ObjectReference upstream builds (its error names them).
    fn go_value(&self) -> String {
        let api_version = if self.group.is_empty() {
            ""
        } else {
            "authentication.k8s.io/v1"
        };
        format!(
            "{{{} {} {}  {}  {}}}",
            self.kind, self.namespace, self.name, api_version, self.subresource
        )
    }
}

/// Why impersonation was refused.
pub enum Refused {
    /// Asked in a way upstream answers with a plain 500.
    Malformed(String),
    Forbidden(ApiError),
}

/// The user a request acts as: the requestor itself without impersonation
/// headers, the impersonated user when every part of it is allowed.
pub fn impersonate(
    authorizer: &dyn Authorizer,
    headers: &HeaderMap,
    requestor: UserInfo,
) -> Result<UserInfo, Refused> {
    let requests = requests(headers)?;
    if requests.is_empty() {
        return Ok(requestor);
    }
    let groups_specified = headers.contains_key(GROUP);
    let (mut name, mut groups, mut uid) = (String::new(), Vec::new(), String::new());
    let mut extra = std::collections::BTreeMap::new();
    for r in &requests {
        let info = RequestInfo {
            group: r.group.to_string(),
            version: "v1".to_string(),
            namespace: r.namespace.clone(),
            resource: r.resource.to_string(),
            name: r.name.clone(),
            subresource: r.subresource.clone(),
            verb: "impersonate".into(),
            ..Default::default()
        };
        let attributes = Attributes {
            user: &requestor,
            resource: Some(&info),
            path: "",
            verb: "impersonate",
        };
        let decision = authorizer.authorize(&attributes);
        if !decision.allowed() {
            let why = decision.reason();
            return Err(Refused::Forbidden(ApiError::forbidden(
                &requestor.name,
                &skiff_api::errors::Forbidden {
                    verb: "impersonate",
                    group: r.group,
                    resource: r.resource,
                    subresource: &r.subresource,
                    namespace: &r.namespace,
                    name: &r.name,
                    path: None,
                },
                why,
            )));
        }
        match r.kind {
            "ServiceAccount" => {
                name = format!("system:serviceaccount:{}:{}", r.namespace, r.name);
                if !groups_specified {
                    groups = vec![
                        "system:serviceaccounts".to_string(),
                        format!("system:serviceaccounts:{}", r.namespace),
                    ];
                }
            }
            "User" => name = r.name.clone(),
            "Group" => groups.push(r.name.clone()),
            "UID" => uid = r.name.clone(),
            "UserExtra" => extra
                .entry(r.subresource.clone())
                .or_insert_with(Vec::new)
                .push(r.name.clone()),
            _ => {}
        }
    }
    if name == "system:anonymous" {
        if !groups.iter().any(|g| g == "system:unauthenticated") {
            groups.push("system:unauthenticated".into());
        }
    } else if !groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
    {
        groups.push("system:authenticated".into());
    }
    tracing::debug!(requestor = %requestor.name, user = %name, ?groups, "impersonating");
    Ok(UserInfo {
        name,
        uid,
        groups,
        extra,
    })
}

/// The impersonation requests of the headers, in upstream's order.
fn requests(headers: &HeaderMap) -> Result<Vec<Request>, Refused> {
    let mut out = Vec::new();
    let user = headers
        .get(USER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|u| !u.is_empty());
    if let Some(user) = &user {
        out.push(match split_service_account(user) {
            Some((namespace, name)) => Request {
                kind: "ServiceAccount",
                group: "",
                resource: "serviceaccounts",
                subresource: String::new(),
                namespace: namespace.into(),
                name: name.into(),
            },
            None => Request {
                kind: "User",
                group: "",
                resource: "users",
                subresource: String::new(),
                namespace: String::new(),
                name: user.clone(),
            },
        });
    }
    for group in headers.get_all(GROUP) {
        out.push(Request {
            kind: "Group",
            group: "",
            resource: "groups",
            subresource: String::new(),
            namespace: String::new(),
            name: String::from_utf8_lossy(group.as_bytes()).into_owned(),
        });
    }
    let mut extra_keys: Vec<&str> = headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with(EXTRA_PREFIX))
        .collect();
    extra_keys.sort();
    for header in extra_keys {
        let key =
            crate::request::decode_component(&header[EXTRA_PREFIX.len()..].replace('+', "%2B"));
        for value in headers.get_all(header) {
            out.push(Request {
                kind: "UserExtra",
                group: "authentication.k8s.io",
                resource: "userextras",
                subresource: key.clone(),
                namespace: String::new(),
                name: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            });
        }
    }
    if let Some(uid) = headers.get(UID).filter(|v| !v.is_empty()) {
        out.push(Request {
            kind: "UID",
            group: "authentication.k8s.io",
            resource: "uids",
            subresource: String::new(),
            namespace: String::new(),
            name: String::from_utf8_lossy(uid.as_bytes()).into_owned(),
        });
    }
    if user.is_none() && !out.is_empty() {
        let list: Vec<String> = out.iter().map(Request::go_value).collect();
        return Err(Refused::Malformed(format!(
            "requested [{}] without impersonating a user",
            list.join(" ")
        )));
    }
    Ok(out)
}

/// `system:serviceaccount:<namespace>:<name>` (upstream's SplitUsername).
fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::Decision;

    struct OnlyAlice;
    impl Authorizer for OnlyAlice {
        fn authorize(&self, a: &Attributes<'_>) -> Decision {
            if a.user.name == "alice" {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(String::new())
            }
        }
    }

    fn user(name: &str) -> UserInfo {
        UserInfo {
            name: name.into(),
            uid: String::new(),
            groups: vec!["system:authenticated".into()],
            ..Default::default()
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn impersonated_extras_are_the_users() {
        let u = impersonate(
            &OnlyAlice,
            &headers(&[
                ("Impersonate-User", "bob"),
                ("Impersonate-Extra-Scopes", "view"),
                ("Impersonate-Extra-Scopes", "edit"),
                ("Impersonate-Extra-example.com%2Fteam", "blue"),
            ]),
            user("alice"),
        )
        .ok()
        .unwrap();
        assert_eq!(u.name, "bob");
        assert_eq!(u.extra["scopes"], ["view", "edit"]);
        assert_eq!(u.extra["example.com/team"], ["blue"]);
        assert_eq!(
            u.to_json()["extra"]["scopes"],
            serde_json::json!(["view", "edit"])
        );
        // Without extras, none (the requestor's are not carried over).
        let mut alice = user("alice");
        alice.extra.insert("scopes".into(), vec!["all".into()]);
        let u = impersonate(&OnlyAlice, &headers(&[("Impersonate-User", "bob")]), alice)
            .ok()
            .unwrap();
        assert!(u.extra.is_empty());
        assert!(u.to_json().get("extra").is_none());
    }

    #[test]
    fn acts_as_the_impersonated_user_with_upstreams_groups() {
        let a = OnlyAlice;
        let u = impersonate(&a, &headers(&[("Impersonate-User", "bob")]), user("alice"))
            .ok()
            .unwrap();
        assert_eq!(
            (u.name.as_str(), u.groups.as_slice()),
            ("bob", &["system:authenticated".to_string()][..])
        );
        let u = impersonate(
            &a,
            &headers(&[("Impersonate-User", "system:serviceaccount:ns:sa")]),
            user("alice"),
        )
        .ok()
        .unwrap();
        assert_eq!(u.name, "system:serviceaccount:ns:sa");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        let u = impersonate(
            &a,
            &headers(&[
                ("Impersonate-User", "bob"),
                ("Impersonate-Group", "devs"),
                ("Impersonate-Group", "ops"),
                ("Impersonate-Uid", "42"),
            ]),
            user("alice"),
        )
        .ok()
        .unwrap();
        assert_eq!(
            (u.uid.as_str(), u.groups.as_slice()),
            (
                "42",
                &[
                    "devs".to_string(),
                    "ops".into(),
                    "system:authenticated".into()
                ][..]
            )
        );
        let u = impersonate(
            &a,
            &headers(&[("Impersonate-User", "system:anonymous")]),
            user("alice"),
        )
        .ok()
        .unwrap();
        assert_eq!(u.groups, ["system:unauthenticated"]);
        // No headers: the requestor.
        assert_eq!(
            impersonate(&a, &HeaderMap::new(), user("carol"))
                .ok()
                .unwrap()
                .name,
            "carol"
        );
    }

    #[test]
    fn refusals_as_upstream_words_them() {
        let a = OnlyAlice;
        let Err(Refused::Forbidden(e)) =
            impersonate(&a, &headers(&[("Impersonate-User", "bob")]), user("carol"))
        else {
            panic!("allowed")
        };
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "users \"bob\" is forbidden: User \"carol\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
        let Err(Refused::Forbidden(e)) = impersonate(
            &a,
            &headers(&[("Impersonate-User", "system:serviceaccount:ns:sa")]),
            user("carol"),
        ) else {
            panic!("allowed")
        };
        assert_eq!(
            e.message,
            "serviceaccounts \"sa\" is forbidden: User \"carol\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"ns\""
        );
        let Err(Refused::Forbidden(e)) = impersonate(
            &a,
            &headers(&[
                ("Impersonate-User", "bob"),
                ("Impersonate-Extra-Scopes", "view"),
            ]),
            user("carol"),
        ) else {
            panic!("allowed")
        };
        assert!(
            e.message.starts_with("users \"bob\" is forbidden"),
            "{}",
            e.message
        );
        let Err(Refused::Malformed(m)) = impersonate(
            &a,
            &headers(&[("Impersonate-Group", "devs")]),
            user("alice"),
        ) else {
            panic!("accepted")
        };
        assert_eq!(
            m,
            "requested [{Group  devs    }] without impersonating a user"
        );
    }
}
