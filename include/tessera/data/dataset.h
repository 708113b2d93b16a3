// Datasets and the DataLoader. A Dataset serves examples by index; the
// DataLoader batches them in a seeded order, prefetches the next batches on a
// background thread, and exposes a position (epoch, batch) that a checkpoint
// stores so a resumed run sees exactly the batches it would have seen.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::data {

// One batch: inputs (B, ...) float32; targets (B) int64 class ids for
// classification or (B) / (B, T) float32 for regression.
struct Batch {
  Tensor inputs;
  Tensor targets;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Gathers the examples at `indices` into one batch. Must be thread-safe
  // for concurrent const calls (the prefetch thread calls it).
  virtual Batch get_batch(const std::vector<int64_t>& indices) const = 0;
  virtual Shape example_shape() const = 0;  // shape of one input
  virtual int64_t num_classes() const { return 0; }  // 0 for regression
  // What the DataLoader calls: the batch as served in `epoch`. Only random
  // augmentation depends on the epoch; everything else keeps this default.
  virtual Batch get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const {
    return get_batch(indices);
  }
};

// Tensors already in memory: inputs (N, ...), targets (N) or (N, T).
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets, int64_t num_classes = 0);
  int64_t size() const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  Shape example_shape() const override;
  int64_t num_classes() const override { return num_classes_; }
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_, targets_;
  int64_t num_classes_;
};

// A subset of another dataset by index (train/validation splits).
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  Batch get_batch(const std::vector<int64_t>& indices) const override;
  Batch get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const override;
  Shape example_shape() const override { return base_->example_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::vector<int64_t> map(const std::vector<int64_t>& indices) const;
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;     // the order of epoch e depends only on (seed, e)
  int prefetch = 2;      // batches prepared ahead on a background thread (0 = none)
                         // get_batch runs on that thread: keep it free of OpenMP ops
};

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;     // batches already served in this epoch
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t batches_per_epoch() const;
  // Next batch of the current epoch; false at the end of the epoch (the
  // position then moves to the start of the next epoch).
  // Errors thrown by the dataset are re-thrown here (same type and message);
  // the position stays put, so calling next() again retries that batch.
  // An epoch with no batches (empty dataset, or drop_last with fewer than
  // batch_size examples) returns false at once.
  bool next(Batch& out);
  LoaderPosition position() const;
  // Resume exactly here; pos.batch may be batches_per_epoch() (the epoch is
  // finished, the next call to next() returns false). Drops prefetched batches.
  void seek(LoaderPosition pos);
  const Dataset& dataset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Copies rows `rows` of t (along dim 0) into a new contiguous tensor; no
// autograd. Throws IndexError naming the row and the size when out of range.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows);

// A seeded permutation of 0..n-1 (Fisher-Yates driven by Philox under a key
// derived from (seed, stream)); the DataLoader uses stream = epoch.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, uint64_t stream);

// Seeded split into (train, validation) index sets; `stratify_labels` (optional,
// int64 (N)) keeps class proportions.
// Both sets come back sorted ascending; the validation set has
// round(n * validation_fraction) elements (stratified: each class gets its
// share, rounded by largest remainder so the total is the same).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n, double validation_fraction, uint64_t seed,
                                                                     const Tensor& stratify_labels = Tensor());

}  // namespace tessera::data
