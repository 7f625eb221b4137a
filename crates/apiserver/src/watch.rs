//! The watch endpoint: its options parsed and negotiated, then a stream of
//! `{"type": ..., "object": ...}` lines (or protobuf `WatchEvent` frames,
//! Tables, PartialObjectMetadata) fed by the generic registry store's watch
//! (`registry/watch.rs`: the watch cache or the store, selectors, initial
//! events, bookmarks, timeouts), ERROR events carrying a `Status`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use skiff_api::{ApiError, meta};

use crate::handlers::Ctx;
use crate::list::As;
use crate::registry::Resource;
use crate::registry::watch::{EventType, WatchOptions, WatchSink};
use crate::response::{self, Body};
use crate::table;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Bytes of events a watcher's client may leave unread before the watcher
/// waits (and, as the cache moves on, is cut off).
const WATCHER_BUDGET: u32 = 8 << 20;
/// The longest watch timeout honoured (ten years; longer ones are as good).
const MAX_TIMEOUT_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// A watch's response stream, in the form its client asked for.
struct HttpSink {
    res: Arc<Resource>,
    form: As,
    params: std::collections::HashMap<String, String>,
    tx: response::StreamSender,
}

impl WatchSink for HttpSink {
    async fn event(&self, kind: EventType, served: Bytes) -> bool {
        self.send(kind.as_str(), served).await
    }

    async fn bookmark(&self, rv: i64, initial_end: bool) -> bool {
        HttpSink::bookmark(self, rv, initial_end).await
    }

    async fn error(&self, err: &ApiError) {
        HttpSink::error(self, err).await
    }

    async fn closed(&self) {
        self.tx.closed().await
    }
}

impl HttpSink {
    /// Sends one event; false when the client is gone.
    async fn send(&self, kind: &str, served: Bytes) -> bool {
        let served = crate::list::served_form(self.res.def, served);
        let object: Bytes = match self.form {
            // Watches never stream YAML (negotiation refuses it).
            As::Object | As::Yaml => served,
            As::Protobuf => {
                return match serde_json::from_slice::<Value>(&served) {
                    Ok(o) => self.send_protobuf(kind, &o).await,
                    Err(_) => true,
                };
            }
            As::PartialObjectMetadata => match serde_json::from_slice::<Value>(&served) {
                Ok(o) => Bytes::from(serde_json::to_vec(&json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata")})).unwrap_or_default()),
                Err(_) => return true,
            },
            As::Table => match serde_json::from_slice::<Value>(&served) {
                Ok(o) => {
                    let rv = meta::resource_version(&o).to_string();
                    Bytes::from(serde_json::to_vec(&table::table(&self.res, vec![o], &rv, None, &self.params)).unwrap_or_default())
                }
                Err(_) => return true,
            },
        };
        let mut line = BytesMut::with_capacity(object.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(&object);
        line.extend_from_slice(b"}\n");
        self.tx.send(line.freeze()).await.is_ok()
    }

    /// Sends one event as a protobuf `WatchEvent` frame; false when the client is gone.
    async fn send_protobuf(&self, kind: &str, obj: &Value) -> bool {
        match skiff_api::proto::encode(obj) {
            Ok(object) => self
                .tx
                .send(Bytes::from(skiff_api::proto::watch_frame(kind, &object)))
                .await
                .is_ok(),
            Err(e) => {
                tracing::warn!(error = %e.message, "watch event without a protobuf form");
                true
            }
        }
    }

    async fn bookmark(&self, rv: i64, initial_end: bool) -> bool {
        let def = self.res.def;
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata});
        if self.form == As::Protobuf {
            return self.send_protobuf("BOOKMARK", &obj).await;
        }
        let line = format!("{{\"type\":\"BOOKMARK\",\"object\":{}}}\n", obj);
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn error(&self, err: &ApiError) {
        if self.form == As::Protobuf {
            self.send_protobuf("ERROR", &err.status()).await;
            return;
        }
        let line = format!("{{\"type\":\"ERROR\",\"object\":{}}}\n", err.status());
        let _ = self.tx.send(Bytes::from(line)).await;
    }
}

pub async fn watch(ctx: &Ctx<'_>) -> Result<http::Response<Body>> {
    let selectors = crate::list::list_options(ctx, true)?.selectors;
    let rv_param = ctx
        .params
        .get("resourceVersion")
        .cloned()
        .unwrap_or_default();
    // `sendInitialEvents` (streaming lists) is refused by validation while
    // the WatchList gate is off, as 1.33's default; this path serves it
    // once it is on.
    let explicit_initial =
        crate::request::param_bool(ctx.params, "sendInitialEvents").unwrap_or(false);
    let bookmarks = crate::request::param_bool(ctx.params, "allowWatchBookmarks").unwrap_or(false);
    let (tx, body) = response::streamed(WATCHER_BUDGET);
    // Protobuf only for kinds that have a protobuf form (else JSON, as
    // upstream's negotiation falls through to the next acceptable type).
    let form = match crate::negotiation::negotiate(ctx.headers, true)? {
        As::Protobuf
            if !skiff_api::proto::has_message(&ctx.res.def.api_version(), ctx.res.def.kind) =>
        {
            As::Object
        }
        form => form,
    };
    // An int64 as upstream's: 0 is the default, a negative one ends the
    // watch at once; a huge one is capped where an instant can hold it.
    let timeout = match ctx.params.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => match t
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?
        {
            0 => Duration::from_secs(1800 + rand_secs()),
            t => Duration::from_secs(t.clamp(0, MAX_TIMEOUT_SECONDS) as u64),
        },
        None => Duration::from_secs(1800 + rand_secs()),
    };
    let sink = HttpSink {
        res: ctx.res.clone(),
        form,
        params: ctx.params.clone(),
        tx,
    };
    let opts = WatchOptions {
        selectors,
        resource_version: rv_param,
        send_initial_events: explicit_initial,
        allow_bookmarks: bookmarks,
        timeout,
    };
    ctx.store().watch(opts, sink).await?;
    Ok(streaming(body, form))
}

fn streaming(body: Body, form: As) -> http::Response<Body> {
    let content_type = match form {
        As::Protobuf => "application/vnd.kubernetes.protobuf;stream=watch",
        _ => "application/json",
    };
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .header("Cache-Control", "no-cache, private")
        .body(body)
        .expect("valid response")
}

fn rand_secs() -> u64 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        % 1800) as u64
}
