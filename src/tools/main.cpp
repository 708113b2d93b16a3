// The `tessera` command-line tool: `train` and `eval` (more subcommands arrive
// with later issues). Errors become one line on stderr and a non-zero exit,
// never a stack trace: 2 for usage errors, 1 for failures while running.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tessera/io/atomic_file.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/data_source.h"
#include "tessera/train/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct TrainArgs {
  std::string config, data, out;
  std::optional<int64_t> epochs, steps, batch_size;
  std::optional<double> lr;
  std::optional<uint64_t> seed;
  std::optional<int> threads;
  int64_t stop_after = 0;
  bool resume = false, quiet = false;
};

struct EvalArgs {
  std::string checkpoint, data, out;
  std::optional<int64_t> batch_size;
  std::optional<int> threads;
};

json read_config(const std::string& path) {
  std::ifstream in(path);
  TSR_CHECK(in.good(), tessera::Error, "cannot read config file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    // nlohmann's message holds the line and column.
    throw tessera::Error("config file '" + path + "' is not valid JSON: " + e.what());
  }
}

// --data, else $TESSERA_DATA (plus the recipe's "data.dataset" subfolder when it exists there).
std::string resolve_data(const std::string& flag, const json& data_section) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("TESSERA_DATA");
  TSR_CHECK(env && *env, tessera::Error, "no data given: pass --data PATH or set TESSERA_DATA");
  std::string base = env;
  if (data_section.is_object() && data_section.contains("dataset") && data_section["dataset"].is_string()) {
    fs::path sub = fs::path(base) / data_section["dataset"].get<std::string>();
    if (fs::exists(sub)) return sub.string();
  }
  return base;
}

int run_train(const TrainArgs& a) {
  json cfg = read_config(a.config);
  TSR_CHECK(cfg.is_object(), tessera::Error, "config file '", a.config, "' must hold a JSON object");
  // Flags override the recipe; the effective recipe is what checkpoints and summary.json record.
  if (a.epochs) cfg["train"]["epochs"] = *a.epochs, cfg["train"]["steps"] = 0;
  if (a.steps) cfg["train"]["steps"] = *a.steps;
  if (a.batch_size) cfg["train"]["batch_size"] = *a.batch_size;
  if (a.lr) cfg["optimizer"]["lr"] = *a.lr;
  if (a.seed) cfg["train"]["seed"] = *a.seed;
  if (a.threads) cfg["train"]["threads"] = *a.threads;
  json data_section = cfg.value("data", json::object());
  std::string data_path = resolve_data(a.data, data_section);
  uint64_t seed = cfg.contains("train") ? cfg["train"].value("seed", uint64_t{0}) : 0;
  bool classification = cfg.value("task", std::string("classification")) == "classification";
  if (a.threads) tessera::set_num_threads(*a.threads);
  auto data = tessera::train::load_train_data(data_section.dump(), data_path, seed, classification);
  tessera::train::Trainer trainer(cfg.dump(), data, a.out, {.resume = a.resume, .quiet = a.quiet, .stop_after_steps = a.stop_after});
  auto res = trainer.run();
  if (res.stop_reason == "interrupted") {
    std::cout << "stopped after step " << res.steps << " (--stop-after); continue with --resume from "
              << tessera::train::checkpoint_dir(a.out, res.steps) << "\n";
  } else {
    std::cout << "run finished (" << res.stop_reason << ", " << res.steps << " steps); summary: "
              << (fs::path(a.out) / "summary.json").string() << "\n";
  }
  return 0;
}

int run_eval(const EvalArgs& a) {
  if (a.threads) tessera::set_num_threads(*a.threads);
  auto ck = tessera::train::load_checkpoint_model(a.checkpoint);
  json data_section = json::parse(ck.data_json);
  std::string data_path = resolve_data(a.data, data_section);
  bool classification = ck.task == "classification";
  auto data = tessera::train::load_eval_data(data_section.dump(), data_path, ck.seed, classification, ck.data_state_json);
  json recipe = json::parse(ck.recipe_json);
  int64_t bs = a.batch_size.value_or(
      recipe.contains("train") ? recipe["train"].value("eval_batch_size", int64_t{512}) : int64_t{512});
  auto names = data.class_names.empty() ? ck.class_names : data.class_names;
  auto res = tessera::train::evaluate(*ck.model, *data.test, classification, bs, names);
  std::cout << "checkpoint step " << ck.step << ", " << data.test->size() << " test examples\n" << res.table << "\n";
  std::string out_dir = a.out.empty() ? a.checkpoint : a.out;
  fs::create_directories(out_dir);
  std::string path = (fs::path(out_dir) / "eval_report.json").string();
  tessera::io::write_file_atomic(path, res.json + "\n");
  std::cout << "report: " << path << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Tessera: train and evaluate neural networks on the CPU", "tessera"};
  app.set_version_flag("--version", "tessera 0.1.0");
  app.require_subcommand(1);

  TrainArgs ta;
  auto* train = app.add_subcommand("train", "Train a model from a JSON recipe (see examples/)");
  train->add_option("-c,--config", ta.config, "recipe file (JSON)")->required();
  train->add_option("-d,--data", ta.data, "data folder (idx) or table file (csv); default: $TESSERA_DATA");
  train->add_option("-o,--out", ta.out, "output folder: metrics.jsonl, summary.json, checkpoints/")->required();
  train->add_option("--epochs", ta.epochs, "override train.epochs (and clear train.steps)");
  train->add_option("--steps", ta.steps, "override train.steps");
  train->add_option("--batch-size", ta.batch_size, "override train.batch_size");
  train->add_option("--lr", ta.lr, "override optimizer.lr");
  train->add_option("--seed", ta.seed, "override train.seed");
  train->add_option("--threads", ta.threads, "override train.threads (0 = all cores)");
  train->add_flag("--resume", ta.resume, "continue from the newest checkpoint in --out");
  train->add_flag("-q,--quiet", ta.quiet, "no progress output");
  train->add_option("--stop-after", ta.stop_after,
                    "checkpoint and exit after this step, as if interrupted (to test --resume)");

  EvalArgs ea;
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint on its recipe's test data");
  eval->add_option("--checkpoint", ea.checkpoint, "checkpoint folder (step-N) or a run's --out folder")->required();
  eval->add_option("-d,--data", ea.data, "data folder or table file; default: $TESSERA_DATA");
  eval->add_option("-o,--out", ea.out, "folder for eval_report.json (default: the checkpoint folder)");
  eval->add_option("--batch-size", ea.batch_size, "evaluation batch size");
  eval->add_option("--threads", ea.threads, "threads (0 = all cores)");

  std::string sub = "";
  if (argc < 2) {
    std::cout << app.help();
    return 0;
  }
  std::string first = argv[1];
  if (!first.empty() && first[0] != '-' && first != "train" && first != "eval") {
    std::cerr << "tessera: unknown command '" << first << "' (commands: train, eval; see tessera --help)\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = train->parsed() ? " train" : eval->parsed() ? " eval" : "";
    std::cerr << "tessera" << where << ": " << e.what() << " (see tessera" << where << " --help)\n";
    return 2;
  }
  try {
    if (train->parsed()) {
      sub = "train";
      return run_train(ta);
    }
    sub = "eval";
    return run_eval(ea);
  } catch (const tessera::Error& e) {
    std::cerr << "tessera " << sub << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tessera " << sub << ": " << e.what() << "\n";
    return 1;
  }
}
