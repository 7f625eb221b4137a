//! The etcd backend: the real etcd v3 API through `etcd-client`.
//!
//! Writes are single-key transactions comparing `create_revision` (create) or
//! `mod_revision` (update, delete), with a `get` on the failure branch so that a
//! failed compare returns the current value in the same round trip, as
//! kube-apiserver's etcd3 store does. TTLs use leases, reused across writes with
//! the same TTL like kube-apiserver's lease manager, so a busy event stream does
//! not create one lease per event.
//!
//! Reads and watches retry when an endpoint is unreachable, so that a client of a
//! three-member cluster keeps working while one member is down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, ConnectOptions, DeleteOptions,
    EventType as EtcdEventType, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::mpsc;

use crate::watch::AbortOnDrop;
use crate::{
    Event, EventType, Guard, KeyRange, KeyValue, ListRequest, ListResponse, Outcome,
    ProgressRequester, Result, Store, StoreError, WatchStream, WatchUpdate, check_value,
    prefix_end,
};

/// Attempts of an operation that fails because an endpoint is unreachable.
const ATTEMPTS: u32 = 10;
/// Longest a lease is reused for new keys (kube-apiserver: 60 s, or 5 % of the TTL).
const LEASE_REUSE_MAX: Duration = Duration::from_secs(60);

/// Connection settings of the etcd backend.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Client URLs of the members, e.g. `http://127.0.0.1:2379` or
    /// `https://...` with [`EtcdOptions::tls`].
    pub endpoints: Vec<String>,
    /// Deadline of each request.
    pub request_timeout: Duration,
    /// TLS to the members (kube-apiserver's `--etcd-cafile`,
    /// `--etcd-certfile`, `--etcd-keyfile`).
    pub tls: Option<EtcdTls>,
    /// Whether watches answer progress requests: None decides by the
    /// members' versions (see [`supports_watch_progress`]); tests force it.
    pub watch_progress: Option<bool>,
}

/// PEM files of TLS to etcd: the CA the members' certificates are checked
/// against, and this client's certificate and key (etcd's
/// `--client-cert-auth`).
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    pub ca_file: Option<std::path::PathBuf>,
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
}

impl EtcdOptions {
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        EtcdOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(10),
            tls: None,
            watch_progress: None,
        }
    }
}

impl EtcdTls {
    fn options(&self) -> Result<etcd_client::TlsOptions> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|source| StoreError::Io {
                context: format!("reading {}", p.display()),
                source,
            })
        };
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca_file {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => {
                return Err(StoreError::Io {
                    context: "etcd TLS".into(),
                    source: std::io::Error::other("--etcd-certfile and --etcd-keyfile go together"),
                });
            }
        }
        Ok(tls)
    }
}

/// A store on etcd.
pub struct EtcdStore {
    client: Client,
    leases: Mutex<HashMap<i64, (i64, Instant)>>,
    /// Whether every member answers `RequestProgress` correctly (see
    /// [`supports_watch_progress`]).
    progress: AtomicBool,
}

impl EtcdStore {
    /// Connects to the cluster; fails if no endpoint answers.
    pub async fn connect(options: EtcdOptions) -> Result<Self> {
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(options.request_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls.options()?);
        }
        let client = Client::connect(&options.endpoints, Some(connect.clone())).await?;
        let store = EtcdStore {
            client,
            leases: Mutex::new(HashMap::new()),
            progress: AtomicBool::new(false),
        };
        store.current_revision().await?;
        store.progress.store(
            store.decide_watch_progress(&options, connect).await,
            Ordering::Relaxed,
        );
        Ok(store)
    }

    /// Whether watches may answer progress requests: every member is asked
    /// for its version, as upstream's feature checker does; one that is too
    /// old (or does not answer) leaves them off.
    async fn decide_watch_progress(&self, options: &EtcdOptions, connect: ConnectOptions) -> bool {
        if let Some(forced) = options.watch_progress {
            return forced;
        }
        let versions = futures::future::join_all(options.endpoints.iter().map(|endpoint| {
            let connect = connect.clone();
            async move {
                let mut c = Client::connect([endpoint.as_str()], Some(connect))
                    .await
                    .ok()?;
                Some(c.status().await.ok()?.version().to_string())
            }
        }))
        .await;
        let supported = versions
            .iter()
            .all(|v| v.as_deref().is_some_and(supports_watch_progress));
        if !supported {
            tracing::info!(
                ?versions,
                "etcd does not answer watch progress requests reliably (3.4.31 or 3.5.13 needed); consistent reads go to etcd"
            );
        }
        supported
    }

    /// A lease for a key that must live `ttl`, reused while it lives long enough.
    async fn lease(&self, ttl: Duration) -> Result<i64> {
        let ttl_secs = ttl.as_secs().max(1) as i64;
        let reuse =
            Duration::from_secs(((ttl_secs as f64 * 0.05) as u64).max(1)).min(LEASE_REUSE_MAX);
        let now = Instant::now();
        if let Some((id, expires)) = self
            .leases
            .lock()
            .expect("poisoned")
            .get(&ttl_secs)
            .copied()
        {
            let needed = now + Duration::from_secs(ttl_secs as u64);
            if needed <= expires && expires <= needed + reuse {
                return Ok(id);
            }
        }
        let granted_ttl = ttl_secs + reuse.as_secs() as i64;
        let resp = retry(|| {
            let mut c = self.client.clone();
            async move { c.lease_grant(granted_ttl, None).await }
        })
        .await?;
        self.leases.lock().expect("poisoned").insert(
            ttl_secs,
            (resp.id(), now + Duration::from_secs(granted_ttl as u64)),
        );
        Ok(resp.id())
    }

    /// Runs `compares ? on_success : get(key)` and returns whether it succeeded,
    /// the revision after it, and the response of the branch taken.
    async fn txn(&self, key: &str, compares: Vec<Compare>, on_success: TxnOp) -> Result<TxnReply> {
        let txn = Txn::new()
            .when(compares)
            .and_then([on_success])
            .or_else([TxnOp::get(key, None)]);
        let resp = retry(|| {
            let mut c = self.client.clone();
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })
        .await?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        let response = resp.op_responses().pop();
        if !resp.succeeded() {
            let current = match response {
                Some(TxnOpResponse::Get(g)) => g.kvs().first().map(convert_kv),
                _ => None,
            };
            return Ok(TxnReply::Failed(current));
        }
        Ok(TxnReply::Succeeded { revision, response })
    }

    /// A put under `compare`; the new key's bookkeeping is derived from its
    /// previous value, as etcd's put response carries only the revision.
    async fn put(
        &self,
        key: &str,
        value: Bytes,
        compares: Vec<Compare>,
        ttl: Option<Duration>,
    ) -> Result<Outcome> {
        check_value(key, &value)?;
        let opts = match ttl {
            Some(t) => PutOptions::new().with_lease(self.lease(t).await?),
            None => PutOptions::new(),
        }
        .with_prev_key();
        match self
            .txn(key, compares, TxnOp::put(key, value.to_vec(), Some(opts)))
            .await?
        {
            TxnReply::Failed(current) => Ok(Outcome::Failed { current }),
            TxnReply::Succeeded { revision, response } => {
                let prev = match response {
                    Some(TxnOpResponse::Put(p)) => p.prev_key().map(convert_kv),
                    _ => None,
                };
                Ok(Outcome::Written {
                    revision,
                    kv: KeyValue {
                        key: key.to_string(),
                        value,
                        create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                        mod_revision: revision,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                    },
                })
            }
        }
    }
}

/// How a single-key transaction ended.
enum TxnReply {
    /// The compare failed; the key's current value.
    Failed(Option<KeyValue>),
    /// The compare held; the revision after the write and the write's response.
    Succeeded {
        revision: i64,
        response: Option<TxnOpResponse>,
    },
}

fn convert_kv(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    }
}

/// Maps etcd's errors onto the store's, keeping everything else as `Etcd`.
fn map_error(e: etcd_client::Error, requested: i64) -> StoreError {
    if let etcd_client::Error::GRpcStatus(status) = &e {
        let msg = status.message();
        if msg.contains("required revision has been compacted") {
            return StoreError::Compacted {
                requested,
                compact_revision: 0,
            };
        }
        if msg.contains("required revision is a future revision") {
            return StoreError::FutureRevision {
                requested,
                current: 0,
            };
        }
    }
    StoreError::Etcd(e)
}

/// Whether an error means the endpoint was unreachable or had no leader, so that
/// another attempt (on another member) may succeed.
fn transient(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            // Cancelled: the connection to a member closed under the
            // request (hyper's "connection closed"); the client itself
            // cancels nothing it still waits for.
            matches!(
                s.code(),
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Unknown
                    | tonic::Code::Cancelled
            ) && !s.message().contains("mvcc:")
        }
        _ => false,
    }
}

/// Retries `f` while the failure is transient. A write whose first attempt
/// reached etcd but whose answer was lost is retried too: a retried create or
/// compare-and-swap then reports the caller's own write as a failed compare
/// (`Outcome::Failed` with the value it wrote), which the API server answers as
/// a conflict; nothing acknowledged is lost, but the caller may see a spurious 409.
async fn retry<T, F, Fut>(mut f: F) -> Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "etcd request failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str, revision: i64) -> Result<(i64, Option<KeyValue>)> {
        let resp = retry(|| {
            let mut c = self.client.clone();
            async move {
                c.get(key, Some(GetOptions::new().with_revision(revision.max(0))))
                    .await
            }
        })
        .await
        .map_err(|e| map_error(e, revision))?;
        let header_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let rev = if revision > 0 { revision } else { header_rev };
        Ok((rev, resp.kvs().first().map(convert_kv)))
    }

    async fn list(&self, req: ListRequest) -> Result<ListResponse> {
        let start = match &req.start {
            Some(s) if s.as_str() > req.prefix.as_str() => s.clone(),
            _ => req.prefix.clone(),
        };
        let mut end = prefix_end(&req.prefix);
        if end.is_empty() {
            end = vec![0];
        }
        let start_key: Vec<u8> = if start.is_empty() {
            vec![0]
        } else {
            start.into_bytes()
        };
        let mut opts = GetOptions::new()
            .with_range(end)
            .with_revision(req.revision.max(0));
        if req.limit > 0 {
            opts = opts.with_limit(req.limit as i64);
        }
        let resp = retry(|| {
            let mut c = self.client.clone();
            let (k, o) = (start_key.clone(), opts.clone());
            async move { c.get(k, Some(o)).await }
        })
        .await
        .map_err(|e| map_error(e, req.revision))?;
        let header_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        Ok(ListResponse {
            kvs: resp.kvs().iter().map(convert_kv).collect(),
            more: resp.more(),
            count: resp.count(),
            revision: if req.revision > 0 {
                req.revision
            } else {
                header_rev
            },
        })
    }

    async fn create(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> Result<Outcome> {
        self.put(
            key,
            value,
            vec![Compare::create_revision(key, CompareOp::Equal, 0)],
            ttl,
        )
        .await
    }

    async fn create_guarded(
        &self,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
        guard: &Guard,
    ) -> Result<Outcome> {
        self.put(
            key,
            value,
            vec![
                Compare::create_revision(key, CompareOp::Equal, 0),
                Compare::mod_revision(guard.key.as_str(), CompareOp::Equal, guard.mod_revision),
            ],
            ttl,
        )
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
        ttl: Option<Duration>,
    ) -> Result<Outcome> {
        self.put(
            key,
            value,
            vec![Compare::mod_revision(
                key,
                CompareOp::Equal,
                expected_mod_revision,
            )],
            ttl,
        )
        .await
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<Outcome> {
        let compare = match expected_mod_revision {
            Some(rev) => Compare::mod_revision(key, CompareOp::Equal, rev),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        match self
            .txn(
                key,
                vec![compare],
                TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key())),
            )
            .await?
        {
            TxnReply::Failed(current) => Ok(Outcome::Failed { current }),
            TxnReply::Succeeded { revision, response } => match response {
                Some(TxnOpResponse::Delete(d)) => match d.prev_kvs().first() {
                    Some(prev) => Ok(Outcome::Written {
                        revision,
                        kv: convert_kv(prev),
                    }),
                    None => Ok(Outcome::Failed { current: None }),
                },
                _ => Err(StoreError::Closed(
                    "etcd answered a delete without its response".into(),
                )),
            },
        }
    }

    async fn watch(&self, range: KeyRange, start_revision: i64) -> Result<WatchStream> {
        let mut next = if start_revision > 0 {
            start_revision
        } else {
            self.current_revision().await? + 1
        };
        let (tx, rx) = mpsc::channel(64);
        let (progress, requested) = ProgressRequester::new();
        // Establish the first watch here so that a compacted start revision is
        // reported by `watch` itself.
        let (mut sender, mut stream) = open_watch(&self.client, &range, next).await?.split();
        let client = self.client.clone();
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let message = tokio::select! {
                    m = stream.message() => m,
                    () = requested.notified() => {
                        // Answered on the stream, after the events before it
                        // (etcd sends it once the watch is synced). A stream
                        // that fails here fails its next read too.
                        let _ = sender.request_progress().await;
                        continue;
                    }
                };
                match message {
                    Ok(Some(resp)) => {
                        if resp.compact_revision() > 0 {
                            let _ = tx
                                .send(Err(StoreError::Compacted {
                                    requested: next,
                                    compact_revision: resp.compact_revision(),
                                }))
                                .await;
                            return;
                        }
                        if resp.canceled() {
                            let _ = tx
                                .send(Err(StoreError::WatchLagged(format!(
                                    "etcd canceled the watch: {}",
                                    resp.cancel_reason()
                                ))))
                                .await;
                            return;
                        }
                        failures = 0;
                        if resp.events().is_empty() {
                            // A progress notification: every event up to the
                            // header's revision has been sent.
                            let revision = resp.header().map_or(0, |h| h.revision());
                            if revision >= next - 1 {
                                next = revision + 1;
                                if tx.send(Ok(WatchUpdate::Progress(revision))).await.is_err() {
                                    return;
                                }
                            }
                            continue;
                        }
                        let events: Vec<Event> = resp
                            .events()
                            .iter()
                            .filter_map(convert_event)
                            .filter(|e| e.revision() >= next)
                            .collect();
                        if let Some(last) = events.last() {
                            next = last.revision() + 1;
                            if tx.send(Ok(WatchUpdate::Events(events))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(None) | Err(_) => {
                        // The member went away: resume from the next revision on another.
                        loop {
                            failures += 1;
                            if failures > ATTEMPTS * 3 {
                                let _ = tx
                                    .send(Err(StoreError::Closed("lost the etcd watch".into())))
                                    .await;
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            match open_watch(&client, &range, next).await {
                                Ok(s) => {
                                    (sender, stream) = s.split();
                                    break;
                                }
                                Err(e @ StoreError::Compacted { .. }) => {
                                    let _ = tx.send(Err(e)).await;
                                    return;
                                }
                                Err(_) => continue,
                            }
                        }
                    }
                }
            }
        });
        let progress = self.progress.load(Ordering::Relaxed).then_some(progress);
        Ok(WatchStream::new(rx, progress).with_guard(AbortOnDrop(task)))
    }

    async fn current_revision(&self) -> Result<i64> {
        let resp = retry(|| {
            let mut c = self.client.clone();
            async move {
                c.get(vec![0u8], Some(GetOptions::new().with_count_only()))
                    .await
            }
        })
        .await?;
        Ok(resp.header().map(|h| h.revision()).unwrap_or(0))
    }

    async fn check_health(&self) -> Result<()> {
        // Upstream's etcd check: one read of `health`, not retried.
        let mut c = self.client.clone();
        c.get("health", None).await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        retry(|| {
            let mut c = self.client.clone();
            async move {
                c.compact(revision, Some(CompactionOptions::new().with_physical()))
                    .await
            }
        })
        .await
        .map_err(|e| map_error(e, revision))?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "etcd"
    }
}

/// Whether an etcd of this version answers `RequestProgress` only once the
/// watch has sent every earlier event: etcd-io/etcd#15220 (fixed in 3.4.25
/// and 3.5.8) and #17507 (3.4.31 and 3.5.13), as upstream's
/// `endpointSupportsRequestWatchProgress`.
fn supports_watch_progress(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    (major, minor, patch) >= (3, 5, 13) || ((major, minor) == (3, 4) && patch >= 31)
}

/// Opens an etcd watch and waits for its creation, reporting a compacted start.
async fn open_watch(
    client: &Client,
    range: &KeyRange,
    start: i64,
) -> Result<etcd_client::WatchStream> {
    let (key, opts) = match range {
        KeyRange::Key(k) => (k.clone().into_bytes(), WatchOptions::new()),
        KeyRange::Prefix(p) if p.is_empty() => (vec![0], WatchOptions::new().with_range(vec![0])),
        KeyRange::Prefix(p) => (p.clone().into_bytes(), WatchOptions::new().with_prefix()),
    };
    // etcd reports a compacted start revision only after it has created the
    // watch; a read at the start revision finds out first.
    let probe = GetOptions::new().with_revision(start).with_count_only();
    match retry(|| {
        let mut c = client.clone();
        let (k, o) = (key.clone(), probe.clone());
        async move { c.get(k, Some(o)).await }
    })
    .await
    .map_err(|e| map_error(e, start))
    {
        Err(e @ StoreError::Compacted { .. }) => return Err(e),
        Err(StoreError::FutureRevision { .. }) | Ok(_) => {}
        Err(e) => return Err(e),
    }
    let opts = opts.with_start_revision(start).with_prev_key();
    let mut stream = retry(|| {
        let mut c = client.clone();
        let (k, o) = (key.clone(), opts.clone());
        async move { c.watch(k, Some(o)).await }
    })
    .await?;
    // The first message confirms creation (or reports compaction).
    match stream.message().await? {
        Some(resp) if resp.compact_revision() > 0 => Err(StoreError::Compacted {
            requested: start,
            compact_revision: resp.compact_revision(),
        }),
        Some(resp) if resp.canceled() => Err(StoreError::WatchLagged(format!(
            "etcd refused the watch: {}",
            resp.cancel_reason()
        ))),
        Some(_) => Ok(stream),
        None => Err(StoreError::Closed("etcd closed the watch stream".into())),
    }
}

fn convert_event(e: &etcd_client::Event) -> Option<Event> {
    let kv = convert_kv(e.kv()?);
    Some(Event {
        event_type: match e.event_type() {
            EtcdEventType::Put => EventType::Put,
            EtcdEventType::Delete => EventType::Delete,
        },
        kv,
        prev_kv: e.prev_kv().map(convert_kv),
    })
}

#[cfg(test)]
mod tests {
    use super::supports_watch_progress;

    #[test]
    fn watch_progress_by_version_as_upstream() {
        for (version, supported) in [
            ("3.4.23", false),
            ("3.4.30", false),
            ("3.4.31", true),
            ("3.5.0", false),
            ("3.5.12", false),
            ("3.5.13", true),
            ("3.5.21", true),
            ("3.6.0", true),
            ("3.6.0-rc.1", true),
            ("unknown", false),
            ("", false),
        ] {
            assert_eq!(supports_watch_progress(version), supported, "{version}");
        }
    }
}
