// Loss modules, as torch.nn's: thin wrappers over tessera/ops/loss.h that
// hold the options. Class weights and pos_weight are buffers named as torch's
// ("weight", "pos_weight"), so they appear in state_dict when set.
// reduction: "mean" (default), "sum" or "none"; checked at construction.
#pragma once
#include <string>

#include "tessera/nn/module.h"

namespace tessera::nn {

// A loss takes (input, target); the single-tensor Module::forward is not used.
class Loss : public Module {
 public:
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
  using Module::forward;
  std::string reduction;

 protected:
  Loss(const std::string& type_name, std::string reduction);
};

struct CrossEntropyLossOptions {
  Tensor weight;  // (C) class weights, or undefined
  int64_t ignore_index = -100;
  double label_smoothing = 0.0;
  std::string reduction = "mean";
};
// input (N, C) / (N, C, d1, ...) / (C) logits; target int64 class indices.
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& o = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  int64_t ignore_index;
  double label_smoothing;
  Tensor& weight;
};

struct NLLLossOptions {
  Tensor weight;
  int64_t ignore_index = -100;
  std::string reduction = "mean";
};
// input: log-probabilities, shaped as CrossEntropyLoss's.
class NLLLoss : public Loss {
 public:
  explicit NLLLoss(const NLLLossOptions& o = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  int64_t ignore_index;
  Tensor& weight;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(std::string reduction = "mean") : Loss("MSELoss", std::move(reduction)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(std::string reduction = "mean") : Loss("L1Loss", std::move(reduction)) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
};

struct BCEWithLogitsLossOptions {
  Tensor weight;      // broadcasts to the input's shape, or undefined
  Tensor pos_weight;  // broadcasts to the input's shape (usually (C)), or undefined
  std::string reduction = "mean";
};
// Numerically stable sigmoid + binary cross-entropy; target has input's shape.
class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(const BCEWithLogitsLossOptions& o = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  Tensor& weight;
  Tensor& pos_weight;
};

}  // namespace tessera::nn
