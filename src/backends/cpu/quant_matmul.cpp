// quant::matmul (quant/packed_weight.h): y = x w^T + bias with w in a packed
// format, dequantized in the inner loop.
//
// Integer formats (int8, Q8_0, Q4_0) follow llama.cpp: each row of x is first
// quantized to int8 in blocks of 32 (one float scale per block, round to
// nearest), then every block product is an integer dot product (AVX512-VNNI
// vpdpbusd: 64 multiply-adds an instruction) scaled by both blocks' scales.
// vpdpbusd multiplies unsigned by signed bytes, so the weights enter unsigned
// with an offset (int8 and Q8_0 as q + 128, Q4_0 as its nibble 0..15, whose
// zero point is 8) and the offset times the sum of x's block is taken off by
// starting the accumulator at -offset * sum (precomputed per 4-byte lane).
// bf16 weights use AVX512-BF16 vdpbf16ps against x rounded to bf16. The
// scalar path (CPUs without those instructions, or TESSERA_NO_VNNI=1) does
// the same arithmetic element by element, so both agree up to float
// summation order.
//
// Work split: threads take disjoint ranges of w's rows; inside a range, tiles
// of 8 weight rows meet groups of 4 rows of x, so a weight row is unpacked
// once per 4 activations and both stay in L1.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backends/cpu/bf16_convert.h"
#include "backends/cpu/blas.h"
#include "quant/packed_layout.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"
#include "tessera/quant/packed_weight.h"

namespace tessera::quant {

namespace {

using namespace layout;
constexpr int kGroup = 4;      // rows of x per pass over a weight row
constexpr int64_t kTile = 8;   // weight rows per tile

std::atomic<bool> g_force_scalar{false};

bool env_off() {
  const char* off = std::getenv("TESSERA_NO_VNNI");
  return off && *off && std::string(off) != "0";
}

bool cpu_has_vnni() {
  if (g_force_scalar.load(std::memory_order_relaxed)) return false;
  static const bool has = [] {
    __builtin_cpu_init();
    return !env_off() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
  }();
  return has;
}

bool use_bf16_dot() {
  if (g_force_scalar.load(std::memory_order_relaxed)) return false;
  static const bool has = !env_off() && cpu::cpu_has_avx512_bf16();
  return has;
}

// x quantized to int8 blocks of 32, laid out as the weights (packed_layout.h):
// block pairs with their values interleaved 4 at a time, a zero block padding
// an odd count.
struct QuantizedX {
  int64_t M = 0, pairs = 0;     // rows, block pairs per row
  std::vector<int8_t> q;        // M * pairs * 64, in the pair layout
  std::vector<float> d;         // M * pairs * 2: the pair's two block scales
  std::vector<int32_t> corr;    // M * pairs * 16: -offset * (sum of each 4-byte lane)
};

void quantize_x(const float* x, int64_t M, int64_t ldx, int64_t cols, int offset, QuantizedX& out) {
  const int64_t nb = (cols + kBlock - 1) / kBlock;
  out.M = M;
  out.pairs = even_blocks(cols) / 2;
  const size_t n = static_cast<size_t>(M * out.pairs);
  out.q.assign(n * 64, 0);  // no allocation once the buffers have grown (the owner is thread-local)
  out.d.assign(n * 2, 0.0f);
  out.corr.assign(n * 16, 0);
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * ldx;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t j0 = b * kBlock, len = std::min(kBlock, cols - j0);
      float amax = 0;
      for (int64_t j = 0; j < len; ++j) amax = std::max(amax, std::fabs(row[j0 + j]));
      const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
      const size_t pair = static_cast<size_t>(m * out.pairs + b / 2);
      int8_t* q = out.q.data() + pair * 64;
      for (int64_t e = 0; e < len; ++e)
        q[position_in_pair(b, e)] = static_cast<int8_t>(std::nearbyint(row[j0 + e] * id));
      out.d[pair * 2 + (b & 1)] = d;
    }
    for (int64_t p = 0; p < out.pairs; ++p) {
      const size_t pair = static_cast<size_t>(m * out.pairs + p);
      for (int lane = 0; lane < 16; ++lane) {
        int32_t sum = 0;
        for (int k = 0; k < 4; ++k) sum += out.q[pair * 64 + lane * 4 + k];
        out.corr[pair * 16 + lane] = -offset * sum;
      }
    }
  }
}

int offset_of(WeightFormat f) { return f == WeightFormat::Q4_0 ? 8 : 128; }

// ---- scalar path -------------------------------------------------------

void int_rows_scalar(const PackedWeight& w, const QuantizedX& x, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const WeightFormat f = w.format;
  const int64_t nb = (w.cols + kBlock - 1) / kBlock;
  const int off = offset_of(f);
  std::vector<float> acc(static_cast<size_t>(x.M));
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.row(r);
    const uint8_t* quants = row + quants_offset(f, w.cols);
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t b = 0; b < nb; ++b) {
      float dw = 1.0f;
      if (has_block_scales(f)) std::memcpy(&dw, row + b * 4, 4);
      for (int64_t m = 0; m < x.M; ++m) {
        const size_t pair = static_cast<size_t>(m * x.pairs + b / 2);
        const int8_t* q = x.q.data() + pair * 64;
        int32_t dot = 0;
        for (int64_t e = 0; e < kBlock; ++e)
          dot += (static_cast<int32_t>(get_code(f, quants, b, e)) - off) * q[position_in_pair(b, e)];
        acc[m] += static_cast<float>(dot) * (dw * x.d[pair * 2 + (b & 1)]);
      }
    }
    const float rs = f == WeightFormat::Int8 ? w.row_scale[static_cast<size_t>(r)] : 1.0f;
    for (int64_t m = 0; m < x.M; ++m) y[m * ldy + r] = acc[m] * rs;
  }
}

void bf16_rows_scalar(const PackedWeight& w, const std::vector<uint16_t>& xb, int64_t M, int64_t ldb, int64_t r0,
                      int64_t r1, float* y, int64_t ldy) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.row(r);
    for (int64_t m = 0; m < M; ++m) {
      float acc = 0;
      for (int64_t j = 0; j < w.cols; ++j) {
        uint16_t b;
        std::memcpy(&b, row + 2 * j, 2);
        acc += cpu::bf16_to_float(b) * cpu::bf16_to_float(xb[static_cast<size_t>(m * ldb + j)]);
      }
      y[m * ldy + r] = acc;
    }
  }
}

// ---- AVX-512 path ------------------------------------------------------

#define TSR_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define TSR_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

// Both scales of a block pair, alternating over the 16 lanes as the pair's
// values do: one 8-byte broadcast.
TSR_VNNI inline __m512 pair_scales(const float* two) {
  double d;
  std::memcpy(&d, two, 8);
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

template <WeightFormat F>
TSR_VNNI void int_rows_vnni(const PackedWeight& w, const QuantizedX& x, int64_t r0, int64_t r1, float* y,
                            int64_t ldy) {
  const int64_t pairs = x.pairs, qoff = quants_offset(F, w.cols);
  for (int64_t t0 = r0; t0 < r1; t0 += kTile) {
    const int64_t t1 = std::min(r1, t0 + kTile);
    for (int64_t m0 = 0; m0 < x.M; m0 += kGroup) {
      const int g = static_cast<int>(std::min<int64_t>(kGroup, x.M - m0));
      for (int64_t r = t0; r < t1; ++r) {
        const uint8_t* row = w.row(r);
        const uint8_t* quants = row + qoff;
        const auto* scales = reinterpret_cast<const float*>(row);
        __m512 acc[kGroup] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t p = 0; p < pairs; ++p) {
          __m512i u;
          if constexpr (F == WeightFormat::Q4_0) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(quants + p * 32));
            const __m256i lo = _mm256_and_si256(v, _mm256_set1_epi8(15));
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15));
            u = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
          } else {
            u = _mm512_loadu_si512(quants + p * 64);
          }
          __m512 dw = _mm512_set1_ps(1.0f);
          if constexpr (F != WeightFormat::Int8) dw = pair_scales(scales + 2 * p);
          for (int i = 0; i < g; ++i) {
            const size_t pair = static_cast<size_t>((m0 + i) * pairs + p);
            const __m512i q = _mm512_loadu_si512(x.q.data() + pair * 64);
            const __m512i c = _mm512_loadu_si512(x.corr.data() + pair * 16);
            const __m512i dot = _mm512_dpbusd_epi32(c, u, q);
            const __m512 s = F == WeightFormat::Int8 ? pair_scales(x.d.data() + pair * 2)
                                                     : _mm512_mul_ps(dw, pair_scales(x.d.data() + pair * 2));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[i]);
          }
        }
        const float rs = F == WeightFormat::Int8 ? w.row_scale[static_cast<size_t>(r)] : 1.0f;
        for (int i = 0; i < g; ++i) y[(m0 + i) * ldy + r] = _mm512_reduce_add_ps(acc[i]) * rs;
      }
    }
  }
}

TSR_BF16 void bf16_rows_vector(const PackedWeight& w, const std::vector<uint16_t>& xb, int64_t M, int64_t ldb,
                               int64_t r0, int64_t r1, float* y, int64_t ldy) {
  const int64_t cols = w.cols;
  for (int64_t t0 = r0; t0 < r1; t0 += kTile) {
    const int64_t t1 = std::min(r1, t0 + kTile);
    for (int64_t m0 = 0; m0 < M; m0 += kGroup) {
      const int g = static_cast<int>(std::min<int64_t>(kGroup, M - m0));
      for (int64_t r = t0; r < t1; ++r) {
        const auto* row = reinterpret_cast<const uint16_t*>(w.row(r));
        __m512 acc[kGroup] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int64_t j = 0; j < cols; j += 32) {
          const int64_t left = cols - j;
          const __mmask32 mask = left >= 32 ? ~__mmask32(0) : ((__mmask32(1) << left) - 1);
          const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(mask, row + j);
          for (int i = 0; i < g; ++i) {
            const __m512bh xv = (__m512bh)_mm512_loadu_si512(xb.data() + (m0 + i) * ldb + j);
            acc[i] = _mm512_dpbf16_ps(acc[i], wv, xv);
          }
        }
        for (int i = 0; i < g; ++i) y[(m0 + i) * ldy + r] = _mm512_reduce_add_ps(acc[i]);
      }
    }
  }
}

#undef TSR_VNNI
#undef TSR_BF16

// Per-thread scratch, grown once and reused: a decode step allocates nothing.
struct Scratch {
  QuantizedX qx;
  std::vector<uint16_t> xb;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Rows of w per chunk: at least a tile, and enough work to be worth a thread.
int64_t grain_for(const PackedWeight& w, int64_t M) {
  const int64_t per_row = std::max<int64_t>(1, M * w.cols);
  return std::max<int64_t>(kTile, (int64_t(1) << 16) / per_row);
}

}  // namespace

namespace testing {
void force_scalar_kernels(bool on) { g_force_scalar.store(on); }
bool vector_kernels(WeightFormat f) {
  return f == WeightFormat::BF16 ? use_bf16_dot() : f != WeightFormat::F32 && cpu_has_vnni();
}
}  // namespace testing

void matmul(const float* x, int64_t M, int64_t ldx, const PackedWeight& w, const float* bias, float* y, int64_t ldy) {
  TSR_CHECK(w.defined(), Error, "quant::matmul: the packed weight is empty");
  if (M == 0 || w.rows == 0) return;
  const int64_t N = w.rows, K = w.cols;
  switch (w.format) {
    case WeightFormat::F32:
      gemm(false, true, M, N, K, 1.0f, x, ldx, reinterpret_cast<const float*>(w.row(0)), K, 0.0f, y, ldy);
      break;
    case WeightFormat::BF16: {
      Scratch& s = scratch();
      const int64_t ldb = (K + 31) / 32 * 32;
      s.xb.assign(static_cast<size_t>(M * ldb), 0);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < K; ++j) s.xb[static_cast<size_t>(m * ldb + j)] = cpu::round_to_bf16(x[m * ldx + j]);
      const bool vec = use_bf16_dot();
      parallel_for(0, N, grain_for(w, M), [&](int64_t r0, int64_t r1) {
        if (vec) bf16_rows_vector(w, s.xb, M, ldb, r0, r1, y, ldy);
        else bf16_rows_scalar(w, s.xb, M, ldb, r0, r1, y, ldy);
      });
      break;
    }
    case WeightFormat::Int8:
    case WeightFormat::Q8_0:
    case WeightFormat::Q4_0: {
      Scratch& s = scratch();
      quantize_x(x, M, ldx, K, offset_of(w.format), s.qx);
      const bool vec = cpu_has_vnni();
      const QuantizedX& qx = s.qx;
      parallel_for(0, N, grain_for(w, M), [&](int64_t r0, int64_t r1) {
        if (!vec) {
          int_rows_scalar(w, qx, r0, r1, y, ldy);
        } else if (w.format == WeightFormat::Int8) {
          int_rows_vnni<WeightFormat::Int8>(w, qx, r0, r1, y, ldy);
        } else if (w.format == WeightFormat::Q8_0) {
          int_rows_vnni<WeightFormat::Q8_0>(w, qx, r0, r1, y, ldy);
        } else {
          int_rows_vnni<WeightFormat::Q4_0>(w, qx, r0, r1, y, ldy);
        }
      });
      break;
    }
  }
  if (bias)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) y[m * ldy + n] += bias[n];
}

}  // namespace tessera::quant
