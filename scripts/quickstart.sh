#!/usr/bin/env bash
# README command (a): builds Release and runs the end-to-end job: an MLP
# trained on Fashion-MNIST (Debian's dataset-fashion-mnist) with the tensor
# library and autograd, reporting test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TESSERA_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=OFF >/dev/null
ninja -C build -j"$(nproc)" mlp_fashion_mnist
./build/mlp_fashion_mnist "$DATA" "${EPOCHS:-2}"
