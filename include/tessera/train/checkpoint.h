// Training checkpoints: <out>/checkpoints/step-N/ holds
//   model.safetensors   the model's state_dict under PyTorch names
//   config.json         {"format_version": 1, "step": N, "recipe": {...},
//                        "input_shape": [...], "num_outputs": K, "data_state": ...}
//   optimizer.bin       Optimizer::save (magic TSROPTIM)
//   scheduler.bin       StatefulScheduler::save (magic TSRSCHED)
//   trainer_state.json  counters, RNG states, data-loader position, best metric
// A checkpoint is assembled in a hidden temp folder (every file fsynced), then
// renamed to step-N and the parent folder fsynced, so a crash at any point
// leaves either no step-N or a complete one; readers only look at step-N names.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/nn/module.h"

namespace tessera::train {

constexpr int kCheckpointFormatVersion = 1;

std::string checkpoint_root(const std::string& out_dir);                 // <out>/checkpoints
std::string checkpoint_dir(const std::string& out_dir, int64_t step);   // <out>/checkpoints/step-N
// Steps of the complete checkpoints under <out>/checkpoints, ascending.
std::vector<int64_t> list_checkpoints(const std::string& out_dir);
std::optional<int64_t> latest_checkpoint(const std::string& out_dir);

// Begins a checkpoint: returns a fresh temp folder to fill.
std::string begin_checkpoint(const std::string& out_dir, int64_t step);
// fsyncs the folder's files, renames it to step-N (replacing an older step-N) and fsyncs the parent.
std::string commit_checkpoint(const std::string& temp_dir, const std::string& out_dir, int64_t step);
// Deletes all but the newest keep_last checkpoints and `keep_also` (the best).
void prune_checkpoints(const std::string& out_dir, int64_t keep_last, std::optional<int64_t> keep_also);

// Reads and checks <dir>/config.json (format_version); returns its text.
std::string read_checkpoint_config(const std::string& dir);

// A model rebuilt from a checkpoint folder (config.json + model.safetensors),
// with what `tessera eval` needs to rebuild its test data. JSON as text.
struct LoadedCheckpoint {
  std::shared_ptr<nn::Module> model;
  int64_t step = 0;
  std::string task;              // "classification" / "regression"
  std::string recipe_json;       // the training recipe
  std::string data_json;         // its "data" section
  std::string data_state_json;   // fitted data state (normalization, class count)
  std::vector<std::string> class_names;
  uint64_t seed = 0;
};
// `dir` is a step-N folder, or a run's output folder: the checkpoint its summary.json
// was tested with ("tested_checkpoint_step", the best one under early stopping), else the newest.
LoadedCheckpoint load_checkpoint_model(const std::string& dir);

}  // namespace tessera::train
