// Trainer: a tiny model learns, resume is bit-exact, a NaN loss stops the run
// and leaves the last checkpoint loadable, checkpoints are pruned.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "tessera/io/atomic_file.h"

#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"
#include "tessera/checkpoint/folders.h"
#include "tessera/checkpoint/train_model.h"
#include "tessera/train/trainer.h"

using namespace tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tessera_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

// Two Gaussian blobs in 4-D, labels 0/1 (well separated: learnable in a few steps).
std::shared_ptr<data::TensorDataset> blobs(int64_t n, uint64_t seed) {
  Generator g(seed);
  Tensor x = randn({n, 4}, g);
  std::vector<int64_t> y(n);
  auto xv = x.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 2;
    for (int64_t f = 0; f < 4; ++f) xv[i * 4 + f] += y[i] ? 2.0f : -2.0f;
  }
  return std::make_shared<data::TensorDataset>(from_vector<float>(xv, {n, 4}), from_vector<int64_t>(y, {n}), 2);
}

json recipe() {
  return json::parse(R"({
    "task": "classification",
    "model": {"type": "mlp", "hidden": [16], "dropout": 0.2},
    "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.01},
    "schedule": {"type": "cosine", "warmup_steps": 3},
    "train": {"steps": 12, "batch_size": 8, "grad_accum": 2, "clip_grad_norm": 1.0, "log_every": 1,
              "eval_every": 4, "seed": 7, "threads": 1, "checkpoint": {"every": 2, "keep_last": 2}}
  })");
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

train::TrainData tiny_data() {
  train::TrainData d;
  d.train = blobs(40, 1);
  d.validation = blobs(16, 2);
  d.test = blobs(16, 3);
  return d;
}

// Serves NaN inputs from the `bad`-th get_batch call on (the loader calls it once per batch, in order).
class PoisonedDataset : public data::Dataset {
 public:
  PoisonedDataset(std::shared_ptr<data::TensorDataset> base, int64_t bad) : base_(std::move(base)), bad_(bad) {}
  int64_t size() const override { return base_->size(); }
  data::Batch get_batch(const std::vector<int64_t>& idx) const override {
    data::Batch b = base_->get_batch(idx);
    if (calls_++ >= bad_) b.inputs.fill_(std::nan(""));
    return b;
  }
  Shape example_shape() const override { return base_->example_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }

 private:
  std::shared_ptr<data::TensorDataset> base_;
  int64_t bad_;
  mutable std::atomic<int64_t> calls_{0};
};

}  // namespace

TEST(Trainer, TinyModelLearns) {
  std::string out = scratch("learn");
  json r = recipe();
  r["model"]["dropout"] = 0.0;
  r["train"]["steps"] = 30;
  train::Trainer t(r.dump(), tiny_data(), out, {.quiet = true});
  auto res = t.run();
  EXPECT_EQ(res.steps, 30);
  EXPECT_EQ(res.stop_reason, "completed");
  auto lines = read_jsonl(out + "/metrics.jsonl");
  double first = -1, last = -1;
  for (auto& l : lines) {
    if (l["type"] == "train") {
      if (first < 0) first = l["loss"];
      last = l["loss"];
    }
  }
  EXPECT_LT(last, 0.5 * first) << "loss did not fall: " << first << " -> " << last;
  json summary = json::parse(std::ifstream(out + "/summary.json"));
  EXPECT_GE(summary["test_accuracy"].get<double>(), 0.9);
  EXPECT_GT(summary["samples_per_second"].get<double>(), 0.0);
  EXPECT_TRUE(summary.contains("wall_seconds"));
  EXPECT_TRUE(summary["config"].is_object());
  fs::remove_all(out);
}

TEST(Trainer, ResumeIsBitExact) {
  std::string a = scratch("straight"), b = scratch("resumed");
  {
    train::Trainer t(recipe().dump(), tiny_data(), a, {.quiet = true});
    t.run();
  }
  {
    train::Trainer t(recipe().dump(), tiny_data(), b, {.quiet = true, .stop_after_steps = 5});
    auto res = t.run();
    EXPECT_EQ(res.stop_reason, "interrupted");
    EXPECT_EQ(res.steps, 5);
  }
  train::Trainer t(recipe().dump(), tiny_data(), b, {.resume = true, .quiet = true});
  auto res = t.run();
  EXPECT_EQ(res.steps, 12);
  auto wa = io::load_safetensors(checkpoint::step_dir(a, 12) + "/model.safetensors").tensors;
  auto wb = io::load_safetensors(checkpoint::step_dir(b, 12) + "/model.safetensors").tensors;
  ASSERT_EQ(wa.size(), wb.size());
  for (auto& [name, ta] : wa) {
    const Tensor& tb = wb.at(name);
    ASSERT_EQ(ta.shape(), tb.shape()) << name;
    EXPECT_EQ(std::memcmp(ta.contiguous().raw_data(), tb.contiguous().raw_data(), ta.numel() * dtype_size(ta.dtype())), 0)
        << name << " differs after resume";
  }
  // The log reads as one run: every train step once.
  int64_t train_lines = 0;
  for (auto& l : read_jsonl(b + "/metrics.jsonl")) train_lines += l["type"] == "train";
  EXPECT_EQ(train_lines, 12);
  // keep_last 2 (+ the best, none here): step-10 and step-12.
  EXPECT_EQ(checkpoint::list_steps(b), (std::vector<int64_t>{10, 12}));
  json cfg = json::parse(checkpoint::read_config(checkpoint::step_dir(b, 12)));
  EXPECT_EQ(cfg["format_version"], checkpoint::kFormatVersion);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsLastCheckpoint) {
  std::string out = scratch("nan");
  json r = recipe();
  r["train"]["grad_accum"] = 1;
  r["train"]["eval_every"] = 100;
  train::TrainData d = tiny_data();
  d.train = std::make_shared<PoisonedDataset>(blobs(40, 1), 4);  // batches 0..3 fine, batch 4 (step 5) NaN
  train::Trainer t(r.dump(), d, out, {.quiet = true});
  try {
    t.run();
    FAIL() << "expected NonFiniteLossError";
  } catch (const train::NonFiniteLossError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("step 5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step-4"), std::string::npos) << msg;
  }
  EXPECT_EQ(checkpoint::latest_step(out), std::optional<int64_t>(4));
  auto w = io::load_safetensors(checkpoint::step_dir(out, 4) + "/model.safetensors").tensors;
  for (auto& [name, p] : w) {
    for (float v : p.to_vector<float>()) ASSERT_TRUE(std::isfinite(v)) << name;
  }
  json summary = json::parse(std::ifstream(out + "/summary.json"));
  EXPECT_EQ(summary["stop_reason"], "nonfinite_loss");
  fs::remove_all(out);
}

TEST(Trainer, EarlyStoppingAndBadConfig) {
  std::string out = scratch("early");
  json r = recipe();
  r["train"]["steps"] = 200;
  r["train"]["eval_every"] = 2;
  r["train"]["early_stopping"] = {{"metric", "accuracy"}, {"patience", 2}};
  train::Trainer t(r.dump(), tiny_data(), out, {.quiet = true});
  auto res = t.run();
  EXPECT_EQ(res.stop_reason, "early_stopping");
  EXPECT_LT(res.steps, 200);
  // The test metrics came from the best checkpoint, and `eval RUN_DIR` must load that one, not the newest.
  json summary = json::parse(std::ifstream(fs::path(out) / "summary.json"));
  int64_t best = summary.at("best_step");
  EXPECT_NE(best, res.steps);
  EXPECT_EQ(summary.at("tested_checkpoint_step").get<int64_t>(), best);
  auto ck = checkpoint::load_train_model(out);
  EXPECT_EQ(ck.step, best);
  auto ev = train::evaluate(*ck.model, *tiny_data().test, true);
  for (const auto& [k, v] : ev.scalars)
    if (k == "accuracy" || k == "loss") EXPECT_EQ(v, summary.at("test_" + k).get<double>()) << k;
  fs::remove_all(out);

  json bad = recipe();
  bad["train"]["batch_sise"] = 3;
  try {
    train::Trainer t2(bad.dump(), tiny_data(), out, {.quiet = true});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_sise"), std::string::npos) << e.what();
  }
}

namespace {
// SIGKILLs the process while the checkpoint of step 4 is being written (after
// its temp file is complete, just before the rename), the worst moment.
void kill_during_step4(const std::string& temp_path) {
  if (temp_path.find("tmp-step-4-") != std::string::npos) ::kill(::getpid(), SIGKILL);
}
}  // namespace

TEST(Trainer, KilledWhileCheckpointingKeepsPreviousAndResumesExactly) {
  std::string a = scratch("kill_straight"), b = scratch("kill_resumed");
  json r = recipe();
  {
    train::Trainer t(r.dump(), tiny_data(), a, {.quiet = true});
    t.run();
  }
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(30);  // never hang the suite
    io::testing::set_before_rename_hook(&kill_during_step4);
    try {
      train::Trainer t(r.dump(), tiny_data(), b, {.quiet = true});
      t.run();
    } catch (...) {
    }
    ::_exit(3);  // not reached when the hook fires
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  EXPECT_EQ(checkpoint::list_steps(b), (std::vector<int64_t>{2}));  // the torn step-4 is invisible
  train::Trainer t(r.dump(), tiny_data(), b, {.resume = true, .quiet = true});
  EXPECT_EQ(t.run().steps, 12);
  auto wa = io::load_safetensors(checkpoint::step_dir(a, 12) + "/model.safetensors").tensors;
  auto wb = io::load_safetensors(checkpoint::step_dir(b, 12) + "/model.safetensors").tensors;
  for (auto& [name, ta] : wa) {
    EXPECT_EQ(std::memcmp(ta.contiguous().raw_data(), wb.at(name).contiguous().raw_data(),
                          ta.numel() * dtype_size(ta.dtype())), 0)
        << name;
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, AnUnknownEarlyStoppingMetricNamesTheKey) {
  std::string out = scratch("badmetric");
  json r = recipe();
  r["train"]["steps"] = 4;
  r["train"]["early_stopping"] = {{"metric", "acc"}, {"patience", 2}};
  train::Trainer t(r.dump(), tiny_data(), out, {.quiet = true});
  try {
    t.run();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const char* part : {"train.early_stopping.metric", "'acc'", "accuracy"})
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
  fs::remove_all(out);
}

// "train.precision": bf16 learns as fp32 does and is recorded; a bad value names the key.
TEST(Trainer, Bf16PrecisionLearnsAndIsRecorded) {
  std::string out = scratch("bf16");
  json r = recipe();
  r["model"]["dropout"] = 0.0;
  r["train"]["steps"] = 30;
  r["train"]["precision"] = "bf16";
  train::Trainer t(r.dump(), tiny_data(), out, {.quiet = true});
  EXPECT_EQ(t.run().steps, 30);
  json summary = json::parse(std::ifstream(out + "/summary.json"));
  EXPECT_EQ(summary["precision"], "bf16");
  EXPECT_GE(summary["test_accuracy"].get<double>(), 0.9);
  fs::remove_all(out);
  r["train"]["precision"] = "int8";
  try {
    train::Trainer bad(r.dump(), tiny_data(), out, {.quiet = true});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision: unknown precision 'int8'"), std::string::npos) << e.what();
  }
}
