#!/usr/bin/env bash
# Data-parallel training throughput on one machine: `tessera pretrain` as one
# process with T threads against `mpirun -np N` ranks with T/N threads each
# (plain all-reduce, and ZeRO-1), the same global batch, alternated run by run.
# Two GPTs on Tiny Shakespeare (character vocabulary): nanoGPT's
# shakespeare_char CPU model (4 x 128, block 64, batch 12) and a 6 x 384 GPT
# (block 256, batch 8). Prints a markdown table of training tokens/s (step
# loop only) and, for the ranks, the communication time per step that
# summary.json's "distributed" section records (waiting for the gradient
# buckets after the backward, the loss/count reduction, ZeRO-1's parameter
# all-gather), with the load average before each run.
#
# Usage: bench/data_parallel_speed.sh [--ranks N] [--threads T] [--pairs N] [--steps-small N] [--steps-large N]
# Environment: BUILD_DIR (default <repo>/build), PYTHON (default python3).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PY=${PYTHON:-python3}
RANKS=2 THREADS=2 PAIRS=3 STEPS_SMALL=200 STEPS_LARGE=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) RANKS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --steps-small) STEPS_SMALL=$2; shift 2 ;;
    --steps-large) STEPS_LARGE=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "data_parallel_speed.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
command -v mpirun >/dev/null || { echo "data_parallel_speed.sh: mpirun not found (apt install openmpi-bin)" >&2; exit 1; }
[[ -x $BUILD_DIR/tessera ]] || { echo "data_parallel_speed.sh: no $BUILD_DIR/tessera (build first)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
PER_RANK=$((THREADS / RANKS > 0 ? THREADS / RANKS : 1))
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD_DIR/tessera" data prepare --train-tokenizer char --split contiguous --val-fraction 0.1 \
  --input "$ROOT/../shared/data/tinyshakespeare/input.txt" --out "$TMP/data" -q
"$PY" - "$ROOT/examples/shakespeare_char.json" "$TMP" <<'EOF'
import json, sys
base = json.load(open(sys.argv[1]))
base["train"]["eval_every"] = 0
base["train"]["eval_batches"] = 1  # the one evaluation after the last step is outside tokens/s; keep it short
for name, model, batch in (("small", {}, 12), ("large", {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256}, 8)):
    for zero in (False, True):
        r = json.loads(json.dumps(base))
        r["model"].update(model)
        r["train"]["batch_size"] = batch
        r["train"]["checkpoint"] = {"every": 100000, "keep_last": 1}
        if zero:
            r["distributed"] = {"shard_optimizer": True}
        json.dump(r, open(f"{sys.argv[2]}/{name}{'_zero' if zero else ''}.json", "w"))
EOF
load() { cut -d' ' -f1 /proc/loadavg; }
field() {
  "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); d=s.get("distributed")
print(round(s["tokens_per_second"]), "%.2f" % (1000 * max(d["communication_seconds_per_step"])) if d else "-")' "$1"
}
run() {  # run NAME RECIPE STEPS RANKS
  rm -rf "$TMP/run"
  local l; l=$(load)
  if [[ $4 == 1 ]]; then
    "$BUILD_DIR/tessera" pretrain --config "$2" --data "$TMP/data" --out "$TMP/run" --steps "$3" --threads "$THREADS" -q >/dev/null
  else
    OMP_NUM_THREADS=$PER_RANK mpirun --oversubscribe -np "$4" "$BUILD_DIR/tessera" pretrain --config "$2" --data "$TMP/data" \
      --out "$TMP/run" --steps "$3" --threads "$PER_RANK" -q >/dev/null
  fi
  read -r tps comm < <(field "$TMP/run/summary.json")
  echo "| $1 | $tps | $comm | $l |"
}
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; Open MPI $(mpirun --version | head -1 | awk '{print $NF}')"
echo
for size in small large; do
  steps=$STEPS_SMALL; [[ $size == large ]] && steps=$STEPS_LARGE
  echo "$size GPT, $steps steps"
  echo
  echo "| run | tokens/s | communication ms/step (slowest rank) | load before |"
  echo "| --- | --- | --- | --- |"
  for p in $(seq 1 "$PAIRS"); do
    run "1 process x $THREADS threads" "$TMP/$size.json" "$steps" 1
    run "$RANKS ranks x $PER_RANK threads" "$TMP/$size.json" "$steps" "$RANKS"
    run "$RANKS ranks x $PER_RANK threads, ZeRO-1" "$TMP/${size}_zero.json" "$steps" "$RANKS"
  done
  echo
done
