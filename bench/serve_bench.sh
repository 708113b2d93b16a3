#!/usr/bin/env bash
# `tessera serve` with 1, 8 and 32 concurrent clients, with continuous batching
# (--max-batch 32) and without (--max-batch 1): requests/s, generated tokens/s,
# p50/p99 latency and time to first token, as a markdown table (bench/serve_bench.py).
# The first run builds the 6-layer 384-wide GPT-2-tokenizer model in WORK (~1-2 min).
# Usage: BUILD_DIR=build bench/serve_bench.sh [serve_bench.py flags, e.g. --concurrency 1 8]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
PY=${PY:-$ROOT/.venv-ref/bin/python}
[ -x "$PY" ] || PY=python3
WORK=${WORK:-/tmp/tessera_serve_bench}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
exec "$PY" "$ROOT/bench/serve_bench.py" --tessera "$BUILD_DIR/tessera" --work "$WORK" \
    --json "$WORK/serve_bench.json" "$@"
