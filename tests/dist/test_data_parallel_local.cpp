// Data parallelism's pieces in one process (the 2-rank runs are CTest
// `data_parallel`): the autograd engine reports each leaf's final gradient
// once, during the backward; shards cover a batch in rank order; and the
// DataParallel hook in a world of one (collectives are copies) changes
// nothing: the same weights and optimizer state, bit for bit, plain and ZeRO-1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tessera/autograd/node.h"
#include "tessera/dist/data_parallel.h"
#include "tessera/dist/world.h"
#include "tessera/io/atomic_file.h"
#include "tessera/nn/layers.h"
#include "tessera/ops/activation.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/linalg.h"
#include "tessera/ops/loss.h"
#include "tessera/ops/sum.h"
#include "tessera/optim/adam.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/tessera.h"
#include "tessera/train/loop.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

std::vector<float> values(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<float>(c.data<float>(), c.data<float>() + c.numel());
}

}  // namespace

TEST(LeafGradReady, FiresOnceWhenTheGradientIsFinal) {
  Tensor w = from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor b = from_vector<float>({0.5, -0.5}, {2});
  Tensor unused = from_vector<float>({1}, {1});
  w.set_requires_grad(true), b.set_requires_grad(true), unused.set_requires_grad(true);
  Tensor x = from_vector<float>({1, -1, 2, 0, 1, 1}, {2, 3});
  std::map<TensorImpl*, int> calls;
  std::map<TensorImpl*, std::vector<float>> at_call;
  const std::map<TensorImpl*, Tensor> leaves = {{w.impl_ptr().get(), w}, {b.impl_ptr().get(), b}};
  {
    LeafGradReadyScope scope([&](TensorImpl* leaf) {
      ++calls[leaf];
      at_call[leaf] = values(leaves.at(leaf).grad());
    });
    // w feeds two products (its gradient is summed from both), b one.
    Tensor y = add(sum(matmul(x, w)), sum(mul(add(matmul(x, w), b), 2.0)));
    y.backward();
  }
  EXPECT_EQ(calls[w.impl_ptr().get()], 1);
  EXPECT_EQ(calls[b.impl_ptr().get()], 1);
  EXPECT_EQ(calls.count(unused.impl_ptr().get()), 0u) << "a leaf outside the graph is never reported";
  EXPECT_EQ(at_call[w.impl_ptr().get()], values(w.grad())) << "reported after both contributions were summed";
  EXPECT_EQ(at_call[b.impl_ptr().get()], values(b.grad()));
  // Outside a scope nothing is reported.
  Tensor y2 = sum(matmul(x, w));
  y2.backward();
  EXPECT_EQ(calls[w.impl_ptr().get()], 1);
}

TEST(DistShard, RowsSplitInRankOrderAndCoverTheBatch) {
  for (int size : {1, 2, 3, 5})
    for (int64_t n : {0, 1, 2, 7, 12, 13}) {
      int64_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < size; ++r) {
        dist::Range rg = dist::shard(n, r, size);
        EXPECT_EQ(rg.begin, next) << n << " rows, rank " << r << " of " << size;
        next = rg.end;
        smallest = std::min(smallest, rg.size()), largest = std::max(largest, rg.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1) << n << " rows over " << size;
    }
  EXPECT_EQ(dist::world().size, 1) << "a test binary is not started by mpirun";
  EXPECT_EQ(dist::shard(9).size(), 9);
}

namespace {

// y = relu(x W1) W2 on a fixed batch drawn from the step number.
class TwoLayerObjective : public train::Objective {
 public:
  TwoLayerObjective() : l1_(seq_.l1), l2_(seq_.l2) {}
  nn::Module& module() override { return seq_; }
  train::MicroBatchLoss next_loss() override {
    std::vector<float> xs, ys;
    for (int i = 0; i < 6; ++i) {
      for (int j = 0; j < 4; ++j) xs.push_back(static_cast<float>(((calls_ + 1) * (i + 2) * (j + 3)) % 7) - 3.0f);
      ys.push_back(static_cast<float>((calls_ + i) % 3) - 1.0f);
    }
    ++calls_;
    Tensor x = from_vector<float>(xs, {6, 4}), y = from_vector<float>(ys, {6, 1});
    return {mse_loss(l2_->forward(relu(l1_->forward(x))), y), 6, 0};
  }
  bool report_step(const train::StepStats&, bool due, const train::EvalResult*, train::RunLog&) override { return due; }
  std::string summary_json(const train::RunSummary&) const override { return "{}"; }
  void save_files(const std::string& dir, int64_t step) override {
    io::write_file_atomic(dir + "/config.json", nlohmann::json({{"format_version", 1}, {"step", step}}).dump());
  }
  std::string state_json() override { return "{}"; }
  void load(const std::string&, const std::string&, const std::string&) override {}

 private:
  struct TwoLayers : nn::Module {
    TwoLayers() : nn::Module("TwoLayers") {
      l1 = register_module("l1", std::make_shared<nn::Linear>(4, 8));
      l2 = register_module("l2", std::make_shared<nn::Linear>(8, 1));
    }
    std::shared_ptr<nn::Linear> l1, l2;
  } seq_;
  std::shared_ptr<nn::Linear> l1_, l2_;
  int64_t calls_ = 0;
};

struct RunResult {
  std::vector<std::vector<float>> weights;
  std::string optimizer_file;
  std::string summary;
};

RunResult run(int mode /* 0: no hook, 1: plain, 2: ZeRO-1 */) {
  manual_seed(5);
  TwoLayerObjective obj;
  optim::AdamW opt(obj.module().parameters(), {.lr = 0.01});
  optim::ConstantLR sched(opt);
  const fs::path out = fs::temp_directory_path() / ("tessera_dp_" + std::to_string(mode) + "_" + std::to_string(::getpid()));
  fs::remove_all(out);
  train::LoopConfig c;
  c.out_dir = out.string();
  c.total_steps = 4;
  c.grad_accum = 2;
  c.clip_grad_norm = 0.5;
  c.quiet = true;
  std::unique_ptr<dist::DataParallel> dp;
  if (mode > 0) {
    dist::DataParallelOptions o;
    o.shard_optimizer = mode == 2;
    o.bucket_mb = 2e-5;  // 5 floats: three buckets over the four parameters
    c.collective_steps = true;
    dp = std::make_unique<dist::DataParallel>(opt.parameters(), opt, o, c.clip_grad_norm);
    if (o.shard_optimizer) c.clip_grad_norm = 0;  // as make_data_parallel sets it up
    EXPECT_GT(dp->num_buckets(), 1u);
  }
  train::TrainingLoop loop(obj, opt, sched, c);
  if (dp) loop.add_hook(*dp);
  auto res = loop.run();
  RunResult r;
  for (const Tensor& p : obj.module().parameters()) r.weights.push_back(values(p));
  r.optimizer_file = io::read_file((out / "checkpoints" / "step-4" / "optimizer.bin").string(), "test");
  r.summary = res.summary_json;
  fs::remove_all(out);
  return r;
}

}  // namespace

TEST(DataParallel, AWorldOfOneChangesNothing) {
  const RunResult ref = run(0), plain = run(1), zero = run(2);
  EXPECT_EQ(plain.weights, ref.weights);
  EXPECT_EQ(zero.weights, ref.weights) << "ZeRO-1's own clipping by the global norm equals clip_grad_norm_";
  EXPECT_EQ(plain.optimizer_file, ref.optimizer_file);
  EXPECT_EQ(zero.optimizer_file, ref.optimizer_file) << "the gathered state is the one-process file";
  auto s = nlohmann::json::parse(zero.summary);
  EXPECT_EQ(s.at("world_size"), 1);
  EXPECT_EQ(s.at("distributed").at("shard_optimizer"), true);
  EXPECT_EQ(s.at("distributed").at("tokens_per_second_per_rank").size(), 1u);
}

TEST(DataParallel, MakeDataParallelIsNothingInAWorldOfOne) {
  nn::Linear l(2, 2);
  optim::AdamW opt(l.parameters(), {});
  train::LoopConfig c;
  c.clip_grad_norm = 1.0;
  EXPECT_EQ(dist::make_data_parallel(opt, {.shard_optimizer = true}, c), nullptr);
  EXPECT_TRUE(c.writer);
  EXPECT_FALSE(c.collective_steps);
  EXPECT_EQ(c.clip_grad_norm, 1.0);
}
