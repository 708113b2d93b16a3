// Dropout with a counter-based mask: the same (seed, offset) gives the same
// mask for any thread count.
#pragma once
#include "tessera/core/random.h"
#include "tessera/core/tensor.h"

namespace tessera {

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout(const Tensor& x, double p, bool training);  // default generator

}  // namespace tessera
