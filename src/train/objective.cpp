// The default gradient path of an Objective (train/objective.h): backward of
// the scaled mean loss, then global-norm clipping.
#include "tessera/train/objective.h"

#include "tessera/nn/regularization.h"
#include "tessera/ops/elementwise.h"

namespace tessera::train {

void Objective::backward(const Tensor& loss, double scale) {
  if (scale == 1.0) {
    loss.backward();
  } else {
    mul(loss, scale).backward();
  }
}

void Objective::clip_gradients(const std::vector<Tensor>& params, double max_norm) {
  if (max_norm > 0) nn::clip_grad_norm_(params, max_norm);
}

}  // namespace tessera::train
