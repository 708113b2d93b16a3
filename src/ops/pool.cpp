// max_pool2d and avg_pool2d as torch.nn.functional: NCHW (or unbatched CHW)
// input, kernel, stride, padding, dilation (max only), ceil_mode and
// count_include_pad, with the same output-size rules and checks as PyTorch.
#include "tessera/ops/pool.h"
#include "tessera/core/profiler.h"

#include "kernels/pool.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"

namespace tessera {

namespace {

std::string pair_str(Pair p) { return detail::concat("(", p[0], ", ", p[1], ")"); }

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// PyTorch's pooling_output_shape: in ceil mode the last window must start
// inside the input or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

struct Pooled {
  Tensor planes;  // (P, H, W), contiguous
  Shape out_shape;
  Pool2dGeometry geo;
  int64_t out_hw[2];
};

// Checks (as PyTorch's pool2d_shape_check) and geometry shared by both pools.
Pooled prepare(const char* op, const Tensor& x, Pair kernel, Pair stride, Pair padding, Pair dilation,
               bool ceil_mode) {
  TSR_CHECK(x.defined(), Error, op, ": got an undefined tensor");
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError, op,
            ": expected a float32 or float64 input, got ", dtype_name(x.dtype()));
  const int64_t nd = x.dim();
  TSR_CHECK((nd == 3 || nd == 4) && x.size(-3) != 0 && x.size(-2) != 0 && x.size(-1) != 0, ShapeError, op,
            ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with non-zero C, H, W, got shape ",
            shape_str(x.shape()));
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;  // torch's default: stride = kernel_size
  TSR_CHECK(kernel[0] > 0 && kernel[1] > 0, ShapeError, op, ": kernel size must be positive, got ", pair_str(kernel));
  TSR_CHECK(stride[0] > 0 && stride[1] > 0, ShapeError, op, ": stride must be positive, got ", pair_str(stride));
  TSR_CHECK(dilation[0] > 0 && dilation[1] > 0, ShapeError, op, ": dilation must be positive, got ",
            pair_str(dilation));
  TSR_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] <= kernel[0] / 2 && padding[1] <= kernel[1] / 2,
            ShapeError, op, ": padding ", pair_str(padding), " must be non-negative and at most half the kernel size ",
            pair_str(kernel));
  Pooled r;
  for (int i = 0; i < 2; ++i) {
    r.geo.kernel[i] = kernel[i];
    r.geo.stride[i] = stride[i];
    r.geo.padding[i] = padding[i];
    r.geo.dilation[i] = dilation[i];
    r.out_hw[i] = pooled_size(x.size(nd - 2 + i), kernel[i], padding[i], stride[i], dilation[i], ceil_mode);
  }
  TSR_CHECK(r.out_hw[0] >= 1 && r.out_hw[1] >= 1, ShapeError, op, ": input ", shape_str(x.shape()),
            " is too small for kernel ", pair_str(kernel), ", stride ", pair_str(stride), ", padding ",
            pair_str(padding), ", dilation ", pair_str(dilation), " (output size ", r.out_hw[0], "x", r.out_hw[1], ")");
  r.out_shape = x.shape();
  r.out_shape[nd - 2] = r.out_hw[0];
  r.out_shape[nd - 1] = r.out_hw[1];
  NoGradGuard no_grad;
  const int64_t P = shape_numel(Shape(x.shape().begin(), x.shape().end() - 2));
  r.planes = x.contiguous().view({P, x.size(-2), x.size(-1)});
  return r;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  TSR_PROFILE_OP("max_pool2d", x);
  Pooled r = prepare("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  const TensorOptions opts{.dtype = x.dtype(), .device = x.device()};
  const int64_t P = r.planes.size(0);
  Tensor out = empty(r.out_shape, opts);
  Tensor indices = empty({P, r.out_hw[0], r.out_hw[1]}, {.dtype = DType::I64, .device = x.device()});
  if (P > 0) max_pool2d_stub[x.device()](out.view({P, r.out_hw[0], r.out_hw[1]}), indices, r.planes, r.geo);
  const Shape planes_shape = r.planes.shape();
  record("max_pool2d", out, {x}, [indices, planes_shape, x_shape = x.shape(), opts](const Tensor& g) -> std::vector<Tensor> {
    Tensor gx = empty(x_shape, opts);
    Tensor gp = g.contiguous().view(indices.shape());
    if (planes_shape[0] > 0) max_pool2d_backward_stub[gx.device()](gx.view(planes_shape), gp, indices);
    return {gx};
  });
  return out;
}

Tensor avg_pool2d(const Tensor& x, Pair kernel_size, Pair stride, Pair padding, bool ceil_mode, bool count_include_pad) {
  TSR_PROFILE_OP("avg_pool2d", x);
  Pooled r = prepare("avg_pool2d", x, kernel_size, stride, padding, {1, 1}, ceil_mode);
  r.geo.count_include_pad = count_include_pad;
  const TensorOptions opts{.dtype = x.dtype(), .device = x.device()};
  const int64_t P = r.planes.size(0);
  const Shape out_planes{P, r.out_hw[0], r.out_hw[1]};
  Tensor out = empty(r.out_shape, opts);
  if (P > 0) avg_pool2d_stub[x.device()](out.view(out_planes), r.planes, r.geo);
  record("avg_pool2d", out, {x},
         [geo = r.geo, planes_shape = r.planes.shape(), out_planes, x_shape = x.shape(), opts](const Tensor& g) -> std::vector<Tensor> {
           Tensor gx = empty(x_shape, opts);
           if (planes_shape[0] > 0)
             avg_pool2d_backward_stub[gx.device()](gx.view(planes_shape), g.contiguous().view(out_planes), geo);
           return {gx};
         });
  return out;
}

}  // namespace tessera
