// CPU rotary embedding: one pass over (batch, position) rows, each rotating
// D/2 pairs; rows are independent so the split over threads cannot change
// results.
#include "kernels/rope.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

void rope_kernel(const Tensor& out, const Tensor& x, const Tensor& cos, const Tensor& sin, const RopeParams& p) {
  dispatch_floating(x.dtype(), "rotary_embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    const T* cp = cos.data<T>();
    const T* sp = sin.data<T>();
    T* op = out.data<T>();
    const int64_t Tn = p.T, D = p.D, h = D / 2, ds = p.d_stride;
    const T sign = p.inverse ? T(-1) : T(1);
    parallel_for(0, p.N * Tn, std::max<int64_t>(1, 4096 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / Tn, t = r % Tn;
        const T* xr = xp + p.batch_offset[n] + t * p.t_stride;
        const T* c = cp + t * h;
        const T* s = sp + t * h;
        T* o = op + r * D;
        for (int64_t i = 0; i < h; ++i) {
          const T x1 = xr[i * ds], x2 = xr[(i + h) * ds];
          const T si = sign * s[i];
          o[i] = x1 * c[i] - x2 * si;
          o[i + h] = x2 * c[i] + x1 * si;
        }
      }
    });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(rope_stub, DeviceType::CPU, &rope_kernel);

}  // namespace tessera::cpu
