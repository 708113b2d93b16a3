// Pair: the (height, width) of a 2-D window, stride, padding or dilation.
#pragma once
#include <array>
#include <cstdint>

namespace tessera {

using Pair = std::array<int64_t, 2>;

}  // namespace tessera
