#!/bin/bash
# Alternates the sgemm candidates (A B C D, A B C D, ...) at 1 and 2 threads, as
# docs/blas.md records. The machine is shared and noisy: compare within a round.
set -e
cd "$(dirname "$0")"
g++ -O2 -fopenmp gemm_bench.cpp -o /tmp/gemm_bench -ldl
S="64x64x64 128x128x128 256x256x256 512x512x512 1024x1024x1024 2048x2048x2048 1024x768x768:NT 1024x3072x768:NT 768x768x1024:TN 1024x768x3072:NN"
for t in 1 2; do
  for r in 1 2 3; do
    echo "# round $r, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    /tmp/gemm_bench openblas $t $S
    OPENBLAS_CORETYPE=SkylakeX /tmp/gemm_bench openblas $t $S
    OPENBLAS_CORETYPE=Haswell /tmp/gemm_bench openblas $t $S
    /tmp/gemm_bench dnnl $t $S
  done
done
