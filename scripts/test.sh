#!/usr/bin/env bash
# The test command of the README: set up the machine, build once, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --workspace --tests --bins
cargo nextest run --workspace --no-fail-fast
