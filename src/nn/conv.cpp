// Conv2d, MaxPool2d, AvgPool2d modules over the ops in tessera/ops/conv.h.
// The modules check what the user controls (channel counts, input rank) and
// name themselves and the shapes; geometry errors come from the ops.
#include "tessera/nn/conv.h"

#include <cmath>

#include "tessera/nn/init.h"

namespace tessera::nn {

namespace {

std::string pair_str(Pair p) { return detail::concat("(", p[0], ", ", p[1], ")"); }

// Validated in the member initializer, before the weight is allocated, so a
// bad `groups` cannot reach a division.
Shape conv_weight_shape(const Conv2dOptions& o) {
  TSR_CHECK(o.in_channels > 0 && o.out_channels > 0, ShapeError, "Conv2d: in_channels (", o.in_channels,
            ") and out_channels (", o.out_channels, ") must be positive");
  TSR_CHECK(o.groups > 0, ShapeError, "Conv2d: groups must be positive, got ", o.groups);
  TSR_CHECK(o.in_channels % o.groups == 0, ShapeError, "Conv2d: in_channels ", o.in_channels,
            " must be divisible by groups ", o.groups);
  TSR_CHECK(o.out_channels % o.groups == 0, ShapeError, "Conv2d: out_channels ", o.out_channels,
            " must be divisible by groups ", o.groups);
  TSR_CHECK(o.kernel_size[0] > 0 && o.kernel_size[1] > 0, ShapeError, "Conv2d: kernel_size must be positive, got ",
            pair_str(o.kernel_size));
  return {o.out_channels, o.in_channels / o.groups, o.kernel_size[0], o.kernel_size[1]};
}

void check_pool_input(const std::string& who, const Tensor& x) {
  TSR_CHECK(x.defined(), Error, who, ": input is undefined");
  TSR_CHECK(x.dim() == 3 || x.dim() == 4, ShapeError, who, ": expected a 4-D (N, C, H, W) or 3-D (C, H, W) input, got shape ",
            shape_str(x.shape()));
}

}  // namespace

Conv2d::Conv2d(const Conv2dOptions& o)
    : Module("Conv2d"),
      options(o),
      weight(register_parameter("weight", empty(conv_weight_shape(o)))),
      bias(register_parameter("bias", o.bias ? empty({o.out_channels}) : Tensor())) {
  reset_parameters();
}

void Conv2d::reset_parameters() {
  // torch's _ConvNd.reset_parameters: kaiming_uniform_(a=sqrt(5)), which is
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound.
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    auto [fan_in, fan_out] = init::fan_in_and_fan_out(weight);
    double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

std::string Conv2d::describe() const {
  const auto& o = options;
  std::string s = detail::concat("Conv2d(", o.in_channels, ", ", o.out_channels, ", kernel_size=", pair_str(o.kernel_size),
                                 ", stride=", pair_str(o.stride));
  if (o.padding != Pair{0, 0}) s += ", padding=" + pair_str(o.padding);
  if (o.dilation != Pair{1, 1}) s += ", dilation=" + pair_str(o.dilation);
  if (o.groups != 1) s += detail::concat(", groups=", o.groups);
  if (!o.bias) s += ", bias=False";
  s += ")";
  return path().empty() ? s : s + " '" + path() + "'";
}

Tensor Conv2d::forward(const Tensor& x) {
  TSR_CHECK(x.defined(), Error, describe(), ": input is undefined");
  TSR_CHECK(x.dim() == 3 || x.dim() == 4, ShapeError, describe(),
            ": expected a 4-D (N, C_in, H, W) or 3-D (C_in, H, W) input, got shape ", shape_str(x.shape()));
  TSR_CHECK(x.size(-3) == options.in_channels, ShapeError, describe(), ": input of shape ", shape_str(x.shape()),
            " has ", x.size(-3), " channels, expected ", options.in_channels, " (weight shape ",
            shape_str(weight.shape()), ")");
  return conv2d(x, weight, bias, options.stride, options.padding, options.dilation, options.groups);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_pool_input(detail::concat("MaxPool2d(kernel_size=", pair_str(options.kernel_size), ")"), x);
  return max_pool2d(x, options.kernel_size, options.stride, options.padding, options.dilation, options.ceil_mode);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  check_pool_input(detail::concat("AvgPool2d(kernel_size=", pair_str(options.kernel_size), ")"), x);
  return avg_pool2d(x, options.kernel_size, options.stride, options.padding, options.ceil_mode,
                    options.count_include_pad);
}

}  // namespace tessera::nn
