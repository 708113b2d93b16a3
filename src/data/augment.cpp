// Random shifts. Serial loops on purpose: this runs on the DataLoader's
// prefetch thread, beside the OpenMP threads of the training step.
#include "tessera/data/augment.h"

#include <algorithm>

#include "tessera/core/random.h"

namespace tessera::data {

RandomShiftDataset::RandomShiftDataset(std::shared_ptr<const Dataset> base, int64_t max_shift, uint64_t seed)
    : base_(std::move(base)), max_shift_(max_shift), seed_(seed) {
  TSR_CHECK(base_ != nullptr, Error, "RandomShiftDataset: null base dataset");
  TSR_CHECK(max_shift_ >= 0, Error, "RandomShiftDataset: max_shift must be >= 0, got ", max_shift_);
  Shape s = base_->example_shape();
  TSR_CHECK(s.size() >= 2, ShapeError, "RandomShiftDataset: examples must be images (..., H, W), got ", shape_str(s));
}

std::pair<int64_t, int64_t> RandomShiftDataset::shift_for(int64_t index, int64_t epoch) const {
  if (max_shift_ == 0) return {0, 0};
  // Key by (seed, epoch), count by index: one Philox call per example.
  const uint64_t key = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ull + 0x5348494654ull;
  auto w = philox4x32(static_cast<uint64_t>(index), key);
  const uint64_t span = static_cast<uint64_t>(2 * max_shift_ + 1);
  return {static_cast<int64_t>(w[0] % span) - max_shift_, static_cast<int64_t>(w[1] % span) - max_shift_};
}

Batch RandomShiftDataset::get_epoch_batch(const std::vector<int64_t>& indices, int64_t epoch) const {
  Batch b = base_->get_epoch_batch(indices, epoch);
  if (max_shift_ == 0) return b;
  TSR_CHECK(b.inputs.dtype() == DType::F32, DTypeError, "RandomShiftDataset: expected float32 images, got ",
            dtype_name(b.inputs.dtype()));
  Tensor src = b.inputs.contiguous();  // (B, ..., H, W)
  const int64_t h = src.size(-2), w = src.size(-1);
  const int64_t planes = src.numel() / std::max<int64_t>(1, static_cast<int64_t>(indices.size()) * h * w);  // per example
  Tensor out = empty(src.shape(), {.dtype = DType::F32});  // not zeros(): its fill may start an OpenMP team
  const float* in = src.data<float>();
  float* o = out.data<float>();
  std::fill(o, o + out.numel(), 0.0f);
  for (size_t i = 0; i < indices.size(); ++i) {
    auto [dy, dx] = shift_for(indices[i], epoch);
    for (int64_t p = 0; p < planes; ++p) {
      const float* ip = in + (static_cast<int64_t>(i) * planes + p) * h * w;
      float* op = o + (static_cast<int64_t>(i) * planes + p) * h * w;
      // out[y][x] = in[y - dy][x - dx] where that is inside the image.
      const int64_t x0 = std::max<int64_t>(0, dx), x1 = std::min(w, w + dx);
      for (int64_t y = std::max<int64_t>(0, dy); y < std::min(h, h + dy); ++y)
        for (int64_t x = x0; x < x1; ++x) op[y * w + x] = ip[(y - dy) * w + (x - dx)];
    }
  }
  b.inputs = out;
  return b;
}

}  // namespace tessera::data
