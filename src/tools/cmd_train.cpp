// `tessera train`: a JSON recipe plus flag overrides -> Trainer (train/trainer.h).
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli_common.h"
#include "tessera/tessera.h"
#include "tessera/train/data_source.h"
#include "tessera/train/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::cli {
namespace {

struct TrainArgs {
  std::string config, data, out;
  std::optional<int64_t> epochs;
  RecipeOverrides overrides;
  RunControl run;
};

int run_train(const TrainArgs& a) {
  json cfg = read_config(a.config);
  // Flags override the recipe; the effective recipe is what checkpoints and summary.json record.
  if (a.epochs) cfg["train"]["epochs"] = *a.epochs, cfg["train"]["steps"] = 0;
  apply_recipe_overrides(a.overrides, cfg);
  json data_section = cfg.value("data", json::object());
  std::string data_path = resolve_data(a.data, data_section);
  uint64_t seed = cfg.contains("train") ? cfg["train"].value("seed", uint64_t{0}) : 0;
  bool classification = cfg.value("task", std::string("classification")) == "classification";
  if (a.overrides.threads) set_num_threads(*a.overrides.threads);
  auto data = train::load_train_data(data_section.dump(), data_path, seed, classification);
  RunProfile profile(a.run);
  train::Trainer trainer(cfg.dump(), data, a.out,
                         {.resume = a.run.resume, .quiet = a.run.quiet, .stop_after_steps = a.run.stop_after,
                          .hooks = profile.hooks()});
  auto res = trainer.run();
  profile.finish();
  if (res.stop_reason == "interrupted") {
    print_stopped(a.out, res.steps);
  } else {
    std::cout << "run finished (" << res.stop_reason << ", " << res.steps << " steps); summary: "
              << (fs::path(a.out) / "summary.json").string() << "\n";
  }
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto ta = std::make_shared<TrainArgs>();
  auto* train = app.add_subcommand("train", "Train a model from a JSON recipe (see examples/)");
  train->add_option("-c,--config", ta->config, "recipe file (JSON)")->required();
  train->add_option("-d,--data", ta->data, "data folder (idx) or table file (csv); default: $TESSERA_DATA");
  train->add_option("-o,--out", ta->out, "output folder: metrics.jsonl, summary.json, checkpoints/")->required();
  train->add_option("--epochs", ta->epochs, "override train.epochs (and clear train.steps)");
  add_recipe_overrides(train, ta->overrides);
  add_run_control(train, ta->run);

  return {train, [ta] { return run_train(*ta); }};
}

}  // namespace tessera::cli
