//! Label selectors as the scheduler evaluates them (upstream's
//! `metav1.LabelSelectorAsSelector`): a missing selector selects nothing,
//! an empty one everything; `matchLabels` and every `matchExpressions`
//! requirement (In, NotIn, Exists, DoesNotExist) must hold.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

static NONE: BTreeMap<String, String> = BTreeMap::new();

/// The labels of an object, empty when it has none.
pub fn labels_of(labels: Option<&BTreeMap<String, String>>) -> &BTreeMap<String, String> {
    labels.unwrap_or(&NONE)
}

/// Whether `selector` selects an object with `labels`.
pub fn matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(s) = selector else { return false };
    let label_ok = s
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    label_ok
        && s.match_expressions.iter().flatten().all(|r| {
            let values = r.values.as_deref().unwrap_or(&[]);
            let have = labels.get(&r.key);
            match r.operator.as_str() {
                "In" => have.is_some_and(|v| values.contains(v)),
                "NotIn" => have.is_none_or(|v| !values.contains(v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn selectors_as_upstream() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "fe".to_string()),
        ]
        .into();
        assert!(!matches(None, &labels), "nil selects nothing");
        assert!(
            matches(Some(&sel(json!({}))), &labels),
            "empty selects everything"
        );
        assert!(matches(
            Some(&sel(json!({"matchLabels": {"app": "web"}}))),
            &labels
        ));
        assert!(!matches(
            Some(&sel(json!({"matchLabels": {"app": "db"}}))),
            &labels
        ));
        assert!(matches(
            Some(&sel(json!({"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "zone", "operator": "DoesNotExist"},
                {"key": "app", "operator": "NotIn", "values": ["db"]},
            ]}))),
            &labels
        ));
        assert!(!matches(
            Some(&sel(
                json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]})
            )),
            &labels
        ));
    }
}
