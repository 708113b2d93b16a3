// mean, var, max, argmax and vector_norm (sum lives in src/ops/sum.cpp), and
// wrap_dim. Forward and backward side by side; kernels in
// src/backends/cpu/reduce.cpp.
#include <algorithm>
#include <cmath>

#include "kernels/reduce.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/elementwise.h"  // mul, for mean's backward
#include "tessera/ops/reduce.h"
#include "tessera/core/profiler.h"

namespace tessera {

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);
  TSR_CHECK(dim >= -n && dim < n, IndexError, op, ": dim ", dim, " out of range for a tensor with ", ndim,
            " dimension(s) (expected -", n, " to ", n - 1, ")");
  return dim < 0 ? dim + n : dim;
}

namespace {

// How a reduction over a set of dims maps onto a contiguous (outer, r, inner) block.
struct ReducePlan {
  Tensor src;       // contiguous, history-free
  std::vector<int64_t> perm;  // how src was permuted from x (empty: not permuted)
  int64_t outer = 1, r = 1, inner = 1;
  Shape out_shape;  // the result's shape (reduced dims dropped unless keepdim)
  Shape keep_shape; // reduced dims as size 1: the result seen with keepdim
};

void check_floating(const Tensor& x, const char* op) {
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, op,
            ": expected a float32 or float64 tensor, got ", dtype_name(x.dtype()));
}

ReducePlan plan_reduction(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, const char* op) {
  const int64_t nd = x.dim();
  const Shape& s = x.shape();
  std::vector<bool> red(nd, dims.empty());  // empty dims: reduce everything
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, std::max<int64_t>(nd, 1), op);  // a 0-d tensor accepts 0 and -1
    if (nd == 0) continue;
    TSR_CHECK(!red[w], IndexError, op, ": dim ", w, " appears more than once in dims for input of shape ",
              shape_str(s));
    red[w] = true;
  }
  ReducePlan p;
  for (int64_t d = 0; d < nd; ++d) {
    p.keep_shape.push_back(red[d] ? 1 : s[d]);
    if (!red[d] || keepdim) p.out_shape.push_back(red[d] ? 1 : s[d]);
  }
  // Size-1 dims do not affect memory order, so they are ignored when deciding
  // whether the reduced dims form one adjacent run: phase 0 = kept dims before
  // the run, 1 = inside it, 2 = kept dims after it.
  int phase = 0;
  bool one_run = true;
  for (int64_t d = 0; d < nd; ++d) {
    if (s[d] == 1) continue;
    if (red[d]) {
      if (phase == 2) one_run = false;
      phase = 1;
    } else if (phase == 1) {
      phase = 2;
    }
  }
  Tensor xc = x.detach().contiguous();
  if (one_run) {
    phase = 0;
    for (int64_t d = 0; d < nd; ++d) {
      if (red[d]) {
        p.r *= s[d];
        if (s[d] != 1) phase = 1;
      } else if (phase == 0) {
        p.outer *= s[d];
      } else {
        p.inner *= s[d];
      }
    }
    p.src = xc;
    return p;
  }
  // Scattered reduced dims: move them to the end (one copy).
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < nd; ++d)
    if (!red[d]) perm.push_back(d), p.outer *= s[d];
  for (int64_t d = 0; d < nd; ++d)
    if (red[d]) perm.push_back(d), p.r *= s[d];
  p.src = xc.permute(perm).contiguous();
  p.perm = perm;
  return p;
}

// (outer, r, inner) sizes of a single-dim reduction; `d` already wrapped.
void split_at(const Shape& s, int64_t d, int64_t& outer, int64_t& r, int64_t& inner) {
  outer = r = inner = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i < d) outer *= s[i];
    else if (i == d) r = s[i];
    else inner *= s[i];
  }
}

Shape reduced_shape(const Shape& s, int64_t d, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i != d) out.push_back(s[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Values and indices of a max along one dim; shared by max(dim) and argmax.
struct MaxDim {
  Tensor values, indices;
  int64_t outer, r, inner;
};

MaxDim max_dim_impl(const Tensor& x, int64_t dim, bool keepdim, const char* op) {
  const int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);
  MaxDim m;
  Shape out_shape;
  if (x.dim() == 0) {
    m.outer = m.r = m.inner = 1;
  } else {
    TSR_CHECK(x.size(d) > 0, IndexError, op, ": expected reduction dim ", d,
              " to have non-zero size, got input of shape ", shape_str(x.shape()));
    split_at(x.shape(), d, m.outer, m.r, m.inner);
    out_shape = reduced_shape(x.shape(), d, keepdim);
  }
  m.values = empty(out_shape, {.dtype = x.dtype(), .device = x.device()});
  m.indices = empty(out_shape, {.dtype = DType::I64, .device = x.device()});
  if (m.values.numel() > 0) max_dim_stub[x.device()](m.values, m.indices, x.detach().contiguous(), m.outer, m.r, m.inner);
  return m;
}

}  // namespace

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  TSR_PROFILE_OP("mean", x);
  check_floating(x, "mean");
  ReducePlan p = plan_reduction(x, dims, keepdim, "mean");
  Tensor out = empty(p.out_shape, {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) mean_stub[x.device()](out, p.src, p.outer, p.r, p.inner);
  record("mean", out, {x}, [shape = x.shape(), keep = p.keep_shape, r = p.r](const Tensor& g) -> std::vector<Tensor> {
    return {mul(g.reshape(keep).expand(shape), 1.0 / static_cast<double>(r))};
  });
  return out;
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  TSR_PROFILE_OP("var", x);
  check_floating(x, "var");
  TSR_CHECK(correction >= 0, Error, "var: correction must be non-negative, got ", correction);
  ReducePlan p = plan_reduction(x, dims, keepdim, "var");
  Tensor out = empty(p.out_shape, {.dtype = x.dtype(), .device = x.device()});
  if (out.numel() > 0) var_stub[x.device()](out, p.src, p.outer, p.r, p.inner, correction);
  if (any_requires_grad({&x})) {
    // d var / dx = 2 (x - mean) / (r - correction), as torch (no clamp of the
    // dof here). A fused kernel keeps the mean in double: x - mean in float32
    // would lose digits when the values share a large offset.
    record("var", out, {x},
           [saved = SavedTensor(p.src), perm = p.perm, outer = p.outer, r = p.r, inner = p.inner,
            scale = 2.0 / static_cast<double>(p.r - correction)](const Tensor& g) -> std::vector<Tensor> {
             const Tensor& src = saved.unpack("var");
             Tensor gx = empty(src.shape(), {.dtype = src.dtype(), .device = src.device()});
             if (gx.numel() > 0) var_backward_stub[src.device()](gx, g.contiguous(), src, outer, r, inner, scale);
             if (perm.empty()) return {gx};
             std::vector<int64_t> inverse(perm.size());
             for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
             return {gx.permute(inverse).contiguous()};
           });
  }
  return out;
}

Tensor max(const Tensor& x, int64_t dim, bool keepdim) {
  TSR_PROFILE_OP("max", x);
  MaxDim m = max_dim_impl(x, dim, keepdim, "max");
  if (any_requires_grad({&x})) {
    record("max", m.values, {x},
           [idx = m.indices, shape = x.shape(), dtype = x.dtype(), outer = m.outer, r = m.r,
            inner = m.inner](const Tensor& g) -> std::vector<Tensor> {
             Tensor gx = zeros(shape, {.dtype = dtype, .device = g.device()});
             if (g.numel() > 0) max_dim_backward_stub[g.device()](gx, g.contiguous(), idx, outer, r, inner);
             return {gx};
           });
  }
  return m.values;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  TSR_PROFILE_OP("argmax", x);
  return max_dim_impl(x, dim, keepdim, "argmax").indices;
}

Tensor max(const Tensor& x) {
  TSR_PROFILE_OP("max", x);
  TSR_CHECK(x.numel() > 0, ShapeError, "max: cannot reduce an empty tensor of shape ", shape_str(x.shape()),
            " over all elements (pass a dim)");
  Tensor xc = x.detach().contiguous();
  Tensor out = empty({}, {.dtype = x.dtype(), .device = x.device()});
  max_all_stub[x.device()](out, xc);
  if (any_requires_grad({&x})) {
    record("max", out, {x}, [saved = SavedTensor(xc), value = out.detach()](const Tensor& g) -> std::vector<Tensor> {
      const Tensor& xs = saved.unpack("max");
      Tensor gx = empty(xs.shape(), {.dtype = xs.dtype(), .device = xs.device()});
      max_all_backward_stub[xs.device()](gx, g.contiguous(), xs, value);
      return {gx};
    });
  }
  return out;
}

Tensor vector_norm(const Tensor& x, double p) {
  TSR_PROFILE_OP("vector_norm", x);
  TSR_CHECK(x.defined(), Error, "vector_norm: input is undefined");
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError,
            "vector_norm: input must be float32 or float64, got ", dtype_name(x.dtype()));
  TSR_CHECK(p > 0, Error, "vector_norm: p must be positive or infinite, got ", p);
  TSR_CHECK(!(grad_enabled() && x.requires_grad()), AutogradError,
            "vector_norm: not differentiable; detach the input or run under NoGradGuard");
  Tensor s = empty({}, {.dtype = DType::F64, .device = x.device()});
  pow_sum_stub[x.device()](s, x.contiguous(), p);  // sum |x|^p, or max |x|
  if (std::isinf(p) || p == 1.0) return s;
  return p == 2.0 ? sqrt(s) : pow(s, 1.0 / p);
}

}  // namespace tessera
