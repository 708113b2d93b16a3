// CPU kernel for one step of cached decoding attention: one query per
// (sequence, head) against that sequence's own cache. Each task owns whole
// (sequence, head) pairs, so cache writes never race and the result does not
// depend on the thread count. A bfloat16 cache (GPT::make_cache with BF16)
// halves the bytes each step reads: keys and values are rounded to bf16 when
// stored and widened to float in the inner loops; scores, softmax and the
// weighted sum stay float.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/decode_attention.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

// Rotates the two halves of r (D values) by the angles of one table row.
template <typename T>
void rotate(T* r, const T* cs, const T* sn, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const T x1 = r[i], x2 = r[i + half];
    r[i] = x1 * cs[i] - x2 * sn[i];
    r[i + half] = x2 * cs[i] + x1 * sn[i];
  }
}

std::atomic<bool> g_force_scalar{false};

// Whether the bf16 rows run on AVX-512: chosen at run time, so a build for the
// baseline ISA (TESSERA_NATIVE=OFF) uses them too where the CPU has them.
bool vector_bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    // bw + vl: the masked 16-bit load of a row's tail.
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return has && !g_force_scalar.load(std::memory_order_relaxed);
}

// bf16 -> float is exact: the bf16 bits are the float's upper half.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 widen16(const bf16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m512 widen16_masked(const bf16* p, __mmask16 m) {
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) float dot_bf16_avx512(const float* q, const bf16* k, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d + 16 <= n; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), widen16(k + d), acc);
  if (d < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - d)) - 1);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), widen16_masked(k + d, m), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void axpy_bf16_avx512(float a, const bf16* v, float* y,
                                                                           int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  int64_t d = 0;
  for (; d + 16 <= n; d += 16)
    _mm512_storeu_ps(y + d, _mm512_fmadd_ps(av, widen16(v + d), _mm512_loadu_ps(y + d)));
  if (d < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - d)) - 1);
    _mm512_mask_storeu_ps(y + d, m, _mm512_fmadd_ps(av, widen16_masked(v + d, m), _mm512_maskz_loadu_ps(m, y + d)));
  }
}

// One key row against q, and one value row into y, for either cache dtype.
// The scalar loops keep the float cache's order of operations, so a bf16
// cache gives the float kernel's result on the bf16-rounded values.
template <typename T, typename S>
T dot_row(const T* q, const S* k, int64_t n, bool vec) {
  if constexpr (std::is_same_v<S, bf16>) {
    if (vec) return dot_bf16_avx512(q, k, n);
  }
  T dot = 0;
  for (int64_t d = 0; d < n; ++d) dot += q[d] * static_cast<T>(k[d]);
  return dot;
}

template <typename T, typename S>
void axpy_row(T a, const S* v, T* y, int64_t n, bool vec) {
  if constexpr (std::is_same_v<S, bf16>) {
    if (vec) return axpy_bf16_avx512(a, v, y, n);
  }
  for (int64_t d = 0; d < n; ++d) y[d] += a * static_cast<T>(v[d]);
}

// T: the dtype of qkv and out; S: the caches' (T, or bf16 when T is float).
template <typename T, typename S>
void decode_attention_typed(const Tensor& out, const Tensor& qkv, std::span<const Tensor* const> k_caches,
                            std::span<const Tensor* const> v_caches, std::span<const int64_t> positions,
                            const Tensor& cos, const Tensor& sin, const DecodeAttentionParams& p) {
  const int64_t B = p.B, H = p.H, D = p.D, C = H * D, half = D / 2;
  const bool rope = cos.defined();
  const T* qkv_p = qkv.data<T>();
  const T* cos_p = rope ? cos.data<T>() : nullptr;
  const T* sin_p = rope ? sin.data<T>() : nullptr;
  T* y_p = out.data<T>();
  const T scale = static_cast<T>(p.scale);
  const bool vec = vector_bf16();
  int64_t longest = 0, keys = 0;
  for (int64_t pos : positions) longest = std::max(longest, pos + 1), keys += pos + 1;
  // Grain: about 64K multiply-adds per task, so short prefixes run inline.
  const int64_t per_task = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, keys / B * D * 2));
  parallel_for(0, B * H, per_task, [&](int64_t t0, int64_t t1) {
    // Per-thread scratch kept across calls: a decode step allocates nothing
    // here once the longest prefix has been seen.
    thread_local std::vector<T> q, k, w;
    q.resize(D);
    k.resize(D);
    if (static_cast<int64_t>(w.size()) < longest) w.resize(longest);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / H, h = t % H, pos = positions[b], len = pos + 1, max_len = k_caches[b]->size(2);
      const T* row = qkv_p + b * 3 * C + h * D;
      std::copy(row, row + D, q.begin());
      std::copy(row + C, row + C + D, k.begin());
      if (rope) {
        rotate(q.data(), cos_p + pos * half, sin_p + pos * half, half);
        rotate(k.data(), cos_p + pos * half, sin_p + pos * half, half);
      }
      S* K = k_caches[b]->data<S>() + h * max_len * D;  // (max_len, D) of head h
      S* V = v_caches[b]->data<S>() + h * max_len * D;
      for (int64_t d = 0; d < D; ++d) {  // bf16: rounded to nearest even
        K[pos * D + d] = static_cast<S>(k[d]);
        V[pos * D + d] = static_cast<S>(row[2 * C + d]);
      }
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < len; ++j) {
        w[j] = scale * dot_row(q.data(), K + j * D, D, vec);
        m = std::max(m, w[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < len; ++j) {
        w[j] = std::exp(w[j] - m);
        sum += static_cast<double>(w[j]);
      }
      const T inv = static_cast<T>(1.0 / sum);
      T* y = y_p + b * C + h * D;
      std::fill(y, y + D, T(0));
      for (int64_t j = 0; j < len; ++j) axpy_row(w[j] * inv, V + j * D, y, D, vec);
    }
  });
}

void decode_attention_kernel(const Tensor& out, const Tensor& qkv, std::span<const Tensor* const> k_caches,
                             std::span<const Tensor* const> v_caches, std::span<const int64_t> positions,
                             const Tensor& cos, const Tensor& sin, const DecodeAttentionParams& p) {
  if (k_caches[0]->dtype() == DType::BF16) {  // the frontend checked: qkv float32, every cache bf16
    decode_attention_typed<float, bf16>(out, qkv, k_caches, v_caches, positions, cos, sin, p);
    return;
  }
  dispatch_floating(qkv.dtype(), "decode_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    decode_attention_typed<T, T>(out, qkv, k_caches, v_caches, positions, cos, sin, p);
  });
}

}  // namespace

namespace testing {
void decode_attention_force_scalar(bool on) { g_force_scalar.store(on); }
bool decode_attention_vector_bf16() { return vector_bf16(); }
}  // namespace testing

TSR_REGISTER_KERNEL(decode_attention_stub, DeviceType::CPU, &decode_attention_kernel);

}  // namespace tessera::cpu
