#!/usr/bin/env bash
# Builds Tessera (Release) and runs the whole test suite with CTest: unit
# tests, the PyTorch parity harness and the reference comparisons (tiktoken,
# Hugging Face tokenizers/transformers, scikit-learn). Then builds the unit tests under
# AddressSanitizer + UndefinedBehaviorSanitizer and runs them.
# Usage: scripts/test.sh [--no-sanitize]
# Environment: TESSERA_TEST_JOBS (build parallelism, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${TESSERA_TEST_JOBS:-$(nproc)}

# tiktoken / tokenizers / transformers, the language-model references (PyPI, on Debian's torch).
ref_python=$(scripts/setup_pyref.sh | tail -n 1)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=OFF \
      -DTESSERA_REF_PYTHON="$ref_python" >/dev/null
ninja -C build -j"$jobs"
ctest --test-dir build --output-on-failure
mkdir -p docs
# Keep the latest parity tables beside the docs (they are also in build/).
cp build/parity/parity_table.md docs/parity.md 2>/dev/null || true
cp build/optim/optim_parity_table.md docs/optim_parity.md 2>/dev/null || true

if [ "${1:-}" != "--no-sanitize" ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTESSERA_SANITIZE=ON -DTESSERA_BUILD_BENCH=OFF \
        -DCMAKE_CXX_FLAGS="-O1" >/dev/null
  ninja -C build-asan -j"$jobs" tessera_tests tessera_cli  # the CLI and server tests run the binary
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
  # LeakSanitizer is off: its exit-time tracer crashes (signal 11) in the
  # threads of the dlopen'ed oneDNN; ASan's memory-error checks and UBSan stay on.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan -R '^unit$' --output-on-failure
fi
