// nn::add_norm: picks add_layer_norm / add_rms_norm for the norm module.
#include "nn/add_norm.h"

#include <limits>

#include "tessera/nn/layers.h"
#include "tessera/ops/elementwise.h"

namespace tessera::nn {

AddNormResult add_norm(Module& norm, const Tensor& x, const Tensor& residual) {
  if (auto* ln = dynamic_cast<LayerNorm*>(&norm))
    return add_layer_norm(x, residual, ln->options.normalized_shape, ln->weight, ln->bias, ln->options.eps);
  if (auto* rms = dynamic_cast<RMSNorm*>(&norm)) {
    // The default eps as RMSNorm::forward picks it: machine epsilon of the input dtype.
    const double eps = rms->options.eps.value_or(x.dtype() == DType::F64 ? std::numeric_limits<double>::epsilon()
                                                                         : std::numeric_limits<float>::epsilon());
    return add_rms_norm(x, residual, rms->options.normalized_shape, rms->weight, eps);
  }
  Tensor sum = add(x, residual);
  return {sum, norm.forward(sum)};
}

}  // namespace tessera::nn
