//! Hostile connections against the HTTPS front (`serve`): a client that never
//! finishes its TLS handshake or its headers, an idle keep-alive connection,
//! and an unauthenticated client announcing a large body are all let go,
//! on a paused clock (the timeouts are upstream's 32 s and 90 s).

mod common;

use std::sync::Arc;
use std::time::Duration;

use skiff_apiserver::Options;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Front {
    addr: std::net::SocketAddr,
    ca: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn front() -> Front {
    let (s, _store, dir) = common::server(Options::default()).await;
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = skiff_apiserver::pki::Pki::ensure(pki_dir.path(), &["127.0.0.1".into()]).unwrap();
    let tokens = pki_dir.path().join("tokens.csv");
    std::fs::write(&tokens, "secret,admin,1,system:masters\n").unwrap();
    let authn = skiff_apiserver::Authenticator::from_token_file(&tokens).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(skiff_apiserver::serve(
        s,
        listener,
        skiff_apiserver::tls_config(&pki).unwrap(),
        Arc::new(authn),
        std::future::pending(),
    ));
    Front {
        addr,
        ca: pki.ca_cert_pem.clone(),
        _dirs: (dir, pki_dir),
    }
}

async fn tls(f: &Front) -> tokio_rustls::client::TlsStream<TcpStream> {
    let client = skiff_apiserver::connect::TlsClient::verified(&f.ca, None).unwrap();
    let tcp = TcpStream::connect(f.addr).await.unwrap();
    tokio_rustls::TlsConnector::from(client.0.clone())
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads until the server closes; returns what it sent and how long (on
/// the test's clock) that took.
async fn until_closed(s: &mut (impl AsyncReadExt + Unpin)) -> (String, Duration) {
    let started = tokio::time::Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn slow_and_idle_clients_are_let_go() {
    let f = front().await;
    // The clock runs only when nothing else can: each wait below jumps to
    // the server's next timeout.
    tokio::time::pause();

    // No TLS handshake at all.
    let mut raw = TcpStream::connect(f.addr).await.unwrap();
    let (_, took) = until_closed(&mut raw).await;
    assert!(
        took >= Duration::from_secs(32) && took < Duration::from_secs(40),
        "{took:?}"
    );

    // Headers that never end (slowloris).
    let mut s = tls(&f).await;
    s.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, took) = until_closed(&mut s).await;
    assert!(
        took >= Duration::from_secs(32) && took < Duration::from_secs(40),
        "{took:?}"
    );

    // One request, then nothing: closed once idle, after upstream's 90 s
    // (its header timeout starts with the next request's first byte).
    let request = b"GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n\r\n";
    let mut s = tls(&f).await;
    s.write_all(request).await.unwrap();
    let (answer, took) = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took >= Duration::from_secs(90) && took < Duration::from_secs(100),
        "{took:?}"
    );

    // Idle for a minute, then a request: served on the same connection.
    let mut s = tls(&f).await;
    s.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    s.write_all(request).await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Then the start of headers that never end: closed 32 s after their
    // first byte.
    tokio::time::sleep(Duration::from_secs(30)).await;
    s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, took) = until_closed(&mut s).await;
    assert!(
        took >= Duration::from_secs(32) && took < Duration::from_secs(40),
        "{took:?}"
    );
}

/// The answer to the head of a POST announcing 3 MB, with `headers`, before
/// any byte of its body is sent.
async fn head_answer(f: &Front, headers: &str) -> String {
    let mut s = tls(f).await;
    let head = format!(
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n{headers}\
         Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered before any body byte was sent")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn unauthenticated_bodies_are_never_read() {
    let f = front().await;
    // 3 MiB announced, none sent: the answer comes at once, without them.
    // Without credentials: system:anonymous, refused by the authorizer.
    let answer = head_answer(&f, "").await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // With a token that authenticates no one: 401, the body unread too.
    let answer = head_answer(&f, "Authorization: Bearer wrong\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // With credentials, a body over the limit is refused as it arrives.
    let mut s = tls(&f).await;
    s.write_all(
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n\
          Authorization: Bearer secret\r\nContent-Type: application/json\r\n\
          Content-Length: 4000000\r\n\r\n",
    )
    .await
    .unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut answer = String::new();
    for _ in 0..64 {
        if s.write_all(&chunk).await.is_err() {
            break;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
            && n > 0
        {
            answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    if answer.is_empty() {
        answer = until_closed(&mut s).await.0;
    }
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

/// Requests for resources that do not exist, and methods HTTP does not
/// have, add no metric series (upstream's CVE-2020-8552).
#[tokio::test]
async fn unknown_resources_and_methods_add_no_metric_series() {
    use http_body_util::BodyExt;
    let (s, _store, _dir) = common::server(Options::default()).await;
    let admin = skiff_apiserver::UserInfo {
        name: "admin".into(),
        uid: String::new(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    };
    let request = |method: &str, path: &str| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(bytes::Bytes::new())
            .unwrap()
    };
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("apiserver_request"))
            .count()
    };
    let metrics = || async {
        let r = s
            .handle(request("GET", "/metrics"), Some(admin.clone()))
            .await;
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    };
    // Warm up every label the loop below can reach.
    for (m, p) in [
        ("GET", "/api/v1/namespaces/default/nothing0"),
        ("GET", "/apis/none.example/v1/things0"),
        ("BREW0", "/anything0"),
        ("GET", "/metrics"),
    ] {
        s.handle(request(m, p), Some(admin.clone())).await;
    }
    let before = series(&metrics().await);
    for i in 1..200 {
        for (m, p) in [
            ("GET", format!("/api/v1/namespaces/default/nothing{i}")),
            ("GET", format!("/apis/none{i}.example/v1/things{i}")),
            (&*format!("BREW{i}"), format!("/anything{i}")),
        ] {
            s.handle(request(m, &p), Some(admin.clone())).await;
        }
    }
    let after = metrics().await;
    assert_eq!(series(&after), before, "{after}");
}

/// `/readyz` and `/livez` ask the store: a stopped writer fails the `etcd`
/// checks, named as upstream names them.
#[tokio::test]
async fn health_checks_ask_the_store() {
    use http_body_util::BodyExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        skiff_store::sqlite::SqliteStore::open(dir.path().join("state.db"), Default::default())
            .await
            .unwrap(),
    );
    let s = skiff_apiserver::ApiServer::new(store.clone(), Options::default());
    s.set_ready();
    let get = |path: &'static str| {
        let s = s.clone();
        async move {
            let req = http::Request::builder()
                .uri(path)
                .body(bytes::Bytes::new())
                .unwrap();
            let r = s
                .handle(req, Some(skiff_apiserver::UserInfo::loopback()))
                .await;
            let status = r.status().as_u16();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, body) = get("/readyz?verbose").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("[+]etcd ok\n[+]etcd-readiness ok\n"),
        "{body}"
    );
    store.close().await;
    // The last answer is reused for a second at most.
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(1100)).await;
    let (status, body) = get("/readyz?verbose").await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains(
            "[-]etcd failed: reason withheld\n[-]etcd-readiness failed: reason withheld\n"
        ),
        "{body}"
    );
    assert!(body.ends_with("readyz check failed\n"), "{body}");
    assert_eq!(get("/livez").await.0, 500);
    assert_eq!(get("/readyz/etcd").await.0, 500);
}

/// A store that answers nothing (a partitioned etcd): requests are answered
/// within a bound instead of waiting forever for the watch cache to fill
/// while they hold an in-flight slot.
#[tokio::test]
async fn a_silent_store_holds_no_request_forever() {
    use skiff_store::{
        KeyRange, KeyValue, ListRequest, ListResponse, Outcome, Result, Store, WatchStream,
    };
    struct Silent;
    #[async_trait::async_trait]
    impl Store for Silent {
        async fn get(&self, _: &str, _: i64) -> Result<(i64, Option<KeyValue>)> {
            std::future::pending().await
        }
        async fn list(&self, _: ListRequest) -> Result<ListResponse> {
            std::future::pending().await
        }
        async fn create(&self, _: &str, _: bytes::Bytes, _: Option<Duration>) -> Result<Outcome> {
            std::future::pending().await
        }
        async fn create_guarded(
            &self,
            _: &str,
            _: bytes::Bytes,
            _: Option<Duration>,
            _: &skiff_store::Guard,
        ) -> Result<Outcome> {
            std::future::pending().await
        }
        async fn update(
            &self,
            _: &str,
            _: bytes::Bytes,
            _: i64,
            _: Option<Duration>,
        ) -> Result<Outcome> {
            std::future::pending().await
        }
        async fn delete(&self, _: &str, _: Option<i64>) -> Result<Outcome> {
            std::future::pending().await
        }
        async fn watch(&self, _: KeyRange, _: i64) -> Result<WatchStream> {
            std::future::pending().await
        }
        async fn current_revision(&self) -> Result<i64> {
            std::future::pending().await
        }
        async fn compact(&self, _: i64) -> Result<()> {
            std::future::pending().await
        }
        async fn check_health(&self) -> Result<()> {
            std::future::pending().await
        }
        fn backend(&self) -> &'static str {
            "silent"
        }
    }
    tokio::time::pause();
    let s = skiff_apiserver::ApiServer::new(Arc::new(Silent), Options::default());
    let admin = skiff_apiserver::UserInfo::loopback();
    let get = |path: &'static str| {
        let (s, admin) = (s.clone(), admin.clone());
        async move {
            let req = http::Request::builder()
                .uri(path)
                .body(bytes::Bytes::new())
                .unwrap();
            s.handle(req, Some(admin)).await.status().as_u16()
        }
    };
    // A watch: upstream's 429 while its cache (re)initializes.
    let started = tokio::time::Instant::now();
    assert_eq!(get("/api/v1/configmaps?watch=1").await, 429);
    assert!(
        started.elapsed() <= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Health checks fail within their timeout.
    assert_eq!(get("/readyz").await, 500);
}
