//! LIST: selectors, pagination with continue tokens over one snapshot,
//! resource version semantics; and the response encodings shared by every
//! handler (object, list, Table, PartialObjectMetadata).

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use skiff_api::{ApiError, meta};

use crate::handlers::Ctx;
use crate::registry::list::{ListOptions, ResourceVersionMatch, Selectors};
use crate::response::{self, Body};
use crate::table;

type Result<T, E = ApiError> = std::result::Result<T, E>;

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

/// The ListOptions of a list, watch or deletecollection, validated as
/// upstream's `ValidateListOptions` first.
pub fn list_options(ctx: &Ctx<'_>, watch: bool) -> Result<ListOptions> {
    validate_list_options(ctx, watch)?;
    let get = |k: &str| ctx.params.get(k).map(String::as_str).unwrap_or("");
    let selectors = Selectors::parse(
        get("labelSelector"),
        get("fieldSelector"),
        &ctx.res,
        &ctx.info.name,
    )?;
    let limit: usize = match ctx.params.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?
            .max(0) as usize,
        None => 0,
    };
    let resource_version_match = match get("resourceVersionMatch") {
        "" => ResourceVersionMatch::Unset,
        "NotOlderThan" => ResourceVersionMatch::NotOlderThan,
        "Exact" => ResourceVersionMatch::Exact,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid resourceVersionMatch {other:?}"
            )));
        }
    };
    Ok(ListOptions {
        selectors,
        limit,
        continue_token: Some(get("continue"))
            .filter(|c| !c.is_empty())
            .map(String::from),
        resource_version: get("resourceVersion").to_string(),
        resource_version_match,
    })
}

/// Serves a LIST.
pub async fn list(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let opts = list_options(ctx, false)?;
    let page = ctx.store().list(&opts).await?;
    respond_list(
        ctx,
        page.items,
        page.revision,
        page.continue_token,
        page.remaining,
    )
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
