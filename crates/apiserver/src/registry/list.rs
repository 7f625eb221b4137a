//! Listing a resource's objects (upstream's `Store.List` over the cacher):
//! [`ListOptions`] with label and field selectors, pagination with continue
//! tokens over one snapshot, resource version semantics (unset: a consistent
//! read; `0`: any; NotOlderThan; Exact), served from the watch cache when
//! it can and from the store otherwise.

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use skiff_api::selector::{FieldSelector, LabelSelector};
use skiff_api::{ApiError, meta};
use skiff_store::ListRequest;

use super::store::Store;
use super::{Resource, store_error, with_resource_version};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The label and field selectors of a list, watch or deletecollection.
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    /// The selectors of `labelSelector` and `fieldSelector` for `res`
    /// (each field label as the kind's group version names it, converted to
    /// the field it selects); `name` is a legacy watch path's object, which
    /// the selection then pins.
    pub fn parse(label: &str, field: &str, res: &Resource, name: &str) -> Result<Self> {
        let labels = LabelSelector::parse(label)?;
        let mut fields = FieldSelector::parse(field)?;
        let field_labels = res.strategy.field_labels();
        for (f, _, _) in &mut fields.requirements {
            let field = field_labels.convert(f).map_err(ApiError::bad_request)?;
            *f = field.to_string();
        }
        if !name.is_empty() {
            if let Some(pinned) = fields.pinned("metadata.name")
                && pinned != name
            {
                return Err(ApiError::bad_request(
                    "fieldSelector metadata.name doesn't match requested name",
                ));
            }
            fields
                .requirements
                .push(("metadata.name".into(), true, name.to_string()));
        }
        Ok(Selectors { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    pub fn matches(&self, res: &Resource, obj: &Value) -> bool {
        self.labels.matches(meta::labels(obj))
            && self.fields.matches(|f| res.strategy.field_value(obj, f))
    }

    /// Whether a stored object matches; parses it only when there is a selector.
    pub fn matches_stored(&self, res: &Resource, stored: &[u8]) -> Result<bool> {
        if self.is_empty() {
            return Ok(true);
        }
        let obj: Value = serde_json::from_slice(stored).map_err(ApiError::internal)?;
        Ok(self.matches(res, &obj))
    }
}

/// The continue token: upstream's base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"<key suffix>"}`.
pub fn encode_continue(rv: i64, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&token).expect("json"))
}

pub fn decode_continue(token: &str) -> Result<(i64, String)> {
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

pub fn parse_rv(s: &str) -> Result<i64> {
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

/// Upstream's `metav1.ResourceVersionMatch`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResourceVersionMatch {
    #[default]
    Unset,
    NotOlderThan,
    Exact,
}

/// Upstream's `metav1.ListOptions`, validated and parsed.
pub struct ListOptions {
    pub selectors: Selectors,
    /// At most this many objects (0: all).
    pub limit: usize,
    pub continue_token: Option<String>,
    /// "" for a consistent read, "0" for any.
    pub resource_version: String,
    pub resource_version_match: ResourceVersionMatch,
}

/// One page of a list: the matching objects as served, the revision it was
/// read at, where the next page starts, how many objects remain.
pub struct ListResult {
    pub items: Vec<Bytes>,
    pub revision: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

impl Store<'_> {
    /// The objects the options select, one page when a limit is given.
    pub async fn list(&self, opts: &ListOptions) -> Result<ListResult> {
        let store = &self.server.inner.store;
        let res = self.res;
        let prefix = res.namespace_prefix(self.namespace);
        let sel = &opts.selectors;
        let limit = opts.limit;
        let rv_param = opts.resource_version.as_str();
        // Where the list starts and at which revision it reads.
        let (mut revision, mut start) = (0i64, None::<String>);
        if let Some(token) = opts.continue_token.as_deref() {
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
            match opts.resource_version_match {
                ResourceVersionMatch::Unset => {
                    if !rv_param.is_empty() && rv_param != "0" {
                        let rv = parse_rv(rv_param)?;
                        // Legacy semantics: with a limit, an explicit version is exact.
                        if limit > 0 {
                            revision = rv;
                        } else {
                            self.wait_for(rv).await?;
                        }
                    }
                }
                ResourceVersionMatch::NotOlderThan => {
                    if rv_param.is_empty() {
                        return Err(forbidden_match(
                            "resourceVersionMatch is forbidden unless resourceVersion is provided",
                        ));
                    }
                    let rv = parse_rv(rv_param)?;
                    self.wait_for(rv).await?;
                }
                ResourceVersionMatch::Exact => {
                    if rv_param.is_empty() || rv_param == "0" {
                        return Err(forbidden_match(
                            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                        ));
                    }
                    revision = parse_rv(rv_param)?;
                }
            }
        }
        // Lists that need no snapshot of the past come from the watch cache.
        let metrics = &self.server.inner.metrics;
        // A consistent read the cache could not serve, counted once answered.
        let mut consistent_fallback = false;
        let no_continue = opts.continue_token.is_none();
        // A cache not filled in time (the store does not answer) is passed over:
        // the store's own answer, or its error, follows.
        if no_continue
            && opts.resource_version_match != ResourceVersionMatch::Exact
            && (limit == 0 || rv_param == "0")
            && let Some(cacher) = self.server.inner.caches.get(&res.prefix(), store).await
        {
            let fresh = match rv_param {
                "0" => true,
                "" => {
                    let current = store.current_revision().await.map_err(store_error)?;
                    let fresh = cacher.wait_fresh(current).await;
                    if fresh {
                        metrics.consistent_read(res.def.plural, true, false);
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
                    if sel.matches_stored(res, &kv.value)? {
                        items.push(with_resource_version(&kv.value, kv.mod_revision));
                    }
                }
                return Ok(ListResult {
                    items,
                    revision,
                    continue_token: None,
                    remaining: None,
                });
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
                        metrics.consistent_read(res.def.plural, false, true);
                    }
                })
                .map_err(|e| match e {
                    // An expired token: the Status says where to go on, at the
                    // latest resource version (-1), as upstream's
                    // handleCompactedErrorForPaging.
                    skiff_store::StoreError::Compacted { .. } if opts.continue_token.is_some() => {
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
                if sel.matches_stored(res, &kv.value)? {
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
            metrics.consistent_read(res.def.plural, true, true);
        }
        let token =
            more.then(|| encode_continue(revision, &format!("{}\0", &last_key[prefix.len()..])));
        Ok(ListResult {
            items,
            revision,
            continue_token: token,
            remaining: remaining.filter(|r| *r > 0),
        })
    }

    /// Waits (briefly) for the store to reach a resource version, as NotOlderThan reads do.
    async fn wait_for(&self, rv: i64) -> Result<()> {
        let store = &self.server.inner.store;
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
}

/// Options the endpoint's validation refuses too (for callers of the store
/// that did not validate).
fn forbidden_match(why: &str) -> ApiError {
    ApiError::invalid(
        "meta.k8s.io",
        "ListOptions",
        "",
        vec![skiff_api::Cause::forbidden("resourceVersionMatch", why)],
    )
}
