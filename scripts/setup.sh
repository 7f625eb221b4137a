#!/usr/bin/env bash
# Installs what building and testing Skiff needs on a Debian machine: protoc (the
# etcd client's gRPC code is generated at build time), etcd (the store's
# conformance suite runs against a real etcd) and the official Kubernetes Python
# client (an end-to-end test drives it). Idempotent; run as root.
set -euo pipefail
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
# protoc's well-known types (google/protobuf/descriptor.proto), which etcd's protos import.
[ -f /usr/include/google/protobuf/descriptor.proto ] || need+=(libprotobuf-dev)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The official Kubernetes Python client, which tests/kubectl.rs drives against Skiff.
if ! python3 -c "import kubernetes" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "kubernetes==33.1.0"
fi
if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi
