#!/bin/sh
# Builds and runs the dropout micro-benchmark against the library in build/.
set -e
cd "$(dirname "$0")/../.."
g++ -O3 -std=c++20 -Isrc -Iinclude dev/dropout/dropout_bench.cpp -Lbuild -ltessera -Wl,-rpath,"$PWD/build" -o build/dropout_bench
build/dropout_bench
