//! Times the pure steps of a pod create (decode, type check, defaults, Go's
//! zero fields, validation, managed fields, encode) on api-bench's pod body, then the cost
//! and size of serving the stored pod as JSON and as protobuf, in one thread,
//! no IO: `cargo run --release -p api-bench --bin create-path`.

use std::time::Instant;

use skiff_api::schema::Ty;
use skiff_api::{catalogue, defaults, managed, strategy, validation};

fn main() {
    let def = catalogue::builtin()
        .iter()
        .find(|d| d.group.is_empty() && d.plural == "pods")
        .expect("pods");
    let strategy = strategy::of(def);
    let body = serde_json::to_vec(&api_bench::pod(1)).unwrap();
    let n = 20_000;
    let mut steps = [0u128; 7];
    for _ in 0..n {
        let t = Instant::now();
        let mut obj = skiff_api::decode::json(&body).unwrap().value;
        let t1 = Instant::now();
        let typed = skiff_api::typed::check("", "v1", "Pod", &obj, skiff_api::typed::Decoder::Json);
        assert!(typed.is_none(), "{typed:?}");
        skiff_api::typed::normalize_nulls("", "v1", "Pod", &mut obj);
        let t1b = Instant::now();
        defaults::apply(def, &mut obj);
        let t1c = Instant::now();
        skiff_api::typed::fill_zero_fields("", "v1", "Pod", &mut obj);
        let t2 = Instant::now();
        let mut causes = validation::validate_object_meta(&obj, true, strategy.name_rule());
        causes.extend(strategy.validate(&obj));
        assert!(causes.is_empty(), "{causes:?}");
        let t3 = Instant::now();
        managed::record_update(
            None,
            &mut obj,
            "bench",
            "v1",
            "",
            true,
            Ty::Struct("io.k8s.api.core.v1.Pod"),
        );
        let t4 = Instant::now();
        let bytes = serde_json::to_vec(&obj).unwrap();
        let t5 = Instant::now();
        std::hint::black_box(bytes);
        for (i, d) in [
            t1 - t,
            t1b - t1,
            t1c - t1b,
            t2 - t1c,
            t3 - t2,
            t4 - t3,
            t5 - t4,
        ]
        .iter()
        .enumerate()
        {
            steps[i] += d.as_nanos();
        }
    }
    for (name, total) in [
        "decode",
        "type check",
        "defaults",
        "zero fields",
        "validation",
        "managed fields",
        "encode",
    ]
    .iter()
    .zip(steps)
    {
        println!("{name:>15}: {:>6.1} µs", total as f64 / n as f64 / 1000.0);
    }
    // Serving the stored pod: JSON (the stored bytes as they are) and protobuf.
    let mut stored = skiff_api::decode::json(&body).unwrap().value;
    defaults::apply(def, &mut stored);
    stored["metadata"]["creationTimestamp"] = serde_json::json!("2024-01-02T03:04:05Z");
    stored["metadata"]["resourceVersion"] = serde_json::json!("12345");
    let json_bytes = serde_json::to_vec(&stored).unwrap();
    let proto_bytes = skiff_api::proto::encode(&stored).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        let v: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
        std::hint::black_box(skiff_api::proto::encode(&v).unwrap());
    }
    let proto_encode = t.elapsed().as_nanos();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(skiff_api::proto::decode(&proto_bytes).unwrap());
    }
    let proto_decode = t.elapsed().as_nanos();
    println!(
        "served as JSON: {} bytes, 0.0 µs (the stored bytes); as protobuf: {} bytes ({:.0}%), {:.1} µs to encode (parse + encode), {:.1} µs to decode",
        json_bytes.len(),
        proto_bytes.len(),
        100.0 * proto_bytes.len() as f64 / json_bytes.len() as f64,
        proto_encode as f64 / n as f64 / 1000.0,
        proto_decode as f64 / n as f64 / 1000.0
    );
}
