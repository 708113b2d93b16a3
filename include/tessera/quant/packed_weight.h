// Weights stored for inference in a compact format: bf16, int8 per output
// channel, or GGUF's Q8_0 / Q4_0 blocks. A PackedWeight is a (rows, cols)
// matrix laid out as torch.nn.Linear's weight (out, in): each row its own run
// of bytes, so a row (an output channel, or an embedding row) is read or
// dequantized alone.
//
// File layouts (to_bytes / from_bytes; safetensors and GGUF data), rows one
// after another, little-endian; the blocks are GGUF's byte for byte, so a
// GGUF tensor loads without re-quantizing and exports to the same bytes:
//   F32   cols float32.
//   BF16  cols bfloat16 (upper half of float32, round to nearest even).
//   Int8  cols int8 q; value = q * row_scale[row]; scale = max|w| / 127.
//   Q8_0  cols/32 blocks of {fp16 d; int8 q[32]} (34 bytes); value = q * d,
//         d = max|w| / 127 over the block.
//   Q4_0  cols/32 blocks of {fp16 d; uint8 nib[16]} (18 bytes); element j of
//         the block is nib[j] & 15 for j < 16 and nib[j-16] >> 4 for j >= 16;
//         value = (n - 8) * d, d = w_maxabs_signed / -8 as ggml (the element of
//         largest magnitude maps to -8 exactly).
// Q8_0 and Q4_0 need cols % 32 == 0.
//
// In memory the integer formats are rearranged for the kernel (as llama.cpp
// repacks Q4_0 for AVX on load): a row holds its block scales as float32
// first (Q8_0, Q4_0), then its blocks in pairs, each pair's values
// interleaved 4 at a time (block b, block b + 1, block b, ...) and stored
// unsigned (q + 128, or the nibble), so one 64-byte load feeds vpdpbusd and a
// single 8-byte broadcast gives both blocks' scales. Code outside the kernels
// goes through the functions below, never through row().
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::quant {

enum class WeightFormat : uint8_t { F32, BF16, Int8, Q8_0, Q4_0 };

const char* format_name(WeightFormat f);  // "f32", "bf16", "int8", "q8_0", "q4_0"
// Accepts the names above (and "fp32", "float32", "bfloat16"); throws
// tessera::Error listing them.
WeightFormat parse_format(const std::string& name);
// Bytes of one row of `cols` values; throws for Q8_0/Q4_0 with cols % 32 != 0.
int64_t row_bytes(WeightFormat f, int64_t cols);

// IEEE half <-> float (round to nearest even), as GGUF's F16 and block scales.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);

struct PackedWeight {
  WeightFormat format = WeightFormat::F32;
  int64_t rows = 0, cols = 0;
  int64_t stride = 0;             // bytes per row in memory (the kernel layout above)
  std::shared_ptr<uint8_t> data;  // rows * stride bytes, 64-byte aligned
  std::vector<float> row_scale;   // Int8 only: one per row

  bool defined() const { return data != nullptr; }
  const uint8_t* row(int64_t r) const { return data.get() + r * stride; }
  uint8_t* mutable_row(int64_t r) { return data.get() + r * stride; }
  int64_t bytes() const { return rows * row_bytes(format, cols) + int64_t(row_scale.size()) * 4; }
};

// A zero-filled buffer for (rows, cols) in `f` (Int8 gets rows scales of 0).
PackedWeight allocate(WeightFormat f, int64_t rows, int64_t cols);
// Quantizes a float32 (rows, cols) matrix (any strides). Throws ShapeError for
// another rank or dtype, or for cols % 32 != 0 in the block formats (naming
// the shape).
PackedWeight pack(const Tensor& w, WeightFormat f);
// From the file bytes of a row-major (rows, cols) tensor in `f` (GGUF data,
// a quantized checkpoint); `scales` for Int8. Checks the byte count.
PackedWeight from_bytes(WeightFormat f, int64_t rows, int64_t cols, const void* bytes, size_t nbytes,
                        const float* scales = nullptr);
// The matrix in the file layout (rows * row_bytes bytes).
std::string to_bytes(const PackedWeight& w);
// Dequantized copy: a float32 (rows, cols) tensor.
Tensor unpack(const PackedWeight& w);
// Dequantizes row r into out[cols].
void unpack_row(const PackedWeight& w, int64_t r, float* out);

// y (M, rows) = x (M, cols) * w^T (+ bias (rows)), x and y float32 row-major
// with leading dimensions ldx, ldy. The kernel of the quantized linear layer:
// dequantization happens in the inner loop (AVX-512 with VNNI or BF16 dot
// products when the CPU has them, a scalar path otherwise); threads split the
// rows of w. Inference only.
void matmul(const float* x, int64_t M, int64_t ldx, const PackedWeight& w, const float* bias, float* y,
            int64_t ldy);
// Tensor form: x (..., cols) float32 -> (..., rows) (+ bias). Throws when x
// requires grad: packed weights are for inference.
Tensor linear(const Tensor& x, const PackedWeight& w, const Tensor& bias = Tensor());
// Rows of w for int64 ids of any shape -> (..., cols) float32 (an embedding
// lookup); ids outside [0, rows) throw IndexError naming the id.
Tensor embedding(const PackedWeight& w, const Tensor& ids);

namespace testing {
// Tests: run the scalar kernels even where the CPU has the vector ones (as
// TESSERA_NO_VNNI=1 does for a whole process), and ask which ones run.
void force_scalar_kernels(bool on);
bool vector_kernels(WeightFormat f);
}  // namespace testing

}  // namespace tessera::quant
