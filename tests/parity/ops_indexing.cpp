// Parity registrations for cat, stack, split, chunk, where, masked_fill,
// gather, index_select and embedding (cases/indexing.py).
#include "registry.h"

namespace tessera::parity {

PARITY_OP(cat) { return {cat(in, attr<int64_t>(attrs, "dim"))}; }
PARITY_OP(stack) { return {stack(in, attr<int64_t>(attrs, "dim"))}; }
PARITY_OP(split) { return split(in[0], attr<int64_t>(attrs, "split_size"), attr<int64_t>(attrs, "dim")); }
PARITY_OP(split_sizes) {
  return split(in[0], attr<std::vector<int64_t>>(attrs, "sizes"), attr<int64_t>(attrs, "dim"));
}
PARITY_OP(chunk) { return chunk(in[0], attr<int64_t>(attrs, "chunks"), attr<int64_t>(attrs, "dim")); }
PARITY_OP(where) { return {where(in[0], in[1], in[2])}; }
PARITY_OP(masked_fill) { return {masked_fill(in[0], in[1], attr<double>(attrs, "value"))}; }
PARITY_OP(gather) { return {gather(in[0], attr<int64_t>(attrs, "dim"), in[1])}; }
PARITY_OP(index_select) { return {index_select(in[0], attr<int64_t>(attrs, "dim"), in[1])}; }
PARITY_OP(embedding) {
  std::optional<int64_t> pad;
  if (attrs.contains("padding_idx") && !attrs.at("padding_idx").is_null()) pad = attrs.at("padding_idx").get<int64_t>();
  return {embedding(in[0], in[1], pad)};
}

}  // namespace tessera::parity
