#!/usr/bin/env bash
# GPT pretraining throughput, Tessera beside PyTorch: nanoGPT's shakespeare_char
# CPU model (examples/shakespeare_char.json: 4 layers, 4 heads, 128 wide, block
# 64, batch 12), trained for --steps steps by `tessera pretrain` and by
# bench/torch_gpt_train.py (the same model, optimizer, schedule and token
# shards in PyTorch), alternated run by run (the machine is shared and drifts in
# phases), at each thread count. Prints a markdown table of training tokens/s
# (step loop only, evaluation excluded) and the load average before each pair.
#
# Usage: bench/gpt_train_compare.sh [--steps N] [--pairs N] [--threads "1 2"] [--data DIR] [--compile]
#   --data: a folder from `tessera data prepare --train-tokenizer char --split contiguous
#           --input .../tinyshakespeare/input.txt` (prepared into a temp folder when absent)
#   --compile: add a torch.compile'd PyTorch column (its first, compiling step is not timed)
# Environment: BUILD_DIR (default <repo>/build-bench), TORCH_VENV (default <repo>/../venv-torch).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TORCH_VENV=${TORCH_VENV:-$(cd "$ROOT/.." && pwd)/venv-torch}
STEPS=200 PAIRS=3 THREADS="1 2" DATA="" COMPILE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) STEPS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --compile) COMPILE=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpt_train_compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
PY=$TORCH_VENV/bin/python
[[ -x $PY ]] || { echo "gpt_train_compare.sh: no PyTorch venv at $TORCH_VENV (bench/setup_torch.sh)" >&2; exit 1; }
if [[ ! -x $BUILD_DIR/tessera ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" -j2 tessera_cli >/dev/null
fi
RECIPE=$ROOT/examples/shakespeare_char.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [[ -z $DATA ]]; then
  DATA=$TMP/data
  "$BUILD_DIR/tessera" data prepare --train-tokenizer char --split contiguous --val-fraction 0.1 \
    --input "$ROOT/../shared/data/tinyshakespeare/input.txt" --out "$DATA" -q
fi
load() { cut -d' ' -f1 /proc/loadavg; }
tps() { "$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["tokens_per_second"]))' "$1"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; torch $("$PY" -c 'import torch; print(torch.__version__)'); $STEPS steps of 12 x 64 tokens"
echo
if [[ $COMPILE == 1 ]]; then
  echo "| threads | pair | Tessera tokens/s | PyTorch tokens/s | PyTorch compiled tokens/s | Tessera / PyTorch | load before |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
else
  echo "| threads | pair | Tessera tokens/s | PyTorch tokens/s | Tessera / PyTorch | load before |"
  echo "| --- | --- | --- | --- | --- | --- |"
fi
for th in $THREADS; do
  for p in $(seq 1 "$PAIRS"); do
    l=$(load)
    rm -rf "$TMP/run"
    # --eval-every 0 evaluates only after the last step; that evaluation is outside tokens/s.
    "$BUILD_DIR/tessera" pretrain --config "$RECIPE" --data "$DATA" --out "$TMP/run" --steps "$STEPS" \
      --threads "$th" --eval-every 0 -q >/dev/null
    a=$(tps "$TMP/run/summary.json")
    "$PY" "$ROOT/bench/torch_gpt_train.py" --config "$RECIPE" --data "$DATA" --steps "$STEPS" --threads "$th" \
      --eval-every 0 -q --out "$TMP/torch.json" >/dev/null
    b=$(tps "$TMP/torch.json")
    if [[ $COMPILE == 1 ]]; then
      "$PY" "$ROOT/bench/torch_gpt_train.py" --config "$RECIPE" --data "$DATA" --steps "$STEPS" --threads "$th" \
        --eval-every 0 -q --compile --out "$TMP/torchc.json" >/dev/null
      c=$(tps "$TMP/torchc.json")
      echo "| $th | $p | $a | $b | $c | $("$PY" -c "print(f'{$a/$b:.2f}x')") | $l |"
    else
      echo "| $th | $p | $a | $b | $("$PY" -c "print(f'{$a/$b:.2f}x')") | $l |"
    fi
  done
done
