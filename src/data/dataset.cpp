// In-memory datasets, subsets, seeded permutations and train/validation
// splits. Gathering is a plain row memcpy on purpose: it runs on the
// DataLoader's prefetch thread, where OpenMP-parallel ops would oversubscribe
// the cores the training step is using.
#include "tessera/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>

#include "tessera/core/random.h"

namespace tessera::data {
namespace {

// splitmix64 finalizer: spreads (seed, stream) over the whole Philox key so
// nearby seeds or epochs give unrelated orders.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Stream ids for the split, far from any epoch number the loader uses.
constexpr uint64_t kSplitStream = 0x53504C4954000000ull;  // "SPLIT"

}  // namespace

Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  TSR_CHECK(t.defined() && t.dim() >= 1, ShapeError, "gather_rows: need a tensor with at least one dim");
  Tensor src = t.contiguous();
  const int64_t n = src.size(0);
  Shape shape = src.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = empty(shape, {.dtype = src.dtype()});
  const size_t row_bytes = static_cast<size_t>(n == 0 ? 0 : src.numel() / n) * dtype_size(src.dtype());
  const auto* in = static_cast<const unsigned char*>(src.raw_data());
  auto* o = static_cast<unsigned char*>(out.raw_data());
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t r = rows[i];
    TSR_CHECK(r >= 0 && r < n, IndexError, "gather_rows: index ", r, " is out of range for ", n, " rows");
    std::memcpy(o + i * row_bytes, in + static_cast<size_t>(r) * row_bytes, row_bytes);
  }
  return out;
}

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> p(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(p.begin(), p.end(), int64_t{0});
  const uint64_t key = mix64(seed ^ mix64(stream));
  for (int64_t i = n - 1; i > 0; --i) {
    auto w = philox4x32(static_cast<uint64_t>(i), key);
    // 64 random bits modulo (i + 1): the bias is below 2^-32 for any n we hold.
    uint64_t r = (static_cast<uint64_t>(w[0]) << 32) | w[1];
    int64_t j = static_cast<int64_t>(r % static_cast<uint64_t>(i + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

// ---- TensorDataset ----

TensorDataset::TensorDataset(Tensor inputs, Tensor targets, int64_t num_classes)
    : inputs_(inputs.defined() ? inputs.contiguous() : inputs),
      targets_(targets.defined() ? targets.contiguous() : targets),
      num_classes_(num_classes) {
  TSR_CHECK(inputs_.defined() && inputs_.dim() >= 1, ShapeError, "TensorDataset: inputs need at least one dim (N, ...)");
  TSR_CHECK(targets_.defined() && targets_.dim() >= 1, ShapeError, "TensorDataset: targets need at least one dim (N, ...)");
  TSR_CHECK(inputs_.size(0) == targets_.size(0), ShapeError, "TensorDataset: inputs ", shape_str(inputs_.shape()),
            " and targets ", shape_str(targets_.shape()), " hold different numbers of examples");
  TSR_CHECK(num_classes >= 0, Error, "TensorDataset: num_classes must be >= 0, got ", num_classes);
  if (num_classes > 0) {
    TSR_CHECK(targets_.dtype() == DType::I64 && targets_.dim() == 1, DTypeError,
              "TensorDataset: classification targets must be int64 (N), got ", dtype_name(targets_.dtype()), " ",
              shape_str(targets_.shape()));
    const int64_t* y = targets_.data<int64_t>();
    for (int64_t i = 0; i < targets_.numel(); ++i)
      TSR_CHECK(y[i] >= 0 && y[i] < num_classes, IndexError, "TensorDataset: target ", y[i], " of example ", i,
                " is outside [0, ", num_classes, ")");
  }
}

int64_t TensorDataset::size() const { return inputs_.size(0); }

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  return {gather_rows(inputs_, indices), gather_rows(targets_, indices)};
}

Shape TensorDataset::example_shape() const { return Shape(inputs_.shape().begin() + 1, inputs_.shape().end()); }

// ---- SubsetDataset ----

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  TSR_CHECK(base_ != nullptr, Error, "SubsetDataset: null base dataset");
  const int64_t n = base_->size();
  for (int64_t i : indices_)
    TSR_CHECK(i >= 0 && i < n, IndexError, "SubsetDataset: index ", i, " is out of range for a dataset of ", n);
}

std::vector<int64_t> SubsetDataset::map(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> mapped(indices.size());
  const int64_t n = size();
  for (size_t i = 0; i < indices.size(); ++i) {
    TSR_CHECK(indices[i] >= 0 && indices[i] < n, IndexError, "SubsetDataset: index ", indices[i],
              " is out of range for a subset of ", n);
    mapped[i] = indices_[static_cast<size_t>(indices[i])];
  }
  return mapped;
}

Batch SubsetDataset::get_batch(const std::vector<int64_t>& indices) const { return base_->get_batch(map(indices)); }

Batch SubsetDataset::get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const {
  return base_->get_epoch_batch(map(indices), epoch);
}

// ---- split ----

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, double validation_fraction, uint64_t seed,
                                                                     const Tensor& stratify_labels) {
  TSR_CHECK(n >= 0, Error, "split_indices: n must be >= 0, got ", n);
  TSR_CHECK(validation_fraction >= 0.0 && validation_fraction <= 1.0, Error,
            "split_indices: validation_fraction must be in [0, 1], got ", validation_fraction);
  const int64_t n_val = static_cast<int64_t>(std::llround(static_cast<double>(n) * validation_fraction));
  std::vector<int64_t> train, val;

  if (!stratify_labels.defined()) {
    std::vector<int64_t> p = seeded_permutation(n, seed, kSplitStream);
    val.assign(p.begin(), p.begin() + n_val);
    train.assign(p.begin() + n_val, p.end());
  } else {
    TSR_CHECK(stratify_labels.dim() == 1 && stratify_labels.size(0) == n, ShapeError,
              "split_indices: stratify_labels must be (", n, "), got ", shape_str(stratify_labels.shape()));
    TSR_CHECK(stratify_labels.dtype() == DType::I64 || stratify_labels.dtype() == DType::I32, DTypeError,
              "split_indices: stratify_labels must be an integer tensor, got ", dtype_name(stratify_labels.dtype()));
    std::vector<int64_t> labels = stratify_labels.to_vector<int64_t>();
    std::map<int64_t, std::vector<int64_t>> by_class;  // ordered: the result must not depend on hashing
    for (int64_t i = 0; i < n; ++i) by_class[labels[static_cast<size_t>(i)]].push_back(i);

    // Largest remainder: floor each class's share, then hand the leftover
    // validation slots to the classes with the largest fractional parts
    // (ties to the smaller label), so the total is exactly n_val.
    struct Share { int64_t label; int64_t take; double frac; };
    std::vector<Share> shares;
    int64_t assigned = 0;
    for (auto& [label, members] : by_class) {
      double exact = static_cast<double>(members.size()) * validation_fraction;
      int64_t take = static_cast<int64_t>(std::floor(exact));
      shares.push_back({label, take, exact - static_cast<double>(take)});
      assigned += take;
    }
    std::vector<size_t> order(shares.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return shares[a].frac > shares[b].frac; });
    for (size_t k = 0; assigned < n_val && k < order.size(); ++k) {
      Share& s = shares[order[k]];
      if (s.take < static_cast<int64_t>(by_class[s.label].size())) { ++s.take; ++assigned; }
    }

    for (const Share& s : shares) {
      const std::vector<int64_t>& members = by_class[s.label];
      std::vector<int64_t> p =
          seeded_permutation(static_cast<int64_t>(members.size()), seed, kSplitStream + 1 + static_cast<uint64_t>(s.label));
      for (size_t k = 0; k < p.size(); ++k)
        (static_cast<int64_t>(k) < s.take ? val : train).push_back(members[static_cast<size_t>(p[k])]);
    }
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {std::move(train), std::move(val)};
}

}  // namespace tessera::data
