// Micro-benchmarks of the fused kernels of issue #14 (forward + backward
// through the public API and autograd, as a training step runs them), each
// beside the unfused composition it replaces, so one binary shows the gain.
// Results go in bench/README.md ("Fused kernels"); the machine is shared, so
// they are indicative.
//
// Names are "<op>/<shape>/t<threads>"; "GB" is the minimum traffic per second
// (inputs read and outputs written once, forward and backward).
//   --threads=N   thread count for Tessera's kernels (default 1)
#include <benchmark/benchmark.h>

#include "bench_threads.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "tessera/autograd/node.h"
#include "tessera/tessera.h"

namespace {

using tessera::Shape;
using tessera::Tensor;

constexpr double kF32 = sizeof(float);

void set_rate(benchmark::State& st, double bytes_per_iteration) {
  st.counters["GB"] = benchmark::Counter(bytes_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

Tensor leaf(const Shape& s) {
  Tensor t = tessera::randn(s);
  t.set_requires_grad(true);
  return t;
}

template <typename Step>
void run(benchmark::State& st, Step step) {
  step();  // one-time costs (allocator blocks, threads) stay out of the timing
  for (auto _ : st) step();
}

// The language-model loss: logits (N, V), mean over the rows, then backward.
void bm_cross_entropy(benchmark::State& st, int64_t N, int64_t V, double ls) {
  Tensor x = leaf({N, V});
  Tensor t = tessera::randint(0, V, {N});
  run(st, [&] {
    x.zero_grad();
    tessera::cross_entropy(x, t, Tensor(), -100, ls).backward();
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
  set_rate(st, 3.0 * N * V * kF32);  // forward reads x; backward reads x, writes dx
}

// Erf GELU forward + backward on n elements.
void bm_gelu(benchmark::State& st, int64_t n, const char* approximate) {
  Tensor x = leaf({n});
  Tensor g = tessera::randn({n});
  run(st, [&] {
    x.zero_grad();
    tessera::gelu(x, approximate).backward(g);
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
  set_rate(st, 5.0 * n * kF32);  // forward: x, y; backward: g, x, dx
}

// A pre-norm block's residual add + norm, forward and backward, both outputs
// used (the sum by the next residual add, the norm by the next sublayer).
void bm_add_norm(benchmark::State& st, int64_t R, int64_t C, bool rms, bool fused) {
  Tensor x = leaf({R, C}), r = leaf({R, C}), w = leaf({C}), b = leaf({C});
  Tensor gs = tessera::randn({R, C}), gy = tessera::randn({R, C});
  run(st, [&] {
    for (Tensor* t : {&x, &r, &w, &b}) t->zero_grad();
    Tensor s, y;
    if (fused) {
      tessera::AddNormResult o = rms ? tessera::add_rms_norm(x, r, {C}, w) : tessera::add_layer_norm(x, r, {C}, w, b);
      s = o.sum;
      y = o.y;
    } else {
      s = tessera::add(x, r);
      y = rms ? tessera::rms_norm(s, {C}, w) : tessera::layer_norm(s, {C}, w, b);
    }
    tessera::run_backward({s, y}, {gs, gy}, false);
    benchmark::DoNotOptimize(x.grad().raw_data());
  });
  // forward: read x, r; write s, y. backward: read gs, gy, s; write dx (dr aliases it when fused).
  set_rate(st, 7.0 * R * C * kF32);
}

void bm_sum_lastdim(benchmark::State& st, int64_t R, int64_t C) {
  Tensor x = tessera::randn({R, C});
  tessera::NoGradGuard no_grad;
  run(st, [&] { benchmark::DoNotOptimize(tessera::sum(x, {-1}).raw_data()); });
  set_rate(st, (R * C + R) * kF32);
}

void add_bench(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);
}

void register_all(int threads) {
  const std::string t = "/t" + std::to_string(threads);
  add_bench("cross_entropy/256x50257" + t, [](benchmark::State& st) { bm_cross_entropy(st, 256, 50257, 0.0); });
  add_bench("cross_entropy_ls/256x50257" + t, [](benchmark::State& st) { bm_cross_entropy(st, 256, 50257, 0.1); });
  add_bench("cross_entropy/2048x65" + t, [](benchmark::State& st) { bm_cross_entropy(st, 2048, 65, 0.0); });
  for (bool rms : {false, true}) {
    const std::string norm = rms ? "rms_norm" : "layer_norm";
    add_bench("add_then_" + norm + "/8192x768" + t,
              [rms](benchmark::State& st) { bm_add_norm(st, 8192, 768, rms, false); });
    add_bench("add_" + norm + "_fused/8192x768" + t,
              [rms](benchmark::State& st) { bm_add_norm(st, 8192, 768, rms, true); });
  }
  add_bench("gelu_fwd_bwd/1M" + t, [](benchmark::State& st) { bm_gelu(st, 1 << 20, "none"); });
  add_bench("gelu_tanh_fwd_bwd/1M" + t, [](benchmark::State& st) { bm_gelu(st, 1 << 20, "tanh"); });
  add_bench("sum_lastdim/8192x768" + t, [](benchmark::State& st) { bm_sum_lastdim(st, 8192, 768); });
  add_bench("sum_lastdim/1024x4096" + t, [](benchmark::State& st) { bm_sum_lastdim(st, 1024, 4096); });
}


}  // namespace

int main(int argc, char** argv) {
  const int threads = take_threads_flag(argc, argv, "tessera_bench_fused");
  tessera::set_num_threads(threads);
  tessera::manual_seed(0);
  register_all(threads);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
