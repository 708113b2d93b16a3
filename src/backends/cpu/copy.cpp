// CPU copy (with dtype conversion) and fill over strided tensors.
#include <cstring>

#include "backends/cpu/loops.h"
#include "kernels/copy.h"

namespace tessera::cpu {

Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape s(shape.size(), 0);
  int64_t off = static_cast<int64_t>(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d) s[off + d] = t.size(d) == 1 ? 0 : t.stride(d);
  return s;
}

template <typename To, typename From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, bf16>) return bf16(static_cast<float>(v));
  else if constexpr (std::is_same_v<From, bf16>) return static_cast<To>(static_cast<float>(v));
  else return static_cast<To>(v);
}

static void copy_kernel(const Tensor& dst, const Tensor& src) {
  Shape src_strides = broadcast_strides(src, dst.shape());
  dispatch_all(dst.dtype(), "copy", [&](auto dt) {
    using D = typename decltype(dt)::type;
    dispatch_all(src.dtype(), "copy", [&](auto st) {
      using S = typename decltype(st)::type;
      D* d = static_cast<D*>(dst.storage()->data());
      const S* s = static_cast<const S*>(src.storage()->data());
      for_each_strided<2>(dst.shape(), {dst.strides(), src_strides}, {dst.offset(), src.offset()},
                          [&](int64_t n, std::array<int64_t, 2> o, std::array<int64_t, 2> st2) {
                            D* dp = d + o[0];
                            const S* sp = s + o[1];
                            if constexpr (std::is_same_v<D, S>) {
                              if (st2[0] == 1 && st2[1] == 1) {
                                std::memcpy(dp, sp, n * sizeof(D));
                                return;
                              }
                            }
                            for (int64_t i = 0; i < n; ++i) dp[i * st2[0]] = convert<D>(sp[i * st2[1]]);
                          });
    });
  });
}

static void fill_kernel(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), "fill", [&](auto dt) {
    using D = typename decltype(dt)::type;
    D v = convert<D>(value);
    D* d = static_cast<D*>(dst.storage()->data());
    for_each_strided<1>(dst.shape(), {dst.strides()}, {dst.offset()},
                        [&](int64_t n, std::array<int64_t, 1> o, std::array<int64_t, 1> s) {
                          D* p = d + o[0];
                          if (s[0] == 1)
                            for (int64_t i = 0; i < n; ++i) p[i] = v;
                          else
                            for (int64_t i = 0; i < n; ++i) p[i * s[0]] = v;
                        });
  });
}

TSR_REGISTER_KERNEL(copy_stub, DeviceType::CPU, &copy_kernel);
TSR_REGISTER_KERNEL(fill_stub, DeviceType::CPU, &fill_kernel);

}  // namespace tessera::cpu
