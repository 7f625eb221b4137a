//! ImageLocality (upstream's `plugins/imagelocality`): nodes that already
//! hold a pod's images score higher, by the images' sizes scaled by how
//! widely each is spread (an image on every node helps no node more than
//! another), between 23 MB and 1000 MB per container.

use std::collections::HashMap;
use std::sync::Arc;

use crate::framework::{
    ClusterEvent, CycleState, MAX_NODE_SCORE, NodeInfo, PodInfo, PreScorePlugin, ScorePlugin,
    Status,
};

pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

/// Upstream's `normalizedImageName`: `:latest` added to an untagged name.
pub fn normalized(name: &str) -> String {
    let last_colon = name.rfind(':');
    let last_slash = name.rfind('/');
    if name.contains('@') {
        return name.to_string();
    }
    match (last_colon, last_slash) {
        (None, _) => format!("{name}:latest"),
        (Some(c), Some(s)) if c < s => format!("{name}:latest"),
        _ => name.to_string(),
    }
}

/// What PreScore leaves: the pod's images, how many nodes hold each, and
/// how many nodes there are.
struct State {
    images: Vec<String>,
    spread: HashMap<String, i64>,
    total: i64,
    containers: i64,
}

const STATE: &str = "PreScoreImageLocality";

plugin!(
    ImageLocality,
    NAME,
    [pre_score, score],
    [ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
);

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _feasible: &[Arc<NodeInfo>],
        all: &[Arc<NodeInfo>],
    ) -> Status {
        let spec = pod.spec();
        let containers: Vec<&k8s_openapi::api::core::v1::Container> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .collect();
        let images: Vec<String> = containers
            .iter()
            .filter_map(|c| c.image.as_deref())
            .map(normalized)
            .collect();
        let mut spread: HashMap<String, i64> = HashMap::new();
        for node in all {
            if node.image_sizes.is_empty() {
                continue;
            }
            for image in &images {
                if node.image_sizes.contains_key(image) {
                    *spread.entry(image.clone()).or_default() += 1;
                }
            }
        }
        state.write(
            STATE,
            State {
                images,
                spread,
                total: all.len() as i64,
                containers: containers.len() as i64,
            },
        );
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<i64, Status> {
        let Some(s) = state.read::<State>(STATE) else {
            return Err(Status::error(
                "reading PreScoreImageLocality from cycle state",
            ));
        };
        let mut sum: i64 = 0;
        for image in &s.images {
            if let Some(size) = node.image_sizes.get(image) {
                let spread =
                    s.spread.get(image).copied().unwrap_or(0) as f64 / s.total.max(1) as f64;
                sum += (*size as f64 * spread) as i64;
            }
        }
        let max_threshold = MAX_CONTAINER_THRESHOLD * s.containers.max(1);
        let sum = sum.clamp(MIN_THRESHOLD, max_threshold);
        Ok(MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;

    fn node(name: &str, images: serde_json::Value) -> Arc<NodeInfo> {
        Arc::new(NodeInfo::new(Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"pods": "110"}, "images": images},
            }))
            .unwrap(),
        )))
    }

    #[test]
    fn names_are_normalized_as_upstream() {
        assert_eq!(normalized("nginx"), "nginx:latest");
        assert_eq!(normalized("gcr.io/a/b:1.0"), "gcr.io/a/b:1.0");
        assert_eq!(
            normalized("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(normalized("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn scores_as_upstream() {
        // After upstream's image_locality_test: images of 250 MB and 10 MB
        // on node 1, 40 MB and 300 MB on node 2 (sizes in bytes).
        let n1 = node(
            "n1",
            json!([
                {"names": ["gcr.io/40:latest", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
                {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
            ]),
        );
        let n2 = node(
            "n2",
            json!([
                {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
                {"names": ["gcr.io/10:latest", "gcr.io/10:v1"], "sizeBytes": 10 * MB},
            ]),
        );
        let nodes = [n1, n2];
        let p = pod(
            "p",
            json!({}),
            json!({"containers": [
                {"name": "a", "image": "gcr.io/40"},
                {"name": "b", "image": "gcr.io/250"},
            ]}),
        );
        let mut state = CycleState::default();
        ImageLocality.pre_score(&mut state, &p, &nodes, &nodes);
        let scores: Vec<i64> = nodes
            .iter()
            .map(|n| ImageLocality.score(&state, &p, n).unwrap())
            .collect();
        // n1: 40 * 1/2 + 250 * 2/2 = 270 MB → 100 * (270 - 23) / (2000 - 23) = 12;
        // n2: 250 MB → 100 * (250 - 23) / 1977 = 11.
        assert_eq!(scores, [12, 11]);
    }
}
