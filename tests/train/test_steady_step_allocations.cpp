// No allocation inside a steady training step (issue 14): once the first steps
// have filled the caching allocator's free lists, a step of the same shapes
// takes every tensor's storage from them. Counted by the CPU allocator's
// system_allocs (core/allocator.h) between a step's step_begin and step_end
// hooks, for a small GPT (the pretrain objective, with dropout and gradient
// accumulation) and for image classifiers (the CNN and ViT recipes' models),
// at 2 threads so the parallel kernels' paths are covered too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/core/allocator.h"
#include "tessera/lm/pretrain.h"
#include "tessera/tessera.h"
#include "tessera/train/trainer.h"
#include "train_test_data.h"

using namespace tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Records how many blocks each step took from the system allocator. Starts
// from an empty cache (earlier tests in this process leave blocks of the same
// sizes behind), so the first step must reach the system allocator.
class SystemAllocsPerStep : public train::StepHook {
 public:
  SystemAllocsPerStep() { allocator_for(cpu_device()).empty_cache(); }
  void step_begin(const train::StepContext&) override { before_ = allocator_for(cpu_device()).stats().system_allocs; }
  void step_end(const train::StepContext& ctx) override {
    per_step.emplace_back(ctx.step, allocator_for(cpu_device()).stats().system_allocs - before_);
  }
  // The steps after `warmup` that reached the system allocator, as "step N: K" (empty when none did).
  std::string misses_after(int64_t warmup) const {
    std::ostringstream s;
    for (auto [step, n] : per_step)
      if (step > warmup && n > 0) s << "step " << step << ": " << n << " system allocations; ";
    return s.str();
  }
  std::vector<std::pair<int64_t, uint64_t>> per_step;

 private:
  uint64_t before_ = 0;
};

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tessera_steady_alloc_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

// Random 16x16 images with labels (learnability is irrelevant here: only the shapes matter).
std::shared_ptr<data::TensorDataset> images(int64_t n, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> y(n);
  for (int64_t i = 0; i < n; ++i) y[i] = i % 10;
  return std::make_shared<data::TensorDataset>(randn({n, 1, 16, 16}, g), from_vector<int64_t>(y, {n}), 10);
}

void expect_steady_image_steps(const std::string& name, const std::string& model_json) {
  // 64 images in batches of 8: the epoch's last batch is full, so every step has the same shapes.
  json r = json::parse(R"({
    "task": "classification",
    "optimizer": {"type": "adamw", "lr": 0.001, "weight_decay": 0.01},
    "schedule": {"type": "cosine", "warmup_steps": 2},
    "train": {"steps": 10, "batch_size": 8, "clip_grad_norm": 1.0, "log_every": 1, "seed": 0, "threads": 2,
              "checkpoint": {"keep_last": 1}}
  })");
  r["model"] = json::parse(model_json);
  train::TrainData d;
  d.train = images(64, 1);
  d.validation = images(8, 2);
  const fs::path out = scratch(name);
  SystemAllocsPerStep counter;
  train::TrainerOptions o;
  o.quiet = true;
  o.hooks = {&counter};
  train::Trainer(r.dump(), d, out.string(), o).run();
  ASSERT_EQ(counter.per_step.size(), 10u);
  EXPECT_GT(counter.per_step[0].second, 0u) << "the first step must fill the cache (is the counter wired?)";
  EXPECT_EQ(counter.misses_after(4), "") << name << ": a steady step allocated tensor storage";
  fs::remove_all(out);
}

}  // namespace

TEST(SteadyStepAllocations, SmallGptPretrainStepTakesEveryBlockFromTheCache) {
  const fs::path dir = scratch("gpt");
  train_test::prepare_corpus(dir / "corpus", (dir / "data").string());
  json r = train_test::pretrain_recipe();  // dropout 0.1, grad_accum 2, clipping
  r["train"]["steps"] = 12;
  r["train"]["eval_every"] = 0;
  r["train"]["threads"] = 2;
  SystemAllocsPerStep counter;
  lm::PretrainOptions o;
  o.quiet = true;
  o.hooks = {&counter};
  lm::pretrain(r.dump(), (dir / "data").string(), (dir / "run").string(), o);
  ASSERT_EQ(counter.per_step.size(), 12u);
  EXPECT_GT(counter.per_step[0].second, 0u) << "the first step must fill the cache (is the counter wired?)";
  EXPECT_EQ(counter.misses_after(3), "") << "a steady GPT pretraining step allocated tensor storage";
  fs::remove_all(dir);
}

TEST(SteadyStepAllocations, CnnStepTakesEveryBlockFromTheCache) {
  expect_steady_image_steps("cnn", R"({"type": "cnn", "channels": [4, 8], "kernel_size": 3, "hidden": 16,
                                       "dropout": 0.5})");
}

TEST(SteadyStepAllocations, VitStepTakesEveryBlockFromTheCache) {
  expect_steady_image_steps("vit", R"({"type": "vit", "patch_size": 4, "dim": 16, "depth": 2, "heads": 2,
                                       "mlp_dim": 32, "dropout": 0.1})");
}
