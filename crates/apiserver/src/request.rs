//! Request info: what a URL and method address, as upstream's
//! `RequestInfoFactory`: API prefix, group, version, namespace, resource, name,
//! subresource and verb; plus the query parameters the handlers read.

use std::collections::HashMap;

/// The verb of a resource request, as upstream's `RequestInfoFactory` names
/// it from the method, the name and `watch`; or any other verb an
/// authorizer is asked about (`escalate`, `bind`, `impersonate`, a
/// SubjectAccessReview's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Verb {
    #[default]
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    /// A method no resource verb stands for.
    Unknown,
    /// A verb of authorization only.
    Other(String),
}

impl Verb {
    /// Upstream's spelling (authorizers, audit, metrics, discovery's verbs).
    pub fn as_str(&self) -> &str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::Unknown => "unknown",
            Verb::Other(v) => v,
        }
    }

    /// The options kind a write's query parameters are validated as.
    pub fn options_kind(&self) -> Option<&'static str> {
        match self {
            Verb::Create => Some("CreateOptions"),
            Verb::Update => Some("UpdateOptions"),
            Verb::Patch => Some("PatchOptions"),
            Verb::Delete | Verb::DeleteCollection => Some("DeleteOptions"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Verb {
    fn from(v: &str) -> Verb {
        match v {
            "get" => Verb::Get,
            "list" => Verb::List,
            "watch" => Verb::Watch,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "patch" => Verb::Patch,
            "delete" => Verb::Delete,
            "deletecollection" => Verb::DeleteCollection,
            "unknown" => Verb::Unknown,
            other => Verb::Other(other.to_string()),
        }
    }
}

impl From<String> for Verb {
    fn from(v: String) -> Verb {
        Verb::from(v.as_str())
    }
}

impl PartialEq<&str> for Verb {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A parsed resource request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub name: String,
    pub subresource: String,
    pub verb: Verb,
    /// The raw `fieldSelector` of a list, watch or deletecollection, as
    /// upstream hands it to authorizers (`AuthorizeWithSelectors`).
    pub field_selector: String,
    /// The object a list or watch asks for by `metadata.name=<name>` in its
    /// field selector: upstream's request info names it so that authorizers
    /// (RBAC's resourceNames, the Node authorizer) see a request for one
    /// object. Routing keeps [`RequestInfo::name`] for the path's name.
    pub selector_name: String,
}

impl RequestInfo {
    /// The name authorizers see: the path's, or a list's or watch's
    /// `metadata.name` field selector's.
    pub fn authorization_name(&self) -> &str {
        if self.name.is_empty() {
            &self.selector_name
        } else {
            &self.name
        }
    }
}

/// What a path is: a resource request, or one of the API's other documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Resource(RequestInfo),
    /// `/api` or `/apis`.
    Root(&'static str),
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion(String, String),
    Other,
}

/// Percent-decodes one path segment or query component (`+` as a space).
pub(crate) fn decode_component(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Bytes, not a slice of the str: `%` before a multi-byte character
        // is no escape (and no char boundary).
        if b[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into its parameters (the last value of a key wins).
/// A boolean query parameter as upstream's parameter codec reads one
/// (`Convert_Slice_string_To_bool`): false for "0" and any case of "false",
/// true for every other value (Python clients send `True`); None if absent.
pub fn param_bool(params: &HashMap<String, String>, name: &str) -> Option<bool> {
    params
        .get(name)
        .map(|v| !(v == "0" || v.eq_ignore_ascii_case("false")))
}

/// Every value of a repeated query parameter, in order (`query` keeps only
/// the last).
pub fn query_values(q: Option<&str>, key: &str) -> Vec<String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k) == key).then(|| decode_component(v))
        })
        .collect()
}

pub fn query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode_component(k), decode_component(v)),
            None => (decode_component(p), String::new()),
        })
        .collect()
}

/// Routes a request by method and path.
pub fn route(method: &http::Method, path: &str, params: &HashMap<String, String>) -> Route {
    let trimmed = path.trim_matches('/');
    let parts: Vec<String> = trimmed
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_component)
        .collect();
    // An empty segment inside an API path matches no route (go-restful).
    if trimmed.contains("//") && matches!(parts.first().map(String::as_str), Some("api" | "apis")) {
        return Route::Resource(RequestInfo {
            verb: "get".into(),
            ..Default::default()
        });
    }
    let (group, version, rest) = match parts.first().map(String::as_str) {
        Some("api") => match parts.len() {
            1 => return Route::Root("api"),
            2 => return Route::GroupVersion(String::new(), parts[1].clone()),
            _ => (String::new(), parts[1].clone(), &parts[2..]),
        },
        Some("apis") => match parts.len() {
            1 => return Route::Root("apis"),
            2 => return Route::Group(parts[1].clone()),
            3 => return Route::GroupVersion(parts[1].clone(), parts[2].clone()),
            _ => (parts[1].clone(), parts[2].clone(), &parts[3..]),
        },
        _ => return Route::Other,
    };
    let mut info = RequestInfo {
        group,
        version,
        ..Default::default()
    };
    let mut rest = rest;
    // The legacy `watch/` prefix (still served in 1.33) is `?watch=true`.
    let legacy_watch = rest[0] == "watch" && rest.len() > 1;
    if legacy_watch {
        rest = &rest[1..];
    }
    // namespaces/<ns>/<resource>... but `namespaces/<name>` is the namespace itself.
    // (`namespaces/<name>/status|finalize` are the namespace's own subresources.)
    if rest[0] == "namespaces" && rest.len() > 1 {
        info.namespace = rest[1].clone();
        if rest.len() > 2 && !matches!(rest[2].as_str(), "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    info.resource = rest[0].clone();
    if let Some(n) = rest.get(1) {
        info.name = n.clone();
    }
    if let Some(s) = rest.get(2) {
        info.subresource = s.clone();
    }
    if rest.len() > 3 {
        // Deeper paths exist only for proxies (`pods/x/proxy/some/path`).
        info.subresource = rest[2].clone();
    }
    let watch = legacy_watch || param_bool(params, "watch").unwrap_or(false);
    info.verb = match *method {
        http::Method::GET | http::Method::HEAD => {
            if watch {
                Verb::Watch
            } else if info.name.is_empty() {
                Verb::List
            } else {
                Verb::Get
            }
        }
        http::Method::POST => Verb::Create,
        http::Method::PUT => Verb::Update,
        http::Method::PATCH => Verb::Patch,
        http::Method::DELETE => {
            if info.name.is_empty() {
                Verb::DeleteCollection
            } else {
                Verb::Delete
            }
        }
        _ => Verb::Unknown,
    };
    if matches!(info.verb, Verb::List | Verb::Watch | Verb::DeleteCollection) && !legacy_watch {
        info.field_selector = params.get("fieldSelector").cloned().unwrap_or_default();
    }
    if matches!(info.verb, Verb::List | Verb::Watch)
        && info.name.is_empty()
        && let Ok(selector) = skiff_api::selector::FieldSelector::parse(&info.field_selector)
        && let Some(name) = selector.pinned("metadata.name")
        && skiff_api::validation::path_segment_problems(name).is_empty()
    {
        info.selector_name = name.to_string();
    }
    Route::Resource(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any path and query, however malformed, routes or is refused:
        /// never a panic (a `%` before a multi-byte character once was one).
        #[test]
        fn any_path_routes_without_panicking(path in "\\PC{0,64}", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let lossy = String::from_utf8_lossy(&raw).into_owned();
            for p in [path.as_str(), lossy.as_str(), &format!("/api/v1/namespaces/{path}/pods/%{lossy}")] {
                let _ = decode_component(p);
                let q = p.split_once('?').map(|x| x.1);
                for m in [http::Method::GET, http::Method::POST, http::Method::DELETE, http::Method::PATCH] {
                    let _ = route(&m, p, &query(q));
                }
            }
        }
    }

    #[test]
    fn percent_escapes_decode_bytewise() {
        assert_eq!(decode_component("a%2Fb"), "a/b");
        assert_eq!(decode_component("%é%"), "%é%");
        assert_eq!(decode_component("%4"), "%4");
        assert_eq!(decode_component("%e2%82%ac"), "€");
    }

    fn r(method: http::Method, path: &str) -> RequestInfo {
        match route(&method, path, &query(path.split_once('?').map(|x| x.1))) {
            Route::Resource(i) => i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routes() {
        let i = r(http::Method::GET, "/api/v1/namespaces/default/pods");
        assert_eq!(
            (i.namespace.as_str(), i.resource.as_str(), i.verb.as_str()),
            ("default", "pods", "list")
        );
        let i = r(http::Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.verb.as_str()),
            ("namespaces", "kube-system", "get")
        );
        let i = r(
            http::Method::PUT,
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
        );
        assert_eq!(
            (
                i.group.as_str(),
                i.name.as_str(),
                i.subresource.as_str(),
                i.verb.as_str()
            ),
            ("apps", "web", "scale", "update")
        );
        let i = r(http::Method::DELETE, "/api/v1/nodes");
        assert_eq!(i.verb, "deletecollection");
        let i = r(http::Method::PUT, "/api/v1/namespaces/x/finalize");
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("namespaces", "x", "finalize")
        );
        assert_eq!(
            route(&http::Method::GET, "/apis", &HashMap::new()),
            Route::Root("apis")
        );
        assert_eq!(
            route(&http::Method::GET, "/apis/apps/v1", &HashMap::new()),
            Route::GroupVersion("apps".into(), "v1".into())
        );
        let q = query(Some("labelSelector=app%3Dweb&watch=1&limit=5"));
        assert_eq!(q["labelSelector"], "app=web");
    }
}
