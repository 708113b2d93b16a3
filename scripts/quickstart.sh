#!/usr/bin/env bash
# README command (a): builds Release and runs the end-to-end job on data any
# Debian machine can install (dataset-fashion-mnist): train a CNN with
# `tessera train`, evaluate the checkpoint with `tessera eval`, print the
# metrics table. Output goes to ${OUT:-runs/quickstart}.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TESSERA_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
OUT=${OUT:-runs/quickstart}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=OFF >/dev/null
ninja -C build -j"$(nproc)" tessera_cli mlp_fashion_mnist
rm -rf "$OUT"
./build/tessera train --config examples/fashion_mnist_quick.json --data "$DATA" --out "$OUT"
./build/tessera eval --checkpoint "$OUT" --data "$DATA"
echo "quickstart: summary in $OUT/summary.json; the full 15-epoch recipe is examples/fashion_mnist_cnn.json"
