#!/usr/bin/env bash
# GPT-2 encoding speed (issue: tokenizers), Tessera beside tiktoken and Hugging
# Face tokenizers on the same text and thread counts: `tessera tokenizer bench`
# (encode_parallel) and bench/tokenizer_speed.py (tiktoken encode_ordinary /
# encode_ordinary_batch, HF encode / encode_batch), alternated round by round
# (the machine is shared and drifts in phases). Prints a markdown table of MB/s
# (median of --runs runs per process) and the load average before each round.
# HF loads the GPT-2 tokenizer.json written by `tessera tokenizer convert`.
#
# Usage: bench/tokenizer_compare.sh [--input FILE] [--repeat N] [--runs N] [--rounds N] [--threads "1 2"]
# Environment: BUILD_DIR (default <repo>/build-bench), PY (default <repo>/../venv-torch/bin/python,
# needs tiktoken and tokenizers), SHARED_DATA (default <repo>/../shared/data).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PY=${PY:-$(cd "$ROOT/.." && pwd)/venv-torch/bin/python}
SHARED_DATA=${SHARED_DATA:-$(cd "$ROOT/.." && pwd)/shared/data}
INPUT=$SHARED_DATA/tinyshakespeare/input.txt REPEAT=10 RUNS=3 ROUNDS=2 THREADS="1 2"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --input) INPUT=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "tokenizer_compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x $PY ]] || { echo "tokenizer_compare.sh: no Python at $PY (needs tiktoken, tokenizers)" >&2; exit 1; }
if [[ ! -x $BUILD_DIR/tessera ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD_DIR" -j2 tessera_cli >/dev/null
fi
GPT2=$SHARED_DATA/gpt2-tokenizer
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD_DIR/tessera" tokenizer convert --tokenizer "$GPT2" --out "$TMP/gpt2.json" >/dev/null
load() { cut -d' ' -f1 /proc/loadavg; }
med() { "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%.2f %d" % (d["median_mb_s"], d["tokens"]))'; }
ratio() { "$PY" -c "print(f'{$1/$2:.2f}x')"; }

bytes=$(( $(stat -c %s "$INPUT") * REPEAT ))
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $("$PY" -c 'import tiktoken, tokenizers; print(f"tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}")'); input $(basename "$INPUT") x$REPEAT = $bytes bytes, median of $RUNS runs"
echo
echo "| threads | round | Tessera MB/s | tiktoken MB/s | HF tokenizers MB/s | Tessera / tiktoken | Tessera / HF | tokens (T/tt/HF) | load before |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for th in $THREADS; do
  for r in $(seq 1 "$ROUNDS"); do
    l=$(load)
    read -r a na < <("$BUILD_DIR/tessera" tokenizer bench --tokenizer "$GPT2" --input "$INPUT" --repeat "$REPEAT" \
      --runs "$RUNS" --threads "$th" --no-special --json | med)
    read -r b nb < <("$PY" "$ROOT/bench/tokenizer_speed.py" --lib tiktoken --gpt2-dir "$GPT2" --input "$INPUT" \
      --repeat "$REPEAT" --runs "$RUNS" --threads "$th" | med)
    read -r c nc < <("$PY" "$ROOT/bench/tokenizer_speed.py" --lib hf --tokenizer-json "$TMP/gpt2.json" --input "$INPUT" \
      --repeat "$REPEAT" --runs "$RUNS" --threads "$th" | med)
    echo "| $th | $r | $a | $b | $c | $(ratio "$a" "$b") | $(ratio "$a" "$c") | $na / $nb / $nc | $l |"
  done
done
