// Shared pieces of the `tessera` subcommands: the Command registry entry,
// reading a JSON recipe with a useful error, and the default data folder.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
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

// Parses a JSON config file; errors name the file (and nlohmann's line/column).
nlohmann::json read_config(const std::string& path);

// --data, else $TESSERA_DATA (plus the recipe's "data.dataset" subfolder when it exists there).
std::string resolve_data(const std::string& flag, const nlohmann::json& data_section);

}  // namespace tessera::cli
