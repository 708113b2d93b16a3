// Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
// Errors name the file and what is wrong (bad magic, truncated or corrupt
// gzip data with the compressed byte offset, dimensions that disagree with
// the file size, image and label counts that differ).
#pragma once
#include <memory>
#include <string>

#include "tessera/core/tensor.h"
#include "tessera/data/dataset.h"

namespace tessera::data {

// Reads an IDX file (".gz" or raw, detected from the content) into a tensor
// of its element type (uint8 data becomes int64 for labels and float32 in
// [0, 1] for images when `normalize` is true).
Tensor read_idx(const std::string& path, bool normalize_images = true);

// An image/label file pair as a classification dataset: inputs (N, 1, H, W)
// float32 in [0, 1], targets (N) int64, num_classes = max label + 1 (10 for
// MNIST). The images must be 3-D (N, H, W), the labels 1-D (N), same N.
std::shared_ptr<TensorDataset> load_idx_dataset(const std::string& images_path, const std::string& labels_path);

}  // namespace tessera::data
