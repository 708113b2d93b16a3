// Shared pieces of the `tessera` subcommands: the Command registry entry,
// reading a JSON recipe with a useful error, the run-control flags of the
// training commands, and the default data folder.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

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

// Parses a JSON config file, which must hold an object; errors name the file
// (and nlohmann's line/column).
nlohmann::json read_config(const std::string& path);

// --resume, --stop-after and -q/--quiet: what train, pretrain and finetune
// share to control a run.
struct RunControl {
  int64_t stop_after = 0;
  bool resume = false, quiet = false;
};
void add_run_control(CLI::App* cmd, RunControl& rc);
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

// After a run that --stop-after interrupted: where --resume continues from.
void print_stopped(const std::string& out_dir, int64_t steps);

// --data, else $TESSERA_DATA (plus the recipe's "data.dataset" subfolder when it exists there).
std::string resolve_data(const std::string& flag, const nlohmann::json& data_section);

}  // namespace tessera::cli
