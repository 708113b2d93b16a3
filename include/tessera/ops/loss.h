// Loss functions. reduction: "mean", "sum" or "none".
#pragma once
#include <string>

#include "tessera/core/tensor.h"

namespace tessera {

// logits (N, C) or (N, C, d1...) ; target int64 (N) or (N, d1...) class indices.
// Fused with log_softmax: the probabilities are not kept for backward beyond
// what the gradient needs. weight (C) may be undefined; as in torch it is a
// constant (no gradient). Targets outside [0, C) other than ignore_index throw
// IndexError. "mean" divides by the summed weight of the non-ignored targets
// (NaN when every target is ignored, as torch).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = Tensor(),
                     int64_t ignore_index = -100, double label_smoothing = 0.0,
                     const std::string& reduction = "mean");
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = Tensor(),
                int64_t ignore_index = -100, const std::string& reduction = "mean");
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
// weight and pos_weight broadcast to input's shape; unlike torch, both get
// gradients when they require grad.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor(), const std::string& reduction = "mean");

}  // namespace tessera
