#!/usr/bin/env bash
# CNN training throughput, Tessera beside PyTorch (issue 4): the Fashion-MNIST
# 2-conv CNN of examples/fashion_mnist_cnn.json, trained for --steps steps by
# `tessera train` and by bench/torch_cnn_train.py (the same model, data
# pipeline and hyperparameters in PyTorch), alternated run by run (the machine
# is shared and drifts in phases), at each thread count. Prints a markdown
# table of samples/s (training steps only) and the load average around each run.
#
# Usage: bench/cnn_train_compare.sh [--steps N] [--pairs N] [--threads "1 2"] [--data DIR]
# Environment: BUILD_DIR (default <repo>/build-bench), TORCH_VENV (default <repo>/../venv-torch).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TORCH_VENV=${TORCH_VENV:-$(cd "$ROOT/.." && pwd)/venv-torch}
STEPS=300 PAIRS=3 THREADS="1 2" DATA=/usr/share/datasets/fashion-mnist
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) STEPS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cnn_train_compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
PY=$TORCH_VENV/bin/python
[[ -x $PY ]] || { echo "cnn_train_compare.sh: no PyTorch venv at $TORCH_VENV (bench/setup_torch.sh)" >&2; exit 1; }
if [[ ! -x $BUILD_DIR/tessera ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" -j2 tessera_cli >/dev/null
fi
RECIPE=$ROOT/examples/fashion_mnist_cnn.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
sps() { "$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["samples_per_second"]))' "$1"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $("$PY" -c 'import torch; print(torch.__version__)'); $STEPS steps of batch 64"
echo
echo "| threads | pair | Tessera samples/s | PyTorch samples/s | Tessera / PyTorch | load before |"
echo "| --- | --- | --- | --- | --- | --- |"
for th in $THREADS; do
  for p in $(seq 1 "$PAIRS"); do
    l=$(load)
    rm -rf "$TMP/run"
    "$BUILD_DIR/tessera" train --config "$RECIPE" --data "$DATA" --out "$TMP/run" --steps "$STEPS" --threads "$th" -q >/dev/null
    a=$(sps "$TMP/run/summary.json")
    "$PY" "$ROOT/bench/torch_cnn_train.py" --config "$RECIPE" --data "$DATA" --steps "$STEPS" --threads "$th" --out "$TMP/torch.json" >/dev/null
    b=$(sps "$TMP/torch.json")
    echo "| $th | $p | $a | $b | $("$PY" -c "print(f'{$a/$b:.2f}x')") | $l |"
  done
done
