// conv2d as torch.nn.functional.conv2d: NCHW (or unbatched CHW) input, groups,
// stride, padding, dilation; backward for input, weight and bias.
#include "tessera/ops/conv.h"
#include "tessera/core/profiler.h"

#include "kernels/conv.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"
#include "tessera/ops/reduce.h"

namespace tessera {

namespace {

std::string pair_str(Pair p) { return detail::concat("(", p[0], ", ", p[1], ")"); }

Tensor conv2d_batched(const Tensor& x0, const Tensor& w0, const Tensor& b0, Pair stride, Pair padding, Pair dilation,
                      int64_t groups) {
  const int64_t N = x0.size(0), Cin = x0.size(1), Cout = w0.size(0);
  TSR_CHECK(Cin == w0.size(1) * groups, ShapeError, "conv2d: input ", shape_str(x0.shape()), " has ", Cin,
            " channels but weight ", shape_str(w0.shape()), " with groups=", groups, " expects ", w0.size(1) * groups);
  TSR_CHECK(Cout % groups == 0, ShapeError, "conv2d: out channels ", Cout, " (weight ", shape_str(w0.shape()),
            ") are not divisible by groups=", groups);
  Conv2dGeometry geo{};
  int64_t out_hw[2];
  for (int i = 0; i < 2; ++i) {
    geo.kernel[i] = w0.size(2 + i);
    geo.stride[i] = stride[i];
    geo.padding[i] = padding[i];
    geo.dilation[i] = dilation[i];
    const int64_t span = dilation[i] * (geo.kernel[i] - 1) + 1, padded = x0.size(2 + i) + 2 * padding[i];
    TSR_CHECK(span <= padded, ShapeError, "conv2d: padded input size ", padded, " (input ", shape_str(x0.shape()),
              ", padding ", pair_str(padding), ") is smaller than the dilated kernel size ", span, " (weight ",
              shape_str(w0.shape()), ", dilation ", pair_str(dilation), ")");
    out_hw[i] = (padded - span) / stride[i] + 1;
  }
  geo.groups = groups;
  Tensor x = x0.contiguous(), w = w0.contiguous(), b = b0.defined() ? b0.contiguous() : b0;
  Tensor out = empty({N, Cout, out_hw[0], out_hw[1]}, {.dtype = x.dtype(), .device = x.device()});
  conv2d_stub[x.device()](out, x, w, b, geo);
  // Multiply-adds of the output: 2 * N * Cout * Ho * Wo * (Cin / groups) * kH * kW (the backward does twice this).
  const double conv_flops = 2.0 * static_cast<double>(out.numel()) * static_cast<double>(w.numel() / Cout);
  TSR_PROFILE_FLOPS(conv_flops);

  const bool need_x = x0.requires_grad(), need_w = w0.requires_grad(), need_b = b0.defined() && b0.requires_grad();
  record("conv2d", out, {x0, w0, b0},
         [sx = SavedTensor(x), sw = SavedTensor(w), geo, need_x, need_w, need_b, conv_flops](const Tensor& g0) -> std::vector<Tensor> {
           const Tensor& x = sx.unpack("conv2d");
           const Tensor& w = sw.unpack("conv2d");
           Tensor g = g0.contiguous();
           Tensor gx = need_x ? empty(x.shape(), {.dtype = x.dtype(), .device = x.device()}) : Tensor();
           Tensor gw = need_w ? empty(w.shape(), {.dtype = w.dtype(), .device = w.device()}) : Tensor();
           if (need_x || need_w) conv2d_backward_stub[x.device()](gx, gw, g, x, w, geo);
           TSR_PROFILE_FLOPS(conv_flops * (need_x + need_w));
           return {gx, gw, need_b ? sum(g, {0, 2, 3}) : Tensor()};
         });
  return out;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair stride, Pair padding, Pair dilation,
              int64_t groups) {
  TSR_PROFILE_OP("conv2d", x, weight, bias);
  TSR_CHECK(x.defined() && weight.defined(), Error, "conv2d: got an undefined tensor");
  TSR_CHECK(x.dtype() == DType::F32 || x.dtype() == DType::F64, DTypeError,
            "conv2d: expected a float32 or float64 input, got ", dtype_name(x.dtype()));
  TSR_CHECK(weight.dtype() == x.dtype() && (!bias.defined() || bias.dtype() == x.dtype()), DTypeError,
            "conv2d: input, weight and bias dtypes differ (", dtype_name(x.dtype()), ", ", dtype_name(weight.dtype()),
            bias.defined() ? detail::concat(", ", dtype_name(bias.dtype())) : std::string(), ")");
  TSR_CHECK(x.device() == weight.device() && (!bias.defined() || bias.device() == x.device()), DeviceError,
            "conv2d: input, weight and bias are on different devices");
  TSR_CHECK(weight.dim() == 4, ShapeError, "conv2d: weight must be 4-D (C_out, C_in/groups, kH, kW), got shape ",
            shape_str(weight.shape()));
  TSR_CHECK(x.dim() == 3 || x.dim() == 4, ShapeError, "conv2d: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape ",
            shape_str(x.shape()));
  TSR_CHECK(groups >= 1, ShapeError, "conv2d: groups must be positive, got ", groups);
  TSR_CHECK(stride[0] >= 1 && stride[1] >= 1, ShapeError, "conv2d: stride must be positive, got ", pair_str(stride));
  TSR_CHECK(dilation[0] >= 1 && dilation[1] >= 1, ShapeError, "conv2d: dilation must be positive, got ",
            pair_str(dilation));
  TSR_CHECK(padding[0] >= 0 && padding[1] >= 0, ShapeError, "conv2d: padding must be non-negative, got ",
            pair_str(padding));
  TSR_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), ShapeError,
            "conv2d: bias must have shape [", weight.size(0), "] for weight ", shape_str(weight.shape()), ", got ",
            shape_str(bias.shape()));
  if (x.dim() == 3) return conv2d_batched(x.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0);
  return conv2d_batched(x, weight, bias, stride, padding, dilation, groups);
}

}  // namespace tessera
