// Micro-benchmarks of Tessera's hot CPU ops, through the public API only, so
// they time what a user gets (output allocation and op dispatch included).
// The same ops, sizes and names are timed in PyTorch by bench/torch_ops.py;
// bench/run.sh runs both and bench/report.py puts them side by side.
//
// Names are "<op>/<size>/t<threads>". Throughput is a rate counter per
// benchmark: "GFLOP" (per second) for matmul, 2*N^3 flops; "GB" (per second)
// for memory-bound kernels, the bytes each must read plus write once (the
// minimum traffic, not a measurement). Each benchmark calls its op once
// before timing, so one-time costs (BLAS start-up, thread pool, allocator's
// first blocks) stay out of the numbers.
//
// Extra flag (removed before Google Benchmark sees argv):
//   --threads=N   thread count for Tessera's kernels and BLAS (default 1)
#include <benchmark/benchmark.h>

#include "bench_threads.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tessera/tessera.h"

namespace tessera {
// Names the float32 GEMM backend ("oneDNN 2.6.3 (libdnnl.so.2)"); internal
// (src/backends/cpu/blas.h), exported by libtessera, recorded with the results.
const char* blas_backend_name();
}  // namespace tessera

namespace {

using tessera::Shape;
using tessera::Tensor;

constexpr double kF32 = sizeof(float);

// Sizes (keep in sync with bench/torch_ops.py).
const std::vector<int64_t> kMatmulSizes = {256, 512, 1024, 2048};
// 1M floats (4 MiB a tensor: stays in the 32 MiB L3 here) and 16M floats
// (64 MiB: streams from DRAM).
const std::vector<int64_t> kElementwiseSizes = {1 << 20, 1 << 24};
// Row-wise kernels over (rows, cols): a GPT-2-small-like activation
// (B*T=8192, C=768) and a longer row.
const std::vector<Shape> kRowShapes = {{8192, 768}, {1024, 4096}};

std::string size_name(int64_t n) {
  if (n % (1 << 20) == 0) return std::to_string(n >> 20) + "M";
  return std::to_string(n);
}

std::string shape_name(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

void set_rate(benchmark::State& st, const char* unit, double per_iteration) {
  st.counters[unit] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// Inputs are drawn once per process and shared: Google Benchmark re-runs a
// benchmark's whole function to calibrate and again for each repetition, and
// drawing 16M normal floats every time would take longer than the timing.
const Tensor& input(const Shape& shape, int slot) {
  static std::map<std::pair<Shape, int>, Tensor> cache;
  auto key = std::make_pair(shape, slot);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, tessera::randn(shape)).first;
  return it->second;
}

// Keeps the compiler from dropping the op and makes sure it really ran.
void keep(const Tensor& t) { benchmark::DoNotOptimize(t.raw_data()); }

void bm_matmul(benchmark::State& st, int64_t n) {
  const Tensor& a = input({n, n}, 0);  // (N, N)
  const Tensor& b = input({n, n}, 1);  // (N, N)
  keep(tessera::matmul(a, b));
  for (auto _ : st) keep(tessera::matmul(a, b));
  set_rate(st, "GFLOP", 2.0 * static_cast<double>(n) * n * n * 1e-9);
}

using Unary = std::function<Tensor(const Tensor&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

void bm_unary(benchmark::State& st, const Unary& op, int64_t n) {
  const Tensor& x = input({n}, 0);  // (n,)
  keep(op(x));
  for (auto _ : st) keep(op(x));
  set_rate(st, "GB", 2.0 * n * kF32 * 1e-9);  // read x, write y
}

void bm_binary(benchmark::State& st, const Binary& op, int64_t n) {
  const Tensor& a = input({n}, 0);  // (n,)
  const Tensor& b = input({n}, 1);  // (n,)
  keep(op(a, b));
  for (auto _ : st) keep(op(a, b));
  set_rate(st, "GB", 3.0 * n * kF32 * 1e-9);  // read a, b, write c
}

void bm_sum_lastdim(benchmark::State& st, const Shape& s) {
  const Tensor& x = input(s, 0);  // (R, C)
  keep(tessera::sum(x, {-1}));
  for (auto _ : st) keep(tessera::sum(x, {-1}));
  set_rate(st, "GB", static_cast<double>(s[0] * s[1] + s[0]) * kF32 * 1e-9);
}

void bm_softmax(benchmark::State& st, const Shape& s) {
  const Tensor& x = input(s, 0);  // (R, C)
  keep(tessera::softmax(x, -1));
  for (auto _ : st) keep(tessera::softmax(x, -1));
  set_rate(st, "GB", 2.0 * s[0] * s[1] * kF32 * 1e-9);
}

void bm_layer_norm(benchmark::State& st, const Shape& s) {
  const Tensor& x = input(s, 0);       // (R, C)
  const Tensor& w = input({s[1]}, 1);  // (C,)
  const Tensor& b = input({s[1]}, 2);  // (C,)
  keep(tessera::layer_norm(x, {s[1]}, w, b));
  for (auto _ : st) keep(tessera::layer_norm(x, {s[1]}, w, b));
  set_rate(st, "GB", (2.0 * s[0] * s[1] + 2.0 * s[1]) * kF32 * 1e-9);
}

template <typename Fn>
void add_bench(const std::string& name, Fn fn) {
  // Rates by wall-clock time; the process's CPU time (all threads) is kept as
  // well, for the load-independent 1-thread comparison in bench/report.py.
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);
}

void register_all(int threads) {
  const std::string t = "/t" + std::to_string(threads);
  for (int64_t n : kMatmulSizes)
    add_bench("matmul/" + std::to_string(n) + t, [n](benchmark::State& st) { bm_matmul(st, n); });

  const std::vector<std::pair<std::string, Binary>> binary = {
      {"add", [](const Tensor& a, const Tensor& b) { return tessera::add(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return tessera::mul(a, b); }},
  };
  const std::vector<std::pair<std::string, Unary>> unary = {
      {"relu", [](const Tensor& x) { return tessera::relu(x); }},
      {"gelu", [](const Tensor& x) { return tessera::gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return tessera::gelu(x, "tanh"); }},
      {"exp", [](const Tensor& x) { return tessera::exp(x); }},
  };
  for (int64_t n : kElementwiseSizes) {
    for (const auto& [name, op] : binary)
      add_bench(name + "/" + size_name(n) + t, [op, n](benchmark::State& st) { bm_binary(st, op, n); });
    for (const auto& [name, op] : unary)
      add_bench(name + "/" + size_name(n) + t, [op, n](benchmark::State& st) { bm_unary(st, op, n); });
  }
  for (const Shape& s : kRowShapes) {
    add_bench("sum_lastdim/" + shape_name(s) + t, [s](benchmark::State& st) { bm_sum_lastdim(st, s); });
    add_bench("softmax/" + shape_name(s) + t, [s](benchmark::State& st) { bm_softmax(st, s); });
    add_bench("layer_norm/" + shape_name(s) + t, [s](benchmark::State& st) { bm_layer_norm(st, s); });
  }
}


}  // namespace

int main(int argc, char** argv) {
  const int threads = take_threads_flag(argc, argv, "tessera_bench");
  tessera::set_num_threads(threads);
  tessera::manual_seed(0);
  // Inputs never require grad, but make sure no history is recorded either way.
  tessera::NoGradGuard no_grad;

  benchmark::AddCustomContext("tessera_threads", std::to_string(tessera::get_num_threads()));
  benchmark::AddCustomContext("tessera_gemm", tessera::blas_backend_name());
  register_all(threads);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
