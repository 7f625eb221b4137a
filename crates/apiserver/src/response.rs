//! Building responses: JSON bodies, `metav1.Status` errors, streamed bodies.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use serde_json::Value;
use skiff_api::ApiError;

/// The response body type: a full buffer or a stream (watch).
pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// The sending side of a streamed body (a watch), bounded by the bytes in
/// flight rather than by a count of chunks: a client that stops reading
/// holds at most `budget` bytes (one chunk bigger than that passes alone),
/// and its sender waits until it reads.
#[derive(Clone)]
pub struct StreamSender {
    tx: tokio::sync::mpsc::Sender<(Bytes, tokio::sync::OwnedSemaphorePermit)>,
    budget: std::sync::Arc<tokio::sync::Semaphore>,
    max: u32,
}

/// The client went away.
#[derive(Debug)]
pub struct Gone;

impl StreamSender {
    pub async fn send(&self, chunk: Bytes) -> Result<(), Gone> {
        let n = u32::try_from(chunk.len())
            .unwrap_or(u32::MAX)
            .clamp(1, self.max);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| Gone)?;
        self.tx.send((chunk, permit)).await.map_err(|_| Gone)
    }

    /// Resolves when the body is dropped (the client went away).
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// A streamed body and its sender; the stream ends when every sender is
/// dropped.
pub fn streamed(budget: u32) -> (StreamSender, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let sender = StreamSender {
        tx,
        budget: std::sync::Arc::new(tokio::sync::Semaphore::new(budget as usize)),
        max: budget,
    };
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        // The permit goes with the chunk: handed to the connection, it no
        // longer counts against the budget.
        rx.recv()
            .await
            .map(|(b, _permit)| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    (sender, BodyExt::boxed(StreamBody::new(stream)))
}

pub fn bytes_response(
    status: u16,
    content_type: &str,
    body: impl Into<Bytes>,
) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header("Cache-Control", "no-cache, private")
        .body(full(body))
        .expect("valid response")
}

pub fn json(status: u16, value: &Value) -> http::Response<Body> {
    bytes_response(
        status,
        "application/json",
        serde_json::to_vec(value).expect("serializable"),
    )
}

/// A value as a YAML body.
pub fn yaml(status: u16, value: &Value) -> http::Response<Body> {
    bytes_response(
        status,
        "application/yaml",
        serde_yaml::to_string(value).unwrap_or_default(),
    )
}

/// An object as a Kubernetes protobuf body; JSON when its kind has no
/// protobuf form (as upstream falls back to the next acceptable type).
pub fn protobuf(status: u16, value: &Value) -> http::Response<Body> {
    match skiff_api::proto::encode(value) {
        Ok(bytes) => bytes_response(status, crate::list::PROTOBUF, bytes),
        Err(_) => json(status, value),
    }
}

/// An error in the encoding the request asked for (a protobuf `Status` for
/// clients that read protobuf).
pub fn error_for(err: &ApiError, headers: &http::HeaderMap) -> http::Response<Body> {
    let resp = error(err);
    if err.code == 429 {
        return resp;
    }
    let form = match crate::negotiation::negotiate(headers, false) {
        Ok(form) => form,
        // Not negotiable: upstream writes the Status as indented JSON.
        Err(_) => {
            let (parts, _) = resp.into_parts();
            let body = serde_json::to_vec_pretty(&err.status()).unwrap_or_default();
            return http::Response::from_parts(parts, full(body));
        }
    };
    let mut replaced = match form {
        crate::list::As::Protobuf => protobuf(err.code, &err.status()),
        crate::list::As::Yaml => yaml(err.code, &err.status()),
        _ => return resp,
    };
    let (parts, _) = resp.into_parts();
    for (name, value) in parts.headers.iter() {
        if name != http::header::CONTENT_TYPE {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
}

/// A `Status` of success in the encoding the request asked for.
pub fn status_for(status: u16, value: &Value, headers: &http::HeaderMap) -> http::Response<Body> {
    match crate::list::wanted(headers) {
        crate::list::As::Protobuf => protobuf(status, value),
        crate::list::As::Yaml => yaml(status, value),
        _ => json(status, value),
    }
}

pub fn error(err: &ApiError) -> http::Response<Body> {
    if err.code == 429 {
        // As upstream's max-in-flight filter: plain text, not a Status.
        let mut resp = text(429, "Too many requests, please try again later.\n");
        resp.headers_mut()
            .insert("Retry-After", http::HeaderValue::from_static("1"));
        resp.headers_mut().insert(
            "X-Content-Type-Options",
            http::HeaderValue::from_static("nosniff"),
        );
        return resp;
    }
    let mut resp = json(err.code, &err.status());
    if let Some(secs) = err
        .details
        .as_ref()
        .and_then(|d| d.get("retryAfterSeconds"))
        .and_then(serde_json::Value::as_u64)
        && let Ok(v) = http::HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert("Retry-After", v);
    }
    resp
}

pub fn text(status: u16, body: impl Into<Bytes>) -> http::Response<Body> {
    bytes_response(status, "text/plain; charset=utf-8", body)
}

/// A body that keeps `guard` until it is done (dropped): a connection's
/// busy mark, an audit event completed on drop.
pub fn holding<G: Send + Sync + Unpin + 'static>(inner: Body, guard: G) -> Body {
    Holding {
        inner,
        _guard: guard,
    }
    .boxed()
}

struct Holding<G> {
    inner: Body,
    _guard: G,
}

impl<G: Unpin> hyper::body::Body for Holding<G> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
