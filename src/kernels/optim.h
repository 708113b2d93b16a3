// Kernel stubs for the fused optimizer updates (frontends src/optim/sgd.cpp and
// adam.cpp, CPU kernels src/backends/cpu/optim.cpp): one pass over a parameter
// (Adam: over every parameter of a group), its gradient and its state buffers instead of torch's 4-6 separate in-place
// ops, with the same float operations in the same order (the scalars are
// rounded to the parameter's dtype first, as torch does with Python scalars),
// so trajectories match torch.optim's to the last bit.
#pragma once
#include <cstdint>
#include <vector>

#include "tessera/core/dispatch.h"
#include "tessera/core/tensor.h"

namespace tessera {

struct SGDStepArgs {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool init_buffer;  // first step with momentum: buf = g (torch clones d_p)
};

// All tensors contiguous, same dtype and numel; momentum_buf undefined when momentum == 0.
TSR_DECLARE_STUB(sgd_step_stub, void (*)(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
                                         const SGDStepArgs& args));

// The options of one parameter group.
struct AdamStepArgs {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad;
  bool decoupled;  // AdamW
};

// One parameter of the group: all tensors contiguous, the same dtype and
// numel; max_exp_avg_sq undefined unless amsgrad.
struct AdamTensors {
  Tensor param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq;
  int64_t step;  // after increment: 1 on the first update
};

// Updates every parameter of a group in one pass: the kernel splits the
// group's elements, not each tensor, over the threads, so a model's many small
// tensors (biases, norms) cost no parallel region each.
TSR_DECLARE_STUB(adam_step_stub, void (*)(const std::vector<AdamTensors>& params, const AdamStepArgs& args));

}  // namespace tessera
