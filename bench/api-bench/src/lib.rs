//! What the benchmark binaries share: the pod every create sends.

use serde_json::{Value, json};

/// The body of the `i`th pod the benchmarks create (≈650 bytes, a realistic spec).
pub fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i:06}"), "namespace": "bench", "labels": {"app": "bench", "shard": (i % 16).to_string()}},
        "spec": {
            "containers": [{
                "name": "app", "image": "registry.example/app:1.0", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                "env": [{"name": "MODE", "value": "bench"}],
            }],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        },
    })
}
