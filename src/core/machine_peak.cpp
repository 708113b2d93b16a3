// The measured peak FLOP/s of this machine (core/machine_peak.h). Each
// microbenchmark keeps many independent accumulators in registers so the
// loop is bound by FMA (or dot-product) issue throughput, not latency; each
// thread runs its own copy and the wall time covers them all.
#include "tessera/core/machine_peak.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define TSR_PEAK_X86 1
#endif

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera {

namespace {

// ---- the kernels: one thread's loop; returns a value that depends on every accumulator ----

#ifdef TSR_PEAK_X86
constexpr int kZmmAcc = 16;   // FMA latency x throughput on current cores is <= 12 in flight
constexpr int kYmmAcc = 12;   // 16 ymm registers: 12 accumulators and the two operands

// (_mm512_reduce_add_ps draws a false -Wuninitialized from GCC 12.)
__attribute__((target("avx512f"))) float lane_sum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float t = 0;
  for (float x : lanes) t += x;
  return t;
}

__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  __m512 acc[kZmmAcc];
  for (int k = 0; k < kZmmAcc; ++k) acc[k] = _mm512_set1_ps(0.001f * static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kZmmAcc; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  __m512 s = acc[0];
  for (int k = 1; k < kZmmAcc; ++k) s = _mm512_add_ps(s, acc[k]);
  return lane_sum(s);
}

__attribute__((target("avx512f,avx512bf16"))) float dot_bf16(int64_t iters) {
  __m512 acc[kZmmAcc];
  for (int k = 0; k < kZmmAcc; ++k) acc[k] = _mm512_setzero_ps();
  const __m512 x = _mm512_set1_ps(0.001f);
  const __m512bh a = _mm512_cvtne2ps_pbh(x, x), b = _mm512_cvtne2ps_pbh(x, x);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int k = 0; k < kZmmAcc; ++k) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
  }
  __m512 s = acc[0];
  for (int k = 1; k < kZmmAcc; ++k) s = _mm512_add_ps(s, acc[k]);
  return lane_sum(s);
}

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  __m256 acc[kYmmAcc];
  for (int k = 0; k < kYmmAcc; ++k) acc[k] = _mm256_set1_ps(0.001f * static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kYmmAcc; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  }
  alignas(32) float out[8];
  __m256 s = acc[0];
  for (int k = 1; k < kYmmAcc; ++k) s = _mm256_add_ps(s, acc[k]);
  _mm256_store_ps(out, s);
  float t = 0;
  for (float v : out) t += v;
  return t;
}
#endif

float fma_plain(int64_t iters) {
  float acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = 0.001f * static_cast<float>(k);
  for (int64_t i = 0; i < iters; ++i)
    for (float& v : acc) v = v * 0.999f + 0.001f;
  float t = 0;
  for (float v : acc) t += v;
  return t;
}

struct Kernel {
  float (*run)(int64_t iters);
  double flops_per_iter;
};

Kernel fp32_kernel(std::string& isa) {
#ifdef TSR_PEAK_X86
  if (__builtin_cpu_supports("avx512f")) return isa = "avx512f", Kernel{fma_avx512, 2.0 * 16 * kZmmAcc};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return isa = "avx2", Kernel{fma_avx2, 2.0 * 8 * kYmmAcc};
#endif
  isa = "scalar";
  return Kernel{fma_plain, 2.0 * 8};
}

bool has_bf16() {
#ifdef TSR_PEAK_X86
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

std::atomic<float> g_sink{0};  // keeps the kernels' results alive

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// FLOP/s of `threads` threads each running kernel(iters) at once: the sum of
// each thread's FLOPs over its own CPU time, so that time the scheduler gives
// to other processes (a loaded machine) does not lower the peak, while two
// threads sharing a core's FMA units (SMT) still halve each other's rate.
double run_on_threads(const Kernel& k, int threads, int64_t iters) {
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  std::vector<double> rate(static_cast<size_t>(threads), 0.0);
  auto body = [&](int t) {
    const double c0 = thread_cpu_seconds();
    g_sink.store(k.run(iters), std::memory_order_relaxed);
    const double secs = thread_cpu_seconds() - c0;
    rate[static_cast<size_t>(t)] = k.flops_per_iter * static_cast<double>(iters) / std::max(secs, 1e-9);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(t);
    });
  while (ready.load() < threads - 1) std::this_thread::yield();
  go.store(true, std::memory_order_release);
  body(0);
  for (auto& th : pool) th.join();
  double total = 0;
  for (double r : rate) total += r;
  return total;
}

// Calibrates the iteration count to about 30 ms of one thread, then the best of three.
double measure(const Kernel& k, int threads) {
  int64_t iters = 1 << 12;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    run_on_threads(k, 1, iters);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (secs > 0.003 || iters > (int64_t{1} << 34)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * 0.03 / std::max(secs, 1e-6)));
      break;
    }
    iters *= 4;
  }
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) best = std::max(best, run_on_threads(k, threads, iters));
  return best;
}

std::string cpu_model() {
#ifdef TSR_PEAK_X86
  unsigned int regs[12] = {};
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    for (unsigned int i = 0; i < 3; ++i)
      __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
    std::string s(reinterpret_cast<const char*>(regs), sizeof regs);
    s = s.substr(0, s.find('\0'));
    const auto a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
    if (a != std::string::npos) return s.substr(a, b - a + 1);
  }
#endif
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

json to_json(const MachinePeak& p) {
  return {{"cpu", p.cpu}, {"fp32_isa", p.fp32_isa}, {"threads", p.threads}, {"fp32_flops", p.fp32_flops},
          {"bf16_flops", p.bf16_flops}};
}

// The cache file's entries; an unreadable or malformed file reads as empty.
json read_cache(const std::string& path) {
  std::ifstream in(path);
  if (!in.good()) return json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  json c = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (!c.is_object() || !c.contains("entries") || !c["entries"].is_object()) return json::object();
  return c["entries"];
}

std::optional<MachinePeak> cached(const json& entries, const MachinePeak& want) {
  const auto it = entries.find(want.key());
  if (it == entries.end() || !it->is_object()) return std::nullopt;
  const json& e = *it;
  if (!e.contains("fp32_flops") || !e["fp32_flops"].is_number() || !e.contains("bf16_flops") ||
      !e["bf16_flops"].is_number())
    return std::nullopt;
  MachinePeak p = want;
  p.fp32_flops = e["fp32_flops"].get<double>();
  p.bf16_flops = e["bf16_flops"].get<double>();
  if (!(p.fp32_flops > 0) || p.bf16_flops < 0) return std::nullopt;
  p.from_cache = true;
  return p;
}

void write_cache(const std::string& path, json entries, const MachinePeak& p) {
  entries[p.key()] = to_json(p);
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out.good()) return;  // best effort: the next process measures again
    out << json({{"version", 1}, {"entries", std::move(entries)}}).dump(2) << "\n";
    if (!out.good()) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) fs::remove(tmp, ec);
}

// The fields that identify a measurement, without measuring.
MachinePeak identity(int threads) {
  MachinePeak p;
  p.cpu = cpu_model();
  fp32_kernel(p.fp32_isa);
  if (has_bf16()) p.fp32_isa += "+avx512bf16";
  p.threads = std::max(threads, 1);
  return p;
}

}  // namespace

double MachinePeak::for_precision(const std::string& precision) const {
  return precision == "bf16" && bf16_flops > 0 ? bf16_flops : fp32_flops;
}

std::string MachinePeak::key() const { return cpu + " | " + fp32_isa + " | " + std::to_string(threads) + " threads"; }

MachinePeak measure_machine_peak(int threads) {
  MachinePeak p = identity(threads);
  std::string isa;
  p.fp32_flops = measure(fp32_kernel(isa), p.threads);
#ifdef TSR_PEAK_X86
  if (has_bf16()) p.bf16_flops = measure(Kernel{dot_bf16, 4.0 * 16 * kZmmAcc}, p.threads);
#endif
  return p;
}

std::string machine_peak_cache_path() {
  if (const char* p = std::getenv("TESSERA_PEAK_CACHE"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "tessera" / "peak.json").string();
  if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "tessera" / "peak.json").string();
  return (fs::temp_directory_path() / "tessera_peak.json").string();
}

MachinePeak machine_peak(int threads, const std::string& cache_path, bool remeasure) {
  const std::string path = cache_path.empty() ? machine_peak_cache_path() : cache_path;
  static std::mutex mu;
  static std::map<std::pair<std::string, int>, MachinePeak> memo;
  std::lock_guard<std::mutex> lock(mu);
  const MachinePeak want = identity(threads);
  if (auto it = memo.find({path, want.threads}); it != memo.end() && !remeasure) return it->second;
  const json entries = read_cache(path);
  MachinePeak p;
  if (auto hit = remeasure ? std::nullopt : cached(entries, want)) {
    p = *hit;
  } else {
    p = measure_machine_peak(want.threads);
    write_cache(path, entries, p);
  }
  memo[{path, want.threads}] = p;
  return p;
}

}  // namespace tessera
