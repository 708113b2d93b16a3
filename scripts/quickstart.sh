#!/usr/bin/env bash
# README command (a): builds Release and runs the end-to-end jobs on data any
# Debian machine can install:
#   1. images: train a CNN on Fashion-MNIST (dataset-fashion-mnist) with
#      `tessera train`, evaluate the checkpoint with `tessera eval`;
#   2. language: fit a byte-level BPE to Debian's fortunes corpus and cut it
#      into token shards (`tessera data prepare`), pretrain a small GPT
#      (`tessera pretrain`), and sample from it (`tessera generate`).
# Output goes under ${OUT:-runs/quickstart}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TESSERA_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
FORTUNES=${TESSERA_FORTUNES:-/usr/share/games/fortunes}
OUT=${OUT:-runs/quickstart}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=OFF >/dev/null
ninja -C build -j"$(nproc)" tessera_cli mlp_fashion_mnist
rm -rf "$OUT"

echo "== 1. Fashion-MNIST: train a CNN, then evaluate its checkpoint =="
./build/tessera train --config examples/fashion_mnist_quick.json --data "$DATA" --out "$OUT/fashion_cnn"
./build/tessera eval --checkpoint "$OUT/fashion_cnn" --data "$DATA"

echo "== 2. fortunes: tokenizer + shards, pretrain a GPT, generate =="
./build/tessera data prepare --train-tokenizer bpe --vocab-size 2048 --input "$FORTUNES" --doc-separator % \
    --out "$OUT/fortunes_data"
./build/tessera pretrain --config examples/gpt_fortunes.json --data "$OUT/fortunes_data" --out "$OUT/gpt_fortunes"
./build/tessera generate --checkpoint "$OUT/gpt_fortunes" --prompt "A wise man" --prompt "Computers are" \
    --max-new-tokens 60 --temperature 0.8 --top-k 40 --seed 0
echo "quickstart: summaries in $OUT/fashion_cnn/summary.json and $OUT/gpt_fortunes/summary.json;"
echo "the full recipes are examples/fashion_mnist_cnn.json and examples/shakespeare_char.json (nanoGPT's Shakespeare-char GPT)"
