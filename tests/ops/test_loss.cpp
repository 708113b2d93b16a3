// Losses: errors for bad targets / shapes / options, the fused cross_entropy
// against its composition (log_softmax + nll_loss), and the weight and
// pos_weight gradients of binary_cross_entropy_with_logits that torch does
// not provide (so the parity harness cannot check them) against composites.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cmath>
#include <string>

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {


Tensor targets(std::vector<int64_t> v, Shape s) { return from_vector<int64_t>(v, s); }


}  // namespace

TEST(Loss, CrossEntropyBadTargetIsIndexError) {
  Tensor x = randn({3, 4});
  expect_error<IndexError>([&] { cross_entropy(x, targets({0, 4, 1}, {3})); },
                           {"cross_entropy", "target 4", "4 classes", "[0, 4)"});
  expect_error<IndexError>([&] { cross_entropy(x, targets({0, -1, 1}, {3})); }, {"cross_entropy", "target -1"});
  // -100 is the default ignore_index: fine; with another ignore_index it is out of range.
  EXPECT_NO_THROW(cross_entropy(x, targets({0, -100, 1}, {3})));
  expect_error<IndexError>([&] { cross_entropy(x, targets({0, -100, 1}, {3}), Tensor(), 2); }, {"target -100"});
  expect_error<IndexError>([&] { nll_loss(x, targets({9, 0, 1}, {3})); }, {"nll_loss", "target 9"});
}

TEST(Loss, CrossEntropyShapeAndOptionErrors) {
  Tensor x = randn({3, 4});
  expect_error<ShapeError>([&] { cross_entropy(x, targets({0, 1}, {2})); }, {"cross_entropy", "[2]", "[3, 4]"});
  expect_error<ShapeError>([&] { cross_entropy(x, targets({0, 1, 2}, {3}), randn({3})); }, {"weight", "[4]"});
  expect_error<DTypeError>([&] { cross_entropy(x, randn({3})); }, {"cross_entropy", "int64"});
  expect_error<Error>([&] { cross_entropy(x, targets({0, 1, 2}, {3}), Tensor(), -100, 0.0, "avg"); },
                      {"reduction", "avg"});
  expect_error<Error>([&] { cross_entropy(x, targets({0, 1, 2}, {3}), Tensor(), -100, 1.5); },
                      {"label_smoothing"});
  expect_error<ShapeError>([] { binary_cross_entropy_with_logits(randn({3}), randn({4})); },
                           {"binary_cross_entropy_with_logits", "[4]", "[3]"});
}

TEST(Loss, FusedCrossEntropyMatchesComposition) {
  // (N, C, d) logits with weights and ignored rows, float64: the fused kernel
  // must equal nll_loss(log_softmax(x)) in value and gradient.
  Generator gen(3);
  Tensor x0 = randn({4, 5, 3}, gen, {.dtype = DType::F64});
  Tensor t = randint(0, 5, {4, 3}, gen);
  Tensor w = rand({5}, gen, {.dtype = DType::F64});
  for (const char* red : {"mean", "sum", "none"}) {
    Tensor a = x0.clone().detach().set_requires_grad(true);
    Tensor b = x0.clone().detach().set_requires_grad(true);
    Tensor fused = cross_entropy(a, t, w, 2, 0.0, red);
    Tensor composed = nll_loss(log_softmax(b, 1), t, w, 2, red);
    EXPECT_LT(max_abs_diff(fused, composed), 1e-12) << red;
    Tensor g = ones(fused.shape(), {.dtype = DType::F64});
    fused.backward(g);
    composed.backward(g);
    EXPECT_LT(max_abs_diff(a.grad(), b.grad()), 1e-12) << red;
  }
}

TEST(Loss, ChunkedVocabularyCrossEntropyMatchesFloat64) {
  // The float32 kernel reads a row in chunks of 2,048 classes. Row 0 has a
  // whole chunk at -inf (it adds nothing) and its largest logit in the last,
  // partial chunk; row 1 has label smoothing spread over 5,000 weights.
  const int64_t V = 5000;
  Generator gen(5);
  Tensor x32 = mul(randn({2, V}, gen), 4.0);
  float* xp = x32.data<float>();
  for (int64_t c = 0; c < 2048; ++c) xp[c] = -INFINITY;
  xp[4990] = 40.0f;
  Tensor t = targets({4990, 7}, {2});
  Tensor w = add(rand({V}, gen), 0.5);
  for (double ls : {0.0, 0.2}) {
    for (bool weighted : {false, true}) {
      Tensor a = x32.clone().detach().set_requires_grad(true);
      Tensor b = x32.to(DType::F64).detach().set_requires_grad(true);
      Tensor wa = weighted ? w : Tensor(), wb = weighted ? w.to(DType::F64) : Tensor();
      Tensor la = cross_entropy(a, t, wa, -100, ls, "none");
      Tensor lb = cross_entropy(b, t, wb, -100, ls, "none");
      EXPECT_LT(max_abs_diff(la.to(DType::F64), lb), 2e-5) << ls << weighted;
      Tensor g = from_vector<float>({0.7f, -1.3f}, {2});
      la.backward(g);
      lb.backward(g.to(DType::F64));
      // Gradients reach 1.3 in magnitude: 5e-6 is a few float32 ulps of the SIMD exp and the
      // chunked sums (the -O1 sanitizer build lands at 2e-6); a wrong chunk merge is off by >1e-3.
      EXPECT_LT(max_abs_diff(a.grad().to(DType::F64), b.grad()), 5e-6) << ls << weighted;
    }
  }
  // A NaN anywhere in a row makes that row's loss NaN (and only that row's).
  xp[3000 + V] = NAN;
  Tensor l = cross_entropy(x32, t, Tensor(), -100, 0.0, "none");
  EXPECT_FALSE(std::isnan(l.data<float>()[0]));
  EXPECT_TRUE(std::isnan(l.data<float>()[1]));
}

TEST(Loss, BceWeightAndPosWeightGradientsMatchComposite) {
  Generator gen(9);
  TensorOptions f64{.dtype = DType::F64};
  Tensor x0 = mul(randn({3, 4}, gen, f64), 3.0);
  Tensor t = rand({3, 4}, gen, f64);
  Tensor w0 = add(rand({4}, gen, f64), 0.5);
  Tensor pw0 = add(rand({4}, gen, f64), 0.5);
  auto leaf = [](const Tensor& v) { return v.clone().detach().set_requires_grad(true); };
  Tensor xa = leaf(x0), wa = leaf(w0), pwa = leaf(pw0);
  binary_cross_entropy_with_logits(xa, t, wa, pwa, "mean").backward();
  // loss = w * ((1 - t) x + (1 + (pw - 1) t) softplus(-x)), softplus(-x) = log(1 + exp(-x)).
  Tensor xb = leaf(x0), wb = leaf(w0), pwb = leaf(pw0);
  Tensor sp = log(add(exp(neg(xb)), 1.0));
  Tensor lw = add(mul(sub(pwb, ones({4}, f64)), t), 1.0);
  Tensor l = mul(wb, add(mul(sub(ones({3, 4}, f64), t), xb), mul(lw, sp)));
  mean(l).backward();
  EXPECT_LT(max_abs_diff(xa.grad(), xb.grad()), 1e-12);
  EXPECT_LT(max_abs_diff(wa.grad(), wb.grad()), 1e-12);
  EXPECT_LT(max_abs_diff(pwa.grad(), pwb.grad()), 1e-12);
}
