#!/usr/bin/env bash
# One command for the side-by-side benchmarks: builds Tessera in Release (if
# needed), runs bench_ops (Tessera) and torch_ops.py (PyPI PyTorch) in
# alternation, Tessera then PyTorch, for several pairs and each thread count,
# records the machine's state and the other load on it during each run, and
# prints a markdown table (also written to bench/results/latest.md).
#
# The machine is shared and its throughput drifts in phases of minutes, so the
# two sides are interleaved run by run rather than measured one after the other.
#
# Usage: bench/run.sh [--pairs N] [--threads "1 2"] [--reps N] [--min-time S]
#                     [--filter REGEX] [--quick]
# Environment: BUILD_DIR (default <repo>/build-bench), TORCH_VENV (default
# <repo>/../venv-torch, made by bench/setup_torch.sh), MALLOC_TUNE=0 (keep
# glibc's default malloc thresholds; see GLIBC_TUNABLES in this script).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TORCH_VENV=${TORCH_VENV:-$(cd "$ROOT/.." && pwd)/venv-torch}
PAIRS=3
THREADS="1 2"
REPS=5
MIN_TIME=0.1
FILTER=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pairs) PAIRS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --min-time) MIN_TIME=$2; shift 2 ;;
    --filter) FILTER=$2; shift 2 ;;
    --quick) PAIRS=1; REPS=3; MIN_TIME=0.05; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "bench/run.sh: $*" >&2; exit 1; }

# ---- the PyTorch side must exist before we spend minutes building ----
PY=$TORCH_VENV/bin/python
if [[ ! -x $PY ]] || ! "$PY" -c 'import torch' 2>/dev/null; then
  die "no PyTorch venv at $TORCH_VENV (or torch does not import there).
Create it with:   bench/setup_torch.sh $TORCH_VENV   # a venv with pip's torch and numpy (several GB)
or point TORCH_VENV at a venv that has the PyPI torch."
fi

# ---- build (Release) ----
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  mkdir -p "$BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$BUILD_DIR/configure.log" 2>&1 ||
    { tail -20 "$BUILD_DIR/configure.log" >&2; die "cmake configure failed (log: $BUILD_DIR/configure.log)"; }
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
[[ $build_type == Release ]] || die "$BUILD_DIR is a '$build_type' build; benchmarks need Release (set BUILD_DIR to another dir)"
echo "building tessera_bench in $BUILD_DIR ..."
ninja -C "$BUILD_DIR" -j2 tessera_bench >"$BUILD_DIR/bench_build.log" 2>&1 ||
  { grep -E -A5 'error|FAILED' "$BUILD_DIR/bench_build.log" | head -40 >&2; die "build of tessera_bench failed (log: $BUILD_DIR/bench_build.log)"; }
BENCH=$BUILD_DIR/bench/tessera_bench

# glibc returns every freed block above 32 MiB to the OS, so an op whose output
# is that big (the 16M-float cases) pays page faults on every call; Tessera's
# caching allocator does not. Keeping freed memory in the heap, as a caching
# malloc would (Intel's PyTorch CPU tuning guide preloads jemalloc/tcmalloc for
# this), lets PyTorch run at its best. Applied to both sides; MALLOC_TUNE=0 disables.
if [[ ${MALLOC_TUNE:-1} == 1 ]]; then
  export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184}
fi

# ---- where results go ----
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$ROOT/bench/results/$STAMP
mkdir -p "$OUT"

# ---- machine state ----
{
  echo "date_utc: $(date -u '+%Y-%m-%d %H:%M:%S')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'))"
  echo "nproc: $(nproc)"
  echo "simd: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "uptime_at_start: $(uptime)"
  echo "compiler: $(${CXX:-g++} --version | head -1)"
  echo "tessera_build: $BUILD_DIR ($build_type, $(sed -n 's/^TESSERA_NATIVE:BOOL=/TESSERA_NATIVE=/p' "$BUILD_DIR/CMakeCache.txt"))"
  echo "tessera_commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (dirty tree)')"
  echo "tessera_gemm_package: $(dpkg-query -W -f='${Package} ${Version}' libdnnl2 2>/dev/null || echo unknown)"
  echo "benchmark_package: $(dpkg-query -W -f='${Package} ${Version}' libbenchmark1debian 2>/dev/null || echo unknown)"
  "$PY" "$ROOT/bench/torch_ops.py" --describe | sed 's/^/torch: /'
  echo "GLIBC_TUNABLES: ${GLIBC_TUNABLES:-unset}"
  echo "settings: pairs=$PAIRS threads='$THREADS' reps=$REPS min_time=${MIN_TIME}s filter='${FILTER}'"
  echo "top_processes_at_start (%CPU PID ELAPSED COMMAND):"
  ps -eo pcpu=,pid=,etime=,comm= --sort=-pcpu | head -8 | sed 's/^/  /'
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

# ---- one timed run, with the rest of the machine's CPU use measured around it ----
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
cpu_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8, $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }  # busy steal total
echo -e "side\tpair\tthreads\twall_s\town_cpu_s\tothers_cpu_pct\tsteal_pct\tload1" >"$OUT/runs.tsv"

run_one() {  # side pair threads logfile -- command...
  local side=$1 pair=$2 threads=$3 log=$4; shift 5
  local b0 s0 t0 b1 s1 t1 w0 w1 rc=0
  read -r b0 s0 t0 < <(cpu_jiffies)
  w0=$(date +%s.%N)
  { time "$@" >"$log" 2>&1; } 2>"$OUT/.time" || rc=$?
  w1=$(date +%s.%N)
  read -r b1 s1 t1 < <(cpu_jiffies)
  [[ $rc == 0 ]] || { tail -20 "$log" >&2; die "$side run failed (pair $pair, $threads threads, exit $rc); log: $log"; }
  awk -v side="$side" -v pair="$pair" -v th="$threads" -v w0="$w0" -v w1="$w1" \
      -v busy=$((b1 - b0)) -v steal=$((s1 - s0)) -v tot=$((t1 - t0)) -v hz="$HZ" -v ncpu="$NCPU" \
      -v load="$(cut -d' ' -f1 /proc/loadavg)" '{ own = $1 + $2 } END {
        w = w1 - w0
        others = (busy / hz - own) / (w * ncpu) * 100; if (others < 0) others = 0
        printf "%s\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t%s\n", side, pair, th, w, own, others, steal / (tot ? tot : 1) * 100, load }' \
      "$OUT/.time" >>"$OUT/runs.tsv"
  tail -1 "$OUT/runs.tsv" | awk -F'\t' '{printf "  %-8s pair %s, %s thread(s): %5.1f s; other processes used %s%% of the CPUs, steal %s%%\n", $1, $2, $3, $4, $6, $7}'
}
TIMEFORMAT='%3U %3S'  # what the `time` keyword prints: user and system CPU seconds

echo "running $PAIRS pair(s) x threads {$THREADS}; raw results in $OUT"
for ((p = 1; p <= PAIRS; p++)); do
  for t in $THREADS; do
    run_one tessera "$p" "$t" "$OUT/tessera_p${p}_t${t}.log" -- "$BENCH" --threads="$t" --benchmark_repetitions="$REPS" \
      --benchmark_min_time="$MIN_TIME" --benchmark_display_aggregates_only=true \
      ${FILTER:+--benchmark_filter="$FILTER"} \
      --benchmark_out="$OUT/tessera_p${p}_t${t}.json" --benchmark_out_format=json
    run_one torch "$p" "$t" "$OUT/torch_p${p}_t${t}.log" -- "$PY" "$ROOT/bench/torch_ops.py" --threads "$t" --reps "$REPS" \
      --min-time "$MIN_TIME" ${FILTER:+--filter "$FILTER"} --out "$OUT/torch_p${p}_t${t}.json"
  done
done
rm -f "$OUT/.time"
echo "uptime_at_end: $(uptime)" >>"$OUT/machine.txt"

"$PY" "$ROOT/bench/report.py" "$OUT" >"$OUT/report.md" || die "report.py failed on $OUT"
cp "$OUT/report.md" "$ROOT/bench/results/latest.md"
cat "$OUT/report.md"
echo
echo "table written to bench/results/latest.md (raw results: ${OUT#"$ROOT"/})"
