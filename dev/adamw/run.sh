#!/bin/sh
# AdamW step micro-benchmark against two builds: dev/adamw/run.sh [OTHER_BUILD] [THREADS]
set -e
cd "$(dirname "$0")/../.."
other=${1:-/work/main/build}
for lib in "$other" "$PWD/build" "$other" "$PWD/build"; do
  g++ -O3 -std=c++20 -Iinclude dev/adamw/adamw_bench.cpp -L"$lib" -ltessera -fopenmp -Wl,-rpath,"$lib" -o /tmp/adamw_bench_$$
  echo "== $lib"; /tmp/adamw_bench_$$ "${2:-2}"
done
rm -f /tmp/adamw_bench_$$
