// CPU kernels for sum: row sums of a contiguous (rows, len) block (the reduced
// dims innermost) and column sums of a (rows, cols) block (leading dims reduced,
// as bias gradients are). Floats accumulate in double in a fixed order (float32
// rows through float partial sums over short blocks first: sum_f32_row).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "backends/cpu/accumulate.h"
#include "kernels/sum.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

// Row sum of float32 as fast as the row can be read: float partial sums in
// 64 lanes (four AVX-512 registers) over blocks of 1,024 elements (16 adds a
// lane, rounding error ~1e-7 of the block), each block then folded into 16
// double lanes, and the lanes reduced as a tree (log depth: short rows such
// as 768 wide are not held up by a serial fold). Accumulating every element
// in double (sum_double) converted each float first and ran at 0.6x PyTorch;
// this keeps double's range over a long row. Fixed order: deterministic for
// any thread count.
double sum_f32_row(const float* __restrict p, int64_t n) {
  constexpr int kLanes = 64, kDoubleLanes = 16;
  constexpr int64_t kBlock = 1024;
  double dacc[kDoubleLanes] = {};
  int64_t j = 0;
  while (n - j >= kLanes) {
    float facc[kLanes] = {};
    const int64_t end = j + std::min(kBlock, (n - j) / kLanes * kLanes);
    for (; j < end; j += kLanes) {
#pragma omp simd
      for (int k = 0; k < kLanes; ++k) facc[k] += p[j + k];
    }
#pragma omp simd
    for (int k = 0; k < kDoubleLanes; ++k)
      dacc[k] += (static_cast<double>(facc[k]) + static_cast<double>(facc[k + 16])) +
                 (static_cast<double>(facc[k + 32]) + static_cast<double>(facc[k + 48]));
  }
  for (int w = kDoubleLanes / 2; w >= 1; w /= 2)
    for (int k = 0; k < w; ++k) dacc[k] += dacc[k + w];
  double tail = 0;
  for (; j < n; ++j) tail += static_cast<double>(p[j]);
  return dacc[0] + tail;
}

void sum_rows_kernel(const Tensor& out, const Tensor& in, int64_t rows, int64_t len) {
  dispatch_numeric(in.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    const T* x = in.data<T>();
    T* o = out.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = x + r * len;
        if constexpr (std::is_same_v<T, float>) {
          o[r] = static_cast<T>(sum_f32_row(p, len));
        } else if constexpr (std::is_floating_point_v<T>) {
          // Many independent double lanes: vectorized, pipelined, fixed order.
          o[r] = static_cast<T>(sum_double(len, [p](int64_t i) { return p[i]; }));
        } else {
          Acc acc = 0;
          for (int64_t i = 0; i < len; ++i) acc += p[i];
          o[r] = static_cast<T>(acc);
        }
      }
    });
  });
}

void sum_cols_kernel(const Tensor& out, const Tensor& in, int64_t rows, int64_t cols) {
  dispatch_numeric(in.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    const T* x = in.data<T>();
    T* o = out.data<T>();
    parallel_for(0, cols, 256, [&](int64_t b, int64_t e) {
      std::vector<Acc> acc(e - b, 0);
      for (int64_t r = 0; r < rows; ++r) {
        const T* p = x + r * cols;
        for (int64_t k = b; k < e; ++k) acc[k - b] += p[k];
      }
      for (int64_t k = b; k < e; ++k) o[k] = static_cast<T>(acc[k - b]);
    });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(sum_rows_stub, DeviceType::CPU, &sum_rows_kernel);
TSR_REGISTER_KERNEL(sum_cols_stub, DeviceType::CPU, &sum_cols_kernel);

}  // namespace tessera::cpu
