// A GGUF tensor as rows of bytes (private to src/checkpoint): what the GGUF
// loader and exporter rename, permute, stack and convert. Every supported
// type (F32, F16, BF16, Q8_0, Q4_0) stores a row as its own run of bytes, so
// row permutations and stacking work on the bytes without converting them.
#pragma once
#include <string>
#include <vector>

#include "tessera/core/tensor.h"
#include "tessera/io/gguf.h"
#include "tessera/quant/packed_weight.h"

namespace tessera::checkpoint::gguf {

struct Rows {
  io::GgmlType type = io::GgmlType::F32;
  int64_t rows = 0, cols = 0;
  std::string bytes;  // rows * row_bytes(), row after row
  int64_t row_bytes() const { return rows ? int64_t(bytes.size()) / rows : 0; }
};

// Tessera can load these tensor types.
bool loadable(io::GgmlType t);
// The file tensor `name`, checked against the torch shape (out, in) or (n)
// (ggml dims are the reverse) and against the loadable types; errors name the
// file, the tensor and both shapes (or the type, e.g. "Q4_K").
Rows read_rows(const io::GgufFile& file, const std::string& name, const Shape& shape);
// float32 (rows, cols).
Tensor to_float(const Rows& r);
// Q8_0 / Q4_0 rows as the quantized layers hold them.
quant::PackedWeight to_packed(const Rows& r);
// A float32 matrix (or vector, one row) in `type` (F32, F16, Q8_0, Q4_0).
Rows from_float(const Tensor& t, io::GgmlType type);

// llama.cpp's rope pairs (x[2i], x[2i+1]); HF's rotate_half pairs (x[i],
// x[i + D/2]). convert_hf_to_gguf.py reorders q/k rows within each head:
// file row h*D + 2i + j holds HF row h*D + j*D/2 + i. unpermute gives the HF
// order back; permute makes the file order.
Rows unpermute_rope_rows(const Rows& r, int64_t n_head);
Rows permute_rope_rows(const Rows& r, int64_t n_head);
// Rows of several matrices with the same cols, one after another; matrices of
// different types are converted to F32 first.
Rows stack_rows(const std::vector<Rows>& parts);

}  // namespace tessera::checkpoint::gguf
