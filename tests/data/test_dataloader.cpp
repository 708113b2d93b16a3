// DataLoader and datasets: batching, seeded shuffling, drop_last, prefetch
// equivalence, seek/resume, error propagation from the prefetch thread,
// splits (stratified), subsets, random-shift augmentation, standardization.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>

#include "tessera/data/augment.h"
#include "tessera/data/dataset.h"
#include "tessera/data/standardizer.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::data;

namespace {

// inputs (N, 2) = [i, 10 i], targets (N) = i % 3: every row names its index.
std::shared_ptr<TensorDataset> indexed_dataset(int64_t n) {
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(i));
    x.push_back(static_cast<float>(10 * i));
    y.push_back(i % 3);
  }
  return std::make_shared<TensorDataset>(from_vector(x, {n, 2}), from_vector(y, {n}), 3);
}

std::vector<int64_t> rows_of(const Batch& b) {
  std::vector<int64_t> out;
  for (float v : b.inputs.select(1, 0).to_vector<float>()) out.push_back(static_cast<int64_t>(v));
  return out;
}

// Every batch of `epochs` epochs, as index lists; an empty list marks an epoch end.
std::vector<std::vector<int64_t>> drain(DataLoader& dl, int epochs) {
  std::vector<std::vector<int64_t>> out;
  Batch b;
  for (int e = 0; e < epochs; ++e) {
    while (dl.next(b)) out.push_back(rows_of(b));
    out.push_back({});
  }
  return out;
}

}  // namespace

TEST(DataLoader, BatchesInOrderWithoutShuffle) {
  auto ds = indexed_dataset(10);
  DataLoader dl(ds, {.batch_size = 4, .shuffle = false, .prefetch = 0});
  EXPECT_EQ(dl.batches_per_epoch(), 3);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.inputs.shape(), (Shape{4, 2}));
  EXPECT_EQ(b.targets.shape(), (Shape{4}));
  EXPECT_EQ(b.targets.dtype(), DType::I64);
  EXPECT_EQ(rows_of(b), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(b.inputs.to_vector<float>()[1], 0.0f);
  EXPECT_EQ(b.inputs.to_vector<float>()[3], 10.0f);
  EXPECT_EQ(b.targets.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 0}));
  ASSERT_TRUE(dl.next(b));
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(rows_of(b), (std::vector<int64_t>{8, 9}));  // the last, short batch
  EXPECT_EQ(dl.position().epoch, 0);
  EXPECT_EQ(dl.position().batch, 3);
  EXPECT_FALSE(dl.next(b));
  EXPECT_EQ(dl.position().epoch, 1);
  EXPECT_EQ(dl.position().batch, 0);
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(rows_of(b), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(DataLoader, DropLast) {
  auto ds = indexed_dataset(10);
  DataLoader dl(ds, {.batch_size = 4, .shuffle = true, .drop_last = true, .seed = 3, .prefetch = 2});
  EXPECT_EQ(dl.batches_per_epoch(), 2);
  auto all = drain(dl, 2);
  ASSERT_EQ(all.size(), 6u);
  for (size_t i : {0u, 1u, 3u, 4u}) EXPECT_EQ(all[i].size(), 4u);
  // Fewer examples than one batch: every epoch is empty.
  DataLoader small(indexed_dataset(3), {.batch_size = 4, .drop_last = true});
  Batch b;
  EXPECT_EQ(small.batches_per_epoch(), 0);
  EXPECT_FALSE(small.next(b));
  EXPECT_FALSE(small.next(b));
  EXPECT_EQ(small.position().epoch, 2);
  DataLoader empty_dl(indexed_dataset(0), {.batch_size = 4});
  EXPECT_FALSE(empty_dl.next(b));
}

TEST(DataLoader, ShuffleIsSeededPerEpoch) {
  auto ds = indexed_dataset(37);
  DataLoader a(ds, {.batch_size = 5, .seed = 11, .prefetch = 0});
  DataLoader b(ds, {.batch_size = 5, .seed = 11, .prefetch = 0});
  DataLoader c(ds, {.batch_size = 5, .seed = 12, .prefetch = 0});
  auto ra = drain(a, 3), rb = drain(b, 3), rc = drain(c, 3);
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  // Each epoch is a permutation, and epochs differ.
  std::vector<std::vector<int64_t>> epochs(3);
  int e = 0;
  for (auto& batch : ra) {
    if (batch.empty()) { ++e; continue; }
    epochs[e].insert(epochs[e].end(), batch.begin(), batch.end());
  }
  for (auto& ep : epochs) {
    std::vector<int64_t> s = ep;
    std::sort(s.begin(), s.end());
    for (int64_t i = 0; i < 37; ++i) EXPECT_EQ(s[i], i);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  // The order of epoch e depends only on (seed, e).
  EXPECT_EQ(epochs[2], seeded_permutation(37, 11, 2));
  DataLoader d(ds, {.batch_size = 5, .seed = 11, .prefetch = 0});
  d.seek({2, 0});
  auto rd = drain(d, 1);
  EXPECT_EQ(std::vector<std::vector<int64_t>>(ra.begin() + 18, ra.end()), rd);
}

TEST(DataLoader, PrefetchGivesIdenticalBatches) {
  auto ds = indexed_dataset(103);
  for (bool drop_last : {false, true}) {
    DataLoader ref(ds, {.batch_size = 8, .drop_last = drop_last, .seed = 5, .prefetch = 0});
    auto want = drain(ref, 4);
    for (int prefetch : {1, 2, 7, 64}) {
      DataLoader dl(ds, {.batch_size = 8, .drop_last = drop_last, .seed = 5, .prefetch = prefetch});
      EXPECT_EQ(drain(dl, 4), want) << "prefetch " << prefetch << " drop_last " << drop_last;
    }
  }
  // Byte-identical tensors too, not just the same indices.
  DataLoader p0(ds, {.batch_size = 16, .seed = 9, .prefetch = 0});
  DataLoader p3(ds, {.batch_size = 16, .seed = 9, .prefetch = 3});
  Batch a, b;
  while (p0.next(a)) {
    ASSERT_TRUE(p3.next(b));
    EXPECT_EQ(a.inputs.to_vector<float>(), b.inputs.to_vector<float>());
    EXPECT_EQ(a.targets.to_vector<int64_t>(), b.targets.to_vector<int64_t>());
  }
  EXPECT_FALSE(p3.next(b));
}

TEST(DataLoader, SeekResumesExactly) {
  auto ds = indexed_dataset(50);
  for (int prefetch : {0, 3}) {
    DataLoader full(ds, {.batch_size = 7, .seed = 21, .prefetch = prefetch});
    auto want = drain(full, 3);  // 8 batches + an end marker per epoch
    // Stop in the middle of epoch 1, save the position, resume in a new loader.
    DataLoader first(ds, {.batch_size = 7, .seed = 21, .prefetch = prefetch});
    Batch b;
    std::vector<std::vector<int64_t>> got;
    for (int i = 0; i < 8; ++i) {
      ASSERT_TRUE(first.next(b));
      got.push_back(rows_of(b));
    }
    ASSERT_FALSE(first.next(b));
    got.push_back({});
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(first.next(b));
      got.push_back(rows_of(b));
    }
    LoaderPosition saved = first.position();
    EXPECT_EQ(saved.epoch, 1);
    EXPECT_EQ(saved.batch, 3);
    DataLoader resumed(ds, {.batch_size = 7, .seed = 21, .prefetch = prefetch});
    resumed.seek(saved);
    while (resumed.next(b)) got.push_back(rows_of(b));
    got.push_back({});
    auto rest = drain(resumed, 1);
    got.insert(got.end(), rest.begin(), rest.end());
    EXPECT_EQ(got, want) << "prefetch " << prefetch;

    // Seeking backwards while the producer has run ahead, and to an epoch's end.
    first.seek({0, 6});
    ASSERT_TRUE(first.next(b));
    EXPECT_EQ(rows_of(b), want[6]);
    first.seek({1, 8});
    EXPECT_FALSE(first.next(b));
    ASSERT_TRUE(first.next(b));
    EXPECT_EQ(rows_of(b), want[18]);
  }
  DataLoader dl(ds, {.batch_size = 7});
  EXPECT_THROW(dl.seek({0, 9}), IndexError);
  EXPECT_THROW(dl.seek({-1, 0}), IndexError);
}

namespace {
// Fails on example `bad_` while `fail_` is set.
class FlakyDataset : public Dataset {
 public:
  explicit FlakyDataset(std::shared_ptr<TensorDataset> base, int64_t bad) : base_(std::move(base)), bad_(bad) {}
  int64_t size() const override { return base_->size(); }
  Batch get_batch(const std::vector<int64_t>& idx) const override {
    if (fail_ && std::find(idx.begin(), idx.end(), bad_) != idx.end())
      throw Error("flaky.bin: example " + std::to_string(bad_) + " is unreadable");
    return base_->get_batch(idx);
  }
  Shape example_shape() const override { return base_->example_shape(); }
  mutable std::atomic<bool> fail_{true};

 private:
  std::shared_ptr<TensorDataset> base_;
  int64_t bad_;
};
}  // namespace

TEST(DataLoader, ErrorsFromThePrefetchThreadReachTheConsumer) {
  for (int prefetch : {0, 1, 4}) {
    auto flaky = std::make_shared<FlakyDataset>(indexed_dataset(20), 9);
    DataLoader dl(flaky, {.batch_size = 4, .shuffle = false, .prefetch = prefetch});
    Batch b;
    ASSERT_TRUE(dl.next(b));
    ASSERT_TRUE(dl.next(b));
    try {
      dl.next(b);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "flaky.bin: example 9 is unreadable");
    }
    EXPECT_EQ(dl.position().batch, 2);  // not advanced: the batch can be retried
    EXPECT_THROW(dl.next(b), Error);    // still failing: a fresh producer hits it again
    flaky->fail_ = false;
    ASSERT_TRUE(dl.next(b));
    EXPECT_EQ(rows_of(b), (std::vector<int64_t>{8, 9, 10, 11}));
    ASSERT_TRUE(dl.next(b));
    EXPECT_EQ(rows_of(b), (std::vector<int64_t>{12, 13, 14, 15}));
  }
}

TEST(DataLoader, ShutsDownCleanly) {
  auto ds = indexed_dataset(1000);
  { DataLoader never_used(ds, {.batch_size = 2, .prefetch = 8}); }
  {
    DataLoader dl(ds, {.batch_size = 2, .prefetch = 8});
    Batch b;
    ASSERT_TRUE(dl.next(b));  // the producer is now blocked on a full queue
  }
  {
    DataLoader dl(ds, {.batch_size = 2, .prefetch = 8});
    Batch b;
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(dl.next(b));
    ASSERT_FALSE(dl.next(b));
    ASSERT_TRUE(dl.next(b));  // the producer already ran into epoch 1
  }
  EXPECT_THROW(DataLoader(ds, {.batch_size = 0}), Error);
  EXPECT_THROW(DataLoader(ds, {.prefetch = -1}), Error);
}

TEST(Dataset, TensorAndSubset) {
  EXPECT_THROW(TensorDataset(zeros({4, 2}), zeros({3}, {.dtype = DType::I64})), ShapeError);
  EXPECT_THROW(TensorDataset(zeros({2, 2}), from_vector(std::vector<int64_t>{0, 3}, {2}), 3), IndexError);
  auto ds = indexed_dataset(10);
  EXPECT_EQ(ds->example_shape(), (Shape{2}));
  EXPECT_THROW(ds->get_batch({10}), IndexError);
  auto sub = std::make_shared<SubsetDataset>(ds, std::vector<int64_t>{7, 2, 5});
  EXPECT_EQ(sub->size(), 3);
  EXPECT_EQ(sub->num_classes(), 3);
  EXPECT_EQ(rows_of(sub->get_batch({2, 0})), (std::vector<int64_t>{5, 7}));
  EXPECT_THROW(sub->get_batch({3}), IndexError);
  EXPECT_THROW(SubsetDataset(ds, {0, 10}), IndexError);
  DataLoader dl(sub, {.batch_size = 2, .shuffle = false});
  auto all = drain(dl, 1);
  EXPECT_EQ(all, (std::vector<std::vector<int64_t>>{{7, 2}, {5}, {}}));
}

TEST(Split, SizesDisjointAndSeeded) {
  auto [tr, va] = split_indices(100, 0.2, 1);
  EXPECT_EQ(tr.size(), 80u);
  EXPECT_EQ(va.size(), 20u);
  std::set<int64_t> all(tr.begin(), tr.end());
  all.insert(va.begin(), va.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_TRUE(std::is_sorted(tr.begin(), tr.end()));
  EXPECT_EQ(split_indices(100, 0.2, 1).second, va);
  EXPECT_NE(split_indices(100, 0.2, 2).second, va);
  EXPECT_EQ(split_indices(10, 0.0, 1).second.size(), 0u);
  EXPECT_EQ(split_indices(10, 1.0, 1).first.size(), 0u);
  EXPECT_THROW(split_indices(10, 1.5, 1), Error);
}

TEST(Split, StratifiedKeepsClassProportions) {
  // Imbalanced labels: 70 of class 0, 25 of class 1, 5 of class 7.
  std::vector<int64_t> y;
  for (int i = 0; i < 100; ++i) y.push_back(i % 20 == 0 ? 7 : (i % 4 == 1 ? 1 : 0));
  std::map<int64_t, int> total;
  for (auto v : y) ++total[v];
  Tensor labels = from_vector(y, {100});
  for (uint64_t seed : {0u, 1u, 2u}) {
    auto [tr, va] = split_indices(100, 0.2, seed, labels);
    EXPECT_EQ(va.size(), 20u);
    EXPECT_EQ(tr.size() + va.size(), 100u);
    std::map<int64_t, int> in_val;
    for (auto i : va) ++in_val[y[i]];
    for (auto [c, n] : total) EXPECT_NEAR(in_val[c], n * 0.2, 1.0) << "class " << c << " seed " << seed;
  }
  // Largest-remainder rounding keeps the total: 3 classes of 5 at 30% give
  // 1.5 each, but the validation set still has round(15 * 0.3) examples.
  std::vector<int64_t> z{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2};
  auto [tr2, va2] = split_indices(15, 0.3, 4, from_vector(z, {15}));
  EXPECT_EQ(static_cast<int64_t>(va2.size()), std::llround(15 * 0.3));
  EXPECT_THROW(split_indices(15, 0.3, 4, from_vector(z, {15}).to(DType::F32)), DTypeError);
  EXPECT_THROW(split_indices(14, 0.3, 4, from_vector(z, {15})), ShapeError);
}

TEST(Augment, RandomShiftIsDeterministicAndCorrect) {
  // Two 1x4x4 images with distinct pixels.
  std::vector<float> px(32);
  for (int i = 0; i < 32; ++i) px[i] = static_cast<float>(i + 1);
  auto base = std::make_shared<TensorDataset>(from_vector(px, {2, 1, 4, 4}),
                                              from_vector(std::vector<int64_t>{0, 1}, {2}), 2);
  auto aug = std::make_shared<RandomShiftDataset>(base, 2, 77);
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    Batch b = aug->get_epoch_batch({1, 0}, epoch);
    EXPECT_EQ(b.inputs.to_vector<float>(), aug->get_epoch_batch({1, 0}, epoch).inputs.to_vector<float>());
    std::vector<float> got = b.inputs.to_vector<float>();
    for (int k = 0; k < 2; ++k) {
      int64_t idx = k == 0 ? 1 : 0;
      auto [dy, dx] = aug->shift_for(idx, epoch);
      EXPECT_LE(std::abs(dy), 2);
      EXPECT_LE(std::abs(dx), 2);
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) {
          int sy = y - static_cast<int>(dy), sx = x - static_cast<int>(dx);
          float want = (sy >= 0 && sy < 4 && sx >= 0 && sx < 4) ? px[idx * 16 + sy * 4 + sx] : 0.0f;
          EXPECT_EQ(got[k * 16 + y * 4 + x], want);
        }
    }
  }
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int64_t e = 0; e < 50; ++e) seen.insert(aug->shift_for(0, e));
  EXPECT_GT(seen.size(), 10u);  // shifts vary across epochs
  // Through the loader: epoch-dependent, identical with and without prefetch.
  DataLoader a(aug, {.batch_size = 2, .seed = 1, .prefetch = 0});
  DataLoader b(aug, {.batch_size = 2, .seed = 1, .prefetch = 2});
  Batch ba, bb;
  for (int i = 0; i < 10; ++i) {
    if (!a.next(ba)) {
      ASSERT_TRUE(a.next(ba));
    }
    if (!b.next(bb)) {
      ASSERT_TRUE(b.next(bb));
    }
    EXPECT_EQ(ba.inputs.to_vector<float>(), bb.inputs.to_vector<float>());
  }
  auto none = std::make_shared<RandomShiftDataset>(base, 0, 77);
  EXPECT_EQ(none->get_batch({0, 1}).inputs.to_vector<float>(), px);
  EXPECT_THROW(RandomShiftDataset(indexed_dataset(3), 1, 0), ShapeError);
}

TEST(Standardizer, FitsOnTrainingRowsOnly) {
  // Column 0: 1, 2, 3, 100 (the last row is "validation"); column 1 constant.
  Tensor x = from_vector(std::vector<float>{1, 5, 2, 5, 3, 5, 100, 5}, {4, 2});
  Standardizer st;
  EXPECT_FALSE(st.fitted());
  EXPECT_THROW(st.transform(x), Error);
  st.fit(x, {0, 1, 2});
  EXPECT_DOUBLE_EQ(st.mean()[0], 2.0);
  EXPECT_DOUBLE_EQ(st.scale()[0], std::sqrt(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(st.mean()[1], 5.0);
  EXPECT_DOUBLE_EQ(st.scale()[1], 1.0);  // constant column: not divided by zero
  Tensor z = st.transform(x);
  std::vector<float> v = z.to_vector<float>();
  EXPECT_NEAR(v[0], -1.0 / std::sqrt(2.0 / 3.0), 1e-6);
  EXPECT_NEAR(v[6], 98.0 / std::sqrt(2.0 / 3.0), 1e-4);
  EXPECT_EQ(v[1], 0.0f);
  // The state round-trips through plain vectors (what a checkpoint stores).
  Standardizer restored(st.mean(), st.scale());
  EXPECT_EQ(restored.transform(x).to_vector<float>(), v);
  EXPECT_THROW(restored.transform(zeros({2, 3})), ShapeError);
  EXPECT_THROW(Standardizer({0.0}, {0.0}), Error);
  EXPECT_THROW(st.fit(x, {4}), IndexError);
}
