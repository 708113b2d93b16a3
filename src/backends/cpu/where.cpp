// CPU kernel for where (cond ? a : b with broadcasting, any dtype).
#include "backends/cpu/loops.h"
#include "kernels/where.h"

namespace tessera::cpu {
namespace {

void where_kernel(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape& shape = out.shape();
  const bool* cp = storage_base<const bool>(cond);
  dispatch_all(out.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* op = storage_base<T>(out);
    const T* ap = storage_base<const T>(a);
    const T* bp = storage_base<const T>(b);
    for_each_strided<4>(shape, {out.strides(), broadcast_strides(cond, shape), broadcast_strides(a, shape),
                                broadcast_strides(b, shape)},
                        {out.offset(), cond.offset(), a.offset(), b.offset()},
                        [&](int64_t n, std::array<int64_t, 4> o, std::array<int64_t, 4> s) {
                          T* dst = op + o[0];
                          const bool* c = cp + o[1];
                          const T* x = ap + o[2];
                          const T* y = bp + o[3];
                          for (int64_t i = 0; i < n; ++i) dst[i * s[0]] = c[i * s[1]] ? x[i * s[2]] : y[i * s[3]];
                        });
  });
}

}  // namespace

TSR_REGISTER_KERNEL(where_stub, DeviceType::CPU, &where_kernel);

}  // namespace tessera::cpu
