// Scalar math written so GCC vectorizes it inside `#pragma omp simd` loops:
// no calls into libm and no branches, only arithmetic and selects. glibc's
// expf/tanhf/erff are scalar calls, which made softmax, sigmoid, silu and gelu
// several times slower than PyTorch's SIMD (Sleef) versions. Accuracy is 1-2
// ulp in float32; float64 keeps libm (it serves gradient checks, not speed).
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
  const float kHi = 88.72283905206835f;  // ln(FLT_MAX)
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
  // n is in [-126, 128]. 2^128 does not fit the exponent field, so that one
  // case is built as 2^127 * 2.
  int32_t ni = static_cast<int32_t>(n);
  float twice = ni > 127 ? 2.0f : 1.0f;
  ni = ni > 127 ? 127 : ni;
  float scale = std::bit_cast<float>(static_cast<int32_t>((ni + 127) << 23));
  float y = p * scale * twice;
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

// erf for float32, about 2 ulp. Coefficients are our own weighted
// least-squares fits (Chebyshev nodes, double precision):
//   |x| < 1:      erf(x) = x * A(x^2), A of degree 6 (fit error 1.2e-9 relative);
//   1 <= |x| < 4: erf(|x|) = 1 - exp(B(|x| - 2.5) - x^2), B of degree 8 fitting
//                 log(erfc(x)) + x^2 (fit error 6e-10 absolute in erf);
//   |x| >= 4:     erf rounds to +-1 in float.
inline float erf_f32(float x) {
  float ax = x < 0.0f ? -x : x;
  float t = x * x;
  float a = 7.8472623828393663e-05f;
  a = a * t - 8.0081933207462152e-04f;
  a = a * t + 5.1880997675950082e-03f;
  a = a * t - 2.6853691862886674e-02f;
  a = a * t + 1.1283582277526105e-01f;
  a = a * t - 3.7612625572072483e-01f;
  a = a * t + 1.1283791656913835f;
  float small = x * a;
  float axc = ax > 4.0f ? 4.0f : ax;
  float u = axc - 2.5f;
  float b = 1.6140493156770275e-06f;
  b = b * u - 1.3309405972532851e-05f;
  b = b * u + 7.7394473946266264e-05f;
  b = b * u - 4.2014451493060695e-04f;
  b = b * u + 2.1651602513711892e-03f;
  b = b * u - 1.0858517061951413e-02f;
  b = b * u + 5.6106359749368409e-02f;
  b = b * u - 3.5268068106176115e-01f;
  b = b * u - 1.5568152770531598f;
  float large = 1.0f - exp_f32(b - axc * axc);
  large = x < 0.0f ? -large : large;
  float y = ax < 1.0f ? small : large;
  y = x != x ? x : y;
  return y;
}

template <typename T>
inline T verf(T x) {
  if constexpr (std::is_same_v<T, float>) return erf_f32(x);
  else return std::erf(x);
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
