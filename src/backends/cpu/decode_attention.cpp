// CPU kernel for one step of cached decoding attention: one query per
// (sequence, head) against that sequence's own cache. Each task owns whole
// (sequence, head) pairs, so cache writes never race and the result does not
// depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
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

template <typename T>
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
      const int64_t b = t / H, h = t % H, pos = positions[b], S = pos + 1, max_len = k_caches[b]->size(2);
      const T* row = qkv_p + b * 3 * C + h * D;
      std::copy(row, row + D, q.begin());
      std::copy(row + C, row + C + D, k.begin());
      if (rope) {
        rotate(q.data(), cos_p + pos * half, sin_p + pos * half, half);
        rotate(k.data(), cos_p + pos * half, sin_p + pos * half, half);
      }
      T* K = k_caches[b]->data<T>() + h * max_len * D;  // (max_len, D) of head h
      T* V = v_caches[b]->data<T>() + h * max_len * D;
      std::copy(k.begin(), k.end(), K + pos * D);
      std::copy(row + 2 * C, row + 2 * C + D, V + pos * D);
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t j = 0; j < S; ++j) {
        const T* kj = K + j * D;
        T dot = 0;
        for (int64_t d = 0; d < D; ++d) dot += q[d] * kj[d];
        w[j] = scale * dot;
        m = std::max(m, w[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < S; ++j) {
        w[j] = std::exp(w[j] - m);
        sum += static_cast<double>(w[j]);
      }
      const T inv = static_cast<T>(1.0 / sum);
      T* y = y_p + b * C + h * D;
      std::fill(y, y + D, T(0));
      for (int64_t j = 0; j < S; ++j) {
        const T pj = w[j] * inv;
        const T* vj = V + j * D;
        for (int64_t d = 0; d < D; ++d) y[d] += pj * vj[d];
      }
    }
  });
}

void decode_attention_kernel(const Tensor& out, const Tensor& qkv, std::span<const Tensor* const> k_caches,
                             std::span<const Tensor* const> v_caches, std::span<const int64_t> positions,
                             const Tensor& cos, const Tensor& sin, const DecodeAttentionParams& p) {
  dispatch_floating(qkv.dtype(), "decode_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    decode_attention_typed<T>(out, qkv, k_caches, v_caches, positions, cos, sin, p);
  });
}

}  // namespace

TSR_REGISTER_KERNEL(decode_attention_stub, DeviceType::CPU, &decode_attention_kernel);

}  // namespace tessera::cpu
