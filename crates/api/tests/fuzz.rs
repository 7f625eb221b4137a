//! Every parser of request input, fed arbitrary bytes and arbitrary
//! structures: it answers a value or an error, never a panic, and stays
//! within its bounds (run in CI for a bounded number of cases each; the
//! cases proptest shrinks a failure to are kept in `proptest-regressions/`
//! and replayed first, and `fuzz-corpus/` holds inputs that once broke
//! something, replayed through every parser each run).
//!
//! Covered: the JSON decoder with duplicate detection and document order,
//! the YAML decoder, the protobuf decoder, JSON / merge / strategic merge
//! patches, server-side apply, label and field selectors, the Go-types check
//! and its null and zero-value passes.

use proptest::prelude::*;
use serde_json::{Map, Value};
use skiff_api::schema::Ty;
use skiff_api::{decode, managed, patch, proto, selector, typed};

const POD: Ty = Ty::Struct("io.k8s.api.core.v1.Pod");

/// Keys that reach the schema's paths and the patch directives.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "metadata", "name", "labels", "annotations", "finalizers", "ownerReferences",
            "spec", "containers", "image", "ports", "containerPort", "env", "value",
            "volumes", "status", "conditions", "type", "apiVersion", "kind", "data",
            "$patch", "$retainKeys", "$setElementOrder/containers",
            "$setElementOrder/$setElementOrder/containers",
            "$deleteFromPrimitiveList/finalizers", "managedFields", "resources", "limits",
        ]).prop_map(String::from),
        1 => "\\PC{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "replace",
            "delete",
            "merge",
            "1Gi",
            "100m",
            "-1",
            "2026-01-01T00:00:00Z"
        ])
        .prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn json_patch_op() -> impl Strategy<Value = Value> {
    let path = prop::collection::vec(
        prop_oneof![
            key(),
            "[0-9]{1,2}".prop_map(String::from),
            Just("-".to_string())
        ],
        0..5,
    )
    .prop_map(|p| p.iter().map(|s| format!("/{s}")).collect::<String>());
    (
        prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test", "bogus"]),
        path.clone(),
        path,
        value(),
    )
        .prop_map(|(op, path, from, value)| {
            serde_json::json!({"op": op, "path": path, "from": from, "value": value})
        })
}

/// Runs one input through every byte parser.
fn every_parser(bytes: &[u8]) {
    if let Ok(d) = decode::json(bytes) {
        assert!(d.duplicates.len() <= decode::MAX_REPORTED_DUPLICATES);
        let _ = decode::document_order(bytes, &d.duplicates);
        for (g, v, k) in [
            ("", "v1", "Pod"),
            ("apps", "v1", "Deployment"),
            ("", "v1", "ConfigMap"),
        ] {
            let mut obj = d.value.clone();
            if typed::check(g, v, k, &obj, typed::Decoder::Json).is_none() {
                typed::normalize_nulls(g, v, k, &mut obj);
                typed::fill_zero_fields(g, v, k, &mut obj);
            }
        }
    }
    if let Ok(y) = decode::yaml(bytes) {
        assert!(decode::depth(&y.value) <= decode::MAX_DEPTH);
    }
    let _ = proto::decode(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = selector::LabelSelector::parse(&text);
    let _ = selector::FieldSelector::parse(&text);
    for ct in [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ] {
        if let Ok(p) = patch::decode(ct, bytes, POD) {
            let _ = patch::apply(
                ct,
                &serde_json::json!({"metadata": {"name": "p"}}),
                &p.value,
                POD,
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        every_parser(&bytes);
    }

    #[test]
    fn arbitrary_json_text(v in value()) {
        every_parser(&serde_json::to_vec(&v).unwrap());
        every_parser(serde_yaml::to_string(&v).unwrap_or_default().as_bytes());
        every_parser(&proto::encode(&v).unwrap_or_default());
    }

    #[test]
    fn patches_of_every_kind(original in value(), p in value(), ops in prop::collection::vec(json_patch_op(), 0..8)) {
        for ct in ["application/merge-patch+json", "application/strategic-merge-patch+json"] {
            for ty in [POD, Ty::Untyped] {
                if let Ok(out) = patch::apply(ct, &original, &p, ty) {
                    prop_assert!(decode::depth(&out) <= decode::MAX_DEPTH);
                }
            }
        }
        if let Ok(out) = patch::apply("application/json-patch+json", &original, &Value::Array(ops), POD) {
            prop_assert!(decode::depth(&out) <= decode::MAX_DEPTH);
        }
    }

    #[test]
    fn selectors(s in "[a-z0-9=!,()<>. \t\x0c\u{a0}\\-]{0,40}") {
        let _ = selector::LabelSelector::parse(&s);
        let _ = selector::FieldSelector::parse(&s);
    }

    #[test]
    fn server_side_apply(live in value(), config in value(), force in any::<bool>()) {
        let applier = managed::Apply {
            manager: "fuzz",
            api_version: "v1",
            force,
            skip_status: true,
            ty: POD,
            group: "",
            resource: "pods",
            name: "p",
        };
        let _ = managed::apply(None, &config, &applier);
        if live.is_object() {
            let _ = managed::apply(Some(&live), &config, &applier);
        }
    }
}

/// Inputs that once broke a parser, replayed through every one of them.
#[test]
fn corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        every_parser(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "the corpus is empty");
}
