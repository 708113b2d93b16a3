// Helpers shared by the subcommands (see cli_common.h).
#include "cli_common.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tessera/checkpoint/folders.h"
#include "tessera/core/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::cli {

json read_config(const std::string& path) {
  std::ifstream in(path);
  TSR_CHECK(in.good(), Error, "cannot read config file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  json cfg;
  try {
    cfg = json::parse(ss.str());
  } catch (const json::exception& e) {
    // nlohmann's message holds the line and column.
    throw Error("config file '" + path + "' is not valid JSON: " + e.what());
  }
  TSR_CHECK(cfg.is_object(), Error, "config file '", path, "' must hold a JSON object");
  return cfg;
}

void add_run_control(CLI::App* cmd, RunControl& rc) {
  cmd->add_flag("--resume", rc.resume, "continue from the newest checkpoint in --out");
  cmd->add_flag("-q,--quiet", rc.quiet, "no progress output");
  cmd->add_option("--stop-after", rc.stop_after,
                  "checkpoint and exit after this step, as if interrupted (to test --resume)");
  cmd->add_option("--profile", rc.profile,
                  "profile a window of steps: write a Chrome trace (ui.perfetto.dev, chrome://tracing) to this file "
                  "and print the table of time by op, sorted by self time");
  cmd->add_option("--profile-warmup", rc.profile_warmup, "steps before the profiled window (default 3)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--profile-steps", rc.profile_steps, "steps in the profiled window (default 5)")
      ->check(CLI::PositiveNumber);
}

RunProfile::RunProfile(const RunControl& rc) {
  if (rc.profile.empty()) return;
  hook = std::make_unique<train::ProfileHook>(
      train::ProfileOptions{.trace_file = rc.profile, .warmup_steps = rc.profile_warmup, .steps = rc.profile_steps});
}

std::vector<train::StepHook*> RunProfile::hooks() const {
  if (!hook) return {};
  return {hook.get()};
}

void RunProfile::finish() {
  if (hook) hook->finish();
}

void add_recipe_overrides(CLI::App* cmd, RecipeOverrides& o) {
  cmd->add_option("--steps", o.steps, "override train.steps");
  cmd->add_option("--batch-size", o.batch_size, "override train.batch_size");
  cmd->add_option("--lr", o.lr, "override optimizer.lr");
  cmd->add_option("--seed", o.seed, "override train.seed");
  cmd->add_option("--threads", o.threads, "override train.threads (0 = all cores)");
  cmd->add_option("--precision", o.precision, "override train.precision: fp32, or bf16 (GEMMs in bf16, fp32 weights)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
}

void add_kv_cache_option(CLI::App* cmd, DType& dtype) {
  cmd->add_option_function<std::string>(
         "--kv-cache",
         [&dtype](const std::string& v) {
           if (v == "fp32") dtype = DType::F32;
           else if (v == "bf16") dtype = DType::BF16;
           else throw CLI::ValidationError("--kv-cache", "must be fp32 or bf16, got '" + v + "'");
         },
         "KV cache dtype: fp32 (default: greedy tokens equal full recomputation exactly) or bf16 (half the cache "
         "memory and the bytes each decode step reads; keys/values rounded to bf16, attention math in fp32)")
      ->type_name("fp32|bf16");
}

void apply_recipe_overrides(const RecipeOverrides& o, json& recipe) {
  if (o.steps) recipe["train"]["steps"] = *o.steps;
  if (o.batch_size) recipe["train"]["batch_size"] = *o.batch_size;
  if (o.lr) recipe["optimizer"]["lr"] = *o.lr;
  if (o.seed) recipe["train"]["seed"] = *o.seed;
  if (o.threads) recipe["train"]["threads"] = *o.threads;
  if (o.precision) recipe["train"]["precision"] = *o.precision;
}

void print_stopped(const std::string& out_dir, int64_t steps) {
  std::cout << "stopped after step " << steps << " (--stop-after); continue with --resume from "
            << checkpoint::step_dir(out_dir, steps) << "\n";
}

std::string resolve_data(const std::string& flag, const json& data_section) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("TESSERA_DATA");
  TSR_CHECK(env && *env, Error, "no data given: pass --data PATH or set TESSERA_DATA");
  std::string base = env;
  if (data_section.is_object() && data_section.contains("dataset") && data_section["dataset"].is_string()) {
    fs::path sub = fs::path(base) / data_section["dataset"].get<std::string>();
    if (fs::exists(sub)) return sub.string();
  }
  return base;
}

}  // namespace tessera::cli
