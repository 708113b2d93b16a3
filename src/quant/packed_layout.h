// The in-memory layout of packed integer weights (quant/packed_weight.h), shared
// by the packing code (src/quant/packed_weight.cpp) and the kernels
// (src/backends/cpu/quant_matmul.cpp): which byte of a row holds which value.
#pragma once
#include <cstdint>

#include "tessera/quant/packed_weight.h"

namespace tessera::quant::layout {

constexpr int64_t kBlock = 32;

inline bool integer_format(WeightFormat f) {
  return f == WeightFormat::Int8 || f == WeightFormat::Q8_0 || f == WeightFormat::Q4_0;
}
inline int64_t even_blocks(int64_t cols) {
  const int64_t nb = (cols + kBlock - 1) / kBlock;
  return nb + (nb & 1);
}
inline bool has_block_scales(WeightFormat f) { return f == WeightFormat::Q8_0 || f == WeightFormat::Q4_0; }
inline int64_t pair_bytes(WeightFormat f) { return f == WeightFormat::Q4_0 ? 32 : 64; }
inline int64_t memory_stride(WeightFormat f, int64_t cols) {
  if (!integer_format(f)) return row_bytes(f, cols);
  const int64_t nbe = even_blocks(cols);
  return (has_block_scales(f) ? nbe * 4 : 0) + nbe / 2 * pair_bytes(f);
}
// Where element e (0..31) of block b lands inside its pair's bytes: lanes of
// 4 alternate between the pair's two blocks.
inline int64_t position_in_pair(int64_t b, int64_t e) { return (2 * (e / 4) + (b & 1)) * 4 + (e & 3); }

// The unsigned code of element e of block b in a memory row (q + 128, or the nibble).
inline uint8_t get_code(WeightFormat f, const uint8_t* quants, int64_t b, int64_t e) {
  const uint8_t* pair = quants + (b / 2) * pair_bytes(f);
  const int64_t p = position_in_pair(b, e);
  if (f != WeightFormat::Q4_0) return pair[p];
  return p < 32 ? pair[p] & 15 : pair[p - 32] >> 4;
}
inline void set_code(WeightFormat f, uint8_t* quants, int64_t b, int64_t e, uint8_t code) {
  uint8_t* pair = quants + (b / 2) * pair_bytes(f);
  const int64_t p = position_in_pair(b, e);
  if (f != WeightFormat::Q4_0) pair[p] = code;
  else if (p < 32) pair[p] = static_cast<uint8_t>((pair[p] & 0xf0) | code);
  else pair[p - 32] = static_cast<uint8_t>((pair[p - 32] & 0x0f) | (code << 4));
}
inline int64_t quants_offset(WeightFormat f, int64_t cols) { return has_block_scales(f) ? even_blocks(cols) * 4 : 0; }

}  // namespace tessera::quant::layout
