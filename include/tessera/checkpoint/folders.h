// Step folders: how a training run keeps its checkpoints on disk. Every loop
// (train, pretrain, finetune) writes <out>/checkpoints/step-N/ through these
// functions, and every reader finds them through them.
//
// A checkpoint is assembled in a hidden temp folder (every file fsynced), then
// renamed to step-N and the parent folder fsynced, so a crash at any point
// leaves either no step-N or a complete one; readers only look at step-N names.
// Each step folder holds a config.json with an integer "format_version"
// (checked by read_config) beside the files its writer documents.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessera::checkpoint {

constexpr int kFormatVersion = 1;

std::string root(const std::string& out_dir);                  // <out>/checkpoints
std::string step_dir(const std::string& out_dir, int64_t step);  // <out>/checkpoints/step-N
// Steps of the complete checkpoints under <out>/checkpoints, ascending.
std::vector<int64_t> list_steps(const std::string& out_dir);
std::optional<int64_t> latest_step(const std::string& out_dir);

// Begins a checkpoint: returns a fresh temp folder to fill.
std::string begin(const std::string& out_dir, int64_t step);
// fsyncs the folder's files, renames it to step-N (replacing an older step-N) and fsyncs the parent.
std::string commit(const std::string& temp_dir, const std::string& out_dir, int64_t step);
// Deletes all but the newest keep_last checkpoints and `keep_also` (the best).
void prune(const std::string& out_dir, int64_t keep_last, std::optional<int64_t> keep_also);

// Reads and checks <dir>/config.json (format_version); returns its text.
std::string read_config(const std::string& dir);

}  // namespace tessera::checkpoint
