// Fused scaled_dot_product_attention against its composition from matmul,
// masked_fill and softmax (values and gradients, float64), and its errors.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <string>

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;


TEST(Attention, FusedMatchesComposition) {
  Generator gen(4);
  TensorOptions f64{.dtype = DType::F64};
  const int64_t B = 2, H = 3, L = 5, S = 7, E = 4;
  Tensor q0 = randn({B, H, L, E}, gen, f64), k0 = randn({B, H, S, E}, gen, f64), v0 = randn({B, H, S, E}, gen, f64);
  // (L, S) random bool mask that always attends to key 0: no fully masked row.
  auto u = rand({L, S}, gen).to_vector<float>();
  std::vector<int64_t> keep_v(L * S);
  for (int64_t i = 0; i < L * S; ++i) keep_v[i] = i % S == 0 || u[i] >= 0.3f;
  Tensor keep = from_vector<int64_t>(keep_v, {L, S}).to(DType::Bool);
  auto leaf = [](const Tensor& t) { return t.clone().detach().set_requires_grad(true); };
  Tensor qa = leaf(q0), ka = leaf(k0), va = leaf(v0);
  Tensor fused = scaled_dot_product_attention(qa, ka, va, keep, true);
  Tensor qb = leaf(q0), kb = leaf(k0), vb = leaf(v0);
  std::vector<int64_t> causal_v(L * S);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < S; ++j) causal_v[i * S + j] = j <= i;
  Tensor causal = from_vector<int64_t>(causal_v, {L, S}).to(DType::Bool);
  Tensor s = mul(matmul(qb, kb.transpose(-2, -1)), 1.0 / std::sqrt(static_cast<double>(E)));
  s = masked_fill(s, logical_not(causal), -INFINITY);
  s = masked_fill(s, logical_not(keep), -INFINITY);
  Tensor composed = matmul(softmax(s, -1), vb);
  EXPECT_LT(max_abs_diff(fused, composed), 1e-12);
  Tensor g = randn(fused.shape(), gen, f64);
  fused.backward(g);
  composed.backward(g);
  EXPECT_LT(max_abs_diff(qa.grad(), qb.grad()), 1e-12);
  EXPECT_LT(max_abs_diff(ka.grad(), kb.grad()), 1e-12);
  EXPECT_LT(max_abs_diff(va.grad(), vb.grad()), 1e-12);
}

TEST(Attention, Errors) {
  EXPECT_THROW(scaled_dot_product_attention(randn({2, 3, 4}), randn({2, 5, 3}), randn({2, 5, 4})), ShapeError);
  EXPECT_THROW(scaled_dot_product_attention(randn({2, 3, 4}), randn({2, 5, 4}), randn({2, 6, 4})), ShapeError);
  EXPECT_THROW(scaled_dot_product_attention(randn({3, 4}), randn({5, 4}), randn({5, 4}), randn({3, 4})), ShapeError);
  EXPECT_THROW(scaled_dot_product_attention(randn({3, 4}), randn({5, 4}), randn({5, 4}),
                                            zeros({3, 5}, {.dtype = DType::I64})),
               DTypeError);
  EXPECT_THROW(scaled_dot_product_attention(randn({4}), randn({5, 4}), randn({5, 4})), ShapeError);
}
