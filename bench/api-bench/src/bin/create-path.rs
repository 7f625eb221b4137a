//! Times the pure steps of a pod create (decode, defaults, validation, managed
//! fields, encode) on api-bench's pod body, in one thread, no IO:
//! `cargo run --release -p api-bench --bin create-path`.

use std::time::Instant;

use skiff_api::schema::Ty;
use skiff_api::{catalogue, defaults, managed, strategy::Strategy, validation};

fn main() {
    let def = catalogue::builtin()
        .iter()
        .find(|d| d.group.is_empty() && d.plural == "pods")
        .expect("pods");
    let strategy = Strategy::of(def);
    let body = serde_json::to_vec(&api_bench::pod(1)).unwrap();
    let n = 20_000;
    let mut steps = [0u128; 5];
    for _ in 0..n {
        let t = Instant::now();
        let mut obj = skiff_api::decode::json(&body).unwrap().value;
        let t1 = Instant::now();
        defaults::apply(def, &mut obj);
        let t2 = Instant::now();
        let mut causes = validation::validate_object_meta(&obj, true, strategy.name_rule);
        causes.extend((strategy.validate)(&obj));
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
        for (i, d) in [t1 - t, t2 - t1, t3 - t2, t4 - t3, t5 - t4]
            .iter()
            .enumerate()
        {
            steps[i] += d.as_nanos();
        }
    }
    for (name, total) in [
        "decode",
        "defaults",
        "validation",
        "managed fields",
        "encode",
    ]
    .iter()
    .zip(steps)
    {
        println!("{name:>15}: {:>6.1} µs", total as f64 / n as f64 / 1000.0);
    }
}
