// The training loop (train/loop.h) with a tiny objective: the step hooks are
// called in the documented order around the objective's forward, backward,
// clipping and the optimizer; scale_loss changes what is backpropagated;
// module RNG states load under dotted and undotted module names; the dropout
// mask layout is recorded, and a checkpoint without it resumes in the old one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/nn/layers.h"
#include "tessera/ops/dropout_layout.h"
#include "tessera/ops/elementwise.h"
#include "tessera/ops/loss.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/sgd.h"
#include "tessera/tessera.h"
#include "tessera/train/loop.h"
#include "test_util.h"
#include "train/module_generators.h"

using namespace tessera;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tessera_loop_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

// y = x w + b on two fixed examples; records its own calls into `events`.
class TinyObjective : public train::Objective {
 public:
  explicit TinyObjective(std::vector<std::string>& events) : events_(events), lin_(2, 1) {}
  nn::Module& module() override { return lin_; }
  train::MicroBatchLoss next_loss() override {
    events_.push_back("objective.next_loss");
    Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2}), y = from_vector<float>({1, -1}, {2});
    return {mse_loss(lin_.forward(x).reshape({2}), y), 2, 0};
  }
  void backward(const Tensor& loss, double scale) override {
    events_.push_back("objective.backward");
    Objective::backward(loss, scale);
  }
  void clip_gradients(const std::vector<Tensor>& params, double max_norm) override {
    events_.push_back("objective.clip");
    Objective::clip_gradients(params, max_norm);
  }
  bool report_step(const train::StepStats&, bool due, const train::EvalResult*, train::RunLog&) override {
    return due;
  }
  std::string summary_json(const train::RunSummary&) const override { return "{}"; }
  void save_files(const std::string& dir, int64_t step) override {
    io::write_file_atomic(dir + "/config.json", json({{"format_version", 1}, {"step", step}}).dump());
  }
  std::string state_json() override { return "{}"; }
  void load(const std::string&, const std::string&, const std::string&) override {}
  nn::Linear& linear() { return lin_; }

 private:
  std::vector<std::string>& events_;
  nn::Linear lin_;
};

class RecordingHook : public train::StepHook {
 public:
  RecordingHook(std::vector<std::string>& events, std::string name) : events_(events), name_(std::move(name)) {}
  void step_begin(const train::StepContext& c) override { add("step_begin", c); }
  void forward_begin(const train::StepContext& c) override { add("forward_begin", c); }
  void forward_end(const train::StepContext& c) override { add("forward_end", c); }
  Tensor scale_loss(const train::StepContext& c, const Tensor& loss) override {
    add("scale_loss", c);
    return factor_ == 1.0 ? loss : mul(loss, factor_);
  }
  void backward_begin(const train::StepContext& c) override { add("backward_begin", c); }
  void backward_end(const train::StepContext& c) override { add("backward_end", c); }
  void gradients_ready(const train::StepContext& c) override { add("gradients_ready", c); }
  void optimizer_begin(const train::StepContext& c) override { add("optimizer_begin", c); }
  void optimizer_end(const train::StepContext& c) override { add("optimizer_end", c); }
  void step_end(const train::StepContext& c) override { add("step_end", c); }
  double factor_ = 1.0;

 private:
  void add(const char* what, const train::StepContext& c) {
    std::string e = name_;
    e.append(".").append(what).append(" ").append(std::to_string(c.step));
    if (c.micro_batch >= 0) e.append(".").append(std::to_string(c.micro_batch)).append(c.last_micro_batch() ? " last" : "");
    events_.push_back(e);
  }
  std::vector<std::string>& events_;
  std::string name_;
};

train::LoopConfig config(const std::string& out, int64_t steps) {
  train::LoopConfig c;
  c.out_dir = out;
  c.total_steps = steps;
  c.grad_accum = 2;
  c.clip_grad_norm = 1.0;
  c.log_every = 1;
  c.quiet = true;
  return c;
}

}  // namespace

TEST(TrainingLoop, HooksSeeEveryPhaseOfAStepInOrder) {
  std::vector<std::string> events;
  TinyObjective obj(events);
  optim::SGD opt(obj.module().parameters(), {.lr = 0.1});
  optim::ConstantLR sched(opt);
  RecordingHook a(events, "a"), b(events, "b");
  std::string out = scratch("order");
  train::TrainingLoop loop(obj, opt, sched, config(out, 2));
  loop.add_hook(a);
  loop.add_hooks({&b});
  auto res = loop.run();
  EXPECT_EQ(res.steps, 2);
  EXPECT_EQ(res.stop_reason, "completed");

  std::vector<std::string> step1;
  auto both = [&](const std::string& what) {
    step1.push_back("a." + what);
    step1.push_back("b." + what);
  };
  both("step_begin 1");
  for (std::string m : {"1.0", "1.1 last"}) {
    both("forward_begin " + m);
    step1.push_back("objective.next_loss");
    both("forward_end " + m);
    both("scale_loss " + m);
    both("backward_begin " + m);
    step1.push_back("objective.backward");
    both("backward_end " + m);
  }
  both("gradients_ready 1");
  step1.push_back("objective.clip");
  both("optimizer_begin 1");
  both("optimizer_end 1");
  both("step_end 1");
  ASSERT_EQ(events.size(), 2 * step1.size());
  EXPECT_EQ(std::vector<std::string>(events.begin(), events.begin() + step1.size()), step1);
  EXPECT_EQ(events[step1.size()], "a.step_begin 2");
  EXPECT_EQ(events.back(), "b.step_end 2");
  // The loop's own files: a step folder, metrics.jsonl and summary.json.
  EXPECT_TRUE(fs::exists(fs::path(out) / "checkpoints" / "step-2" / "trainer_state.json"));
  json s = json::parse(std::ifstream(fs::path(out) / "summary.json"));
  EXPECT_EQ(s["stop_reason"], "completed");
  EXPECT_EQ(s["steps"], 2);
  fs::remove_all(out);
}

TEST(TrainingLoop, ScaleLossChangesWhatIsBackpropagated) {
  std::vector<std::string> events;
  TinyObjective obj(events);
  Tensor before = obj.linear().weight.detach().clone();
  optim::SGD opt(obj.module().parameters(), {.lr = 0.1});
  optim::ConstantLR sched(opt);
  RecordingHook zero(events, "zero");
  zero.factor_ = 0.0;  // a loss scaled to nothing moves nothing
  std::string out = scratch("scale");
  train::TrainingLoop loop(obj, opt, sched, config(out, 1));
  loop.add_hook(zero);
  loop.run();
  EXPECT_EQ(test_util::max_abs_diff(obj.linear().weight, before), 0.0);
  fs::remove_all(out);
  // Without the hook the same step moves the weights.
  TinyObjective plain(events);
  Tensor start = plain.linear().weight.detach().clone();
  optim::SGD opt2(plain.module().parameters(), {.lr = 0.1});
  optim::ConstantLR sched2(opt2);
  train::TrainingLoop loop2(plain, opt2, sched2, config(out, 1));
  loop2.run();
  EXPECT_GT(test_util::max_abs_diff(plain.linear().weight, start), 0.0);
  fs::remove_all(out);
}

TEST(TrainingLoop, ModuleRngStatesLoadUnderDottedAndUndottedNames) {
  auto model = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::Dropout>(0.5)});
  auto gens = train::module_generators(*model);
  ASSERT_EQ(gens.size(), 1u);
  gens[0].second->set_state(11, 22);
  json saved = train::save_module_generators(*model);
  // The same states under the other naming ("1." <-> "1").
  json renamed = json::object();
  for (auto& [name, v] : saved.items()) {
    std::string other = !name.empty() && name.back() == '.' ? name.substr(0, name.size() - 1) : name + ".";
    renamed[other] = v;
  }
  for (const json* states : {&saved, &renamed}) {
    gens[0].second->set_state(0, 0);
    train::load_module_generators(*model, *states, "ckpt");
    EXPECT_EQ(gens[0].second->seed(), 11u);
    EXPECT_EQ(gens[0].second->offset(), 22u);
  }
  test_util::expect_error<Error>([&] { train::load_module_generators(*model, json::object(), "ckpt"); },
                                 {"checkpoint ckpt", "no RNG state for module"});
}

namespace {

// Records the dropout mask layout each step runs with.
class LayoutHook : public train::StepHook {
 public:
  void step_begin(const train::StepContext&) override { seen.push_back(dropout_mask_layout()); }
  std::vector<DropoutMaskLayout> seen;
};

json trainer_state(const std::string& out, int step) {
  return json::parse(std::ifstream(fs::path(out) / "checkpoints" / ("step-" + std::to_string(step)) /
                                   "trainer_state.json"));
}

void write_trainer_state(const std::string& out, int step, const json& st) {
  std::ofstream(fs::path(out) / "checkpoints" / ("step-" + std::to_string(step)) / "trainer_state.json") << st.dump();
}

// Runs TinyObjective to `steps` (resuming when asked); returns the layouts seen.
std::vector<DropoutMaskLayout> run_tiny(const std::string& out, int64_t steps, bool resume) {
  std::vector<std::string> events;
  TinyObjective obj(events);
  optim::SGD opt(obj.module().parameters(), {.lr = 0.1});
  optim::ConstantLR sched(opt);
  train::LoopConfig c = config(out, steps);
  c.checkpoint_every = 1;
  c.keep_last = 10;
  c.resume = resume;
  train::TrainingLoop loop(obj, opt, sched, c);
  LayoutHook hook;
  loop.add_hook(hook);
  loop.run();
  return hook.seen;
}

}  // namespace

TEST(TrainingLoop, DropoutMaskLayoutIsRecordedAndOldCheckpointsResumeInTheOldOne) {
  using L = DropoutMaskLayout;
  const std::string out = scratch("layout");
  // Whatever the process had set, a new run uses the default layout and
  // records it; the setting is restored after the run.
  DropoutMaskLayoutScope outside(L::kWord0PerCounter);
  EXPECT_EQ(run_tiny(out, 2, false), std::vector<L>({L::kFourWordsPerCounter, L::kFourWordsPerCounter}));
  EXPECT_EQ(dropout_mask_layout(), L::kWord0PerCounter);
  EXPECT_EQ(trainer_state(out, 2).at("dropout_masks"), "philox4x32_words4");
  {
    DropoutMaskLayoutScope v2(L::kFourWordsPerCounter);
    // Resuming a run that recorded the layout keeps it (here: from step 1).
    fs::remove_all(fs::path(out) / "checkpoints" / "step-2");
    EXPECT_EQ(run_tiny(out, 2, true), std::vector<L>({L::kFourWordsPerCounter}));
    // A checkpoint written before the layout was recorded resumes in the old
    // layout, and the run's later checkpoints say so.
    json st = trainer_state(out, 2);
    st.erase("dropout_masks");
    write_trainer_state(out, 2, st);
    EXPECT_EQ(run_tiny(out, 4, true), std::vector<L>({L::kWord0PerCounter, L::kWord0PerCounter}));
    EXPECT_EQ(trainer_state(out, 4).at("dropout_masks"), "philox4x32_word0");
    EXPECT_EQ(dropout_mask_layout(), L::kFourWordsPerCounter);
    // An unknown layout is an error naming the checkpoint.
    st["dropout_masks"] = "philox4x32_words8";
    write_trainer_state(out, 4, st);
    test_util::expect_error<Error>([&] { run_tiny(out, 5, true); }, {"step-4", "philox4x32_words8"});
  }
  fs::remove_all(out);
}

