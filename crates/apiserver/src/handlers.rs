//! The generic REST handlers: dispatch by request info, then get, create,
//! update, patch and delete on any catalogue resource through its strategy.
//! Lists and watches are in `list.rs` and `watch.rs`.

use skiff_api::StatusReason;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::strategy::UpdateVia;
use skiff_api::{ApiError, meta, validation};

use crate::registry::store::{
    CreateOptions, DeleteOptions, Error as WriteError, UpdateMethod, UpdateOptions, WRITE_ATTEMPTS,
};
use crate::registry::{self, Resource};
use crate::request::{RequestInfo, Route, Verb};
use crate::response::{self, Body};
use crate::{ApiServer, UserInfo, discovery, list, watch};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Serves one request.
/// A request's body: read already (in-process clients, tests) or still on
/// the connection, read only once the request is authenticated, holds an
/// in-flight slot and is authorized (so no unauthenticated or refused
/// request gets a body buffered), and never past [`crate::MAX_REQUEST_BYTES`].
pub enum RequestBody {
    Read(Bytes),
    Wire(hyper::body::Incoming),
}

impl RequestBody {
    async fn read(self) -> Result<Bytes> {
        let too_large = || ApiError::too_large(format!("limit is {}", crate::MAX_REQUEST_BYTES));
        match self {
            RequestBody::Read(b) if b.len() > crate::MAX_REQUEST_BYTES => Err(too_large()),
            RequestBody::Read(b) => Ok(b),
            RequestBody::Wire(incoming) => {
                use http_body_util::BodyExt;
                match http_body_util::Limited::new(incoming, crate::MAX_REQUEST_BYTES)
                    .collect()
                    .await
                {
                    Ok(b) => Ok(b.to_bytes()),
                    Err(e)
                        if e.downcast_ref::<http_body_util::LengthLimitError>()
                            .is_some() =>
                    {
                        Err(too_large())
                    }
                    Err(e) => Err(ApiError::bad_request(format!(
                        "reading the request body: {e}"
                    ))),
                }
            }
        }
    }
}

/// The endpoint: the API's documents, or a resource request (its body
/// read now, after every filter; returned too when `record_body`, for the
/// audit event).
pub(crate) async fn endpoint(
    server: &ApiServer,
    routed: Route,
    parts: &http::request::Parts,
    params: &HashMap<String, String>,
    body: RequestBody,
    user: &UserInfo,
    audit: crate::audit::EndpointAudit,
) -> (Result<http::Response<Body>>, Option<(Bytes, String)>) {
    let path = parts.uri.path();
    let mut recorded = None;
    let result = match routed {
        Route::Root(_) | Route::Group(_) | Route::GroupVersion(..) => {
            discovery::serve(server, &routed, &parts.headers)
        }
        Route::Other => match path {
            "/metrics" => Ok(server.inner.metrics.render(server)),
            "/.well-known/openid-configuration" | "/openid/v1/jwks" => {
                match &server.inner.token_issuer {
                    Some(issuer) if path.ends_with("jwks") => Ok(response::bytes_response(
                        200,
                        "application/jwk-set+json",
                        crate::serviceaccount::jwks(issuer).to_string(),
                    )),
                    Some(issuer) => Ok(response::json(
                        200,
                        &crate::serviceaccount::discovery(
                            issuer,
                            &server.inner.options.advertise_address,
                        ),
                    )),
                    None => Err(ApiError::not_found_path()),
                }
            }
            "/openapi/v3" | "/openapi/v3/" => Ok(response::json(
                200,
                &crate::openapi::index(&server.inner.registry.snapshot()),
            )),
            "/openapi/v2" | "/openapi/v2/" => {
                let accept = parts
                    .headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                use crate::openapi::v2;
                let doc = v2::served(&server.inner.registry.snapshot());
                let (content_type, bytes, etag) = if accept.contains(v2::PROTOBUF) {
                    let (bytes, etag) = doc.protobuf();
                    ("application/octet-stream", bytes.clone(), etag.as_str())
                } else {
                    ("application/json", doc.json.clone(), doc.json_etag.as_str())
                };
                Ok(with_etag(
                    &parts.headers,
                    etag,
                    response::bytes_response(200, content_type, bytes),
                ))
            }
            p if p.starts_with("/openapi/v3/") => {
                let snapshot = server.inner.registry.snapshot();
                match crate::openapi::document(&snapshot, &p["/openapi/v3/".len()..]) {
                    Some(doc) => {
                        let mut resp =
                            response::bytes_response(200, "application/json", doc.json.clone());
                        let cache = if params.contains_key("hash") {
                            "public, immutable"
                        } else {
                            "no-cache, private"
                        };
                        resp.headers_mut()
                            .insert("Cache-Control", http::HeaderValue::from_static(cache));
                        Ok(with_etag(
                            &parts.headers,
                            &format!("\"{}\"", doc.hash),
                            resp,
                        ))
                    }
                    None => Err(ApiError::not_found_path()),
                }
            }
            "/" => Ok(response::json(
                200,
                &json!({"paths": discovery::paths(server)}),
            )),
            // Paths outside the API: Go's plain `404 page not found`.
            _ => Ok(response::text(404, "404 page not found\n")),
        },
        Route::Resource(info) => match body.read().await {
            Ok(body) => {
                if audit.record_body {
                    let content_type = parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/json");
                    recorded = Some((body.clone(), content_type.to_string()));
                }
                resource(server, info, parts, body, params, user, &audit.annotations).await
            }
            Err(e) => Err(e),
        },
    };
    (result, recorded)
}

/// A document with its entity tag; 304 Not Modified when the client has it
/// (kube-openapi's handlers).
fn with_etag(
    headers: &http::HeaderMap,
    etag: &str,
    mut resp: http::Response<Body>,
) -> http::Response<Body> {
    let tag = http::HeaderValue::from_str(etag).expect("a quoted hex digest");
    if headers
        .get(http::header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        resp = http::Response::builder()
            .status(304)
            .body(response::full(Bytes::new()))
            .expect("valid response");
    }
    resp.headers_mut().insert("Etag", tag);
    resp
}

/// Everything a resource handler needs.
pub struct Ctx<'a> {
    pub server: &'a ApiServer,
    pub info: RequestInfo,
    pub res: Arc<Resource>,
    pub params: &'a HashMap<String, String>,
    pub headers: &'a http::HeaderMap,
    /// The whole request head: its path, query and (for connect
    /// subresources) the pending protocol upgrade.
    pub parts: &'a http::request::Parts,
    /// Who is asking (for reviews, admission and, with RBAC, authorization).
    pub user: &'a UserInfo,
    /// `Warning` headers for the response.
    pub warnings: std::sync::Mutex<Vec<String>>,
    /// Annotations for the request's audit event.
    pub audit_annotations: crate::audit::Annotations,
    /// The request body, as received.
    pub body: Bytes,
    /// Fields the JSON body sets twice in one object (for `fieldValidation`).
    pub duplicates: std::sync::Mutex<Vec<String>>,
    /// Keys a YAML body sets twice in one map, as goyaml reports them.
    pub yaml_duplicates: std::sync::Mutex<Vec<String>>,
    /// `dryRun=All` (from the query, or a body's `DeleteOptions`): validate
    /// and admit, answer what would be stored, store nothing.
    pub dry_run: std::sync::atomic::AtomicBool,
}

impl Ctx<'_> {
    pub fn namespace(&self) -> &str {
        if self.res.def.namespaced {
            &self.info.namespace
        } else {
            ""
        }
    }

    /// The request's media type, without parameters.
    pub fn media_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes `dryRun` values (of the query or a body's options) for the
    /// options kind `kind`: every value must be `All` (upstream's
    /// `ValidateDryRun`).
    /// [`Ctx::take_dry_run`] of a `DeleteOptions` body's `dryRun`.
    pub fn take_delete_options_dry_run(&self, opts: &Value) -> Result<()> {
        let values: Vec<String> = opts
            .get("dryRun")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect();
        self.take_dry_run(&values, "DeleteOptions")
    }

    pub fn take_dry_run(&self, values: &[String], kind: &str) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        if values.iter().any(|v| v != "All") {
            // Go's %#v of a []string.
            let rendered = format!(
                "[]string{{{}}}",
                values
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Err(ApiError::invalid(
                "meta.k8s.io",
                kind,
                "",
                vec![skiff_api::Cause::not_supported_rendered(
                    "dryRun",
                    rendered,
                    &["All"],
                )],
            ));
        }
        self.dry_run
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The generic registry store of the request's resource and namespace.
    pub fn store(&self) -> registry::store::Store<'_> {
        registry::store::Store::new(self.server, &self.res, self.namespace())
    }
}

/// What a request brings to the generic registry store's writes: the
/// admission chain, the registry hooks beside it, the field manager.
impl registry::store::Hooks for Ctx<'_> {
    async fn admit(
        &self,
        operation: crate::admission::Operation,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<()> {
        crate::admission::admit(self, operation, obj, old).await
    }

    async fn validate(
        &self,
        operation: crate::admission::Operation,
        obj: Option<&Value>,
        old: Option<&Value>,
    ) -> Result<()> {
        // An eviction is admitted itself; the pod's deletion it causes is
        // not (upstream's eviction REST deletes with no admission).
        if operation == crate::admission::Operation::Delete && self.info.subresource == "eviction" {
            return Ok(());
        }
        crate::admission::validate(self, operation, obj, old).await
    }

    async fn allocate(
        &self,
        obj: &mut Value,
        old: Option<&Value>,
        via: UpdateVia,
    ) -> Result<Option<crate::services::Allocation>> {
        let Some(rest) = &self.res.rest else {
            return Ok(None);
        };
        match (old, via) {
            (None, _) => rest.before_create(self, obj).await,
            (Some(old), UpdateVia::Main) => rest.before_update(self, obj, old).await,
            _ => Ok(None),
        }
    }

    fn removed(&self, obj: &Value) {
        if let Some(rest) = &self.res.rest {
            rest.after_delete(self.server, obj);
        }
    }

    fn record_update(&self, old: Option<&Value>, obj: &mut Value, via: UpdateVia) {
        record_update(self, old, obj, via);
    }
}

async fn resource(
    server: &ApiServer,
    info: RequestInfo,
    parts: &http::request::Parts,
    body: Bytes,
    params: &HashMap<String, String>,
    user: &UserInfo,
    audit_annotations: &crate::audit::Annotations,
) -> Result<http::Response<Body>> {
    let Some(res) = server
        .inner
        .registry
        .resource(&info.group, &info.version, &info.resource)
    else {
        return Err(ApiError::not_found_path());
    };
    if !info.name.is_empty() {
        let problems = validation::path_segment_problems(&info.name);
        if let Some(p) = problems.first() {
            return Err(ApiError::bad_request(format!(
                "invalid resource name {:?}: {p}",
                info.name
            )));
        }
    }
    let ctx = Ctx {
        server,
        info,
        res,
        params,
        headers: &parts.headers,
        parts,
        user,
        warnings: Default::default(),
        audit_annotations: audit_annotations.clone(),
        body: body.clone(),
        duplicates: Default::default(),
        yaml_duplicates: Default::default(),
        dry_run: Default::default(),
    };
    if let Some(options_kind) = ctx.info.verb.options_kind()
        && !crate::connect::is_connect(&ctx.info.resource, &ctx.info.subresource)
    {
        let values = crate::request::query_values(parts.uri.query(), "dryRun");
        ctx.take_dry_run(&values, options_kind)?;
        write_options(&ctx, options_kind)?;
    }
    if !crate::connect::is_connect(&ctx.info.resource, &ctx.info.subresource) {
        crate::negotiation::route_accepts(ctx.headers, ctx.info.name.is_empty())?;
        if ctx.info.verb != Verb::Watch {
            crate::negotiation::negotiate(ctx.headers, false)?;
        }
    }
    let mut resp = dispatch(&ctx, body).await?;
    for w in ctx.warnings.lock().expect("poisoned").iter() {
        let value = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            resp.headers_mut().append("Warning", v);
        }
    }
    Ok(resp)
}

/// Upstream's `ValidateCreateOptions`, `ValidateUpdateOptions` and
/// `ValidatePatchOptions` of a write's field manager and `force`.
fn write_options(ctx: &Ctx<'_>, kind: &str) -> Result<()> {
    let mut causes = Vec::new();
    if kind != "DeleteOptions"
        && let Some(m) = ctx.params.get("fieldManager")
        && m.len() > 128
    {
        causes.push(skiff_api::Cause::too_long("fieldManager", 128));
    }
    if kind == "PatchOptions"
        && ctx.params.contains_key("force")
        && ctx.media_type() != "application/apply-patch+yaml"
    {
        causes.push(skiff_api::Cause::forbidden(
            "force",
            "may not be specified for non-apply patch",
        ));
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid("meta.k8s.io", kind, "", causes))
}

/// Serves a resource request by verb and subresource.
async fn dispatch(ctx: &Ctx<'_>, body: Bytes) -> Result<http::Response<Body>> {
    let def = ctx.res.def;
    let sub = ctx.info.subresource.clone();
    if sub.is_empty() {
        if !def.has_verb(ctx.info.verb.as_str()) {
            return Err(ApiError::method_not_allowed());
        }
        // POST to an object, PUT or PATCH to a collection: no such route.
        let named = !ctx.info.name.is_empty();
        match ctx.info.verb {
            Verb::Create if named => return Err(ApiError::method_not_allowed()),
            Verb::Update | Verb::Patch if !named => return Err(ApiError::method_not_allowed()),
            _ => {}
        }
        if def.namespaced
            && ctx.info.namespace.is_empty()
            && !matches!(ctx.info.verb, Verb::List | Verb::Watch)
        {
            return Err(ApiError::not_found_path());
        }
        // A cluster-scoped resource under a namespace: no such route.
        if !def.namespaced && !ctx.info.namespace.is_empty() && def.plural != "namespaces" {
            return Err(ApiError::not_found_path());
        }
    } else {
        let Some(s) = def.subresource(&sub) else {
            return Err(ApiError::not_found_path());
        };
        if !s.verbs.contains(&ctx.info.verb.as_str()) {
            return Err(ApiError::method_not_allowed());
        }
    }
    // Reviews, bindings and evictions have no table converter.
    let tableless = crate::reviews::is_review(def.group, def.plural)
        || (def.group.is_empty() && def.plural == "bindings")
        || matches!(sub.as_str(), "binding" | "eviction");
    if tableless && ctx.info.verb == Verb::Create && list::only_tables(ctx.headers) {
        return Err(ApiError::not_acceptable());
    }
    if crate::reviews::is_review(def.group, def.plural)
        && sub.is_empty()
        && ctx.info.verb == Verb::Create
    {
        return crate::reviews::create(ctx, body).await;
    }
    if def.group.is_empty() && def.plural == "bindings" && ctx.info.verb == Verb::Create {
        return crate::subresources::binding(ctx, body).await;
    }
    if def.group.is_empty() && crate::connect::is_connect(def.plural, &sub) {
        return crate::connect::serve(ctx).await;
    }
    // The subresources that write their object through a strategy of
    // their own (none for the main resource's "").
    let writes = UpdateVia::of_subresource(&sub);
    match (sub.as_str(), &ctx.info.verb) {
        ("", Verb::Get) => get(ctx).await,
        ("", Verb::List) => list::list(ctx).await,
        ("", Verb::Watch) => watch::watch(ctx).await,
        ("", Verb::Create) => create(ctx, body).await,
        (_, Verb::Update) if writes.is_some() => {
            let obj = parse_body(ctx, &body)?;
            update(ctx, obj, sub.as_str()).await
        }
        (_, Verb::Patch) if writes.is_some_and(|via| via != UpdateVia::Finalize) => {
            patch(ctx, body, sub.as_str()).await
        }
        ("", Verb::Delete) => delete(ctx, &body).await,
        ("", Verb::DeleteCollection) => delete_collection(ctx, &body).await,
        (_, Verb::Get) if writes.is_some_and(|via| via != UpdateVia::Finalize) => get(ctx).await,
        ("scale", _) => crate::subresources::scale(ctx, body).await,
        ("binding", Verb::Create) => crate::subresources::binding(ctx, body).await,
        ("eviction", Verb::Create) => crate::subresources::eviction(ctx, body).await,
        ("token", Verb::Create) => crate::serviceaccount::create_token(ctx, &body).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

// === Decoding ===

/// Decodes a request body (JSON or YAML) into an object.
pub fn parse_body(ctx: &Ctx<'_>, body: &[u8]) -> Result<Value> {
    let content_type = ctx
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let value: Value = match mime {
        "application/json" | "" | "*/*" => {
            let decoded = skiff_api::decode::json(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "Object 'Kind' is missing in '{}': {e}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ))
            })?;
            *ctx.duplicates.lock().expect("poisoned") = decoded.duplicates;
            decoded.value
        }
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let decoded = skiff_api::decode::yaml(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            *ctx.yaml_duplicates.lock().expect("poisoned") = decoded.duplicates;
            decoded.value
        }
        "application/vnd.kubernetes.protobuf" => skiff_api::proto::decode(body)?,
        _ => return Err(ApiError::unsupported_media_type(false)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let mut value = check_type(ctx, value)?;
    check_go_types(ctx, &mut value)?;
    Ok(value)
}

/// The group, version and kind a request body of this request decodes into
/// (the subresource's, such as autoscaling/v1 Scale, or the resource's).
fn body_kind(ctx: &Ctx<'_>) -> (&'static str, &'static str, &'static str) {
    let def = ctx.res.def;
    let sub = ctx.info.subresource.as_str();
    match def.subresource(sub) {
        Some(s) if !sub.is_empty() && sub != "status" && sub != "finalize" => {
            (s.group, s.version, s.kind)
        }
        _ => (def.group, def.version, def.kind),
    }
}

/// Refuses a body that the Go type of its kind cannot hold (a number where a
/// string belongs, a malformed quantity or time), as upstream's decoder does,
/// and puts in place of each `null` what Go would hold: nothing is stored that
/// a typed client could not read back.
fn check_go_types(ctx: &Ctx<'_>, value: &mut Value) -> Result<()> {
    let (group, version, kind) = body_kind(ctx);
    match skiff_api::typed::check(group, version, kind, value, skiff_api::typed::Decoder::Json) {
        None => {
            skiff_api::typed::normalize_nulls(group, version, kind, value);
            Ok(())
        }
        Some(err) => Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {err}"
        ))),
    }
}

/// Refuses a patch whose result the Go type cannot hold, as upstream's
/// patcher does (422 on `patch`: the patched object for JSON and merge
/// patches, the patch as Go prints a map for strategic merge patches, whose
/// result upstream converts with the unstructured converter).
fn check_patched_go_types(ctx: &Ctx<'_>, patched: &mut Value, patch: &Value) -> Result<()> {
    let (group, version, kind) = body_kind(ctx);
    let strategic = ctx.media_type() == "application/strategic-merge-patch+json";
    let decoder = if strategic {
        skiff_api::typed::Decoder::Converter
    } else {
        skiff_api::typed::Decoder::Json
    };
    let Some(err) = skiff_api::typed::check(group, version, kind, patched, decoder) else {
        skiff_api::typed::normalize_nulls(group, version, kind, patched);
        return Ok(());
    };
    let shown = if strategic {
        skiff_api::patch::go_string(patch)
    } else {
        patched.to_string()
    };
    Err(ApiError::invalid(
        "",
        "",
        "",
        vec![skiff_api::Cause::invalid("patch", &json!(shown), err)],
    ))
}

/// Checks (and fills in) `apiVersion` and `kind` against the addressed resource.
fn check_type(ctx: &Ctx<'_>, mut value: Value) -> Result<Value> {
    let def = ctx.res.def;
    let expected_version = def.api_version();
    let (api_version, kind) = meta::type_meta(&value);
    let (api_version, kind) = (api_version.to_string(), kind.to_string());
    let sub = ctx.info.subresource.as_str();
    let expected_kind = match def.subresource(sub) {
        Some(s) if !sub.is_empty() && sub != "status" && sub != "finalize" => s.kind,
        _ => def.kind,
    };
    if !kind.is_empty() && kind != expected_kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({expected_kind})"
        )));
    }
    if !api_version.is_empty() && api_version != expected_version && expected_kind == def.kind {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected_version})"
        )));
    }
    if expected_kind == def.kind {
        value["apiVersion"] = json!(expected_version);
        value["kind"] = json!(def.kind);
    }
    Ok(value)
}

/// Whether the request is a server-side apply.
fn is_apply(ctx: &Ctx<'_>) -> bool {
    ctx.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/apply-patch+yaml"))
}

/// The field manager of a request: `fieldManager`, or the user agent's first word
/// (as upstream derives it).
fn field_manager(ctx: &Ctx<'_>) -> String {
    if let Some(m) = ctx.params.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let agent = ctx
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    agent.split('/').next().unwrap_or("unknown").to_string()
}

/// Records an Update operation in `metadata.managedFields` (an apply
/// records its own), keeping the stored object's entries when the written
/// one has none.
fn record_update(ctx: &Ctx<'_>, old: Option<&Value>, obj: &mut Value, via: UpdateVia) {
    if is_apply(ctx) {
        return;
    }
    if let Some(old) = old
        && meta::metadata(obj)
            .and_then(|m| m.get("managedFields"))
            .is_none()
        && let Some(mf) = meta::metadata(old).and_then(|m| m.get("managedFields"))
    {
        meta::set(obj, "managedFields", mf.clone());
    }
    let sub = via.subresource();
    let skip_status = ctx.res.strategy.status_split() && sub != "status";
    let manager = field_manager(ctx);
    skiff_api::managed::record_update(
        old,
        obj,
        &manager,
        &ctx.res.def.api_version(),
        sub,
        skip_status,
        ctx.res.ty,
    );
}

/// `fieldValidation`: unknown fields are dropped, and reported as an error
/// (Strict), as warnings (Warn, the default) or not at all (Ignore).
fn field_validation(ctx: &Ctx<'_>, obj: &mut Value) -> Result<()> {
    let mode = field_validation_mode(ctx)?;
    let def = ctx.res.def;
    let unknown = crate::openapi::prune_unknown_fields(def.group, def.version, def.kind, obj);
    let mut duplicates = std::mem::take(&mut *ctx.duplicates.lock().expect("poisoned"));
    // An unknown field is reported as unknown only, however often it appears.
    duplicates.retain(|d| {
        !unknown.iter().any(|u| {
            d == u
                || d.strip_prefix(u.as_str())
                    .is_some_and(|r| r.starts_with(['.', '[']))
        })
    });
    let yaml = std::mem::take(&mut *ctx.yaml_duplicates.lock().expect("poisoned"));
    if (unknown.is_empty() && duplicates.is_empty() && yaml.is_empty()) || mode == "Ignore" {
        return Ok(());
    }
    // Reported in the order the fields appear in the body, as upstream's decoder
    // does; a YAML body's in key order (upstream converts it to JSON through a
    // Go map first).
    let mut found: Vec<(&str, String)> = duplicates
        .into_iter()
        .map(|f| ("duplicate", f))
        .chain(unknown.into_iter().map(|f| ("unknown", f)))
        .collect();
    if ctx.media_type().contains("yaml") {
        found.sort_by(|a, b| a.1.cmp(&b.1));
    } else if found.len() > 1 {
        let paths: Vec<String> = found.iter().map(|(_, f)| f.clone()).collect();
        let order = skiff_api::decode::document_order(&ctx.body, &paths);
        found.sort_by_key(|(_, f)| order.get(f).copied().unwrap_or(usize::MAX));
    }
    let list: Vec<String> = found
        .iter()
        .map(|(what, f)| format!("{what} field \"{f}\""))
        .collect();
    if mode == "Strict" {
        // As upstream's transformDecodeError words a strict decoding failure;
        // goyaml's duplicate keys come first, as one error.
        let mut errors = Vec::new();
        if !yaml.is_empty() {
            errors.push(format!("yaml: unmarshal errors:\n  {}", yaml.join("\n  ")));
        }
        errors.extend(list);
        return Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            errors.join(", "),
            kind = def.kind,
            version = def.version,
        )));
    }
    let mut warnings = ctx.warnings.lock().expect("poisoned");
    warnings.extend(yaml);
    warnings.extend(list);
    Ok(())
}

/// `fieldValidation` of the request: Strict, Warn (the default) or Ignore.
fn field_validation_mode<'c>(ctx: &'c Ctx<'_>) -> Result<&'c str> {
    let mode = ctx
        .params
        .get("fieldValidation")
        .map(String::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or("Warn");
    if !matches!(mode, "Strict" | "Warn" | "Ignore") {
        return Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\"; got {mode:?}"
        )));
    }
    Ok(mode)
}

/// `fieldValidation` of a JSON, merge or strategic merge patch, as upstream's
/// patcher does it: fields the patch body sets twice, then fields of the
/// patched object the schema does not know (dropped). Strict refuses the patch
/// with a 422 on `patch` (its value: the patched object for JSON and merge
/// patches, the patch as Go prints a map for strategic merge patches).
fn patch_field_validation(
    ctx: &Ctx<'_>,
    patched: &mut Value,
    patch: &skiff_api::decode::Decoded,
) -> Result<()> {
    let mode = field_validation_mode(ctx)?;
    if mode == "Ignore" {
        return Ok(());
    }
    let content_type = ctx.media_type();
    let mut found: Vec<String> = patch
        .duplicates
        .iter()
        .map(|f| match content_type.as_str() {
            "application/json-patch+json" => format!("json patch duplicate field \"{f}\""),
            _ => format!("duplicate field \"{f}\""),
        })
        .collect();
    let def = ctx.res.def;
    found.extend(
        crate::openapi::prune_unknown_fields(def.group, def.version, def.kind, patched)
            .into_iter()
            .map(|f| format!("unknown field \"{f}\"")),
    );
    if found.is_empty() {
        return Ok(());
    }
    if mode == "Warn" {
        ctx.warnings.lock().expect("poisoned").extend(found);
        return Ok(());
    }
    let shown = match content_type.as_str() {
        "application/strategic-merge-patch+json" => skiff_api::patch::go_string(&patch.value),
        _ => patched.to_string(),
    };
    Err(ApiError::invalid(
        "",
        "",
        "",
        vec![skiff_api::Cause::invalid(
            "patch",
            &json!(shown),
            format!("strict decoding error: {}", found.join(", ")),
        )],
    ))
}

// === Reads ===

pub async fn read(ctx: &Ctx<'_>, name: &str) -> Result<(Value, i64)> {
    ctx.store().get(name).await
}

/// Another served resource (`plural` in `group`/`version`), for a
/// request that reads or writes it beside its own.
pub fn other_resource(
    ctx: &Ctx<'_>,
    (group, version, plural): (&str, &str, &str),
) -> Result<Arc<Resource>> {
    ctx.server
        .inner
        .registry
        .resource(group, version, plural)
        .ok_or_else(ApiError::not_found_path)
}

async fn get(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let bytes = ctx.store().get_bytes(&ctx.info.name).await?;
    list::respond_object(ctx, 200, bytes)
}

// === Writes ===

/// Creates an object from a request body.
async fn create(ctx: &Ctx<'_>, body: Bytes) -> Result<http::Response<Body>> {
    let obj = parse_body(ctx, &body)?;
    let created = create_object(ctx, obj).await?;
    list::respond_object(ctx, 201, created)
}

/// The create path shared by POST and by apply/patch of a missing object.
pub async fn create_object(ctx: &Ctx<'_>, mut obj: Value) -> Result<Bytes> {
    let def = ctx.res.def;
    field_validation(ctx, &mut obj)?;
    skiff_api::defaults::apply(def, &mut obj);
    let url_ns = ctx.namespace().to_string();
    let body_ns = meta::namespace(&obj).to_string();
    if def.namespaced {
        if body_ns.is_empty() {
            meta::set(&mut obj, "namespace", json!(url_ns));
        } else if body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    } else if !body_ns.is_empty() {
        meta::remove(&mut obj, "namespace");
    }
    // NamespaceLifecycle, first as upstream's chain runs it: a missing or
    // terminating namespace refuses before any plugin looks further.
    let store = ctx.store();
    let guard = store.namespace_guard(&obj).await?;
    use crate::admission::Operation;
    crate::admission::admit(ctx, Operation::Create, &mut obj, None).await?;
    let opts = CreateOptions {
        dry_run: ctx.dry_run(),
    };
    store.create(obj, guard, opts, ctx).await
}

/// Replaces an object (PUT), through the main resource or the status subresource.
pub async fn update(ctx: &Ctx<'_>, obj: Value, sub: &str) -> Result<http::Response<Body>> {
    let name = ctx.info.name.clone();
    let body_ns = meta::namespace(&obj);
    if ctx.res.def.namespaced && !body_ns.is_empty() && body_ns != ctx.info.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let body_name = meta::name(&obj).to_string();
    if body_name.is_empty() && sub.is_empty() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name} based on URL) was undeterminable: name must be provided"
        )));
    }
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    // Without a resource version the client asked for no precondition: a
    // concurrent write is retried on the new state (upstream's
    // GuaranteedUpdate), never answered with a conflict.
    let unconditional = matches!(meta::resource_version(&obj), "" | "0");
    for _ in 0..WRITE_ATTEMPTS {
        let (old, old_rev) = match read(ctx, &name).await {
            Ok(found) => found,
            // PUT creates where upstream's strategy allows it.
            Err(e)
                if e.code == 404 && sub.is_empty() && ctx.res.strategy.allow_create_on_update() =>
            {
                let mut obj = obj.clone();
                meta::set(&mut obj, "name", json!(name));
                match create_object(ctx, obj).await {
                    Ok(bytes) => return list::respond_object(ctx, 201, bytes),
                    Err(e) if e.reason == StatusReason::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        match update_object(ctx, obj.clone(), old, old_rev, sub).await {
            Err(WriteError::Conflict(_)) if unconditional => {
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => return Err(e.into()),
            Ok(bytes) => return list::respond_object(ctx, 200, bytes),
        }
    }
    Err(ApiError::modified(
        ctx.res.def.group,
        ctx.res.def.plural,
        &name,
    ))
}

/// The update path shared by PUT and PATCH: `obj` replaces `old` (read at
/// `old_rev`) through the subresource `sub`.
pub async fn update_object(
    ctx: &Ctx<'_>,
    mut obj: Value,
    old: Value,
    old_rev: i64,
    sub: &str,
) -> std::result::Result<Bytes, WriteError> {
    let def = ctx.res.def;
    field_validation(ctx, &mut obj)?;
    skiff_api::defaults::apply(def, &mut obj);
    skiff_api::typed::fill_zero_fields(def.group, def.version, def.kind, &mut obj);
    let opts = UpdateOptions {
        dry_run: ctx.dry_run(),
        via: UpdateVia::of_subresource(sub).ok_or_else(ApiError::method_not_allowed)?,
        method: if ctx.info.verb == Verb::Patch {
            UpdateMethod::Patch
        } else {
            UpdateMethod::Put
        },
    };
    ctx.store().update(obj, old, old_rev, opts, ctx).await
}

/// PATCH: JSON patch, merge patch or strategic merge patch of the current object.
async fn patch(ctx: &Ctx<'_>, body: Bytes, sub: &str) -> Result<http::Response<Body>> {
    let content_type = ctx.media_type();
    let name = ctx.info.name.clone();
    if content_type == "application/apply-patch+yaml" {
        return apply_patch(ctx, &body, sub).await;
    }
    // Decoded once, after the first read: a missing object is a 404 before a bad body is a 400.
    let mut decoded = None;
    // Retry on conflicts with concurrent writers, as upstream's patcher does.
    for _ in 0..WRITE_ATTEMPTS {
        let (old, old_rev) = read(ctx, &name).await?;
        let patch = match &decoded {
            Some(p) => p,
            None => decoded.insert(skiff_api::patch::decode(&content_type, &body, ctx.res.ty)?),
        };
        let mut patched = skiff_api::patch::apply(&content_type, &old, &patch.value, ctx.res.ty)?;
        patched = check_type(ctx, patched)?;
        check_patched_go_types(ctx, &mut patched, &patch.value)?;
        patch_field_validation(ctx, &mut patched, patch)?;
        // A patch that does not set a resource version applies to what it read.
        if meta::resource_version(&patched).is_empty()
            || meta::resource_version(&patched) == old_rev.to_string()
        {
            meta::set(&mut patched, "resourceVersion", json!(old_rev.to_string()));
        }
        match update_object(ctx, patched, old, old_rev, sub).await {
            Err(WriteError::Conflict(_)) if !patch_sets_resource_version(&body) => {
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => return Err(e.into()),
            Ok(bytes) => return list::respond_object(ctx, 200, bytes),
        }
    }
    Err(ApiError::modified(
        ctx.res.def.group,
        ctx.res.def.plural,
        &name,
    ))
}

/// Structured-merge-diff's words for an applied configuration it cannot type.
fn typed_patch_error(ctx: &Ctx<'_>, config: &Value, err: &str) -> String {
    let def = ctx.res.def;
    format!(
        "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {err}",
        meta::namespace(config),
        meta::name(config),
        def.group,
        def.version,
        def.kind
    )
}

/// Server-side apply: merge the applied configuration with field ownership.
async fn apply_patch(ctx: &Ctx<'_>, body: &[u8], sub: &str) -> Result<http::Response<Body>> {
    let Some(manager) = ctx
        .params
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .cloned()
    else {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![skiff_api::Cause::required_because(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    };
    let skiff_api::decode::DecodedYaml {
        value: config,
        duplicates,
    } = skiff_api::decode::yaml(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let (api_version, kind) = meta::type_meta(&config);
    if api_version.is_empty() || kind.is_empty() {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an applied configuration",
        ));
    }
    let mut config = check_type(ctx, config)?;
    let mode = field_validation_mode(ctx)?;
    if !duplicates.is_empty() {
        match mode {
            "Strict" => {
                return Err(ApiError::bad_request(format!(
                    "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
                    duplicates.join("\n  ")
                )));
            }
            "Warn" => ctx.warnings.lock().expect("poisoned").extend(duplicates),
            _ => {}
        }
    }
    // Whatever fieldValidation says, upstream's typed apply refuses fields the
    // schema does not declare.
    let def = ctx.res.def;
    let unknown =
        crate::openapi::prune_unknown_fields(def.group, def.version, def.kind, &mut config);
    if !unknown.is_empty() {
        let errors: Vec<String> = unknown
            .iter()
            .map(|f| {
                format!(
                    "{}: field not declared in schema",
                    // Key fields are declared, so they outlive the pruning.
                    skiff_api::schema::smd_path(&config, ctx.res.ty, f)
                )
            })
            .collect();
        let errors = if errors.len() == 1 {
            errors[0].clone()
        } else {
            format!("errors:\n  {}", errors.join("\n  "))
        };
        return Err(ApiError::bad_request(typed_patch_error(
            ctx, &config, &errors,
        )));
    }
    // A wrongly typed applied configuration: upstream's structured-merge-diff
    // refuses it while building the typed patch, a plain error (500).
    if let Some(err) = skiff_api::typed::check(
        def.group,
        def.version,
        def.kind,
        &config,
        skiff_api::typed::Decoder::Json,
    ) {
        return Err(ApiError::unknown(typed_patch_error(ctx, &config, &err)));
    }
    let name = ctx.info.name.clone();
    let body_name = meta::name(&config);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let force = crate::request::param_bool(ctx.params, "force").unwrap_or(false);
    let skip_status = ctx.res.strategy.status_split() && sub != "status";
    let api_version = def.api_version();
    let applier = skiff_api::managed::Apply {
        manager: &manager,
        api_version: &api_version,
        force,
        skip_status,
        ty: ctx.res.ty,
        group: def.group,
        resource: def.plural,
        name: &name,
    };
    let conditional = !meta::resource_version(&config).is_empty();
    for _ in 0..WRITE_ATTEMPTS {
        let current = match read(ctx, &name).await {
            Ok(found) => Some(found),
            Err(e) if e.code == 404 => None,
            Err(e) => return Err(e),
        };
        match current {
            None => {
                let mut merged = skiff_api::managed::apply(None, &config, &applier)?;
                meta::set(&mut merged, "name", json!(name));
                match create_object(ctx, merged).await {
                    Ok(bytes) => return list::respond_object(ctx, 201, bytes),
                    Err(e) if e.reason == StatusReason::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Some((live, rev)) => {
                // A resource version in the configuration is a precondition.
                if conditional && meta::resource_version(&config) != rev.to_string() {
                    return Err(ApiError::modified(def.group, def.plural, &name));
                }
                let mut merged = skiff_api::managed::apply(Some(&live), &config, &applier)?;
                meta::set(&mut merged, "resourceVersion", json!(rev.to_string()));
                match update_object(ctx, merged, live, rev, sub).await {
                    Ok(bytes) => return list::respond_object(ctx, 200, bytes),
                    Err(WriteError::Conflict(_)) if !conditional => {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(ApiError::modified(def.group, def.plural, &name))
}

pub(crate) fn patch_sets_resource_version(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|s| s.contains("resourceVersion"))
}

// === Deletes ===

/// The DeleteOptions of a request: from the body, or from query parameters.
pub fn delete_options(ctx: &Ctx<'_>, body: &[u8]) -> Result<Value> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if body.starts_with(skiff_api::proto::MAGIC) {
        skiff_api::proto::decode(body)?
    } else {
        serde_json::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    // A body's `dryRun` counts as the query's (kubectl sends it there).
    ctx.take_delete_options_dry_run(&opts)?;
    if let Some(g) = ctx.params.get("gracePeriodSeconds") {
        let g: i64 = g
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds {g:?}")))?;
        opts["gracePeriodSeconds"] = json!(g);
    }
    if let Some(p) = ctx.params.get("propagationPolicy") {
        opts["propagationPolicy"] = json!(p);
    }
    if let Some(o) = crate::request::param_bool(ctx.params, "orphanDependents") {
        opts["orphanDependents"] = json!(o);
    }
    if let Some(p) = opts.get("propagationPolicy").and_then(Value::as_str)
        && opts.get("orphanDependents").is_some_and(|o| !o.is_null())
    {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            vec![skiff_api::Cause::invalid(
                "propagationPolicy",
                &json!(p),
                "orphanDependents and deletionPropagation cannot be both set",
            )],
        ));
    }
    if let Some(p) = opts.get("propagationPolicy").and_then(Value::as_str)
        && !matches!(p, "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::invalid(
            "",
            "DeleteOptions",
            "",
            vec![skiff_api::Cause::not_supported(
                "propagationPolicy",
                &json!(p),
                &["Foreground", "Background", "Orphan", "nil"],
            )],
        ));
    }
    Ok(opts)
}

async fn delete(ctx: &Ctx<'_>, body: &[u8]) -> Result<http::Response<Body>> {
    let opts = delete_options(ctx, body)?;
    let def = ctx.res.def;
    ctx.res.strategy.check_delete(&ctx.info.name)?;
    let (resp_bytes, gone) = delete_object(ctx, &ctx.info.name, &opts).await?;
    if gone && !ctx.res.strategy.return_deleted_object() {
        // Upstream's finalizeDelete: a Status naming what went (no code).
        let obj: Value = serde_json::from_slice(&resp_bytes).unwrap_or_default();
        let mut details = json!({"name": ctx.info.name, "group": def.group, "kind": def.plural, "uid": meta::uid(&obj)});
        if def.group.is_empty() {
            details.as_object_mut().map(|d| d.remove("group"));
        }
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details});
        return Ok(response::status_for(200, &status, ctx.headers));
    }
    list::respond_object(ctx, 200, resp_bytes)
}

/// Deletes one object: graceful (pods), through finalizers, or at once.
/// Returns the object as it now is (or as it was) and whether it is gone.
pub async fn delete_object(ctx: &Ctx<'_>, name: &str, opts: &Value) -> Result<(Bytes, bool)> {
    let mut opts = DeleteOptions::from_value(opts);
    opts.dry_run = ctx.dry_run();
    ctx.store().delete(name, &opts, ctx).await
}

async fn delete_collection(ctx: &Ctx<'_>, body: &[u8]) -> Result<http::Response<Body>> {
    let opts = delete_options(ctx, body)?;
    // One page when a limit is given (as upstream), its continue token in
    // the answer for the next.
    let store = ctx.store();
    let page = store.list(&list::list_options(ctx, false)?).await?;
    let mut items = Vec::new();
    // The answer lists the objects as they were before the delete (upstream).
    for before in page.items {
        let obj: Value = serde_json::from_slice(&before).map_err(ApiError::internal)?;
        match delete_object(ctx, meta::name(&obj), &opts).await {
            Ok(_) => items.push(before),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = store.current_revision().await?;
    list::respond_list(ctx, items, rv, page.continue_token, None)
}
