// Scalar math written so GCC vectorizes it inside `#pragma omp simd` loops:
// no calls into libm and no branches, only arithmetic and selects. glibc's
// expf/tanhf are scalar calls, which made softmax, sigmoid and silu several
// times slower than PyTorch's SIMD (Sleef) versions. Accuracy is a few ulp in
// float32; float64 keeps libm (it serves gradient checks, not speed).
#pragma once
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace tessera::cpu {

// e^x for float32: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a
// degree-6 minimax polynomial for e^r (the Cephes expf coefficients), scaled
// by 2^n built in the exponent bits. Results below the smallest normal float
// flush to 0 (PyTorch would give a denormal: an absolute error under 1.2e-38).
inline float exp_f32(float x) {
  const float kHi = 88.3762626647949f;   // ln(FLT_MAX)
  const float kLo = -87.3365478515625f;  // ln(FLT_MIN)
  float xc = x > kHi ? kHi : x;
  xc = xc < kLo ? kLo : xc;
  // Round x*log2(e) to nearest: adding 1.5*2^23 pushes the fraction out.
  const float kShift = 12582912.0f;
  float t = xc * 1.44269504088896341f + kShift;
  float n = t - kShift;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  // n is in [-126, 127]: a normal power of two fits the exponent field.
  int32_t ni = static_cast<int32_t>(n);
  float scale = std::bit_cast<float>(static_cast<int32_t>((ni + 127) << 23));
  float y = p * scale;
  y = x > kHi ? std::numeric_limits<float>::infinity() : y;
  y = x < kLo ? 0.0f : y;
  y = x != x ? x : y;  // NaN in, NaN out
  return y;
}

// tanh for float32: an odd polynomial near 0 (Cephes tanhf, relative error
// ~1e-7 where 1 - 2/(e^2x + 1) would cancel), the exp form elsewhere.
inline float tanh_f32(float x) {
  float ax = x < 0.0f ? -x : x;
  float z = x * x;
  float small = -5.70498872745e-3f;
  small = small * z + 2.06390887954e-2f;
  small = small * z - 5.37397155531e-2f;
  small = small * z + 1.33314422036e-1f;
  small = small * z - 3.33332819422e-1f;
  small = small * z * x + x;
  // For |x| >= 9.01, tanh rounds to +-1 in float; clamping keeps exp finite.
  float axc = ax > 9.1f ? 9.1f : ax;
  float large = 1.0f - 2.0f / (exp_f32(2.0f * axc) + 1.0f);
  large = x < 0.0f ? -large : large;
  float y = ax < 0.625f ? small : large;
  y = x != x ? x : y;
  return y;
}

template <typename T>
inline T vexp(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_f32(x);
  else return std::exp(x);
}
template <typename T>
inline T vtanh(T x) {
  if constexpr (std::is_same_v<T, float>) return tanh_f32(x);
  else return std::tanh(x);
}

}  // namespace tessera::cpu
