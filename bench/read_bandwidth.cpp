// Memory read bandwidth: a streaming sum over a large buffer (default 1 GiB),
// split across 1, 2, ... threads, in GB/s (10^9 bytes/s). Batch-1 decoding
// reads every weight once per token, so this is the ceiling that
// bench/decode_speed.py divides by the bytes of weights per token (the
// roofline of each weight format).
//
//   read_bandwidth [--mib 1024] [--threads 1,2] [--repeats 7]
//
// One JSON line per thread count: the best and the median of the repeats.
// AVX-512 loads where the CPU has them (checked at run time), else AVX2,
// else plain C++; four independent accumulators so the adds never bound the loop.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

__attribute__((target("avx512f"))) float sum_avx512(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  float s = 0;
  for (float v : lanes) s += v;
  for (; i < n; ++i) s += p[i];
  return s;
}

__attribute__((target("avx2"))) float sum_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (float v : lanes) s += v;
  for (; i < n; ++i) s += p[i];
  return s;
}

float sum_plain(const float* p, size_t n) {
  float a[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] += p[i + j];
  float s = 0;
  for (float v : a) s += v;
  for (; i < n; ++i) s += p[i];
  return s;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  int repeats = 7;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--mib") mib = std::stoul(v);
    else if (k == "--threads") thread_counts = parse_list(v);
    else if (k == "--repeats") repeats = std::stoi(v);
    else {
      std::cerr << "read_bandwidth: unknown flag " << k << " (flags: --mib, --threads, --repeats)\n";
      return 2;
    }
  }
  const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
  auto sum = avx512 ? &sum_avx512 : avx2 ? &sum_avx2 : &sum_plain;
  const char* isa = avx512 ? "avx512" : avx2 ? "avx2" : "plain";
  const size_t bytes = mib << 20, n = bytes / sizeof(float);
  float* buf = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!buf) {
    std::cerr << "read_bandwidth: cannot allocate " << mib << " MiB\n";
    return 1;
  }
  std::unique_ptr<float, decltype(&std::free)> owner(buf, &std::free);
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i & 7);  // touch every page: no faults when timed
  volatile float sink = 0;
  for (int threads : thread_counts) {
    std::vector<double> gbps;
    for (int r = 0; r < repeats + 1; ++r) {  // the first pass warms up and is not counted
      std::vector<float> partial(threads);
      std::vector<std::thread> team;
      const size_t per = (n / threads) & ~size_t{63};  // 64-float slices keep the loads aligned
      auto t0 = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t) {
        const size_t begin = t * per, count = t + 1 == threads ? n - begin : per;
        team.emplace_back([&, t, begin, count] {
          partial[t] = sum(buf + begin, count);
        });
      }
      for (auto& th : team) th.join();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (float p : partial) sink = sink + p;
      if (r > 0) gbps.push_back(static_cast<double>(bytes) / s / 1e9);
    }
    std::sort(gbps.begin(), gbps.end());
    std::cout << "{\"bench\": \"read_bandwidth\", \"threads\": " << threads << ", \"mib\": " << mib
               << ", \"isa\": \"" << isa << "\", \"best_gb_per_s\": " << gbps.back()
              << ", \"median_gb_per_s\": " << gbps[gbps.size() / 2] << ", \"repeats\": " << repeats << "}"
              << std::endl;
  }
  return 0;
}
