#!/usr/bin/env bash
# Tessera against Tessera: the training throughput of two builds (A, the
# baseline; B, the change) on the same pretraining recipe and token shards,
# alternated run by run (this machine is shared and drifts in phases), at each
# thread count. A restructuring that must not slow training is checked with
# it. Prints a markdown table of training tokens/s (step loop only; the final
# evaluation is excluded) with the load average before each pair, and the
# median ratio B / A per thread count.
#
# Usage: bench/tessera_ab.sh --a DIR_A --b DIR_B [--recipe FILE] [--steps N] [--pairs N] [--threads "1 2"] [--data DIR]
#   DIR_A, DIR_B: folders holding a `tessera` binary (a build folder, or a copy of
#                 build/tessera and build/libtessera.so: that folder is put first
#                 on LD_LIBRARY_PATH so each binary runs its own library)
#   --recipe: default examples/shakespeare_char.json (nanoGPT's shakespeare_char CPU model)
#   --data:   shards for the recipe (default: Tiny Shakespeare prepared as nanoGPT does, into a temp folder)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A="" B="" RECIPE=$ROOT/examples/shakespeare_char.json STEPS=200 PAIRS=3 THREADS="1 2" DATA=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --a) A=$(realpath "$2"); shift 2 ;;
    --b) B=$(realpath "$2"); shift 2 ;;
    --recipe) RECIPE=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "tessera_ab.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for d in "$A" "$B"; do
  [[ -n $d && -x $d/tessera ]] || { echo "tessera_ab.sh: --a and --b must name folders holding a tessera binary (got '$d')" >&2; exit 2; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
run() { LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$1/tessera" "${@:2}"; }
if [[ -z $DATA ]]; then
  DATA=$TMP/data
  run "$A" data prepare --train-tokenizer char --split contiguous --val-fraction 0.1 \
    --input "$ROOT/../shared/data/tinyshakespeare/input.txt" --out "$DATA" -q >/dev/null
fi
load() { cut -d' ' -f1 /proc/loadavg; }
tps() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["tokens_per_second"]))' "$1"; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; recipe $(basename "$RECIPE"), $STEPS steps"
echo "A: $A"
echo "B: $B"
echo
echo "| threads | pair | A tokens/s | B tokens/s | B / A | load before |"
echo "| --- | --- | --- | --- | --- | --- |"
for th in $THREADS; do
  ratios=()
  for p in $(seq 1 "$PAIRS"); do
    l=$(load)
    # Alternate which build goes first, so a drift within a pair favours neither.
    order=(A B); (( p % 2 == 0 )) && order=(B A)
    declare -A t
    for side in "${order[@]}"; do
      dir=$A; [[ $side == B ]] && dir=$B
      rm -rf "$TMP/run"
      run "$dir" pretrain --config "$RECIPE" --data "$DATA" --out "$TMP/run" --steps "$STEPS" \
        --threads "$th" --eval-every 0 -q >/dev/null
      t[$side]=$(tps "$TMP/run/summary.json")
    done
    r=$(python3 -c "print(f'{${t[B]}/${t[A]}:.3f}')")
    ratios+=("$r")
    echo "| $th | $p | ${t[A]} | ${t[B]} | $r | $l |"
  done
  echo "| $th | median | | | $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}') | |"
done
