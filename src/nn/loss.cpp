// Loss modules over tessera/ops/loss.h. The ops validate shapes, dtypes and
// class indices; the modules prefix those errors with their own name so a
// failure inside a model says which loss module it came from.
#include "tessera/nn/loss.h"

#include "tessera/ops/loss.h"

namespace tessera::nn {

namespace {

std::string checked_reduction(const std::string& who, const std::string& r) {
  TSR_CHECK(r == "mean" || r == "sum" || r == "none", Error, who, ": reduction must be \"mean\", \"sum\" or \"none\", got \"",
            r, "\"");
  return r;
}

// Re-throws an op error with the module's name in front, keeping its type.
template <typename F>
Tensor named(const std::string& who, F&& f) {
  try {
    return f();
  } catch (const ShapeError& e) {
    throw ShapeError(who + ": " + e.what());
  } catch (const DTypeError& e) {
    throw DTypeError(who + ": " + e.what());
  } catch (const IndexError& e) {
    throw IndexError(who + ": " + e.what());
  }
}

}  // namespace

Loss::Loss(const std::string& type_name, std::string r)
    : Module(type_name), reduction(checked_reduction(type_name, r)) {}

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& o)
    : Loss("CrossEntropyLoss", o.reduction),
      ignore_index(o.ignore_index),
      label_smoothing(o.label_smoothing),
      weight(register_buffer("weight", o.weight)) {
  TSR_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, Error,
            "CrossEntropyLoss: label_smoothing must be in [0, 1], got ", o.label_smoothing);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return named(type_name(), [&] { return cross_entropy(input, target, weight, ignore_index, label_smoothing, reduction); });
}

NLLLoss::NLLLoss(const NLLLossOptions& o)
    : Loss("NLLLoss", o.reduction), ignore_index(o.ignore_index), weight(register_buffer("weight", o.weight)) {}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return named(type_name(), [&] { return nll_loss(input, target, weight, ignore_index, reduction); });
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return named(type_name(), [&] { return mse_loss(input, target, reduction); });
}

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return named(type_name(), [&] { return l1_loss(input, target, reduction); });
}

BCEWithLogitsLoss::BCEWithLogitsLoss(const BCEWithLogitsLossOptions& o)
    : Loss("BCEWithLogitsLoss", o.reduction),
      weight(register_buffer("weight", o.weight)),
      pos_weight(register_buffer("pos_weight", o.pos_weight)) {}

Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return named(type_name(),
               [&] { return binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction); });
}

}  // namespace tessera::nn
