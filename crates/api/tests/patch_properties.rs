//! Properties tying the merge engines together: strategic merge patch on values
//! without a schema is JSON merge patch; a strategic merge patch applied twice
//! changes nothing more; where patch strategies and list types agree, strategic
//! merge and server-side apply's merge give the same items (strategic merge
//! puts new list items first, as upstream does; apply puts them last);
//! applying a configuration records exactly its fields and is idempotent.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use skiff_api::managed;
use skiff_api::patch;
use skiff_api::schema::Ty;

const POD: Ty = Ty::Struct("io.k8s.api.core.v1.Pod");

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,3}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

/// Free-form JSON objects over a small key space, so that patches hit existing keys.
fn object(depth: u32, nulls: bool) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => if nulls { Just(Value::Null).boxed() } else { scalar().boxed() },
    ];
    let value = if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![3 => leaf, 1 => object(depth - 1, nulls)].boxed()
    };
    prop::collection::btree_map("[a-d]", value, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed()
}

fn name() -> impl Strategy<Value = String> {
    "[a-c]".prop_map(String::from)
}

/// A container with fields of every merge kind: keyed env, atomic args, scalars.
fn container() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[a-z]{1,3}"),
        prop::option::of(prop::collection::vec("[a-z]{1,2}", 0..3)),
        prop::option::of(prop::collection::btree_map(name(), "[0-9]{1,2}", 0..3)),
    )
        .prop_map(|(image, args, env)| {
            let mut c = Map::new();
            if let Some(i) = image {
                c.insert("image".into(), json!(i));
            }
            if let Some(a) = args {
                c.insert("args".into(), json!(a));
            }
            if let Some(e) = env {
                let list: Vec<Value> = e
                    .into_iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect();
                c.insert("env".into(), Value::Array(list));
            }
            Value::Object(c)
        })
}

/// A pod (or a patch to one) over labels, finalizers, containers and tolerations.
fn pod(labels_may_be_null: bool) -> impl Strategy<Value = Value> {
    let label = if labels_may_be_null {
        prop_oneof![3 => "[a-z]{1,2}".prop_map(Value::from), 1 => Just(Value::Null)].boxed()
    } else {
        "[a-z]{1,2}".prop_map(Value::from).boxed()
    };
    (
        prop::collection::btree_map(name(), label, 0..3),
        prop::option::of(prop::collection::btree_set("[x-z]", 0..3)),
        prop::option::of(prop::collection::btree_map(name(), container(), 0..3)),
        prop::option::of(prop::collection::vec("[a-c]", 0..2)),
    )
        .prop_map(|(labels, finalizers, containers, tolerations)| {
            let mut meta = Map::new();
            if !labels.is_empty() {
                meta.insert("labels".into(), Value::Object(labels.into_iter().collect()));
            }
            if let Some(f) = finalizers {
                meta.insert("finalizers".into(), json!(f));
            }
            let mut spec = Map::new();
            if let Some(cs) = containers {
                let list: Vec<Value> = cs
                    .into_iter()
                    .map(|(n, mut c)| {
                        c["name"] = json!(n);
                        c
                    })
                    .collect();
                spec.insert("containers".into(), Value::Array(list));
            }
            if let Some(t) = tolerations {
                let list: Vec<Value> = t
                    .into_iter()
                    .map(|k| json!({"key": k, "operator": "Exists"}))
                    .collect();
                spec.insert("tolerations".into(), Value::Array(list));
            }
            json!({"metadata": meta, "spec": spec})
        })
}

fn without_managed_fields(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if m.is_empty() {
            v.as_object_mut().unwrap().remove("metadata");
        }
    }
    v
}

/// The value with every list sorted (by its JSON text), for comparing items
/// regardless of order.
fn sorted_lists(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, sorted_lists(v))).collect())
        }
        Value::Array(a) => {
            let mut items: Vec<Value> = a.into_iter().map(sorted_lists).collect();
            items.sort_by_key(|x| x.to_string());
            Value::Array(items)
        }
        other => other,
    }
}

fn applier(manager: &str) -> managed::Apply<'_> {
    managed::Apply {
        manager,
        api_version: "v1",
        force: false,
        skip_status: true,
        ty: POD,
        group: "",
        resource: "pods",
        name: "p",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Without a schema, strategic merge patch is RFC 7386 merge patch.
    #[test]
    fn untyped_strategic_merge_is_json_merge_patch(
        original in object(2, false),
        patch_doc in object(2, true),
    ) {
        let mut expected = original.clone();
        json_patch::merge(&mut expected, &patch_doc);
        let got = patch::strategic_merge(original, &patch_doc, Ty::Untyped).unwrap();
        prop_assert_eq!(got, expected);
    }

    /// A strategic merge patch applied twice changes nothing the second time.
    #[test]
    fn strategic_merge_patch_is_idempotent(original in pod(false), p in pod(true)) {
        let once = patch::strategic_merge(original, &p, POD).unwrap();
        let twice = patch::strategic_merge(once.clone(), &p, POD).unwrap();
        prop_assert_eq!(once, twice);
    }

    /// Where the patch strategies and the list types agree (containers and env
    /// by name, finalizers as a set, atomic args and tolerations, granular
    /// labels), strategic merge and server-side apply's merge agree.
    #[test]
    fn strategic_merge_and_apply_merge_agree(original in pod(false), p in pod(false)) {
        let smp = patch::strategic_merge(original.clone(), &p, POD).unwrap();
        let ssa = managed::merge_applied(original, &p, POD);
        // The same items; strategic merge orders new items first, apply last.
        prop_assert_eq!(sorted_lists(smp), sorted_lists(ssa));
    }

    /// Applying a configuration to nothing yields the configuration, owned
    /// field by field by its manager; applying it again changes nothing.
    #[test]
    fn apply_records_its_fields_and_is_idempotent(config in pod(false)) {
        let first = managed::apply(None, &config, &applier("m")).unwrap();
        let fields = managed::field_set(&config, true, POD);
        let entries = managed::entries(&first);
        if fields.is_empty() {
            prop_assert!(entries.is_empty());
        } else {
            prop_assert_eq!(entries.len(), 1);
            prop_assert_eq!(&entries[0].fields, &fields);
        }
        let expected = without_managed_fields(
            managed::merge_applied(json!({}), &config, POD),
        );
        prop_assert_eq!(without_managed_fields(first.clone()), expected);
        let second = managed::apply(Some(&first), &config, &applier("m")).unwrap();
        prop_assert_eq!(
            without_managed_fields(second.clone()),
            without_managed_fields(first)
        );
        let sets: BTreeMap<String, _> = managed::entries(&second)
            .into_iter()
            .map(|e| (e.manager, e.fields))
            .collect();
        prop_assert!(sets.values().all(|s| *s == fields));
    }

    /// A second manager applying the same values shares ownership without a conflict.
    #[test]
    fn the_same_values_never_conflict(config in pod(false)) {
        let first = managed::apply(None, &config, &applier("a")).unwrap();
        let second = managed::apply(Some(&first), &config, &applier("b"));
        prop_assert!(second.is_ok(), "{:?}", second.err());
    }
}
