// Shared pieces of the optimizers' step(): gradient checks and running a
// fused kernel on a parameter that might (rarely) be a strided view.
#pragma once
#include "tessera/core/tensor.h"

namespace tessera::optim::detail {

// The parameter's gradient, contiguous; throws when its shape or dtype
// differs from the parameter's (a user-set gradient gone wrong).
inline Tensor checked_grad(const std::string& who, const Tensor& p, const Tensor& grad, size_t index) {
  TSR_CHECK(grad.shape() == p.shape(), ShapeError, who, ": gradient of parameter ", index, " has shape ",
            shape_str(grad.shape()), ", the parameter ", shape_str(p.shape()));
  TSR_CHECK(grad.dtype() == p.dtype(), DTypeError, who, ": gradient of parameter ", index, " is ",
            dtype_name(grad.dtype()), ", the parameter ", dtype_name(p.dtype()));
  return grad.contiguous();
}

// A zero-filled contiguous buffer like p.
inline Tensor state_buffer(const Tensor& p) { return zeros(p.shape(), {.dtype = p.dtype(), .device = p.device()}); }

// Calls fn(contiguous parameter), writing back when p is not contiguous, and
// bumps p's version so saved-for-backward checks see the in-place update.
template <class Fn>
void update_in_place(const Tensor& p, Fn&& fn) {
  if (p.is_contiguous()) {
    fn(p);
  } else {
    Tensor c = p.contiguous();
    fn(c);
    const_cast<Tensor&>(p).copy_(c);
  }
  p.bump_version();
}

}  // namespace tessera::optim::detail
