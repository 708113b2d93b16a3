// PackedWeight (quant/packed_weight.h): formats, the reference quantizers
// (ggml's rounding for Q8_0 and Q4_0, so a matrix quantized here has the same
// bytes as llama.cpp's quantize of it), and dequantization.
#include "tessera/quant/packed_weight.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "quant/packed_layout.h"
#include "tessera/core/error.h"

namespace tessera::quant {

namespace {

using namespace layout;

// Enough for the widest row read of the kernels (they may load a full
// 64-byte vector at the end of the last row).
constexpr int64_t kTailPad = 64;

uint16_t bf16_bits(float x) { return bf16(x).bits; }
float from_bf16_bits(uint16_t b) {
  bf16 h;
  h.bits = b;
  return static_cast<float>(h);
}

// A row in the file layout -> the memory layout (mem was zero-filled).
void file_to_memory(WeightFormat f, int64_t cols, const uint8_t* file, uint8_t* mem) {
  if (!integer_format(f)) {
    std::memcpy(mem, file, static_cast<size_t>(row_bytes(f, cols)));
    return;
  }
  uint8_t* quants = mem + quants_offset(f, cols);
  if (f != WeightFormat::Q4_0) std::memset(quants, 0x80, static_cast<size_t>(even_blocks(cols) / 2 * 64));  // value 0
  const int64_t nb = (cols + kBlock - 1) / kBlock;
  for (int64_t b = 0; b < nb; ++b) {
    if (f == WeightFormat::Int8) {
      for (int64_t e = 0; e < kBlock && b * kBlock + e < cols; ++e)
        set_code(f, quants, b, e, static_cast<uint8_t>(file[b * kBlock + e] ^ 0x80));
      continue;
    }
    const uint8_t* blk = file + b * (f == WeightFormat::Q8_0 ? 34 : 18);
    uint16_t h;
    std::memcpy(&h, blk, 2);
    const float d = half_to_float(h);
    std::memcpy(mem + b * 4, &d, 4);
    for (int64_t e = 0; e < kBlock; ++e) {
      const uint8_t code = f == WeightFormat::Q8_0 ? static_cast<uint8_t>(blk[2 + e] ^ 0x80)
                                                   : static_cast<uint8_t>(e < 16 ? blk[2 + e] & 15 : blk[2 + e - 16] >> 4);
      set_code(f, quants, b, e, code);
    }
  }
}

void memory_to_file(WeightFormat f, int64_t cols, const uint8_t* mem, uint8_t* file) {
  if (!integer_format(f)) {
    std::memcpy(file, mem, static_cast<size_t>(row_bytes(f, cols)));
    return;
  }
  const uint8_t* quants = mem + quants_offset(f, cols);
  const int64_t nb = (cols + kBlock - 1) / kBlock;
  for (int64_t b = 0; b < nb; ++b) {
    if (f == WeightFormat::Int8) {
      for (int64_t e = 0; e < kBlock && b * kBlock + e < cols; ++e)
        file[b * kBlock + e] = static_cast<uint8_t>(get_code(f, quants, b, e) ^ 0x80);
      continue;
    }
    uint8_t* blk = file + b * (f == WeightFormat::Q8_0 ? 34 : 18);
    float d;
    std::memcpy(&d, mem + b * 4, 4);
    const uint16_t h = float_to_half(d);  // exact: d came from a half
    std::memcpy(blk, &h, 2);
    if (f == WeightFormat::Q8_0) {
      for (int64_t e = 0; e < kBlock; ++e) blk[2 + e] = static_cast<uint8_t>(get_code(f, quants, b, e) ^ 0x80);
    } else {
      for (int64_t e = 0; e < 16; ++e)
        blk[2 + e] = static_cast<uint8_t>(get_code(f, quants, b, e) | (get_code(f, quants, b, e + 16) << 4));
    }
  }
}

void quantize_q8_0_row(const float* w, int64_t cols, uint8_t* out) {
  for (int64_t b = 0; b < cols / kBlock; ++b, w += kBlock, out += 34) {
    float amax = 0;
    for (int64_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(w[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t dh = float_to_half(d);
    std::memcpy(out, &dh, 2);
    auto* q = reinterpret_cast<int8_t*>(out + 2);
    for (int64_t j = 0; j < kBlock; ++j) q[j] = static_cast<int8_t>(std::round(w[j] * id));
  }
}

void quantize_q4_0_row(const float* w, int64_t cols, uint8_t* out) {
  for (int64_t b = 0; b < cols / kBlock; ++b, w += kBlock, out += 18) {
    float amax = 0, max = 0;  // the element of largest magnitude, with its sign
    for (int64_t j = 0; j < kBlock; ++j)
      if (std::fabs(w[j]) > amax) {
        amax = std::fabs(w[j]);
        max = w[j];
      }
    const float d = max / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t dh = float_to_half(d);
    std::memcpy(out, &dh, 2);
    uint8_t* nib = out + 2;
    for (int64_t j = 0; j < kBlock / 2; ++j) {
      // ggml: truncation after +8.5, clamped to 15.
      const int lo = std::min(15, static_cast<int>(w[j] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(w[j + kBlock / 2] * id + 8.5f));
      nib[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace

const char* format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "f32";
    case WeightFormat::BF16: return "bf16";
    case WeightFormat::Int8: return "int8";
    case WeightFormat::Q8_0: return "q8_0";
    case WeightFormat::Q4_0: return "q4_0";
  }
  return "?";
}

WeightFormat parse_format(const std::string& name) {
  if (name == "f32" || name == "fp32" || name == "float32") return WeightFormat::F32;
  if (name == "bf16" || name == "bfloat16") return WeightFormat::BF16;
  if (name == "int8") return WeightFormat::Int8;
  if (name == "q8_0") return WeightFormat::Q8_0;
  if (name == "q4_0") return WeightFormat::Q4_0;
  throw Error(detail::concat("unknown weight format \"", name, "\" (expected f32, bf16, int8, q8_0 or q4_0)"));
}

int64_t row_bytes(WeightFormat f, int64_t cols) {
  switch (f) {
    case WeightFormat::F32: return 4 * cols;
    case WeightFormat::BF16: return 2 * cols;
    case WeightFormat::Int8: return cols;
    case WeightFormat::Q8_0:
    case WeightFormat::Q4_0:
      TSR_CHECK(cols % kBlock == 0, ShapeError, format_name(f), " stores blocks of 32 values; a row of ", cols,
                " values is not a whole number of blocks");
      return cols / kBlock * (f == WeightFormat::Q8_0 ? 34 : 18);
  }
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalize
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      u = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;  // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {                        // below the smallest normal half: subnormal or zero
    const float a = std::fabs(f) * 16777216.0f;   // in units of 2^-24, the subnormal step
    return sign | static_cast<uint16_t>(std::nearbyint(a));
  }
  // Normal: rebias the exponent, round the 13 dropped bits to nearest even.
  uint32_t h = ((abs >> 13) - ((127 - 15) << 10));
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

PackedWeight allocate(WeightFormat f, int64_t rows, int64_t cols) {
  TSR_CHECK(rows >= 0 && cols >= 0, ShapeError, "quant: negative matrix size (", rows, ", ", cols, ")");
  PackedWeight w;
  w.format = f;
  w.rows = rows;
  w.cols = cols;
  w.stride = memory_stride(f, cols);
  const size_t n = static_cast<size_t>(rows * w.stride + kTailPad);
  void* p = std::aligned_alloc(64, (n + 63) / 64 * 64);
  TSR_CHECK(p != nullptr, Error, "quant: out of memory for a ", rows, " x ", cols, " ", format_name(f), " matrix");
  std::memset(p, 0, n);
  w.data = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
  if (f == WeightFormat::Int8) w.row_scale.assign(static_cast<size_t>(rows), 0.0f);
  return w;
}

PackedWeight pack(const Tensor& weight, WeightFormat f) {
  TSR_CHECK(weight.defined() && weight.dim() == 2 && weight.dtype() == DType::F32, ShapeError,
            "quant: can pack a float32 matrix (rows, cols), got ",
            weight.defined() ? dtype_name(weight.dtype()) + std::string(" ") + shape_str(weight.shape())
                             : "undefined");
  TSR_CHECK(f != WeightFormat::Q8_0 && f != WeightFormat::Q4_0 || weight.size(1) % kBlock == 0, ShapeError,
            "quant: ", format_name(f), " needs rows whose length is a multiple of 32, got a matrix of shape ",
            shape_str(weight.shape()));
  const Tensor w = weight.contiguous();
  const int64_t rows = w.size(0), cols = w.size(1);
  PackedWeight out = allocate(f, rows, cols);
  const float* src = w.data<float>();
  std::vector<uint8_t> file(static_cast<size_t>(row_bytes(f, cols)));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = src + r * cols;
    uint8_t* dst = file.data();
    switch (f) {
      case WeightFormat::F32: std::memcpy(dst, row, static_cast<size_t>(cols) * 4); break;
      case WeightFormat::BF16:
        for (int64_t j = 0; j < cols; ++j) {
          const uint16_t b = bf16_bits(row[j]);
          std::memcpy(dst + 2 * j, &b, 2);
        }
        break;
      case WeightFormat::Int8: {
        float amax = 0;
        for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(row[j]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        out.row_scale[static_cast<size_t>(r)] = d;
        for (int64_t j = 0; j < cols; ++j) dst[j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(row[j] * id)));
        break;
      }
      case WeightFormat::Q8_0: quantize_q8_0_row(row, cols, dst); break;
      case WeightFormat::Q4_0: quantize_q4_0_row(row, cols, dst); break;
    }
    file_to_memory(f, cols, dst, out.mutable_row(r));
  }
  return out;
}

PackedWeight from_bytes(WeightFormat f, int64_t rows, int64_t cols, const void* bytes, size_t nbytes,
                        const float* scales) {
  const int64_t rb = row_bytes(f, cols);
  TSR_CHECK(static_cast<int64_t>(nbytes) == rows * rb, ShapeError, "quant: a ", rows, " x ", cols, " ",
            format_name(f), " matrix takes ", rows * rb, " bytes, got ", nbytes);
  TSR_CHECK(f != WeightFormat::Int8 || scales != nullptr, Error, "quant: int8 weights need their row scales");
  PackedWeight out = allocate(f, rows, cols);
  const auto* src = static_cast<const uint8_t*>(bytes);
  for (int64_t r = 0; r < rows; ++r) file_to_memory(f, cols, src + r * rb, out.mutable_row(r));
  if (f == WeightFormat::Int8) {
    std::copy(scales, scales + rows, out.row_scale.begin());
    for (int64_t r = 0; r < rows; ++r)
      TSR_CHECK(std::isfinite(out.row_scale[r]) && out.row_scale[r] >= 0, Error, "quant: int8 row ", r,
                " has scale ", out.row_scale[r], " (must be finite and >= 0)");
  }
  return out;
}

std::string to_bytes(const PackedWeight& w) {
  const int64_t rb = row_bytes(w.format, w.cols);
  std::string out(static_cast<size_t>(w.rows * rb), '\0');
  for (int64_t r = 0; r < w.rows; ++r)
    memory_to_file(w.format, w.cols, w.row(r), reinterpret_cast<uint8_t*>(out.data()) + r * rb);
  return out;
}

void unpack_row(const PackedWeight& w, int64_t r, float* out) {
  const uint8_t* src = w.row(r);
  const int64_t cols = w.cols;
  switch (w.format) {
    case WeightFormat::F32: std::memcpy(out, src, static_cast<size_t>(cols) * 4); return;
    case WeightFormat::BF16:
      for (int64_t j = 0; j < cols; ++j) {
        uint16_t b;
        std::memcpy(&b, src + 2 * j, 2);
        out[j] = from_bf16_bits(b);
      }
      return;
    case WeightFormat::Int8:
    case WeightFormat::Q8_0:
    case WeightFormat::Q4_0: {
      const WeightFormat f = w.format;
      const uint8_t* quants = src + quants_offset(f, cols);
      const int offset = f == WeightFormat::Q4_0 ? 8 : 128;
      for (int64_t b = 0; b * kBlock < cols; ++b) {
        float d = f == WeightFormat::Int8 ? w.row_scale[static_cast<size_t>(r)] : 0.0f;
        if (f != WeightFormat::Int8) std::memcpy(&d, src + b * 4, 4);
        for (int64_t e = 0; e < kBlock && b * kBlock + e < cols; ++e)
          out[b * kBlock + e] = static_cast<float>(static_cast<int>(get_code(f, quants, b, e)) - offset) * d;
      }
      return;
    }
  }
}

Tensor unpack(const PackedWeight& w) {
  Tensor out = empty({w.rows, w.cols});
  float* dst = out.data<float>();
  for (int64_t r = 0; r < w.rows; ++r) unpack_row(w, r, dst + r * w.cols);
  return out;
}

}  // namespace tessera::quant
