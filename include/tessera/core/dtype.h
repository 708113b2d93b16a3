// Element types. bf16 is storage + conversion only for now; compute kernels
// for it arrive with the mixed-precision work.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "tessera/core/error.h"

namespace tessera {

enum class DType : uint8_t { F32, F64, BF16, I32, I64, Bool };

// bfloat16: the upper 16 bits of an IEEE float32. Conversion rounds to nearest even.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a quiet NaN
      bits = static_cast<uint16_t>((u >> 16) | 0x40);
    } else {
      uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>((u + rounding) >> 16);
    }
  }
  explicit operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::BF16; }
inline bool is_integral(DType t) { return t == DType::I32 || t == DType::I64; }

DType dtype_from_name(const std::string& name);  // "float32", "f32", ...; throws DTypeError

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };

template <typename T> struct type_tag { using type = T; };

// Dtype dispatch: call fn(type_tag<T>{}) for the runtime dtype. `op` names the
// caller for the error message when the dtype is not supported there.
template <typename Fn>
decltype(auto) dispatch_floating(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::F32: return fn(type_tag<float>{});
    case DType::F64: return fn(type_tag<double>{});
    default:
      throw DTypeError(detail::concat(op, ": expected a float32 or float64 tensor, got ", dtype_name(t)));
  }
}
template <typename Fn>
decltype(auto) dispatch_all(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::F32: return fn(type_tag<float>{});
    case DType::F64: return fn(type_tag<double>{});
    case DType::I32: return fn(type_tag<int32_t>{});
    case DType::I64: return fn(type_tag<int64_t>{});
    case DType::Bool: return fn(type_tag<bool>{});
    case DType::BF16: return fn(type_tag<bf16>{});
  }
  throw DTypeError(detail::concat(op, ": unknown dtype"));
}
// Numeric types (no bool, no bf16): for arithmetic kernels.
template <typename Fn>
decltype(auto) dispatch_numeric(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::F32: return fn(type_tag<float>{});
    case DType::F64: return fn(type_tag<double>{});
    case DType::I32: return fn(type_tag<int32_t>{});
    case DType::I64: return fn(type_tag<int64_t>{});
    default:
      throw DTypeError(detail::concat(op, ": unsupported dtype ", dtype_name(t),
                                      " (bfloat16 compute arrives with mixed precision; convert with .to(DType::F32))"));
  }
}

}  // namespace tessera
