// `tessera eval`: a checkpoint + data -> a report on the terminal and as JSON.
//   - a `tessera train` checkpoint: its recipe's test data (classification/regression);
//   - a `tessera finetune` classifier: a labeled text file (accuracy, P/R/F1 per
//     class and averaged, confusion matrix; --predictions writes each example);
//   - a language model (`tessera pretrain`, GPT or MLM BERT): loss and
//     perplexity on a held-out text file.
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>

#include "cli_common.h"
#include "tessera/checkpoint/classifier.h"
#include "tessera/checkpoint/inspect.h"
#include "tessera/checkpoint/train_model.h"
#include "tessera/data/text_table.h"
#include "tessera/io/atomic_file.h"
#include "tessera/lm/evaluate.h"
#include "tessera/metrics/report.h"
#include "tessera/tessera.h"
#include "tessera/train/data_source.h"
#include "tessera/train/finetune.h"
#include "tessera/train/trainer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::cli {
namespace {

struct EvalArgs {
  std::string checkpoint, data, out, predictions, base;
  std::optional<std::string> format, text_column, label_column;
  std::optional<int64_t> batch_size, seq_len;
  std::optional<int> threads;
};

void write_report(const std::string& out_dir, const std::string& json_text) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  TSR_CHECK(!ec, Error, "eval: cannot create ", out_dir, ": ", ec.message());
  std::string path = (fs::path(out_dir) / "eval_report.json").string();
  io::write_file_atomic(path, json_text + "\n");
  std::cout << "report: " << path << "\n";
}

// One line per example: id, gold, predicted, then one probability per label.
void write_predictions(const std::string& path, const std::vector<data::TextExample>& rows,
                       const std::vector<std::string>& labels, const std::vector<int64_t>& pred,
                       const std::vector<std::vector<float>>& probs) {
  std::string s = "id\tgold\tpredicted";
  for (const auto& l : labels) s += "\tp_" + l;
  s += "\n";
  char buf[32];
  for (size_t i = 0; i < rows.size(); ++i) {
    s += rows[i].id + "\t" + rows[i].label + "\t" + labels[static_cast<size_t>(pred[i])];
    for (float p : probs[i]) {
      std::snprintf(buf, sizeof buf, "\t%.6f", static_cast<double>(p));
      s += buf;
    }
    s += "\n";
  }
  io::write_file_atomic(path, s);
  std::cout << "predictions: " << path << " (" << rows.size() << " lines)\n";
}

int run_classifier_eval(const EvalArgs& a, const checkpoint::Found& found) {
  TSR_CHECK(!a.data.empty(), Error, "eval: a classifier needs --data FILE (labeled text)");
  auto c = checkpoint::load_classifier(found, a.base);
  data::TextTableOptions to;
  to.format = a.format.value_or(c.format);
  to.text_column = a.text_column.value_or(c.text_column);
  to.label_column = a.label_column.value_or(c.label_column);
  auto rows = data::read_text_table(a.data, to);
  std::map<std::string, int64_t> label_id;
  for (size_t i = 0; i < c.labels.size(); ++i) label_id[c.labels[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> gold;
  std::vector<std::string> texts;
  for (const auto& r : rows) {
    auto it = label_id.find(r.label);
    if (it == label_id.end()) {
      std::string known;
      for (const auto& l : c.labels) known += (known.empty() ? "" : ", ") + l;
      throw Error(a.data + ":" + std::to_string(r.line) + ": label '" + r.label + "' is not one of the classifier's labels (" +
                  known + ")");
    }
    gold.push_back(it->second);
    texts.push_back(r.text);
  }
  auto probs = train::predict_probabilities(c, texts, a.batch_size.value_or(64));
  std::vector<int64_t> pred(rows.size());
  double nll = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& p = probs[i];
    pred[i] = static_cast<int64_t>(std::max_element(p.begin(), p.end()) - p.begin());  // ties: the lower id
    nll -= std::log(std::max(static_cast<double>(p[static_cast<size_t>(gold[i])]), 1e-45));
  }
  metrics::ReportOptions ro;
  ro.class_names = c.labels;
  for (size_t i = 0; i < c.labels.size(); ++i) ro.scoring.labels.push_back(static_cast<int64_t>(i));
  auto rep = metrics::classification_report(gold, pred, static_cast<int64_t>(c.labels.size()), ro);
  rep.loss = nll / static_cast<double>(std::max<size_t>(1, rows.size()));
  std::cout << c.dir << ": " << rows.size() << " examples from " << a.data << "\n\n"
            << rep.to_table() << "\nconfusion matrix (rows: gold, columns: predicted)\n"
            << rep.confusion.to_string(c.labels) << "\n";
  json j = json::parse(rep.to_json());
  j["checkpoint"] = c.dir;
  j["data"] = a.data;
  write_report(a.out.empty() ? c.dir : a.out, j.dump(2));
  if (!a.predictions.empty()) write_predictions(a.predictions, rows, c.labels, pred, probs);
  return 0;
}

int run_lm_eval(const EvalArgs& a) {
  TSR_CHECK(!a.data.empty(), Error, "eval: a language model needs --data FILE (held-out text)");
  auto r = lm::evaluate_lm(a.checkpoint, a.data, a.seq_len.value_or(0), a.batch_size.value_or(8));
  std::cout << r.table << "\n";
  std::string dir = a.out;
  if (dir.empty()) dir = fs::is_directory(a.checkpoint) ? a.checkpoint : fs::path(a.checkpoint).parent_path().string();
  write_report(dir, r.json);
  return 0;
}

int run_train_eval(const EvalArgs& a, const checkpoint::Found& found) {
  auto ck = checkpoint::load_train_model(found);
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
  write_report(a.out.empty() ? a.checkpoint : a.out, res.json);
  return 0;
}

int run_eval(const EvalArgs& a) {
  if (a.threads) set_num_threads(*a.threads);
  const checkpoint::Found found = checkpoint::inspect(a.checkpoint);
  switch (found.format) {
    case checkpoint::Format::TesseraClassifier:
      return run_classifier_eval(a, found);
    case checkpoint::Format::TesseraGPT:
    case checkpoint::Format::TesseraMaskedLM:
    case checkpoint::Format::HfGPT2:
    case checkpoint::Format::Gguf:
      return run_lm_eval(a);
    case checkpoint::Format::TesseraTrainModel:
      return run_train_eval(a, found);
    case checkpoint::Format::HfBert:
      break;
  }
  throw Error("eval: " + a.checkpoint + " is " + checkpoint::describe(found.format) +
              ", a base model: fine-tune it (tessera finetune --base " + a.checkpoint +
              ") and evaluate the classifier");
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto ea = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint: a trained model, a fine-tuned classifier or a language model");
  eval->add_option("--checkpoint", ea->checkpoint,
                   "checkpoint folder or run folder (tessera train, finetune or pretrain; Hugging Face GPT-2)")
      ->required();
  eval->add_option("-d,--data", ea->data,
                   "train checkpoints: data folder/table (default $TESSERA_DATA); classifiers: labeled text file; "
                   "language models: a text file");
  eval->add_option("-o,--out", ea->out, "folder for eval_report.json (default: the checkpoint folder)");
  eval->add_option("--predictions", ea->predictions, "classifiers: write id, gold, predicted, probabilities per line (TSV)");
  eval->add_option("--format", ea->format, "classifiers: data format (default: the one it was trained with)");
  eval->add_option("--text-column", ea->text_column, "classifiers: text column (default: as trained)");
  eval->add_option("--label-column", ea->label_column, "classifiers: label column (default: as trained)");
  eval->add_option("--base", ea->base, "frozen/LoRA classifiers: the base model folder, if it moved");
  eval->add_option("--seq-len", ea->seq_len, "language models: window length (default: the model's context)");
  eval->add_option("--batch-size", ea->batch_size, "evaluation batch size");
  eval->add_option("--threads", ea->threads, "threads (0 = all cores)");
  return {eval, [ea] { return run_eval(*ea); }};
}

}  // namespace tessera::cli
