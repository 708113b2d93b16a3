// Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
// Errors name the file and what is wrong (bad magic, truncated data,
// dimensions that disagree with the file size).
#pragma once
#include <string>

#include "tessera/core/tensor.h"

namespace tessera::data {

// Reads an IDX file (".gz" or raw, detected from the content) into a tensor
// of its element type (uint8 data becomes int64 for labels and float32 in
// [0, 1] for images when `normalize` is true).
Tensor read_idx(const std::string& path, bool normalize_images = true);

}  // namespace tessera::data
