#!/usr/bin/env bash
# Decode speed (issue 15): Tessera fp32 / bf16 / int8 / q8_0 / q4_0 beside
# transformers, CTranslate2 (float32, int8_float32) and llama.cpp (F32, F16,
# BF16, Q8_0, Q4_0, Q4_0 pure) on the same random GPT-2 124M weights, batch 1 / 16 / 64,
# 1 and 2 threads, alternated in one run, with each format's roofline from the
# measured read bandwidth. The work is done by bench/decode_speed.py (its
# --help says how every figure is taken); this script finds the build and the
# venv.
#
# Usage: bench/decode_speed.sh [--quick] [--rounds N] [--threads 1,2] [--batches 1,16,64]
#                              [--cells REGEX] [--new-tokens 128] [--out FILE.md]
#   --quick   a 2-layer 128-wide model, 16 new tokens, batches 1 and 4: a smoke run (a few minutes)
#   default   one round of every cell (GPT-2 124M shape, 32-token prompt, 128 new tokens; 14 cells x
#             3 batch sizes x 2 thread counts: estimated 25-40 minutes on a quiet 2-core machine);
#             --rounds 3 or more for figures to publish (llama.cpp's batch 1 swings 20-40% between runs)
# Environment: BUILD_DIR (default <repo>/build-bench: a Release build configured with
#   -DTESSERA_BUILD_BENCH=ON; tessera_cli and read_bandwidth are built when missing),
#   TORCH_VENV (default <repo>/../venv-torch: torch, transformers, ctranslate2,
#   llama-cpp-python, gguf; ../shared/PEERS.md says how), WORK (converted models,
#   default /tmp/tessera_decode_speed).
# The report is printed and written to bench/results/raw/decode_speed_<UTC stamp>.md, raw JSON beside it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TORCH_VENV=${TORCH_VENV:-$(cd "$ROOT/.." && pwd)/venv-torch}
WORK=${WORK:-/tmp/tessera_decode_speed}
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
PY=$TORCH_VENV/bin/python
if [[ ! -x $PY ]] || ! "$PY" -c 'import torch, transformers, ctranslate2, llama_cpp, gguf' 2>/dev/null; then
  echo "decode_speed.sh: $TORCH_VENV lacks torch, transformers, ctranslate2, llama_cpp or gguf (set TORCH_VENV)" >&2
  exit 1
fi
if [[ ! -x $BUILD_DIR/tessera || ! -x $BUILD_DIR/bench/read_bandwidth ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=ON >/dev/null
  ninja -C "$BUILD_DIR" -j2 tessera_cli read_bandwidth >/dev/null
fi
# Priority over other jobs on a shared machine (Linux autogroups; harmless elsewhere).
echo -15 > /proc/$$/autogroup 2>/dev/null || true
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$PY" "$ROOT/bench/decode_speed.py" --tessera "$BUILD_DIR/tessera" --work "$WORK" "$@"
