// split / chunk backward through one multi-output node: gradients equal those
// of the pieces taken one narrow at a time (also with unused pieces, pieces
// used twice, retain_grad and a retained graph), and a per-step loop over many
// pieces allocates one input-sized gradient, not one per piece.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "test_util.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

// A loss that weights each piece differently (and skips piece `skip`), so a
// gradient written to the wrong range shows.
Tensor weighted_loss(const std::vector<Tensor>& pieces, int64_t skip) {
  Tensor loss = zeros({});
  for (size_t i = 0; i < pieces.size(); ++i)
    if (static_cast<int64_t>(i) != skip) loss = add(loss, sum(mul(pieces[i], pieces[i])) * static_cast<double>(i + 1));
  return loss;
}

// The same pieces as split(x, sizes, dim), each a separate narrow (one node per piece).
std::vector<Tensor> narrow_pieces(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return out;
}

Tensor grad_of(const Tensor& base, const std::function<std::vector<Tensor>(const Tensor&)>& cut, int64_t skip) {
  Tensor x = base.detach().clone().set_requires_grad(true);
  weighted_loss(cut(x), skip).backward();
  return x.grad();
}

}  // namespace

TEST(SplitBackward, GradientsEqualOneNarrowPerPiece) {
  manual_seed(1);
  Tensor base = randn({4, 10, 3});
  const std::vector<int64_t> sizes{3, 0, 5, 2};
  for (int64_t skip : {-1, 0, 2}) {  // every piece used; the first unused; a middle one unused
    Tensor want = grad_of(base, [&](const Tensor& x) { return narrow_pieces(x, sizes, 1); }, skip);
    Tensor got = grad_of(base, [&](const Tensor& x) { return split(x, sizes, 1); }, skip);
    EXPECT_EQ(max_abs_diff(got, want), 0.0) << "skip " << skip;
  }
  Tensor want = grad_of(base, [&](const Tensor& x) { return narrow_pieces(x, {2, 2}, 0); }, 1);
  Tensor got = grad_of(base, [&](const Tensor& x) { return chunk(x, 2, 0); }, 1);
  EXPECT_EQ(max_abs_diff(got, want), 0.0);
}

TEST(SplitBackward, PieceUsedTwiceAndSplitOfSplit) {
  manual_seed(2);
  Tensor x = randn({6, 2}).set_requires_grad(true);
  auto parts = split(x, 3, 0);                  // (3, 2), (3, 2)
  auto inner = split(parts[1], {1, 2}, 0);      // rows 3 and 4..5
  Tensor loss = add(sum(mul(parts[0], parts[0])), sum(inner[1]) * 3.0);
  loss = add(loss, sum(parts[0]));              // parts[0] feeds two terms
  loss.backward();
  Tensor xd = x.detach();
  Tensor want = zeros({6, 2});
  want.narrow(0, 0, 3).copy_(add(mul(xd.narrow(0, 0, 3), 2.0), 1.0));
  want.narrow(0, 4, 2).fill_(3.0);
  EXPECT_EQ(max_abs_diff(x.grad(), want), 0.0);
}

TEST(SplitBackward, RetainGradAndRetainedGraph) {
  manual_seed(3);
  Tensor x = randn({5}).set_requires_grad(true);
  auto parts = split(x, {2, 3});
  parts[1].retain_grad();
  Tensor loss = sum(mul(parts[1], 2.0));
  loss.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_EQ(max_abs_diff(parts[1].grad(), full({3}, 2.0)), 0.0);
  loss.backward();  // the second pass through the shared node accumulates
  EXPECT_EQ(max_abs_diff(x.grad(), from_vector<float>({0, 0, 4, 4, 4}, {5})), 0.0);
  // The shared node freed its closure with that second pass: a new loss over
  // another piece reaches it through a fresh slot and is refused by name.
  expect_error<AutogradError>([&] { sum(parts[0]).backward(); }, {"split", "a second time"});
}

TEST(SplitBackward, PerStepLoopAllocatesOneInputSizedGradient) {
  // A recurrence over T time steps cut from one (T, N) input: backward must
  // not allocate a (T, N) zero gradient per step (T of them: O(T^2) memory
  // traffic). Counted with the caching allocator: allocations during backward
  // stay below two per step (one per step is the recurrence's own backward).
  const int64_t T = 64, N = 32;
  manual_seed(4);
  Tensor x = randn({T, N}).set_requires_grad(true);
  Tensor h = zeros({N});
  for (const Tensor& step : split(x, 1, 0)) h = add(mul(h, 0.5), step.reshape({N}));
  Tensor loss = sum(h);
  auto& alloc = allocator_for(cpu_device());
  const uint64_t before = alloc.stats().allocs;
  loss.backward();
  const uint64_t during = alloc.stats().allocs - before;
  EXPECT_LT(during, static_cast<uint64_t>(2 * T)) << during << " allocations for " << T << " steps";
  // The gradient is 0.5^(T-1-t) for step t.
  std::vector<float> want(T * N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) want[t * N + n] = static_cast<float>(std::pow(0.5, T - 1 - t));
  EXPECT_LT(max_abs_diff(x.grad(), from_vector<float>(want, {T, N})), 1e-7);
}
