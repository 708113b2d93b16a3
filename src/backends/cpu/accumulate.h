// Double-precision accumulation for the reduction, softmax and norm kernels.
// A single `omp simd reduction` keeps one vector accumulator, so every add
// waits for the previous one (latency-bound); kLanes independent partial sums
// let the adds pipeline. The lanes are combined in a fixed order, so results
// are deterministic and independent of the thread count.
#pragma once
#include <cstdint>

namespace tessera::cpu {

constexpr int kSumLanes = 32;  // 4 AVX-512 (8 x AVX2) registers of doubles

// sum over j in [0, n) of f(j), accumulated in double.
template <typename F>
inline double sum_double(int64_t n, F&& f) {
  double acc[kSumLanes] = {};
  int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
#pragma omp simd
    for (int k = 0; k < kSumLanes; ++k) acc[k] += static_cast<double>(f(j + k));
  }
  double tail = 0;
  for (; j < n; ++j) tail += static_cast<double>(f(j));
  double s = 0;
  for (int k = 0; k < kSumLanes; ++k) s += acc[k];
  return s + tail;
}

// Two sums in one pass over the data: returns {sum f(j), sum g(j)}.
struct Sums2 {
  double a, b;
};
template <typename F, typename G>
inline Sums2 sum2_double(int64_t n, F&& f, G&& g) {
  constexpr int kLanes = kSumLanes / 2;
  double acc_a[kLanes] = {}, acc_b[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
#pragma omp simd
    for (int k = 0; k < kLanes; ++k) {
      acc_a[k] += static_cast<double>(f(j + k));
      acc_b[k] += static_cast<double>(g(j + k));
    }
  }
  double ta = 0, tb = 0;
  for (; j < n; ++j) {
    ta += static_cast<double>(f(j));
    tb += static_cast<double>(g(j));
  }
  Sums2 s{0, 0};
  for (int k = 0; k < kLanes; ++k) {
    s.a += acc_a[k];
    s.b += acc_b[k];
  }
  s.a += ta;
  s.b += tb;
  return s;
}

}  // namespace tessera::cpu
