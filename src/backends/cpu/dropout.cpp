// CPU dropout kernel: a counter-based mask, so the result depends only on
// (seed, offset) and the element index, never on the thread count. The mask
// and the scaling are one pass (backends/cpu/dropout_mask.h).
#include "backends/cpu/dropout_mask.h"
#include "kernels/dropout.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

void dropout_kernel(const Tensor& out, const Tensor& x, const DropoutMask& mask) {
  const int64_t n = x.numel();
  dispatch_floating(x.dtype(), "dropout", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T scale = mask.p < 1.0 ? static_cast<T>(1.0 / (1.0 - mask.p)) : T(0);
    const T* xp = x.data<T>();
    T* op = out.data<T>();
    parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
      apply_dropout(op + b, xp + b, e - b, mask, static_cast<uint64_t>(b), scale);
    });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(dropout_stub, DeviceType::CPU, &dropout_kernel);

}  // namespace tessera::cpu
