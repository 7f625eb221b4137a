//! The real binary under abuse, as an attacker would try it: idle and slow
//! connections without credentials, 3 MiB bodies without credentials, and,
//! with credentials, a YAML alias bomb, a JSON patch doubling its document,
//! deep nesting and a spinning label selector — while an authenticated
//! `kubectl get` keeps being answered, the server's memory stays bounded
//! and nothing stored changes.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use skiff_testutil::free_port;
use skiff_testutil::http::Client;
use skiff_testutil::server::SkiffServer;

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

#[test]
fn the_server_outlasts_hostile_clients() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SkiffServer::new(&dir.path().join("data"), "127.0.0.1", free_port(), &[]);
    s.start().unwrap();
    let pid = s.pid().unwrap();
    let client = Client::from_kubeconfig(&s.kubeconfig()).unwrap();
    s.ok(&["create", "namespace", "abuse"]);
    s.ok(&[
        "create",
        "configmap",
        "keep",
        "-n",
        "abuse",
        "--from-literal=a=b",
    ]);
    let stored = || {
        s.ok(&[
            "get",
            "configmaps",
            "-n",
            "abuse",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}@{.metadata.resourceVersion} {end}",
        ])
    };
    let before = stored();
    let idle_rss = rss_mib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();

    // 300 connections that never say anything, and 50 TLS-less slowloris
    // writers trickling header bytes.
    let address = client.address.clone();
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    for _ in 0..50 {
        let (address, stop) = (address.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let Ok(mut c) = TcpStream::connect(&address) else {
                return;
            };
            while !stop.load(Ordering::Relaxed) {
                if c.write_all(b"\x16").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }));
    }
    // Unauthenticated clients sending 3 MiB bodies, over and over.
    let big = vec![b'x'; 3 * 1024 * 1024];
    for _ in 0..4 {
        let (anonymous, stop, big) = (client.anonymous(), stop.clone(), big.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = anonymous.request(
                    "POST",
                    "/api/v1/namespaces/abuse/configmaps",
                    Some("application/json"),
                    &big,
                ) {
                    // system:anonymous, refused before the body is read.
                    assert_eq!(r.status, 403, "{}", r.text());
                }
            }
        }));
    }
    // Authenticated hostile bodies, each refused with upstream's status.
    let bomb = {
        let mut y = String::from(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (name, prev) in [
            ("b", "a"),
            ("c", "b"),
            ("d", "c"),
            ("e", "d"),
            ("f", "e"),
            ("g", "f"),
            ("h", "g"),
            ("i", "h"),
        ] {
            y.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        y.push_str("data: {x: y}\n");
        y
    };
    let doubling: Vec<serde_json::Value> = (0..40)
        .map(|i| serde_json::json!({"op": "copy", "from": "/data", "path": format!("/data/c{i}")}))
        .collect();
    let deep_yaml = format!("{}{}", "{a: ".repeat(100_000), "}".repeat(100_000));
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let hostile: Vec<(&str, String, &str, Vec<u8>, u16)> = vec![
        (
            "POST",
            "/api/v1/namespaces/abuse/configmaps".into(),
            "application/yaml",
            bomb.into_bytes(),
            400,
        ),
        (
            "PATCH",
            "/api/v1/namespaces/abuse/configmaps/keep".into(),
            "application/json-patch+json",
            serde_json::to_vec(&doubling).unwrap(),
            422,
        ),
        (
            "POST",
            "/api/v1/namespaces/abuse/configmaps".into(),
            "application/yaml",
            deep_yaml.into_bytes(),
            400,
        ),
        (
            "POST",
            "/api/v1/namespaces/abuse/configmaps".into(),
            "application/json",
            deep_json.into_bytes(),
            400,
        ),
        (
            "GET",
            "/api/v1/namespaces/abuse/configmaps?labelSelector=%0Cn".into(),
            "application/json",
            Vec::new(),
            400,
        ),
        (
            "POST",
            "/api/v1/namespaces/abuse/configmaps".into(),
            "application/json",
            vec![b' '; 3 * 1024 * 1024 + 1],
            413,
        ),
    ];
    for (method, path, ct, body, status) in hostile {
        let (client, stop) = (
            Client::from_kubeconfig(&s.kubeconfig()).unwrap(),
            stop.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) || rounds == 0 {
                let t = Instant::now();
                let r = client
                    .request(method, &path, Some(ct), &body)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{method} {path} ({ct}, {} bytes) after {:?}: {e}",
                            body.len(),
                            t.elapsed()
                        )
                    });
                assert_eq!(r.status, status, "{method} {path}: {}", r.text());
                rounds += 1;
            }
        }));
    }

    // Meanwhile the server answers: every kubectl get within seconds.
    let mut peak = idle_rss;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        s.ok(&["get", "configmap", "keep", "-n", "abuse"]);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "kubectl get took {:?}",
            t.elapsed()
        );
        peak = peak.max(rss_mib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    drop(idle);
    eprintln!("RSS idle {idle_rss:.1} MiB, peak under abuse {peak:.1} MiB");
    // Bounded: a few requests' buffers at once, not what the bodies ask for.
    assert!(
        peak < idle_rss + 256.0,
        "RSS {peak:.1} MiB (idle {idle_rss:.1} MiB)"
    );
    assert_eq!(stored(), before, "nothing stored changed");
}
