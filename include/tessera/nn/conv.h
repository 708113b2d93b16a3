// Convolution and pooling modules over NCHW tensors (or unbatched CHW), as
// torch.nn.Conv2d, MaxPool2d and AvgPool2d: same options, the same parameter
// names and layout (weight (C_out, C_in / groups, kH, kW), bias (C_out)) and
// the same default initialization, so torch checkpoints load by name.
#pragma once
#include <string>

#include "tessera/nn/module.h"
#include "tessera/ops/conv.h"

namespace tessera::nn {

struct Conv2dOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  Pair kernel_size = {1, 1};
  Pair stride = {1, 1};
  Pair padding = {0, 0};  // zero padding on both sides (torch's padding_mode="zeros")
  Pair dilation = {1, 1};
  int64_t groups = 1;
  bool bias = true;
};

// weight ~ kaiming_uniform(a = sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = C_in / groups * kH * kW.
class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  // Square kernel, stride and padding: Conv2d(3, 16, 3, 1, 1).
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, bool bias = true)
      : Conv2d(Conv2dOptions{in, out, {kernel, kernel}, {stride, stride}, {padding, padding}, {1, 1}, 1, bias}) {}
  Tensor forward(const Tensor& x) override;  // (N, C_in, H, W) -> (N, C_out, H', W'), or unbatched
  void reset_parameters();
  std::string describe() const;  // "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1))", used in errors
  Conv2dOptions options;
  Tensor& weight;  // (C_out, C_in / groups, kH, kW)
  Tensor& bias;    // (C_out) or undefined
};

struct MaxPool2dOptions {
  Pair kernel_size = {1, 1};
  Pair stride = {0, 0};  // {0, 0}: the kernel size (torch's stride=None)
  Pair padding = {0, 0};
  Pair dilation = {1, 1};
  bool ceil_mode = false;
};
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& o) : Module("MaxPool2d"), options(o) {}
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : MaxPool2d(MaxPool2dOptions{{kernel, kernel}, {stride, stride}, {padding, padding}}) {}
  Tensor forward(const Tensor& x) override;
  MaxPool2dOptions options;
};

struct AvgPool2dOptions {
  Pair kernel_size = {1, 1};
  Pair stride = {0, 0};  // {0, 0}: the kernel size (torch's stride=None)
  Pair padding = {0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;
};
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& o) : Module("AvgPool2d"), options(o) {}
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : AvgPool2d(AvgPool2dOptions{{kernel, kernel}, {stride, stride}, {padding, padding}}) {}
  Tensor forward(const Tensor& x) override;
  AvgPool2dOptions options;
};

}  // namespace tessera::nn
