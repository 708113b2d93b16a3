// Indexing ops: error messages for bad indices, shapes and dtypes (never an
// out-of-bounds access), views from split/chunk, and bit-identical embedding
// and gather gradients at 1 and 2 threads.
#include <gtest/gtest.h>

#include "test_util.h"

#include <string>

#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;

namespace {

// Runs fn, expecting it to throw E with every one of `parts` in its message.

Tensor idx(std::vector<int64_t> v, Shape s) { return from_vector<int64_t>(v, s); }

}  // namespace

TEST(Indexing, EmbeddingBadIndexIsIndexError) {
  Tensor w = randn({5, 3});
  expect_error<IndexError>([&] { embedding(w, idx({0, 5}, {2})); }, {"embedding", "index 5", "[0, 5)"});
  expect_error<IndexError>([&] { embedding(w, idx({-1}, {1})); }, {"embedding", "index -1"});
  expect_error<IndexError>([&] { embedding(w, idx({0}, {1}), 5); }, {"embedding", "padding_idx 5"});
  expect_error<DTypeError>([&] { embedding(w, randn({2})); }, {"embedding", "int64"});
  expect_error<ShapeError>([&] { embedding(randn({5}), idx({0}, {1})); }, {"embedding", "2-D"});
}

TEST(Indexing, GatherAndIndexSelectBadIndex) {
  Tensor x = randn({3, 4});
  expect_error<IndexError>([&] { gather(x, 1, idx({0, 4, 1}, {3, 1})); }, {"gather", "index 4", "[0, 4)"});
  expect_error<IndexError>([&] { gather(x, 1, idx({-1, 0, 1}, {3, 1})); }, {"gather", "index -1"});
  expect_error<ShapeError>([&] { gather(x, 1, idx({0, 0, 0, 0}, {4, 1})); }, {"gather", "[4, 1]"});
  expect_error<ShapeError>([&] { gather(x, 1, idx({0}, {1})); }, {"gather", "dims"});
  expect_error<IndexError>([&] { gather(x, 2, idx({0}, {1, 1})); }, {"gather", "dim 2"});
  expect_error<IndexError>([&] { index_select(x, 0, idx({0, 3}, {2})); }, {"index_select", "index 3", "[0, 3)"});
  expect_error<ShapeError>([&] { index_select(x, 0, idx({0, 1}, {1, 2})); }, {"index_select", "1-D"});
}

TEST(Indexing, JoinErrors) {
  expect_error<ShapeError>([] { cat({randn({2, 3}), randn({2, 4})}, 0); }, {"cat", "[2, 4]", "dim 0"});
  expect_error<DTypeError>([] { cat({randn({2}), randn({2}, {.dtype = DType::F64})}); }, {"cat", "float64"});
  expect_error<Error>([] { cat({}); }, {"cat", "non-empty"});
  expect_error<ShapeError>([] { stack({randn({2, 3}), randn({3, 2})}); }, {"stack", "[3, 2]"});
  expect_error<ShapeError>([] { split(randn({5}), std::vector<int64_t>{2, 2}); }, {"split", "sum to 4"});
  expect_error<ShapeError>([] { chunk(randn({5}), 0); }, {"chunk", "positive"});
  expect_error<DTypeError>([] { where(randn({2}), randn({2}), randn({2})); }, {"where", "bool"});
  expect_error<ShapeError>([] { where(zeros({3}, {.dtype = DType::Bool}), randn({2}), randn({2})); }, {"where"});
  expect_error<DTypeError>([] { masked_fill(randn({2}), randn({2}), 0.0); }, {"masked_fill", "bool"});
}

TEST(Indexing, SplitAndChunkAreViews) {
  Tensor x = randn({7, 3});
  auto parts = split(x, 3, 0);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].shape(), (Shape{1, 3}));
  for (const Tensor& p : parts) EXPECT_EQ(p.storage().get(), x.storage().get());
  auto ch = chunk(x, 2, 1);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].shape(), (Shape{7, 2}));
  EXPECT_EQ(ch[1].shape(), (Shape{7, 1}));
  EXPECT_EQ(ch[1].storage().get(), x.storage().get());
}

TEST(Indexing, CatGradientFlowsToEachPiece) {
  Tensor a = randn({2, 3}).set_requires_grad(true);
  Tensor b = randn({2, 1}).set_requires_grad(true);
  Tensor y = cat({a, b}, 1);
  sum(y).backward();
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(b.grad().to_vector<float>(), std::vector<float>(2, 1.0f));
}

TEST(Indexing, EmbeddingGradientDeterministicAcrossThreads) {
  // Many repeats of a few rows: the scatter-add collides on every row.
  const int64_t V = 37, D = 19, n = 5000;
  Generator gen(11);
  Tensor indices = randint(0, V, {n}, gen);
  Tensor w0 = randn({V, D}, gen);
  Tensor g = randn({n, D}, gen);
  auto grad_at = [&](int threads) {
    set_num_threads(threads);
    Tensor w = w0.clone().detach().set_requires_grad(true);
    embedding(w, indices, 3).backward(g);
    return w.grad().to_vector<float>();
  };
  const int before = get_num_threads();
  auto g1 = grad_at(1);
  auto g2 = grad_at(2);
  auto g2b = grad_at(2);
  set_num_threads(before);
  EXPECT_EQ(g1, g2);
  EXPECT_EQ(g2, g2b);
  // The padding row got nothing.
  for (int64_t d = 0; d < D; ++d) EXPECT_EQ(g1[3 * D + d], 0.0f);
}

TEST(Indexing, GatherGradientDeterministicAcrossThreads) {
  Generator gen(5);
  Tensor x0 = randn({64, 300}, gen);
  Tensor index = randint(0, 300, {64, 900}, gen);
  Tensor g = randn({64, 900}, gen);
  auto grad_at = [&](int threads) {
    set_num_threads(threads);
    Tensor x = x0.clone().detach().set_requires_grad(true);
    gather(x, 1, index).backward(g);
    return x.grad().to_vector<float>();
  };
  const int before = get_num_threads();
  auto g1 = grad_at(1);
  auto g2 = grad_at(2);
  set_num_threads(before);
  EXPECT_EQ(g1, g2);
}
