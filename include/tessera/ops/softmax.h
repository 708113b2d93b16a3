// softmax and log_softmax along one dim (negative dims count from the end).
#pragma once
#include <cstdint>

#include "tessera/core/tensor.h"

namespace tessera {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

}  // namespace tessera
