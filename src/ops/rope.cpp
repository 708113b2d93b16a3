// rotary_embedding and its tables. The backward of a rotation is the rotation
// by the opposite angle, so forward and backward share one kernel.
#include "tessera/ops/rope.h"
#include "tessera/core/profiler.h"

#include <cmath>

#include "kernels/rope.h"
#include "tessera/autograd/node.h"

namespace tessera {

namespace {

constexpr const char* kOp = "rotary_embedding";

// Parameters to read `x` (..., T, D) in place: one offset per batch entry.
RopeParams params_for(const Tensor& x) {
  RopeParams p;
  const int64_t nd = x.dim();
  p.T = x.size(-2);
  p.D = x.size(-1);
  p.t_stride = x.stride(-2);
  p.d_stride = x.stride(-1);
  p.N = 1;
  for (int64_t d = 0; d < nd - 2; ++d) p.N *= x.size(d);
  p.batch_offset.resize(static_cast<size_t>(p.N));
  for (int64_t n = 0; n < p.N; ++n) {
    int64_t off = 0, r = n;
    for (int64_t d = nd - 3; d >= 0; --d) {
      off += (r % x.size(d)) * x.stride(d);
      r /= x.size(d);
    }
    p.batch_offset[static_cast<size_t>(n)] = off;
  }
  return p;
}

Tensor run(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse) {
  RopeParams p = params_for(x);
  p.inverse = inverse;
  Tensor out = empty(x.shape(), {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) rope_stub[x.device()](out, x, cos, sin, p);
  return out;
}

}  // namespace

Tensor rotary_embedding(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  TSR_PROFILE_OP("rotary_embedding", x);
  TSR_CHECK(x.defined() && cos.defined() && sin.defined(), Error, kOp, ": x, cos and sin must be defined");
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, kOp,
            ": expected a float32 or float64 x, got ", dtype_name(x.dtype()));
  TSR_CHECK(cos.dtype() == x.dtype() && sin.dtype() == x.dtype(), DTypeError, kOp, ": cos and sin must be ",
            dtype_name(x.dtype()), " like x, got ", dtype_name(cos.dtype()), " and ", dtype_name(sin.dtype()));
  TSR_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0, ShapeError, kOp,
            ": x must be (..., T, D) with an even head dim D, got shape ", shape_str(x.shape()));
  const int64_t T = x.size(-2), h = x.size(-1) / 2;
  TSR_CHECK(cos.shape() == Shape({T, h}) && sin.shape() == Shape({T, h}), ShapeError, kOp,
            ": cos and sin must be (T, D/2) = ", shape_str({T, h}), " for x of shape ", shape_str(x.shape()),
            ", got ", shape_str(cos.shape()), " and ", shape_str(sin.shape()));
  TSR_CHECK(!cos.requires_grad() && !sin.requires_grad(), AutogradError, kOp,
            ": cos and sin are constant tables and get no gradient; pass them detached");
  TSR_CHECK(x.device() == cos.device() && x.device() == sin.device(), DeviceError, kOp,
            ": x, cos and sin are on different devices");
  Tensor c = cos.contiguous(), s = sin.contiguous();
  Tensor out = run(x, c, s, false);
  if (x.requires_grad()) {
    record(kOp, out, {x}, [c, s](const Tensor& g) -> std::vector<Tensor> {
      return {run(g, c, s, true)};
    });
  }
  return out;
}

std::pair<Tensor, Tensor> rotary_tables(int64_t start, int64_t len, int64_t head_dim, double theta, DType dtype) {
  TSR_CHECK(head_dim > 0 && head_dim % 2 == 0, ShapeError, "rotary_tables: head_dim must be positive and even, got ",
            head_dim);
  TSR_CHECK(start >= 0 && len >= 0, ShapeError, "rotary_tables: start and len must be >= 0, got ", start, " and ",
            len);
  TSR_CHECK(theta > 0, Error, "rotary_tables: theta must be positive, got ", theta);
  const int64_t h = head_dim / 2;
  std::vector<float> inv(static_cast<size_t>(h)), c(static_cast<size_t>(len * h)), s(c.size());
  for (int64_t i = 0; i < h; ++i)
    inv[i] = 1.0f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / static_cast<float>(head_dim));
  for (int64_t t = 0; t < len; ++t)
    for (int64_t i = 0; i < h; ++i) {
      const float a = static_cast<float>(start + t) * inv[i];
      c[t * h + i] = std::cos(a);
      s[t * h + i] = std::sin(a);
    }
  TensorOptions o{.dtype = DType::F32};
  return {from_vector(c, {len, h}, o).to(dtype), from_vector(s, {len, h}, o).to(dtype)};
}

}  // namespace tessera
