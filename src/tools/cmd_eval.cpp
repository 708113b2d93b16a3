// `tessera eval`: rebuild a checkpoint's model and its recipe's test data, print and save the report.
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli_common.h"
#include "tessera/io/atomic_file.h"
#include "tessera/tessera.h"
#include "tessera/train/checkpoint.h"
#include "tessera/train/data_source.h"
#include "tessera/train/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::cli {
namespace {

struct EvalArgs {
  std::string checkpoint, data, out;
  std::optional<int64_t> batch_size;
  std::optional<int> threads;
};

int run_eval(const EvalArgs& a) {
  if (a.threads) set_num_threads(*a.threads);
  auto ck = train::load_checkpoint_model(a.checkpoint);
  json data_section = json::parse(ck.data_json);
  std::string data_path = resolve_data(a.data, data_section);
  bool classification = ck.task == "classification";
  auto data = train::load_eval_data(data_section.dump(), data_path, ck.seed, classification, ck.data_state_json);
  json recipe = json::parse(ck.recipe_json);
  int64_t bs = a.batch_size.value_or(
      recipe.contains("train") ? recipe["train"].value("eval_batch_size", int64_t{512}) : int64_t{512});
  auto names = data.class_names.empty() ? ck.class_names : data.class_names;
  auto res = train::evaluate(*ck.model, *data.test, classification, bs, names);
  std::cout << "checkpoint step " << ck.step << ", " << data.test->size() << " test examples\n" << res.table << "\n";
  std::string out_dir = a.out.empty() ? a.checkpoint : a.out;
  fs::create_directories(out_dir);
  std::string path = (fs::path(out_dir) / "eval_report.json").string();
  io::write_file_atomic(path, res.json + "\n");
  std::cout << "report: " << path << "\n";
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto ea = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint on its recipe's test data");
  eval->add_option("--checkpoint", ea->checkpoint, "checkpoint folder (step-N) or a run's --out folder")->required();
  eval->add_option("-d,--data", ea->data, "data folder or table file; default: $TESSERA_DATA");
  eval->add_option("-o,--out", ea->out, "folder for eval_report.json (default: the checkpoint folder)");
  eval->add_option("--batch-size", ea->batch_size, "evaluation batch size");
  eval->add_option("--threads", ea->threads, "threads (0 = all cores)");

  return {eval, [ea] { return run_eval(*ea); }};
}

}  // namespace tessera::cli
