// CPU elementwise kernels. Each op is a functor so the contiguous inner loop
// is a plain loop the compiler vectorizes; strided and broadcast operands take
// the general path of for_each_strided.
#include <cmath>

#include "backends/cpu/activation_math.h"
#include "backends/cpu/loops.h"
#include "kernels/elementwise.h"

namespace tessera::cpu {
namespace {

template <typename T, typename F>
void binary_loop(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  T* o = static_cast<T*>(out.storage()->data());
  const T* pa = static_cast<const T*>(a.storage()->data());
  const T* pb = static_cast<const T*>(b.storage()->data());
  for_each_strided<3>(out.shape(), {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())},
                      {out.offset(), a.offset(), b.offset()},
                      [&](int64_t n, std::array<int64_t, 3> off, std::array<int64_t, 3> s) {
                        T* op = o + off[0];
                        const T* ap = pa + off[1];
                        const T* bp = pb + off[2];
                        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
                          for (int64_t i = 0; i < n; ++i) op[i] = f(ap[i], bp[i]);
                        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
                          const T bv = bp[0];
                          for (int64_t i = 0; i < n; ++i) op[i] = f(ap[i], bv);
                        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
                          const T av = ap[0];
                          for (int64_t i = 0; i < n; ++i) op[i] = f(av, bp[i]);
                        } else {
                          for (int64_t i = 0; i < n; ++i) op[i * s[0]] = f(ap[i * s[1]], bp[i * s[2]]);
                        }
                      });
}

template <typename T, typename F>
void unary_loop(const Tensor& out, const Tensor& a, F f) {
  T* o = static_cast<T*>(out.storage()->data());
  const T* pa = static_cast<const T*>(a.storage()->data());
  for_each_strided<2>(out.shape(), {out.strides(), broadcast_strides(a, out.shape())}, {out.offset(), a.offset()},
                      [&](int64_t n, std::array<int64_t, 2> off, std::array<int64_t, 2> s) {
                        T* op = o + off[0];
                        const T* ap = pa + off[1];
                        if (s[0] == 1 && s[1] == 1) {
                          for (int64_t i = 0; i < n; ++i) op[i] = f(ap[i]);
                        } else {
                          for (int64_t i = 0; i < n; ++i) op[i * s[0]] = f(ap[i * s[1]]);
                        }
                      });
}

void binary_kernel(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha) {
  dispatch_numeric(out.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T al = static_cast<T>(alpha);
    switch (op) {
      case BinaryOp::Add:
        if (alpha == 1.0) binary_loop<T>(out, a, b, [](T x, T y) { return x + y; });
        else binary_loop<T>(out, a, b, [al](T x, T y) { return x + al * y; });
        break;
      case BinaryOp::Sub:
        if (alpha == 1.0) binary_loop<T>(out, a, b, [](T x, T y) { return x - y; });
        else binary_loop<T>(out, a, b, [al](T x, T y) { return x - al * y; });
        break;
      case BinaryOp::Mul: binary_loop<T>(out, a, b, [](T x, T y) { return x * y; }); break;
      case BinaryOp::Div:
        if constexpr (std::is_integral_v<T>) {
          binary_loop<T>(out, a, b, [](T x, T y) {
            if (y == 0) throw Error("div: integer division by zero");
            return static_cast<T>(x / y);
          });
        } else {
          binary_loop<T>(out, a, b, [](T x, T y) { return x / y; });
        }
        break;
      case BinaryOp::Pow: binary_loop<T>(out, a, b, [](T x, T y) { return static_cast<T>(std::pow(x, y)); }); break;
      case BinaryOp::Maximum:
        binary_loop<T>(out, a, b, [](T x, T y) { return (x != x || x > y) ? x : y; });
        break;
      case BinaryOp::Minimum:
        binary_loop<T>(out, a, b, [](T x, T y) { return (x != x || x < y) ? x : y; });
        break;
    }
  });
}

void unary_kernel(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1) {
  dispatch_numeric(out.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T c0 = static_cast<T>(p0), c1 = static_cast<T>(p1);
    switch (op) {
      case UnaryOp::Neg: unary_loop<T>(out, a, [](T x) { return static_cast<T>(-x); }); break;
      case UnaryOp::Exp:
        // The vectorizable float32 exp (< 1 ulp) of activation_math.h: std::exp is a scalar call.
        if constexpr (std::is_floating_point_v<T>) unary_loop<T>(out, a, [](T x) { return vexp(x); });
        else unary_loop<T>(out, a, [](T x) { return static_cast<T>(std::exp(x)); });
        break;
      case UnaryOp::Log: unary_loop<T>(out, a, [](T x) { return static_cast<T>(std::log(x)); }); break;
      case UnaryOp::Sqrt: unary_loop<T>(out, a, [](T x) { return static_cast<T>(std::sqrt(x)); }); break;
      case UnaryOp::Rsqrt: unary_loop<T>(out, a, [](T x) { return static_cast<T>(T(1) / std::sqrt(x)); }); break;
      case UnaryOp::Abs: unary_loop<T>(out, a, [](T x) { return static_cast<T>(x < 0 ? -x : x); }); break;
      case UnaryOp::Sign: unary_loop<T>(out, a, [](T x) { return static_cast<T>((T(0) < x) - (x < T(0))); }); break;
      case UnaryOp::PowScalar:
        if (p0 == 2.0) unary_loop<T>(out, a, [](T x) { return static_cast<T>(x * x); });
        else unary_loop<T>(out, a, [p0](T x) { return static_cast<T>(std::pow(x, static_cast<T>(p0))); });
        break;
      case UnaryOp::Clamp:
        // p0/p1 = +-inf when absent; NaN propagates as in torch.clamp.
        unary_loop<T>(out, a, [c0, c1](T x) { return x != x ? x : (x < c0 ? c0 : (x > c1 ? c1 : x)); });
        break;
      case UnaryOp::AddScalar: unary_loop<T>(out, a, [c0](T x) { return static_cast<T>(x + c0); }); break;
      case UnaryOp::MulScalar: unary_loop<T>(out, a, [c0](T x) { return static_cast<T>(x * c0); }); break;
    }
  });
}

void compare_kernel(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_all(a.dtype(), "compare", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, bf16>) {
      throw DTypeError("compare: bfloat16 comparison is not supported; convert to float32");
    } else {
      bool* o = static_cast<bool*>(out.storage()->data());
      const T* pa = static_cast<const T*>(a.storage()->data());
      const T* pb = static_cast<const T*>(b.storage()->data());
      for_each_strided<3>(out.shape(), {out.strides(), broadcast_strides(a, out.shape()), broadcast_strides(b, out.shape())},
                          {out.offset(), a.offset(), b.offset()},
                          [&](int64_t n, std::array<int64_t, 3> off, std::array<int64_t, 3> s) {
                            for (int64_t i = 0; i < n; ++i) {
                              T x = pa[off[1] + i * s[1]], y = pb[off[2] + i * s[2]];
                              bool r = false;
                              switch (op) {
                                case CompareOp::Eq: r = x == y; break;
                                case CompareOp::Ne: r = x != y; break;
                                case CompareOp::Lt: r = x < y; break;
                                case CompareOp::Le: r = x <= y; break;
                                case CompareOp::Gt: r = x > y; break;
                                case CompareOp::Ge: r = x >= y; break;
                              }
                              o[off[0] + i * s[0]] = r;
                            }
                          });
    }
  });
}

}  // namespace

TSR_REGISTER_KERNEL(binary_stub, DeviceType::CPU, &binary_kernel);
TSR_REGISTER_KERNEL(unary_stub, DeviceType::CPU, &unary_kernel);
TSR_REGISTER_KERNEL(compare_stub, DeviceType::CPU, &compare_kernel);

}  // namespace tessera::cpu
