"""Write load for the restart tests: creates ConfigMaps with the official
Python client from several threads and prints `ack NAME RESOURCEVERSION` for
each create the server acknowledged, until the server goes away or LIMIT
creates were acknowledged.

Usage: python3 writer.py KUBECONFIG NAMESPACE PREFIX THREADS LIMIT
"""
import sys
import threading

from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
ns, prefix, threads, limit = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
acked = [0]


def writer(t):
    api = client.CoreV1Api()
    i = 0
    failures = 0
    while True:
        with lock:
            if acked[0] >= limit:
                return
        name = f"{prefix}{t}-{i}"
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"i": str(i)})
        try:
            cm = api.create_namespaced_config_map(ns, body, _request_timeout=10)
        except Exception as e:  # the server was killed: stop after a few tries
            print(f"{name}: {e}", file=sys.stderr, flush=True)
            failures += 1
            if failures > 3:
                return
            continue
        with lock:
            acked[0] += 1
            print(f"ack {name} {cm.metadata.resource_version}", flush=True)
        i += 1


ts = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
