"""The official Kubernetes Python client, unmodified, against a running Skiff.

Usage: python3 client_e2e.py KUBECONFIG
Exits non-zero (with a traceback) on the first expectation that fails.
"""
import json
import sys
import threading

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()
ns = "py"


def expect_status(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except (ApiException, dynamic.exceptions.DynamicApiError) as e:
        assert e.status == code, (e.status, e.body)
        return e
    raise AssertionError(f"expected {code}")


# Discovery and version.
version = client.VersionApi().get_code()
assert version.major == "1" and version.minor == "33", version
groups = [g.name for g in client.ApisApi().get_api_versions().groups]
assert "apps" in groups and "batch" in groups, groups

core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

# Typed create of a Deployment; defaults come back as upstream sets them.
dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="nginx", image="nginx:1.27")]
            ),
        ),
    ),
)
created = apps.create_namespaced_deployment(ns, dep)
assert created.metadata.uid and created.metadata.generation == 1
assert created.spec.strategy.type == "RollingUpdate"
assert created.spec.revision_history_limit == 10
assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
assert created.spec.template.spec.restart_policy == "Always"

# Strategic merge patch (the client's default for a dict body): containers by name.
patched = apps.patch_namespaced_deployment(
    "web",
    ns,
    {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "MODE", "value": "prod"}]}]}}}},
)
containers = patched.spec.template.spec.containers
assert len(containers) == 1 and containers[0].image == "nginx:1.27", containers
assert containers[0].env[0].name == "MODE"

# JSON patch (a list body).
patched = apps.patch_namespaced_deployment(
    "web", ns, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
)
assert patched.spec.replicas == 3 and patched.metadata.generation == 3

# Server-side apply by two managers (the dynamic client), a conflict, then forced.
dyn = dynamic.DynamicClient(client.ApiClient())
cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns}, "data": {"color": "blue"}}
dyn.server_side_apply(cms, body=cm, namespace=ns, field_manager="alice")
cm["data"]["color"] = "green"
e = expect_status(409, dyn.server_side_apply, cms, body=cm, namespace=ns, field_manager="bob")
message = json.loads(e.body)["message"]
assert message == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.color', message
applied = dyn.server_side_apply(cms, body=cm, namespace=ns, field_manager="bob", force_conflicts=True)
assert applied.data.color == "green"
managers = sorted(m["manager"] for m in applied.metadata.managedFields)
assert managers == ["bob"], managers

# Errors as upstream's Status.
expect_status(409, apps.create_namespaced_deployment, ns, dep)
expect_status(404, core.read_namespaced_config_map, "missing", ns)
bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_Valid"))
e = expect_status(422, core.create_namespaced_config_map, ns, bad)
assert "a lowercase RFC 1123 subdomain" in e.body, e.body

# List with a label selector, and a watch that sees a change.
listed = apps.list_namespaced_deployment(ns, label_selector="app=web")
assert [d.metadata.name for d in listed.items] == ["web"]
seen = []
w = watch.Watch()


def watcher():
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=listed.metadata.resource_version, timeout_seconds=20):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "ADDED" and event["object"].metadata.name == "later":
            w.stop()


t = threading.Thread(target=watcher)
t.start()
core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="later"), data={"a": "b"}))
t.join(25)
assert ("ADDED", "later") in seen, seen

# Delete with propagation, then the namespace.
apps.delete_namespaced_deployment("web", ns, propagation_policy="Background")
expect_status(404, apps.read_namespaced_deployment, "web", ns)
core.delete_namespace(ns)
print("ok")
