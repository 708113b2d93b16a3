// Kernel stubs for elementwise arithmetic (src/ops/elementwise.cpp is the
// frontend, src/backends/cpu/elementwise.cpp the CPU implementation).
#pragma once
#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum };
enum class UnaryOp { Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, PowScalar, Clamp, AddScalar, MulScalar };
enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };

// out = a (op) b; a and b have out's dtype and broadcast to out's shape. alpha scales b for Add/Sub.
TSR_DECLARE_STUB(binary_stub, void (*)(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, double alpha));
// out = op(a); p0, p1 are the op's scalars (exponent, clamp bounds, addend...).
TSR_DECLARE_STUB(unary_stub, void (*)(UnaryOp op, const Tensor& out, const Tensor& a, double p0, double p1));
// out (Bool) = a (cmp) b, broadcasting; a and b share a dtype.
TSR_DECLARE_STUB(compare_stub, void (*)(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b));

}  // namespace tessera
