// Shared pieces of the `tessera` subcommands: the Command registry entry,
// reading a JSON recipe with a useful error, the run-control flags of the
// training commands, and the default data folder.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tessera/train/profile_hook.h"

namespace tessera::cli {

// A subcommand: its CLI11 parser and what to run once it parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Each cmd_*.cpp defines one of these; main.cpp lists them.
Command add_train_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_tokenizer_command(CLI::App& app);
Command add_data_command(CLI::App& app);
Command add_pretrain_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_serve_command(CLI::App& app);
Command add_plans_command(CLI::App& app);
Command add_keys_command(CLI::App& app);
Command add_usage_command(CLI::App& app);
Command add_cost_command(CLI::App& app);
Command add_finetune_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_quantize_command(CLI::App& app);
Command add_export_command(CLI::App& app);
Command add_privacy_command(CLI::App& app);

// Parses a JSON config file, which must hold an object; errors name the file
// (and nlohmann's line/column).
nlohmann::json read_config(const std::string& path);

// --resume, --stop-after, -q/--quiet and --profile FILE (with
// --profile-warmup, --profile-steps): what train, pretrain and finetune share
// to control a run.
struct RunControl {
  int64_t stop_after = 0;
  bool resume = false, quiet = false;
  std::string profile;  // Chrome trace path; "" : no profiling
  int64_t profile_warmup = 3, profile_steps = 5;
};
void add_run_control(CLI::App* cmd, RunControl& rc);

// The --profile hook of a run (train/profile_hook.h), when asked for:
// hooks() goes into the run's options, finish() after the run reports a
// window the run ended inside of.
struct RunProfile {
  explicit RunProfile(const RunControl& rc);
  std::vector<train::StepHook*> hooks() const;
  void finish();
  std::unique_ptr<train::ProfileHook> hook;
};
// --steps, --batch-size, --lr, --seed and --threads: the recipe overrides
// that train and pretrain share (the effective recipe, overrides applied, is
// what checkpoints and summary.json record).
struct RecipeOverrides {
  std::optional<int64_t> steps, batch_size;
  std::optional<double> lr;
  std::optional<uint64_t> seed;
  std::optional<int> threads;
  std::optional<std::string> precision;
};
void add_recipe_overrides(CLI::App* cmd, RecipeOverrides& o);
void apply_recipe_overrides(const RecipeOverrides& o, nlohmann::json& recipe);

// --kv-cache fp32|bf16 (generate, serve, cost): the KV cache's dtype, into
// `dtype`. Default fp32, the only one whose greedy tokens equal full
// recomputation's exactly; another value fails the parse naming the flag.
void add_kv_cache_option(CLI::App* cmd, DType& dtype);

// After a run that --stop-after interrupted: where --resume continues from.
void print_stopped(const std::string& out_dir, int64_t steps);

// --data, else $TESSERA_DATA (plus the recipe's "data.dataset" subfolder when it exists there).
std::string resolve_data(const std::string& flag, const nlohmann::json& data_section);

}  // namespace tessera::cli
