//! Store benchmark: the same workloads, in the same run, against the embedded
//! SQLite backend and a real etcd (both durable), printed as a markdown table
//! with the ratio between them.
//!
//! Workloads: creates of 256-byte values with 1, 16 and 64 concurrent writers
//! (throughput, p50/p99 latency); a range read of 10k keys; the latency of an
//! event reaching 100 watchers.
//!
//! Run: `cargo run --release -p store-bench -- --writes 20000`
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use skiff_store::etcd::{EtcdOptions, EtcdStore};
use skiff_store::sqlite::{SqliteOptions, SqliteStore};
use skiff_store::{KeyRange, ListRequest, Store};

#[derive(Parser, Debug)]
struct Args {
    /// Writes per concurrency level.
    #[arg(long, default_value_t = 20_000)]
    writes: usize,
    /// Concurrency levels of the write test.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    writers: Vec<usize>,
    /// Keys in the range test.
    #[arg(long, default_value_t = 10_000)]
    range_keys: usize,
    /// Watchers in the watch test.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Revisions of history compacted in the compaction test.
    #[arg(long, default_value_t = 100_000)]
    history: usize,
    /// Directory for both backends' data (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Skip etcd (when it is not installed).
    #[arg(long)]
    no_etcd: bool,
}

/// What the ratio column compares.
#[derive(Clone, Copy)]
enum Compare {
    Throughput,
    P50,
    P99,
}

/// One measured row: a label, the headline number and its latencies.
struct Row {
    name: String,
    compare: Compare,
    value: f64,
    unit: &'static str,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let root = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;

    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(root.join("skiff.db"), SqliteOptions::default()).await?);
    let sqlite_rows = run_all(&sqlite, &args).await?;

    let etcd_rows = if args.no_etcd {
        None
    } else {
        let cluster =
            skiff_testutil::EtcdCluster::start_in(1, &root.join("etcd")).context("start etcd")?;
        let etcd: Arc<dyn Store> =
            Arc::new(EtcdStore::connect(EtcdOptions::new(cluster.endpoints())).await?);
        let rows = run_all(&etcd, &args).await?;
        drop(cluster);
        Some(rows)
    };

    println!(
        "| workload | sqlite | sqlite p50 / p99 / max | etcd | etcd p50 / p99 / max | sqlite ÷ etcd |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, s) in sqlite_rows.iter().enumerate() {
        let e = etcd_rows.as_ref().map(|r| &r[i]);
        let (ev, el, ratio) = match e {
            Some(e) => {
                let ratio = match s.compare {
                    Compare::Throughput => s.value / e.value,
                    Compare::P50 => e.p50.as_secs_f64() / s.p50.as_secs_f64(),
                    Compare::P99 => e.p99.as_secs_f64() / s.p99.as_secs_f64(),
                };
                (
                    format!("{:.0} {}", e.value, e.unit),
                    format!("{:?} / {:?} / {:?}", e.p50, e.p99, e.max),
                    format!("{ratio:.2}x"),
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {} | {:.0} {} | {:?} / {:?} / {:?} | {} | {} | {} |",
            s.name, s.value, s.unit, s.p50, s.p99, s.max, ev, el, ratio
        );
    }
    println!(
        "\n(ratio: sqlite's advantage, >1 means sqlite is better: throughput sqlite/etcd for creates, p50 etcd/sqlite for the range, p99 etcd/sqlite for the watch and for writes during compaction)"
    );
    Ok(())
}

async fn run_all(store: &Arc<dyn Store>, args: &Args) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &writers in &args.writers {
        rows.push(writes(store, writers, args.writes).await?);
    }
    rows.push(range(store, args.range_keys).await?);
    rows.push(watch(store, args.watchers).await?);
    rows.push(compaction(store, args.history).await?);
    eprintln!("{}: done", store.backend());
    Ok(rows)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

fn pct(h: &Histogram<u64>, q: f64) -> Duration {
    Duration::from_micros(h.value_at_quantile(q))
}

async fn writes(store: &Arc<dyn Store>, writers: usize, total: usize) -> Result<Row> {
    let per = total / writers;
    let value = Bytes::from(vec![b'v'; 256]);
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, value) = (store.clone(), value.clone());
            tokio::spawn(async move {
                let mut h = hist();
                for i in 0..per {
                    let key = format!("/bench/w{writers}/{w}/{i:08}");
                    let t = Instant::now();
                    let out = store.create(&key, value.clone(), None).await?;
                    anyhow::ensure!(out.is_written(), "create {key} failed");
                    h.record(t.elapsed().as_micros().max(1) as u64)?;
                }
                anyhow::Ok(h)
            })
        })
        .collect();
    let mut h = hist();
    for t in tasks {
        h.add(t.await??)?;
    }
    let elapsed = start.elapsed();
    let row = Row {
        name: format!("create, {writers} writer(s)"),
        compare: Compare::Throughput,
        value: (per * writers) as f64 / elapsed.as_secs_f64(),
        unit: "writes/s",
        p50: pct(&h, 0.5),
        p99: pct(&h, 0.99),
        max: Duration::from_micros(h.max()),
    };
    eprintln!(
        "{}: {} {:.0} writes/s",
        store.backend(),
        row.name,
        row.value
    );
    Ok(row)
}

async fn range(store: &Arc<dyn Store>, keys: usize) -> Result<Row> {
    let value = Bytes::from(vec![b'r'; 256]);
    // Load with many writers so that loading is quick on both backends.
    let loaders: Vec<_> = (0..32)
        .map(|w| {
            let (store, value) = (store.clone(), value.clone());
            tokio::spawn(async move {
                for i in (w..keys).step_by(32) {
                    store
                        .create(&format!("/range/{i:08}"), value.clone(), None)
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for l in loaders {
        l.await??;
    }
    let mut h = hist();
    let runs = 30;
    let start = Instant::now();
    for _ in 0..runs {
        let t = Instant::now();
        let resp = store
            .list(ListRequest {
                prefix: "/range/".into(),
                ..Default::default()
            })
            .await?;
        anyhow::ensure!(
            resp.kvs.len() == keys,
            "range returned {} keys",
            resp.kvs.len()
        );
        h.record(t.elapsed().as_micros().max(1) as u64)?;
    }
    let row = Row {
        name: format!("range of {keys} keys"),
        compare: Compare::P50,
        value: runs as f64 / start.elapsed().as_secs_f64(),
        unit: "ranges/s",
        p50: pct(&h, 0.5),
        p99: pct(&h, 0.99),
        max: Duration::from_micros(h.max()),
    };
    eprintln!("{}: {} p50 {:?}", store.backend(), row.name, row.p50);
    Ok(row)
}

async fn watch(store: &Arc<dyn Store>, watchers: usize) -> Result<Row> {
    let events = 500usize;
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let mut w = store.watch(KeyRange::Prefix("/watch/".into()), 0).await?;
        tasks.push(tokio::spawn(async move {
            let mut h = hist();
            let mut seen = 0;
            while seen < events {
                let batch = w.next_batch().await.context("watch ended")??;
                let now = epoch.elapsed().as_micros() as u64;
                for e in batch {
                    let sent: u64 = std::str::from_utf8(&e.kv.value)?.parse()?;
                    h.record(now.saturating_sub(sent).max(1))?;
                    seen += 1;
                }
            }
            anyhow::Ok(h)
        }));
    }
    let writer = store.clone();
    let start = Instant::now();
    for i in 0..events {
        let sent = epoch.elapsed().as_micros().to_string();
        writer
            .create(&format!("/watch/{i:06}"), Bytes::from(sent), None)
            .await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut h = hist();
    for t in tasks {
        h.add(t.await??)?;
    }
    let row = Row {
        name: format!("event to {watchers} watchers"),
        compare: Compare::P99,
        value: (events * watchers) as f64 / start.elapsed().as_secs_f64(),
        unit: "deliveries/s",
        p50: pct(&h, 0.5),
        p99: pct(&h, 0.99),
        max: Duration::from_micros(h.max()),
    };
    eprintln!("{}: {} p99 {:?}", store.backend(), row.name, row.p99);
    Ok(row)
}

/// Writes while a large history is compacted: compaction must not stall writers.
async fn compaction(store: &Arc<dyn Store>, history: usize) -> Result<Row> {
    let value = Bytes::from(vec![b'c'; 256]);
    let keys = 500usize;
    // Each loader owns some keys and rewrites them over and over: a history of
    // superseded values for the compaction to remove.
    let loaders: Vec<_> = (0..64)
        .map(|w| {
            let (store, value) = (store.clone(), value.clone());
            tokio::spawn(async move {
                let owned: Vec<usize> = (w..keys).step_by(64).collect();
                let mut revs = vec![0i64; owned.len()];
                for i in 0..history / 64 {
                    let slot = i % owned.len();
                    let key = format!("/history/{}", owned[slot]);
                    let out = if revs[slot] == 0 {
                        store.create(&key, value.clone(), None).await?
                    } else {
                        store.update(&key, value.clone(), revs[slot], None).await?
                    };
                    match out {
                        skiff_store::Outcome::Written { revision, .. } => revs[slot] = revision,
                        other => anyhow::bail!("write of {key} failed: {other:?}"),
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for l in loaders {
        l.await??;
    }
    let target = store.current_revision().await?;
    let compactor = {
        let store = store.clone();
        tokio::spawn(async move { store.compact(target).await })
    };
    let mut h = hist();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        store
            .create(&format!("/during/{n}"), value.clone(), None)
            .await?;
        h.record(t.elapsed().as_micros().max(1) as u64)?;
        n += 1;
    }
    compactor.await??;
    let row = Row {
        name: format!("1 writer while compacting {history} revisions"),
        compare: Compare::P99,
        value: n as f64 / start.elapsed().as_secs_f64(),
        unit: "writes/s",
        p50: pct(&h, 0.5),
        p99: pct(&h, 0.99),
        max: Duration::from_micros(h.max()),
    };
    eprintln!("{}: {} p99 {:?}", store.backend(), row.name, row.p99);
    Ok(row)
}
