//! The pod's connect subresources, as upstream's
//! `pkg/registry/core/pod/rest/{log,subresources}.go` over the locations of
//! `pkg/registry/core/pod/strategy.go`: `log` streamed from the kubelet,
//! `exec`, `attach` and `portforward` upgraded and spliced to it, `proxy` to
//! the pod's IP.

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use skiff_api::StatusReason;
use skiff_api::{ApiError, errors::Cause};

use super::transport::{self, Location};
use super::{Result, encode_query, get_core, global_unicast, join_host_port, nodes};
use crate::handlers::Ctx;
use crate::request::param_bool;
use crate::response::Body;

/// The container a request names, or the pod's only container (upstream's
/// `validateContainer`).
fn container<'a>(pod: &'a Value, name: &str, requested: Option<&'a str>) -> Result<&'a str> {
    let list = |k: &str| {
        pod.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let containers = list("containers");
    match requested.filter(|c| !c.is_empty()) {
        None => match containers.as_slice() {
            [only] => Ok(only),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            _ => {
                let mut all = list("initContainers");
                all.extend(containers);
                all.extend(list("ephemeralContainers"));
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    all.join(" ")
                )))
            }
        },
        Some(c) => {
            let known = ["initContainers", "containers", "ephemeralContainers"]
                .iter()
                .any(|k| list(k).contains(&c));
            if known {
                Ok(c)
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
    }
}

/// An int64 query parameter as upstream's parameter codec converts it.
fn param_i64(ctx: &Ctx<'_>, name: &str) -> Result<Option<i64>> {
    let Some(v) = ctx.params.get(name) else {
        return Ok(None);
    };
    v.parse::<i64>().map(Some).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: {why}"))
    })
}

/// `PodLogOptions` from the query, validated as upstream's
/// `ValidatePodLogOptions` (with `PodLogsQuerySplitStreams` off, as 1.33).
struct LogOptions {
    container: Option<String>,
    pairs: Vec<(&'static str, String)>,
    insecure: bool,
}

fn log_options(ctx: &Ctx<'_>) -> Result<LogOptions> {
    let flag = |k: &str| param_bool(ctx.params, k).unwrap_or(false);
    let tail_lines = param_i64(ctx, "tailLines")?;
    let limit_bytes = param_i64(ctx, "limitBytes")?;
    let since_seconds = param_i64(ctx, "sinceSeconds")?;
    let since_time = match ctx.params.get("sinceTime").map(String::as_str) {
        None => None,
        // Go reads "" and "null" as the zero time.
        Some("" | "null") => Some("0001-01-01T00:00:00Z".to_string()),
        Some(v) => Some(
            chrono::DateTime::parse_from_rfc3339(v)
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "parsing time {v:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {v:?} as \"2006\""
                    ))
                })?
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ),
    };
    let mut causes = Vec::new();
    if let Some(n) = tail_lines.filter(|n| *n < 0) {
        causes.push(Cause::invalid(
            "tailLines",
            &json!(n),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(n) = limit_bytes.filter(|n| *n < 1) {
        causes.push(Cause::invalid(
            "limitBytes",
            &json!(n),
            "must be greater than 0",
        ));
    }
    if since_seconds.is_some() && since_time.is_some() {
        causes.push(Cause::forbidden(
            "[]",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    } else if let Some(n) = since_seconds.filter(|n| *n < 1) {
        causes.push(Cause::invalid(
            "sinceSeconds",
            &json!(n),
            "must be greater than 0",
        ));
    }
    if ctx.params.contains_key("stream") {
        causes.push(Cause::forbidden("stream", "may not be specified"));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "",
            "PodLogOptions",
            &ctx.info.name,
            causes,
        ));
    }
    let mut pairs = Vec::new();
    for k in ["follow", "previous", "timestamps"] {
        if flag(k) {
            pairs.push((k, "true".to_string()));
        }
    }
    for (k, v) in [
        ("sinceSeconds", since_seconds),
        ("tailLines", tail_lines),
        ("limitBytes", limit_bytes),
    ] {
        if let Some(v) = v {
            pairs.push((k, v.to_string()));
        }
    }
    if let Some(t) = since_time {
        pairs.push(("sinceTime", t));
    }
    Ok(LogOptions {
        container: ctx.params.get("container").cloned(),
        pairs,
        insecure: flag("insecureSkipTLSVerifyBackend"),
    })
}

/// `GET pods/<name>/log`: the container's log from its kubelet, streamed.
pub(super) async fn log(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let opts = log_options(ctx)?;
    let name = ctx.info.name.as_str();
    let pod = get_core(ctx, "pods", &ctx.info.namespace, name).await?;
    let container = container(&pod, name, opts.container.as_deref())?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        // No host yet: an empty stream (upstream's nil location).
        return Ok(http::Response::builder()
            .status(204)
            .body(crate::response::full(Bytes::new()))
            .expect("valid response"));
    }
    let info = nodes::connection_info(ctx, node).await?;
    let mut path = format!(
        "/containerLogs/{}/{}/{}",
        ctx.info.namespace, name, container
    );
    let query = encode_query(opts.pairs);
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let loc = info.location(path);
    let tls = nodes::kubelet_tls(ctx);
    let tls = if opts.insecure {
        &tls.insecure
    } else {
        &tls.verified
    };
    let sent = transport::send(
        &loc,
        Some(tls),
        http::Method::GET,
        &http::HeaderMap::new(),
        Bytes::new(),
        false,
    )
    .await
    .map_err(|e| ApiError::unknown(format!("Get \"{loc}\": {e}")))?;
    let status = sent.response.status().as_u16();
    if !(200..=206).contains(&status) {
        return Err(kubelet_error(status, name, sent.response.into_body()).await);
    }
    Ok(http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .header("Cache-Control", "no-cache, private")
        .body(transport::stream_body(sent.response.into_body()))
        .expect("valid response"))
}

/// A kubelet's error answer to a log request, as upstream's
/// `GenericHttpResponseChecker` reports it (at most 50000 bytes of its body).
async fn kubelet_error(status: u16, name: &str, body: hyper::body::Incoming) -> ApiError {
    let limited = http_body_util::Limited::new(body, 50_000);
    let text = match limited.collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let details = Some(json!({"name": name, "kind": "pods/log"}));
    let suffix = format!(" ( pods/log {name})");
    match status {
        500 => ApiError::internal(&text),
        400 => ApiError::bad_request(text),
        _ => {
            let (reason, message) = match status {
                404 => (
                    StatusReason::NotFound,
                    "the server could not find the requested resource".to_string(),
                ),
                401 => (
                    StatusReason::Unauthorized,
                    "the server has asked for the client to provide credentials".to_string(),
                ),
                403 => (StatusReason::Forbidden, text),
                503 => (
                    StatusReason::ServiceUnavailable,
                    "the server is currently unable to handle the request".to_string(),
                ),
                _ => (
                    StatusReason::InternalError,
                    format!(
                        "an error on the server ({text:?}) has prevented the request from succeeding"
                    ),
                ),
            };
            ApiError {
                details,
                ..ApiError::new(status, reason, format!("{message}{suffix}"))
            }
        }
    }
}

/// `pods/<name>/{exec,attach,portforward}`: an upgraded connection spliced
/// to the kubelet's streaming endpoint.
pub(super) async fn stream(ctx: &Ctx<'_>, sub: &str) -> Result<http::Response<Body>> {
    let flag = |k: &str| param_bool(ctx.params, k).unwrap_or(false);
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if sub == "portforward" {
        let mut ports = Vec::new();
        if let Some(v) = ctx.params.get("ports") {
            for p in v.split(',') {
                let port = p.trim().parse::<u16>().map_err(|e| {
                    let why = match e.kind() {
                        std::num::IntErrorKind::PosOverflow => "value out of range",
                        _ => "invalid syntax",
                    };
                    ApiError::bad_request(format!(
                        "cannot convert to []int32: strconv.ParseUint: parsing {p:?}: {why}"
                    ))
                })?;
                ports.push(port.to_string());
            }
        }
        if !ports.is_empty() {
            pairs.push(("port", ports.join(",")));
        }
    } else {
        for (param, kubelet) in [
            ("stdin", "input"),
            ("stdout", "output"),
            ("stderr", "error"),
            ("tty", "tty"),
        ] {
            if flag(param) {
                pairs.push((kubelet, "1".into()));
            }
        }
        if sub == "exec" {
            for c in crate::request::query_values(ctx.parts.uri.query(), "command") {
                pairs.push(("command", c));
            }
        }
    }
    let name = ctx.info.name.as_str();
    let ns = ctx.info.namespace.as_str();
    let pod = get_core(ctx, "pods", ns, name).await?;
    let container = if sub == "portforward" {
        None
    } else {
        Some(container(
            &pod,
            name,
            ctx.params.get("container").map(String::as_str),
        )?)
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let info = nodes::connection_info(ctx, node).await?;
    let mut path = match container {
        Some(c) => format!("/{sub}/{ns}/{name}/{c}"),
        None => format!("/portForward/{ns}/{name}"),
    };
    let query = encode_query(pairs);
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    if !super::is_upgrade_request(ctx.headers) {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let tls = nodes::kubelet_tls(ctx);
    super::upgrade(ctx, &info.location(path), Some(&tls.verified)).await
}

/// `pods/[scheme:]<name>[:port]/proxy/...`: the pod's IP at the port given
/// or its first declared container port.
pub(super) async fn proxy(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let id = ctx.info.name.as_str();
    let (scheme, name, port) = super::split_scheme_name_port(id)
        .ok_or_else(|| ApiError::bad_request(format!("invalid pod request {id:?}")))?;
    let pod = get_core(ctx, "pods", &ctx.info.namespace, name).await?;
    let mut port = port.to_string();
    if port.is_empty()
        && let Some(p) = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_i64))
            })
    {
        port = p.to_string();
    }
    let ip = pod
        .pointer("/status/podIPs/0/ip")
        .and_then(Value::as_str)
        .unwrap_or("");
    match ip.parse::<std::net::IpAddr>() {
        Ok(addr) if global_unicast(addr) => {}
        _ => return Err(ApiError::bad_request("address not allowed")),
    }
    let authority = if port.is_empty() {
        if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        }
    } else {
        join_host_port(ip, &port)
    };
    let loc = Location {
        scheme: if scheme.is_empty() { "http" } else { scheme },
        authority,
        path_and_query: String::new(),
    };
    super::proxy::serve(ctx, loc, Some(&super::TlsClient::unverified())).await
}
