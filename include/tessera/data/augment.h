// Light image augmentation as a Dataset wrapper, applied on the fly by the
// DataLoader (on its prefetch thread). Deterministic: the shift of example i
// in epoch e depends only on (seed, e, i), so a resumed run sees the same
// augmented batches.
#pragma once
#include <memory>

#include "tessera/data/dataset.h"

namespace tessera::data {

// Shifts each image by (dy, dx), each uniform in [-max_shift, max_shift],
// filling the uncovered border with 0. Inputs must be float32 (..., H, W).
// get_batch() (no epoch) serves epoch 0's shifts; wrap only the training set.
class RandomShiftDataset : public Dataset {
 public:
  RandomShiftDataset(std::shared_ptr<const Dataset> base, int64_t max_shift, uint64_t seed);
  int64_t size() const override { return base_->size(); }
  Batch get_batch(const std::vector<int64_t>& indices) const override { return get_epoch_batch(indices, 0); }
  Batch get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const override;
  Shape example_shape() const override { return base_->example_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }

  // The (dy, dx) used for example `index` in `epoch` (for tests and tools).
  std::pair<int64_t, int64_t> shift_for(int64_t index, int64_t epoch) const;

 private:
  std::shared_ptr<const Dataset> base_;
  int64_t max_shift_;
  uint64_t seed_;
};

}  // namespace tessera::data
