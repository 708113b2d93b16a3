// Turns the "data" section of a recipe plus a path into the datasets of a run:
//   {"kind": "idx", "validation_fraction": 0.1, "mean": 0.1307, "std": 0.3081, "augment_shift": 0}
//     PATH is a folder holding train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
//     t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] (MNIST / Fashion-MNIST layout).
//   {"kind": "csv", "format": "table" | "sklearn", "label_column": "", "ignore_columns": [],
//    "test_fraction": 0.2, "validation_fraction": 0.0, "stratify": true, "standardize": true}
//     PATH is one table; the test (and validation) rows are split off by seed, the
//     standardization is fitted on the training rows only and saved as data state.
// JSON travels as text so this header needs no JSON library.
#pragma once
#include <string>

#include "tessera/train/trainer.h"

namespace tessera::train {

// For `tessera train`: train / validation / test sets, class names and the
// fitted data state (TrainData::data_state_json).
TrainData load_train_data(const std::string& data_json, const std::string& path, uint64_t seed, bool classification);

// For `tessera eval`: the test set only, rebuilt exactly as at training time
// from the checkpoint's data section, seed and data state.
TrainData load_eval_data(const std::string& data_json, const std::string& path, uint64_t seed, bool classification,
                         const std::string& data_state_json);

}  // namespace tessera::train
