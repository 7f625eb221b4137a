//! Content negotiation of responses, as upstream's two stages: go-restful's
//! route match (some Accept clause must name a media type the route
//! produces, else `406: Not Acceptable`), then the API server's own
//! (`apiserver/pkg/endpoints/handlers/negotiation`): the first clause whose
//! media type and `as=` transformation the server can produce wins.

use skiff_api::ApiError;
use skiff_api::StatusReason;

use crate::list::As;

/// The media types every resource route produces.
const PRODUCES: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

fn clauses(headers: &http::HeaderMap) -> Vec<(String, Vec<(String, String)>)> {
    let accept = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    accept
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let mut parts = c.split(';');
            let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            (ty, params)
        })
        .collect()
}

/// go-restful's check: Ok unless no clause names a produced media type (or
/// `*/*`). `collection` routes also produce the watch stream types.
pub fn route_accepts(headers: &http::HeaderMap, collection: bool) -> Result<(), ApiError> {
    let clauses = clauses(headers);
    if clauses.is_empty()
        || clauses
            .iter()
            .any(|(ty, _)| ty == "*/*" || PRODUCES.contains(&ty.as_str()))
    {
        return Ok(());
    }
    let mut available = PRODUCES.join(", ");
    if collection {
        available.push_str(
            ", application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch",
        );
    }
    Err(ApiError {
        details: Some(serde_json::json!({})),
        ..ApiError::new(
            406,
            StatusReason::NotAcceptable,
            format!("406: Not Acceptable\n\nAvailable representations: {available}"),
        )
    })
}

/// The form of a response the client accepts; for a watch (`stream`) YAML
/// is not one.
pub fn negotiate(headers: &http::HeaderMap, stream: bool) -> Result<As, ApiError> {
    let clauses = clauses(headers);
    if clauses.is_empty() {
        return Ok(As::Object);
    }
    for (ty, params) in &clauses {
        let base = match ty.as_str() {
            "application/json" | "*/*" | "application/*" => As::Object,
            "application/yaml" if !stream => As::Yaml,
            "application/vnd.kubernetes.protobuf" => As::Protobuf,
            _ => continue,
        };
        let param = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        };
        match param("as") {
            None => return Ok(base),
            Some(kind) => {
                let meta_group = param("g") == Some("meta.k8s.io")
                    && matches!(param("v"), Some("v1" | "v1beta1"));
                match kind {
                    "Table" if meta_group => return Ok(As::Table),
                    "PartialObjectMetadata" | "PartialObjectMetadataList" if meta_group => {
                        return Ok(As::PartialObjectMetadata);
                    }
                    _ => continue,
                }
            }
        }
    }
    Err(if stream {
        ApiError::new(
            406,
            StatusReason::NotAcceptable,
            "only the following media types are accepted: application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch",
        )
    } else {
        ApiError::not_acceptable()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn negotiates_as_upstream() {
        assert!(route_accepts(&accept("text/html"), false).is_err());
        assert!(route_accepts(&accept("text/html, */*"), false).is_ok());
        assert_eq!(
            negotiate(&accept("application/yaml"), false).unwrap(),
            As::Yaml
        );
        assert!(negotiate(&accept("application/yaml"), true).is_err());
        assert!(negotiate(&accept("application/json;as=Foo;g=meta.k8s.io;v=v1"), false).is_err());
        assert_eq!(
            negotiate(
                &accept("application/json;as=Foo;g=meta.k8s.io;v=v1, application/json"),
                false
            )
            .unwrap(),
            As::Object
        );
        assert_eq!(
            negotiate(
                &accept("application/json;as=Table;v=v1;g=meta.k8s.io"),
                false
            )
            .unwrap(),
            As::Table
        );
        assert_eq!(
            negotiate(
                &accept("application/vnd.kubernetes.protobuf, application/json"),
                false
            )
            .unwrap(),
            As::Protobuf
        );
    }
}
