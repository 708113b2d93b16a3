#include "backends/cpu/bf16_gemm.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cpu/bf16_convert.h"
#include "backends/cpu/bf16_matmul.h"
#include "backends/cpu/blas.h"
#include "tessera/core/autocast.h"

namespace tessera {
namespace {

bool forced_off() {  // read at each call, so tests can switch paths
  const char* e = std::getenv("TESSERA_NO_BF16");
  return e && *e && std::strcmp(e, "0") != 0;
}

// Why bf16 GEMMs are emulated on this machine ("" when they are not, TESSERA_NO_BF16 aside).
const std::string& hardware_reason() {
  static const std::string why = [] {
    std::string w;
    if (!cpu::cpu_has_avx512_bf16()) return std::string("this CPU has no AVX512_BF16");
    if (!cpu::bf16_matmul_available(&w)) return w;
    return std::string();
  }();
  return why;
}

void say_emulated_once() {
  static std::once_flag once;
  std::call_once(once, [] { std::fprintf(stderr, "tessera: %s\n", bf16_backend_description().c_str()); });
}

// Below this many multiply-adds a bf16 GEMM runs as the float32 GEMM of bf16-rounded operands.
constexpr double kSmallGemmMacs = 32.0 * 32.0 * 32.0;

// Per-thread operand scratch, grown to the largest GEMM seen and reused (no allocation in a steady step).
struct Scratch {
  std::vector<uint16_t> a, b;
  std::vector<float> fa, fb;
};
thread_local Scratch t_scratch;

}  // namespace

bool bf16_native() { return !forced_off() && hardware_reason().empty(); }

std::string bf16_backend_description() {
  if (forced_off()) return "TESSERA_NO_BF16 is set: bf16 GEMMs are emulated (bf16-rounded operands, float32 GEMM)";
  if (!hardware_reason().empty())
    return hardware_reason() + ": bf16 GEMMs are emulated (bf16-rounded operands, float32 GEMM; no faster)";
  return "bf16 GEMMs on AVX512_BF16 (oneDNN matmul, float32 accumulation)";
}

namespace cpu {

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // Stored shapes: A is (M, K) or (K, M) when transposed; B is (K, N) or (N, K).
  const int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  Scratch& s = t_scratch;
  // Small products (attention's per-head tiles in a ViT: 17x17x16, thousands a step) cost more in
  // oneDNN's per-call set-up than in arithmetic; they take the rounded-operand float32 GEMM below,
  // which gives the same values (bf16 x bf16 products are exact in float32, sums in float32).
  const bool small = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < kSmallGemmMacs;
  if (!small && bf16_native()) {
    if (s.a.size() < size_t(M * K)) s.a.resize(M * K);
    if (s.b.size() < size_t(K * N)) s.b.resize(K * N);
    to_bf16(A, a_rows, a_cols, lda, s.a.data(), true);
    to_bf16(B, b_rows, b_cols, ldb, s.b.data(), true);
    bf16_matmul(trans_a, trans_b, M, N, K, alpha, s.a.data(), s.b.data(), beta, C, ldc);
    return;
  }
  if (!small) say_emulated_once();
  if (s.fa.size() < size_t(M * K)) s.fa.resize(M * K);
  if (s.fb.size() < size_t(K * N)) s.fb.resize(K * N);
  round_through_bf16(A, a_rows, a_cols, lda, s.fa.data());
  round_through_bf16(B, b_rows, b_cols, ldb, s.fb.data());
  AutocastGuard fp32(Precision::fp32);  // the float32 GEMM on the rounded copies
  gemm(trans_a, trans_b, M, N, K, alpha, s.fa.data(), a_cols, s.fb.data(), b_cols, beta, C, ldc);
}

}  // namespace cpu
}  // namespace tessera
