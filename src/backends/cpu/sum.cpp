// CPU kernels for sum: row sums of a contiguous (rows, len) block (the reduced
// dims innermost) and column sums of a (rows, cols) block (leading dims reduced,
// as bias gradients are). Floats accumulate in double in a fixed order.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "backends/cpu/accumulate.h"
#include "kernels/sum.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

void sum_rows_kernel(const Tensor& out, const Tensor& in, int64_t rows, int64_t len) {
  dispatch_numeric(in.dtype(), "sum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    const T* x = in.data<T>();
    T* o = out.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* p = x + r * len;
        if constexpr (std::is_floating_point_v<T>) {
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
