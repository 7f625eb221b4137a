//! The bootstrap controllers' client: requests through [`ApiServer::handle`]
//! under the loopback identity, so what bootstrap writes goes through the same
//! defaulting, validation and admission as any client's write (upstream's
//! controllers use the loopback client the same way).

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;
use skiff_apiserver::{ApiServer, UserInfo};

use super::BootstrapError;

type Result<T> = std::result::Result<T, BootstrapError>;

/// What a create answered.
#[derive(Debug)]
pub(crate) enum Created {
    Created(Value),
    /// Another writer (a previous run, another server) got there first.
    AlreadyExists,
}

/// What an update answered.
#[derive(Debug)]
pub(crate) enum Updated {
    Updated(Value),
    /// The object changed since it was read (409 Conflict) or is gone: read again.
    Stale,
}

/// The loopback client.
#[derive(Clone)]
pub(crate) struct Loopback {
    server: ApiServer,
}

impl Loopback {
    pub(crate) fn new(server: ApiServer) -> Self {
        Loopback { server }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let bytes = match body {
            Some(b) => {
                Bytes::from(serde_json::to_vec(b).map_err(|e| BootstrapError::new(path, 0, e))?)
            }
            None => Bytes::new(),
        };
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(bytes)
            .map_err(|e| BootstrapError::new(path, 0, e))?;
        let resp = self.server.handle(req, Some(UserInfo::loopback())).await;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| BootstrapError::new(path, status, format!("{e:?}")))?
            .to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// The object at `path`, or None when it does not exist.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<Value>> {
        match self.call(Method::GET, path, None).await? {
            (200, v) => Ok(Some(v)),
            (404, _) => Ok(None),
            (status, body) => Err(BootstrapError::status("GET", path, status, &body)),
        }
    }

    /// Creates `obj` in `collection`.
    pub(crate) async fn create(&self, collection: &str, obj: &Value) -> Result<Created> {
        match self.call(Method::POST, collection, Some(obj)).await? {
            (200 | 201, v) => Ok(Created::Created(v)),
            (409, _) => Ok(Created::AlreadyExists),
            (status, body) => Err(BootstrapError::status("POST", collection, status, &body)),
        }
    }

    /// Replaces the object at `path` with `obj` (which carries the
    /// resourceVersion it was read at).
    pub(crate) async fn update(&self, path: &str, obj: &Value) -> Result<Updated> {
        match self.call(Method::PUT, path, Some(obj)).await? {
            (200 | 201, v) => Ok(Updated::Updated(v)),
            (404 | 409, _) => Ok(Updated::Stale),
            (status, body) => Err(BootstrapError::status("PUT", path, status, &body)),
        }
    }

    /// Deletes the object at `path`; a missing object is not an error.
    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        match self.call(Method::DELETE, path, None).await? {
            (200 | 202 | 404, _) => Ok(()),
            (status, body) => Err(BootstrapError::status("DELETE", path, status, &body)),
        }
    }

    /// The items of the list at `path`.
    pub(crate) async fn list(&self, path: &str) -> Result<Vec<Value>> {
        match self.call(Method::GET, path, None).await? {
            (200, Value::Object(mut list)) => Ok(match list.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }),
            (status, body) => Err(BootstrapError::status("GET", path, status, &body)),
        }
    }

    /// Makes the object at `collection/name` exist: reads it and creates
    /// `desired` if it is missing. Returns the stored object. Safe against
    /// concurrent creators: a lost race (409, or the 422 of an address another
    /// creator allocated first) reads the winner's object.
    pub(crate) async fn ensure(
        &self,
        collection: &str,
        name: &str,
        desired: &Value,
    ) -> Result<Value> {
        let path = format!("{collection}/{name}");
        for _ in 0..5 {
            if let Some(current) = self.get(&path).await? {
                return Ok(current);
            }
            match self.create(collection, desired).await {
                Ok(Created::Created(v)) => return Ok(v),
                Ok(Created::AlreadyExists) => continue,
                Err(e) => match self.get(&path).await? {
                    Some(current) => return Ok(current),
                    None => return Err(e),
                },
            }
        }
        Err(BootstrapError::new(
            &path,
            409,
            "created and deleted concurrently, five times",
        ))
    }

    /// Reads the object at `collection/name`, creating `desired` if missing, and
    /// applies `repair` to it: when `repair` changes the object, it is written
    /// back (read again and retried on a conflict).
    pub(crate) async fn reconcile(
        &self,
        collection: &str,
        name: &str,
        desired: &Value,
        repair: impl Fn(&mut Value) -> bool,
    ) -> Result<Value> {
        let path = format!("{collection}/{name}");
        for _ in 0..5 {
            let mut current = self.ensure(collection, name, desired).await?;
            if !repair(&mut current) {
                return Ok(current);
            }
            tracing::info!(object = %path, "bootstrap: repairing");
            match self.update(&path, &current).await? {
                Updated::Updated(v) => return Ok(v),
                Updated::Stale => continue,
            }
        }
        Err(BootstrapError::new(
            &path,
            409,
            "changed concurrently five times in a row",
        ))
    }
}
