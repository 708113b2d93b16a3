// The tiled attention path (backends/cpu/attention_tiled.cpp: no user mask)
// against the row-pass path, reached with an all-true bool mask that changes
// nothing: values and gradients at shapes that cross tile edges (T not a
// multiple of the 64-row tile, L != S under the causal mask, head dims 32, 64,
// 80), dropout on the weights with the same generator state, and the same
// bits run to run at a fixed thread count.
#include <gtest/gtest.h>

#include "test_util.h"

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

struct AttentionResult {
  Tensor out, dq, dk, dv;
};

// Forward and backward of attention on copies of q, k, v; with_mask adds an
// all-true (L, S) bool mask, which sends the call down the row-pass path.
AttentionResult attend(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, double dropout_p, bool with_mask,
           const Tensor& upstream) {
  auto leaf = [](const Tensor& t) { return t.clone().detach().set_requires_grad(true); };
  Tensor ql = leaf(q), kl = leaf(k), vl = leaf(v);
  Tensor mask = with_mask ? ones({q.size(-2), k.size(-2)}, {.dtype = DType::Bool}) : Tensor();
  Generator gen(99);
  gen.set_state(99, 12345);
  Tensor out = scaled_dot_product_attention(ql, kl, vl, mask, causal, dropout_p, std::nullopt, &gen);
  out.backward(upstream);
  return {out.detach(), ql.grad(), kl.grad(), vl.grad()};
}

void expect_paths_agree(int64_t B, int64_t L, int64_t S, int64_t E, bool causal, double dropout_p, DType dtype,
                        double tol) {
  Generator gen(7);
  TensorOptions o{.dtype = dtype};
  Tensor q = randn({B, L, E}, gen, o), k = randn({B, S, E}, gen, o), v = randn({B, S, E}, gen, o);
  Tensor g = randn({B, L, E}, gen, o);
  AttentionResult tiled = attend(q, k, v, causal, dropout_p, false, g);
  AttentionResult rows = attend(q, k, v, causal, dropout_p, true, g);
  const std::string what = "B " + std::to_string(B) + " L " + std::to_string(L) + " S " + std::to_string(S) + " E " +
                           std::to_string(E) + (causal ? " causal" : "") + " p " + std::to_string(dropout_p);
  EXPECT_LT(max_abs_diff(tiled.out, rows.out), tol) << what;
  EXPECT_LT(max_abs_diff(tiled.dq, rows.dq), tol) << what;
  EXPECT_LT(max_abs_diff(tiled.dk, rows.dk), tol) << what;
  EXPECT_LT(max_abs_diff(tiled.dv, rows.dv), tol) << what;
}

}  // namespace

TEST(AttentionTiled, MatchesRowPassAcrossTileEdges) {
  for (bool causal : {false, true}) {
    expect_paths_agree(2, 150, 150, 32, causal, 0.0, DType::F64, 1e-12);  // 3 tiles, ragged last
    expect_paths_agree(2, 64, 64, 64, causal, 0.0, DType::F64, 1e-12);    // exactly one tile
    expect_paths_agree(2, 140, 100, 80, causal, 0.0, DType::F64, 1e-12);  // L > S
    expect_paths_agree(2, 70, 130, 64, causal, 0.0, DType::F64, 1e-12);   // L < S
    expect_paths_agree(4, 65, 65, 64, causal, 0.0, DType::F32, 2e-5);
  }
}

TEST(AttentionTiled, DropoutOnWeightsMatchesRowPass) {
  for (bool causal : {false, true}) {
    expect_paths_agree(2, 130, 130, 32, causal, 0.3, DType::F64, 1e-12);
    expect_paths_agree(2, 100, 70, 16, causal, 0.5, DType::F32, 2e-5);
  }
}

TEST(AttentionTiled, SameBitsRunToRun) {
  Generator gen(3);
  Tensor q = randn({6, 200, 64}, gen), k = randn({6, 200, 64}, gen), v = randn({6, 200, 64}, gen);
  Tensor g = randn({6, 200, 64}, gen);
  AttentionResult a = attend(q, k, v, true, 0.1, false, g), b = attend(q, k, v, true, 0.1, false, g);
  EXPECT_EQ(max_abs_diff(a.out, b.out), 0.0);
  EXPECT_EQ(max_abs_diff(a.dq, b.dq), 0.0);
  EXPECT_EQ(max_abs_diff(a.dk, b.dk), 0.0);
  EXPECT_EQ(max_abs_diff(a.dv, b.dv), 0.0);
}
