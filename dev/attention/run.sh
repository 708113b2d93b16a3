#!/bin/sh
# Attention micro-benchmark against two builds: dev/attention/run.sh [OTHER_BUILD] [THREADS]
set -e
cd "$(dirname "$0")/../.."
other=${1:-/work/main/build}
for lib in "$other" "$PWD/build"; do
  g++ -O3 -std=c++20 -Iinclude dev/attention/attention_bench.cpp -L"$lib" -ltessera -fopenmp -Wl,-rpath,"$lib" -o /tmp/attention_bench_$$
  echo "== $lib"; /tmp/attention_bench_$$ "${2:-2}"
done
rm -f /tmp/attention_bench_$$
