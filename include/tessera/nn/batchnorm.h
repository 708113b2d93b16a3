// Batch normalization, as torch.nn.BatchNorm1d / BatchNorm2d. Parameters
// weight (ones) and bias (zeros) when affine; buffers running_mean (zeros),
// running_var (ones) and num_batches_tracked (int64 scalar) when
// track_running_stats; the state_dict keys are torch's.
//
// Training (or no running statistics): normalize with the batch mean and the
// biased batch variance over every dim but the channel dim, and, when
// tracking, update running_mean / running_var with the batch mean and the
// UNBIASED variance: r = (1 - m) r + m * batch, m = momentum, or
// 1 / num_batches_tracked when momentum is unset (a cumulative average).
// Evaluation: normalize with the running statistics (no gradient to them).
#pragma once
#include <optional>
#include <string>

#include "tessera/nn/module.h"

namespace tessera::nn {

struct BatchNormOptions {
  int64_t num_features = 0;
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;  // std::nullopt: cumulative moving average (torch's momentum=None)
  bool affine = true;
  bool track_running_stats = true;
};

// The shared implementation (torch's _BatchNorm); the subclasses only fix
// which input ranks they accept.
class BatchNormBase : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  void reset_running_stats();
  void reset_parameters();
  BatchNormOptions options;
  Tensor& weight;               // (C) or undefined
  Tensor& bias;                 // (C) or undefined
  Tensor& running_mean;         // (C) or undefined
  Tensor& running_var;          // (C) or undefined
  Tensor& num_batches_tracked;  // int64 0-d or undefined

 protected:
  BatchNormBase(const std::string& type_name, const BatchNormOptions& o);
  virtual void check_input(const Tensor& x) const = 0;
  std::string describe() const;  // "BatchNorm2d(16)", used in errors
};

// Input (N, C) or (N, C, L).
class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(const BatchNormOptions& o) : BatchNormBase("BatchNorm1d", o) {}
  explicit BatchNorm1d(int64_t num_features) : BatchNorm1d(BatchNormOptions{num_features}) {}

 protected:
  void check_input(const Tensor& x) const override;
};

// Input (N, C, H, W).
class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(const BatchNormOptions& o) : BatchNormBase("BatchNorm2d", o) {}
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNormOptions{num_features}) {}

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace tessera::nn
