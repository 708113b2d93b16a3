// Parity ops for convolution and pooling (cases in tests/parity/cases/conv.py).
#include "registry.h"

using namespace tessera;
using parity::attr_or;

namespace {
Pair pair(const nlohmann::json& attrs, const char* key, Pair fallback) {
  if (!attrs.contains(key)) return fallback;
  auto v = attrs.at(key).get<std::vector<int64_t>>();
  return {v.at(0), v.at(1)};
}
}  // namespace

PARITY_OP(conv2d) {
  return {conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), pair(attrs, "stride", {1, 1}),
                 pair(attrs, "padding", {0, 0}), pair(attrs, "dilation", {1, 1}), attr_or<int64_t>(attrs, "groups", 1))};
}
PARITY_OP(max_pool2d) {
  return {max_pool2d(in[0], pair(attrs, "kernel", {0, 0}), pair(attrs, "stride", {0, 0}), pair(attrs, "padding", {0, 0}),
                     pair(attrs, "dilation", {1, 1}), attr_or<bool>(attrs, "ceil_mode", false))};
}
PARITY_OP(avg_pool2d) {
  return {avg_pool2d(in[0], pair(attrs, "kernel", {0, 0}), pair(attrs, "stride", {0, 0}), pair(attrs, "padding", {0, 0}),
                     attr_or<bool>(attrs, "ceil_mode", false), attr_or<bool>(attrs, "count_include_pad", true))};
}
