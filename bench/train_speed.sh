#!/usr/bin/env bash
# Training speed, Tessera beside PyTorch (eager, torch.compile, bf16 autocast),
# alternated in one run, at 1 and 2 threads, with peak resident memory and the
# machine's state: nanoGPT Shakespeare-char, a 6x384 GPT, the GPT-2 124M shape,
# the Fashion-MNIST CNN and the MNIST ViT. The work is done by
# bench/train_speed.py (its --help lists the workloads and how each figure is
# taken); this script finds the build and the PyTorch venv.
#
# Usage: bench/train_speed.sh [--quick] [--rounds N] [--threads "1 2"] [--only REGEX]
#                             [--columns tessera_fp32,torch_eager,...] [--out FILE.md]
#   --quick   a few steps per cell (about 5-10 minutes in all): a smoke run, indicative figures
#   default   one round (estimated 15-20 min for both thread counts on a quiet 2-core machine;
#             10-30 s of timed steps a cell, torch.compile's compiling outside the figure);
#             --rounds 3 for figures to publish
# Environment: BUILD_DIR (default <repo>/build-bench; built with tessera_cli when it has no
#   tessera binary), TORCH_VENV (default <repo>/../venv-torch, bench/setup_torch.sh),
#   WORK (data and runs, default /tmp/tessera_train_speed; the prepared data is reused).
# The table is printed and written to bench/results/raw/train_speed_<UTC stamp>.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TORCH_VENV=${TORCH_VENV:-$(cd "$ROOT/.." && pwd)/venv-torch}
WORK=${WORK:-/tmp/tessera_train_speed}
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
PY=$TORCH_VENV/bin/python
if [[ ! -x $PY ]] || ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "train_speed.sh: no PyTorch venv at $TORCH_VENV (make one with bench/setup_torch.sh, or set TORCH_VENV)" >&2
  exit 1
fi
if [[ ! -x $BUILD_DIR/tessera ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" -j2 tessera_cli >/dev/null
fi
mkdir -p "$ROOT/bench/results/raw"
OUT=$ROOT/bench/results/raw/train_speed_$(date -u +%Y%m%dT%H%M%SZ).md
exec "$PY" "$ROOT/bench/train_speed.py" --tessera "$BUILD_DIR/tessera" --work "$WORK" --out "$OUT" "$@"
