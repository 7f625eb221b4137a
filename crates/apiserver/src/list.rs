//! LIST: selectors, pagination with continue tokens over one snapshot,
//! resource version semantics; and the response encodings shared by every
//! handler (object, list, Table, PartialObjectMetadata).

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::{ApiError, meta};
use skiff_store::ListRequest;

use crate::handlers::Ctx;
use crate::registry::{store_error, with_resource_version};
use crate::response::{self, Body};
use crate::table;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The selectors of a request.
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn parse(ctx: &Ctx<'_>) -> Result<Self> {
        let labels = LabelSelector::parse(
            ctx.params
                .get("labelSelector")
                .map(String::as_str)
                .unwrap_or(""),
        )?;
        let mut fields = FieldSelector::parse(
            ctx.params
                .get("fieldSelector")
                .map(String::as_str)
                .unwrap_or(""),
        )?;
        // Each label as the kind's group version names it, to the field it selects.
        for (f, _, _) in &mut fields.requirements {
            let field = ctx
                .res
                .strategy
                .field_labels()
                .convert(f)
                .map_err(ApiError::bad_request)?;
            *f = field.to_string();
        }
        // A watch of one object (the legacy `watch/.../<name>` path) selects it.
        if !ctx.info.name.is_empty() {
            let name = ctx.info.name.clone();
            if let Some(pinned) = fields.pinned("metadata.name")
                && pinned != name
            {
                return Err(ApiError::bad_request(
                    "fieldSelector metadata.name doesn't match requested name",
                ));
            }
            fields
                .requirements
                .push(("metadata.name".into(), true, name));
        }
        Ok(Selectors { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, ctx: &Ctx<'_>, obj: &Value) -> bool {
        self.labels.matches(meta::labels(obj))
            && self
                .fields
                .matches(|f| ctx.res.strategy.field_value(obj, f))
    }

    /// Whether a stored object matches; parses it only when there is a selector.
    pub fn matches_stored(&self, ctx: &Ctx<'_>, stored: &[u8]) -> Result<bool> {
        if self.is_empty() {
            return Ok(true);
        }
        let obj: Value = serde_json::from_slice(stored).map_err(ApiError::internal)?;
        Ok(self.matches(ctx, &obj))
    }
}

/// The continue token: upstream's base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key suffix>"}`.
fn encode_continue(rv: i64, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&token).expect("json"))
}

fn decode_continue(token: &str) -> Result<(i64, String)> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {token}"
        ))
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(ApiError::bad_request(
            "invalid continue token: continue key is not valid: server does not recognize this encoded version",
        ));
    }
    let rv = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_string();
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rv, start))
}

fn parse_rv(s: &str) -> Result<i64> {
    s.parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
        .and_then(|v| {
            if v < 0 {
                Err(ApiError::bad_request(format!(
                    "invalid resource version: {s:?}"
                )))
            } else {
                Ok(v)
            }
        })
}

/// Upstream's `ValidateListOptions` (meta internalversion validation) of a
/// list or watch request's resource version options (the `WatchList` gate
/// off, as 1.33's default).
pub fn validate_list_options(ctx: &Ctx<'_>, watch: bool) -> Result<()> {
    use skiff_api::Cause;
    let get = |k: &str| ctx.params.get(k).map(String::as_str).unwrap_or("");
    let (rv, rv_match, cont) = (
        get("resourceVersion"),
        get("resourceVersionMatch"),
        get("continue"),
    );
    let initial_events = ctx.params.contains_key("sendInitialEvents");
    let field = "resourceVersionMatch";
    let mut causes = Vec::new();
    if watch {
        if initial_events {
            if rv_match != "NotOlderThan" {
                causes.push(Cause::forbidden(
                    field,
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            causes.push(Cause::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
            ));
        }
        if !rv_match.is_empty() {
            if !initial_events {
                causes.push(Cause::forbidden(
                    field,
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if rv_match != "NotOlderThan" {
                causes.push(Cause::not_supported(
                    field,
                    &json!(rv_match),
                    &["NotOlderThan"],
                ));
            }
            if !cont.is_empty() {
                causes.push(Cause::forbidden(
                    field,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !rv_match.is_empty() {
            if rv.is_empty() {
                causes.push(Cause::forbidden(
                    field,
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !cont.is_empty() {
                causes.push(Cause::forbidden(
                    field,
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if !matches!(rv_match, "Exact" | "NotOlderThan") {
                causes.push(Cause::not_supported(
                    field,
                    &json!(rv_match),
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if rv_match == "Exact" && rv == "0" {
                causes.push(Cause::forbidden(
                    field,
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if initial_events {
            causes.push(Cause::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes))
}

/// Serves a LIST.
pub async fn list(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    validate_list_options(ctx, false)?;
    let sel = Selectors::parse(ctx)?;
    let limit: usize = match ctx.params.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
            .max(0) as usize,
        None => 0,
    };
    let rv_param = ctx
        .params
        .get("resourceVersion")
        .cloned()
        .unwrap_or_default();
    let rv_match = ctx
        .params
        .get("resourceVersionMatch")
        .cloned()
        .unwrap_or_default();
    let store = &ctx.server.inner.store;
    let prefix = ctx.res.namespace_prefix(ctx.namespace());
    // Where the list starts and at which revision it reads.
    let (mut revision, mut start) = (0i64, None::<String>);
    if let Some(token) = ctx.params.get("continue").filter(|c| !c.is_empty()) {
        if !rv_param.is_empty() && rv_param != "0" {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let (rv, suffix) = decode_continue(token)?;
        // -1: go on at the latest resource version (after an expiry).
        revision = rv.max(0);
        start = Some(format!("{prefix}{suffix}"));
    } else {
        match rv_match.as_str() {
            "" => {
                if !rv_param.is_empty() && rv_param != "0" {
                    let rv = parse_rv(&rv_param)?;
                    // Legacy semantics: with a limit, an explicit version is exact.
                    if limit > 0 {
                        revision = rv;
                    } else {
                        wait_for(ctx, rv).await?;
                    }
                }
            }
            "NotOlderThan" => {
                if rv_param.is_empty() {
                    return Err(ApiError::invalid(
                        "meta.k8s.io",
                        "ListOptions",
                        "",
                        vec![skiff_api::Cause::forbidden(
                            "resourceVersionMatch",
                            "resourceVersionMatch is forbidden unless resourceVersion is provided",
                        )],
                    ));
                }
                let rv = parse_rv(&rv_param)?;
                wait_for(ctx, rv).await?;
            }
            "Exact" => {
                if rv_param.is_empty() || rv_param == "0" {
                    return Err(ApiError::invalid(
                        "meta.k8s.io",
                        "ListOptions",
                        "",
                        vec![skiff_api::Cause::forbidden(
                            "resourceVersionMatch",
                            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                        )],
                    ));
                }
                revision = parse_rv(&rv_param)?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid resourceVersionMatch {other:?}"
                )));
            }
        }
    }
    // Lists that need no snapshot of the past come from the watch cache.
    let metrics = &ctx.server.inner.metrics;
    // A consistent read the cache could not serve, counted once answered.
    let mut consistent_fallback = false;
    let no_continue = ctx.params.get("continue").is_none_or(String::is_empty);
    // A cache not filled in time (the store does not answer) is passed over:
    // the store's own answer, or its error, follows.
    if no_continue
        && rv_match != "Exact"
        && (limit == 0 || rv_param == "0")
        && let Some(cacher) = ctx.server.inner.caches.get(&ctx.res.prefix(), store).await
    {
        let fresh = match rv_param.as_str() {
            "0" => true,
            "" => {
                let current = store.current_revision().await.map_err(store_error)?;
                let fresh = cacher.wait_fresh(current).await;
                if fresh {
                    metrics.consistent_read(ctx.res.def.plural, true, false);
                } else {
                    consistent_fallback = true;
                }
                fresh
            }
            rv => {
                cacher
                    .wait_for(parse_rv(rv)?, std::time::Duration::from_secs(3))
                    .await
            }
        };
        if fresh {
            let (kvs, revision) = cacher.list(&prefix);
            let mut items = Vec::with_capacity(kvs.len());
            for kv in kvs {
                if sel.matches_stored(ctx, &kv.value)? {
                    items.push(with_resource_version(&kv.value, kv.mod_revision));
                }
            }
            return respond_list(ctx, items, revision, None, None);
        }
    }
    // Read pages from the store until `limit` objects match (or the range ends).
    let mut items: Vec<Bytes> = Vec::new();
    let mut next_start = start;
    let mut more;
    let mut remaining: Option<i64> = None;
    let mut last_key = String::new();
    loop {
        let want = if limit == 0 { 0 } else { limit - items.len() };
        let page = store
            .list(ListRequest { prefix: prefix.clone(), start: next_start.clone(), revision, limit: want })
            .await
            .inspect_err(|_| {
                if consistent_fallback {
                    metrics.consistent_read(ctx.res.def.plural, false, true);
                }
            })
            .map_err(|e| match e {
                // An expired token: the Status says where to go on, at the
                // latest resource version (-1), as upstream's
                // handleCompactedErrorForPaging.
                skiff_store::StoreError::Compacted { .. } if ctx.params.contains_key("continue") => {
                    let from = next_start.as_deref().unwrap_or(&prefix);
                    ApiError {
                        list_continue: Some(encode_continue(-1, &from[prefix.len()..])),
                        ..ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
                    }
                }
                skiff_store::StoreError::Compacted { .. } => {
                    ApiError::expired("The resourceVersion for the provided list is too old.")
                }
                other => store_error(other),
            })?;
        revision = page.revision;
        more = page.more;
        for kv in &page.kvs {
            if sel.matches_stored(ctx, &kv.value)? {
                items.push(with_resource_version(&kv.value, kv.mod_revision));
            }
        }
        if let Some(last) = page.kvs.last() {
            last_key = last.key.clone();
        }
        if sel.is_empty() {
            remaining = more.then(|| page.count - page.kvs.len() as i64);
        }
        if !more || limit == 0 || items.len() >= limit {
            break;
        }
        next_start = Some(format!("{last_key}\0"));
    }
    if consistent_fallback {
        metrics.consistent_read(ctx.res.def.plural, true, true);
    }
    let token =
        more.then(|| encode_continue(revision, &format!("{}\0", &last_key[prefix.len()..])));
    respond_list(ctx, items, revision, token, remaining.filter(|r| *r > 0))
}

/// Waits (briefly) for the store to reach a resource version, as NotOlderThan reads do.
async fn wait_for(ctx: &Ctx<'_>, rv: i64) -> Result<()> {
    let store = &ctx.server.inner.store;
    for _ in 0..30 {
        let current = store.current_revision().await.map_err(store_error)?;
        if current >= rv {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let current = store.current_revision().await.map_err(store_error)?;
    Err(ApiError::too_large_resource_version(rv, current))
}

/// The objects of the request's namespace that its selectors match (deletecollection):
/// one page and the continue token of the next when a limit is given; each
/// with its served bytes.
pub async fn select(ctx: &Ctx<'_>) -> Result<(Vec<(Value, Bytes)>, Option<String>)> {
    validate_list_options(ctx, false)?;
    let sel = Selectors::parse(ctx)?;
    let limit: usize = ctx
        .params
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0) as usize;
    let prefix = ctx.res.namespace_prefix(ctx.namespace());
    let (mut revision, mut start) = (0i64, None::<String>);
    if let Some(token) = ctx.params.get("continue").filter(|c| !c.is_empty()) {
        let (rv, suffix) = decode_continue(token)?;
        revision = rv;
        start = Some(format!("{prefix}{suffix}"));
    }
    let page = ctx
        .server
        .inner
        .store
        .list(ListRequest {
            prefix: prefix.clone(),
            start,
            revision,
            ..Default::default()
        })
        .await
        .map_err(store_error)?;
    let mut out = Vec::new();
    let mut next = None;
    for kv in page.kvs {
        let obj: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
        if sel.matches(ctx, &obj) {
            if limit > 0 && out.len() == limit {
                // More match: the next page starts at this key.
                next = Some(encode_continue(page.revision, &kv.key[prefix.len()..]));
                break;
            }
            out.push((obj, with_resource_version(&kv.value, kv.mod_revision)));
        }
    }
    Ok((out, next))
}

/// An object in the form the resource serves (converted when its versions
/// share a stored form).
/// Appends a list item as upstream serves built-in kinds' items: without
/// `apiVersion` and `kind` (the list names them). Stored objects lead with
/// those two fields, so this is a cut, not a parse.
fn push_without_type_meta(out: &mut BytesMut, item: &[u8]) {
    const META: &[u8] = b",\"metadata\":";
    let head = &item[..item.len().min(256)];
    match head.windows(META.len()).position(|w| w == META) {
        Some(pos) if item.starts_with(b"{\"apiVersion\":") => {
            out.put_u8(b'{');
            out.extend_from_slice(&item[pos + 1..]);
        }
        _ => out.extend_from_slice(item),
    }
}

pub fn served_form(def: &skiff_api::ResourceDef, bytes: Bytes) -> Bytes {
    if !skiff_api::conversion::converted(def) {
        return bytes;
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(obj) => Bytes::from(
            serde_json::to_vec(&skiff_api::conversion::from_storage(def, obj)).unwrap_or_default(),
        ),
        Err(_) => bytes,
    }
}

/// What the client asked the response to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum As {
    Object,
    /// The object in YAML (`Accept: application/yaml`).
    Yaml,
    /// The object in Kubernetes protobuf (client-go's default for built-in kinds).
    Protobuf,
    Table,
    PartialObjectMetadata,
}

/// The media type of protobuf responses.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The form the client accepts (JSON when it accepts nothing servable;
/// requests are refused earlier in that case, see `negotiation`).
pub fn wanted(headers: &http::HeaderMap) -> As {
    crate::negotiation::negotiate(headers, false).unwrap_or(As::Object)
}

/// Whether the client accepts nothing but Table responses (no plain media
/// type to fall back to), which resources without a table converter (the
/// reviews, bindings, evictions) cannot give: upstream answers 406.
pub fn only_tables(headers: &http::HeaderMap) -> bool {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts: Vec<String> = accept.split(',').map(|p| p.replace(' ', "")).collect();
    !accept.trim().is_empty() && parts.iter().all(|p| p.contains("as=Table"))
}

fn partial_metadata(obj: &Value, list_item: bool) -> Value {
    let _ = list_item;
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// Responds with one object, in the form the client asked for.
pub fn respond_object(ctx: &Ctx<'_>, status: u16, bytes: Bytes) -> Result<http::Response<Body>> {
    let bytes = served_form(ctx.res.def, bytes);
    match wanted(ctx.headers) {
        As::Object => Ok(response::bytes_response(status, "application/json", bytes)),
        As::Yaml => {
            let obj: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            Ok(response::yaml(status, &obj))
        }
        As::Protobuf => {
            let obj: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            Ok(response::protobuf(status, &obj))
        }
        As::PartialObjectMetadata => {
            let obj: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            Ok(response::json(status, &partial_metadata(&obj, false)))
        }
        As::Table => {
            let obj: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            let rv = meta::resource_version(&obj).to_string();
            Ok(response::json(
                status,
                &table::table(&ctx.res, vec![obj], &rv, None, ctx.params),
            ))
        }
    }
}

/// Responds with a list of served objects.
pub fn respond_list(
    ctx: &Ctx<'_>,
    items: Vec<Bytes>,
    revision: i64,
    continue_token: Option<String>,
    remaining: Option<i64>,
) -> Result<http::Response<Body>> {
    let items: Vec<Bytes> = items
        .into_iter()
        .map(|b| served_form(ctx.res.def, b))
        .collect();
    let mut list_meta = json!({"resourceVersion": revision.to_string()});
    if let Some(t) = &continue_token {
        list_meta["continue"] = json!(t);
    }
    if let Some(r) = remaining {
        list_meta["remainingItemCount"] = json!(r);
    }
    match wanted(ctx.headers) {
        As::Object => {
            let def = ctx.res.def;
            let mut out =
                BytesMut::with_capacity(items.iter().map(Bytes::len).sum::<usize>() + 256);
            out.extend_from_slice(b"{\"kind\":");
            out.extend_from_slice(&serde_json::to_vec(&format!("{}List", def.kind)).expect("json"));
            out.extend_from_slice(b",\"apiVersion\":");
            out.extend_from_slice(&serde_json::to_vec(&def.api_version()).expect("json"));
            out.extend_from_slice(b",\"metadata\":");
            out.extend_from_slice(&serde_json::to_vec(&list_meta).expect("json"));
            out.extend_from_slice(b",\"items\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                push_without_type_meta(&mut out, item);
            }
            out.extend_from_slice(b"]}");
            Ok(response::bytes_response(
                200,
                "application/json",
                out.freeze(),
            ))
        }
        form @ (As::Yaml | As::Protobuf) => {
            let def = ctx.res.def;
            // Items without their apiVersion and kind, as the JSON form.
            let items: Vec<Value> = items
                .iter()
                .map(|b| {
                    serde_json::from_slice::<Value>(b).map(|mut item| {
                        if let Some(m) = item.as_object_mut() {
                            m.remove("apiVersion");
                            m.remove("kind");
                        }
                        item
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(ApiError::internal)?;
            let list = json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(),
                              "metadata": list_meta, "items": items});
            Ok(if form == As::Yaml {
                response::yaml(200, &list)
            } else {
                response::protobuf(200, &list)
            })
        }
        As::PartialObjectMetadata => {
            let objs: Vec<Value> = items
                .iter()
                .map(|b| serde_json::from_slice::<Value>(b).map(|o| partial_metadata(&o, true)))
                .collect::<Result<_, _>>()
                .map_err(ApiError::internal)?;
            Ok(response::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": objs}),
            ))
        }
        As::Table => {
            let objs: Vec<Value> = items
                .iter()
                .map(|b| serde_json::from_slice::<Value>(b))
                .collect::<Result<_, _>>()
                .map_err(ApiError::internal)?;
            let mut t = table::table(
                &ctx.res,
                objs,
                &revision.to_string(),
                continue_token,
                ctx.params,
            );
            if let Some(r) = remaining {
                t["metadata"]["remainingItemCount"] = json!(r);
            }
            Ok(response::json(200, &t))
        }
    }
}
