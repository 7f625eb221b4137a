//! The HTTP reverse proxy of `pods/proxy`, `services/proxy` and
//! `nodes/proxy`, as apimachinery's `UpgradeAwareHandler` with
//! `wrapTransport`: the path after `/proxy` and the whole query go to the
//! backend; its answer comes back with CORS headers removed and `Location`
//! rewritten to stay behind the proxy.

use skiff_api::ApiError;
use skiff_api::StatusReason;

use super::transport::{self, Location, TlsClient};
use super::{Result, forwarded_headers, is_upgrade_request};
use crate::handlers::Ctx;
use crate::response::Body;

/// CORS headers a backend may not set on the API server's origin
/// (upstream's `corsRemovingTransport`).
const CORS: [&str; 4] = [
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
];

/// The request path split at `.../<resource>/<name>/proxy`: (that prefix,
/// the path after it: "" when the request ends at `proxy`, else starting
/// with '/').
fn split_path(ctx: &Ctx<'_>) -> (String, String) {
    let raw = ctx.parts.uri.path();
    let segs: Vec<&str> = raw.split('/').collect();
    for i in 2..segs.len() {
        if segs[i] == "proxy"
            && segs[i - 2] == ctx.info.resource
            && crate::request::decode_component(segs[i - 1]) == ctx.info.name
        {
            let prefix = segs[..=i].join("/");
            let rest = &raw[prefix.len()..];
            return (prefix, clean(rest));
        }
    }
    (raw.to_string(), String::new())
}

/// Cleans a path as Go's `path.Join` does (`.` and `..` resolved, repeated
/// slashes collapsed), keeping a trailing slash.
fn clean(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut joined = format!("/{}", out.join("/"));
    if path.ends_with('/') && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

/// Proxies the request to `base` (scheme and authority; its path is
/// ignored) with the path after `/proxy`.
pub(super) async fn serve(
    ctx: &Ctx<'_>,
    base: Location,
    tls: Option<&TlsClient>,
) -> Result<http::Response<Body>> {
    let (prefix, path) = split_path(ctx);
    if is_upgrade_request(ctx.headers) {
        // Upgrades go to the path alone, without the query (as upstream).
        let loc = Location {
            path_and_query: if path.is_empty() { "/".into() } else { path },
            ..base
        };
        return super::upgrade(ctx, &loc, tls).await;
    }
    let method = ctx.parts.method.clone();
    let query = ctx.parts.uri.query();
    if path.is_empty() && matches!(method, http::Method::GET | http::Method::HEAD) {
        // `.../proxy` → `.../proxy/`, so that relative links resolve below it.
        let mut location = format!("{}/", ctx.parts.uri.path());
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            location = format!("{location}?{q}");
        }
        return Ok(http::Response::builder()
            .status(301)
            .header(http::header::LOCATION, location)
            .body(crate::response::full(bytes::Bytes::new()))
            .expect("valid response"));
    }
    let mut path_and_query = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        path_and_query = format!("{path_and_query}?{q}");
    }
    let loc = Location {
        path_and_query,
        ..base
    };
    let mut headers = forwarded_headers(ctx);
    if let Ok(v) = http::HeaderValue::from_str(ctx.parts.uri.path()) {
        headers.insert("x-forwarded-uri", v);
    }
    let sent = transport::send(&loc, tls, method, &headers, ctx.body.clone(), false)
        .await
        .map_err(|e| {
            ApiError::new(
                503,
                StatusReason::ServiceUnavailable,
                format!("error trying to reach service: {e}"),
            )
        })?;
    let mut resp = transport::pass_through(sent.response);
    for h in CORS {
        resp.headers_mut().remove(h);
    }
    let client_host = ctx
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| ctx.parts.uri.authority().map(|a| a.to_string()));
    if let Some(location) = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        && let Some(rewritten) =
            rewrite_location(location, &loc.authority, client_host.as_deref(), &prefix)
        && let Ok(v) = http::HeaderValue::from_str(&rewritten)
    {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// A backend's `Location` as the client must follow it: on the backend (or
/// the client's own host), made a path below the proxy prefix; anything
/// else unchanged (None).
fn rewrite_location(
    location: &str,
    backend: &str,
    client_host: Option<&str>,
    prefix: &str,
) -> Option<String> {
    let path = if let Some(rest) = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))
    {
        let (host, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host != backend && Some(host) != client_host {
            return None;
        }
        path.to_string()
    } else if location.starts_with('/') && !location.starts_with("//") {
        location.to_string()
    } else {
        return None;
    };
    if path.starts_with(prefix) {
        return Some(path);
    }
    let path = if path.is_empty() || path.starts_with('?') || path.starts_with('#') {
        format!("/{path}")
    } else {
        path
    };
    Some(format!("{prefix}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths_as_go() {
        assert_eq!(clean(""), "");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("/a//b/../c/"), "/a/c/");
        assert_eq!(clean("/../../x"), "/x");
    }

    #[test]
    fn rewrites_locations_on_the_backend_only() {
        let prefix = "/api/v1/namespaces/ns/pods/p/proxy";
        assert_eq!(
            rewrite_location("http://10.0.0.1:80/login?x=1", "10.0.0.1:80", None, prefix)
                .as_deref(),
            Some("/api/v1/namespaces/ns/pods/p/proxy/login?x=1")
        );
        assert_eq!(
            rewrite_location("/login", "10.0.0.1:80", None, prefix).as_deref(),
            Some("/api/v1/namespaces/ns/pods/p/proxy/login")
        );
        assert_eq!(
            rewrite_location(&format!("{prefix}/a"), "b:1", None, prefix).as_deref(),
            Some("/api/v1/namespaces/ns/pods/p/proxy/a")
        );
        assert_eq!(
            rewrite_location("https://example.com/x", "10.0.0.1:80", None, prefix),
            None
        );
        assert_eq!(
            rewrite_location("relative/x", "10.0.0.1:80", None, prefix),
            None
        );
    }
}
