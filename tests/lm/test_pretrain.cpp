// GPT pretraining (lm/pretrain.h) on a tiny corpus with a tiny model: the loss
// falls, an interrupted + resumed run ends bit-identical to an uninterrupted
// one, a NaN loss stops with the last good checkpoint, and mismatched
// checkpoints / recipes are clear errors.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/autograd/grad_mode.h"
#include "tessera/core/machine_peak.h"
#include "tessera/core/parallel.h"
#include "tessera/checkpoint/language_model.h"
#include "tessera/io/safetensors.h"
#include "tessera/lm/generate.h"
#include "tessera/lm/pretrain.h"
#include "tessera/ops/loss.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"
#include "tessera/checkpoint/folders.h"
#include "test_util.h"
#include "text/test_shards_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;
using tessera::test_util::ByteTokenizer;
using tessera::test_util::expect_error;

namespace {

lm::PretrainOptions opts(bool resume = false, int64_t stop_after = 0, std::optional<uint64_t> fingerprint = {}) {
  lm::PretrainOptions o;
  o.resume = resume;
  o.quiet = true;
  o.stop_after_steps = stop_after;
  o.tokenizer_fingerprint = fingerprint;
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PretrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_pretrain_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "corpus");
    // Highly regular text: a model that learns anything beats ln(257) = 5.55 quickly.
    const char* words[] = {"the cat sat on the mat. ", "a dog ran to the park. ", "the sun is hot today. "};
    for (int d = 0; d < 24; ++d) {
      std::string doc;
      for (int k = 0; k < 6; ++k) doc += words[(d + k) % 3];
      std::ofstream(dir_ / "corpus" / ("doc" + std::to_string(100 + d) + ".txt")) << doc;
    }
    text::PrepareOptions o;
    o.inputs = {(dir_ / "corpus").string()};
    o.out_dir = data_dir();
    o.val_docs = 4;
    o.verbose = false;
    text::prepare_shards(ByteTokenizer(), o);
    prev_threads_ = get_num_threads();
  }
  void TearDown() override {
    set_num_threads(prev_threads_);
    fs::remove_all(dir_);
  }
  std::string data_dir() const { return (dir_ / "data").string(); }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }

  static json recipe(int64_t steps) {
    json r = json::parse(R"({
      "model": {"block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 32},
      "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.1, "betas": [0.9, 0.95]},
      "schedule": {"type": "cosine", "warmup_steps": 5, "min_lr": 0.001},
      "train": {"batch_size": 8, "clip_grad_norm": 1.0, "eval_every": 10, "eval_batches": 2,
                "log_every": 5, "seed": 3, "threads": 1, "checkpoint": {"keep_last": 2}}
    })");
    r["train"]["steps"] = steps;
    return r;
  }
  std::vector<json> metrics(const std::string& run) {
    std::vector<json> lines;
    std::ifstream in(fs::path(run) / "metrics.jsonl");
    std::string l;
    while (std::getline(in, l)) lines.push_back(json::parse(l));
    return lines;
  }
  fs::path dir_;
  int prev_threads_ = 1;
};

TEST_F(PretrainTest, LossFallsAndOutputsAreWritten) {
  json r = recipe(40);
  auto res = lm::pretrain(r.dump(), data_dir(), out("run"), opts());
  EXPECT_EQ(res.steps, 40);
  EXPECT_EQ(res.stop_reason, "completed");
  auto lines = metrics(out("run"));
  ASSERT_GE(lines.size(), 5u);
  double first = lines.front().at("loss"), last = lines.back().at("loss");
  EXPECT_GT(first, 4.5);  // about ln(257) at the start
  EXPECT_LT(last, 2.5) << "train loss did not fall: " << first << " -> " << last;
  std::vector<double> vals;
  for (const auto& l : lines)
    if (l.contains("val_loss")) vals.push_back(l["val_loss"]);
  ASSERT_EQ(vals.size(), 4u);  // steps 10, 20, 30, 40
  EXPECT_LT(vals.back(), vals.front());
  ASSERT_TRUE(res.val_loss.has_value());
  EXPECT_LT(*res.val_loss, 2.5);
  EXPECT_GT(lines.back().at("tokens_per_second").get<double>(), 0);
  EXPECT_GT(lines.back().at("mfu").get<double>(), 0);

  json s = json::parse(slurp(fs::path(out("run")) / "summary.json"));
  EXPECT_EQ(s["steps"], 40);
  EXPECT_EQ(s["tokens"], 40 * 8 * 16);
  EXPECT_DOUBLE_EQ(s["val_loss"].get<double>(), *res.val_loss);
  EXPECT_GT(s["num_parameters"].get<int64_t>(), 0);
  EXPECT_EQ(s["model"]["vocab_size"], 257);  // taken from the shards
  // MFU against the measured peak of this machine (core/machine_peak.h) at the run's precision.
  EXPECT_EQ(s["precision"], "fp32");
  EXPECT_EQ(s["peak_flops_source"], "measured");
  EXPECT_EQ(s["peak_flops"].get<double>(), machine_peak(1).fp32_flops);  // the recipe's 1 thread
  EXPECT_NEAR(s["mfu"].get<double>(),
              s["flops_per_token"].get<double>() * s["tokens_per_second"].get<double>() / s["peak_flops"].get<double>(),
              1e-12);
  // keep_last 2: checkpoints at the evaluations 30 and 40 remain.
  EXPECT_EQ(checkpoint::list_steps(out("run")), (std::vector<int64_t>{30, 40}));
  fs::path ck = checkpoint::step_dir(out("run"), 40);
  EXPECT_EQ(slurp(ck / "tokenizer.json"), slurp(fs::path(data_dir()) / "tokenizer.json"));
}

// The checkpoint folder alone is enough for generation (lm/generate.h's loader):
// weights, GPT config and the tokenizer (a real one here: a char tokenizer fitted by prepare).
TEST_F(PretrainTest, CheckpointLoadsForGeneration) {
  text::PrepareOptions o;
  o.inputs = {(dir_ / "corpus").string()};
  o.out_dir = out("chardata");
  o.val_docs = 4;
  o.verbose = false;
  text::prepare_shards(
      [](const std::vector<std::string_view>& docs) -> std::unique_ptr<text::Tokenizer> {
        return std::make_unique<text::CharTokenizer>(text::CharTokenizer::from_corpus(docs, {"<|endoftext|>"}));
      },
      o);
  auto res = lm::pretrain(recipe(4).dump(), out("chardata"), out("charrun"), opts());
  ASSERT_EQ(res.steps, 4);
  auto loaded = checkpoint::load_gpt(out("charrun"));
  EXPECT_EQ(loaded.format, "tessera");
  EXPECT_EQ(loaded.step, 4);
  // The tokenizer comes from the checkpoint folder itself (its tokenizer.json copy).
  EXPECT_EQ(loaded.tokenizer_path.rfind(checkpoint::step_dir(out("charrun"), 4), 0), 0u) << loaded.tokenizer_path;
  auto data = text::open_token_data(out("chardata"));
  EXPECT_EQ(loaded.tokenizer->vocab_size(), data.vocab_size);
  EXPECT_EQ(loaded.model->config().n_embd, 32);
  // Same weights as trained: the loaded model's val loss equals the run's final one.
  loaded.model->eval();
  NoGradGuard ng;
  double sum = 0;
  for (int64_t i = 0; i < 2; ++i) {
    auto b = data.val.sequential(i, 8, 16);
    Tensor logits = loaded.model->forward(b.x);
    sum += cross_entropy(logits.reshape({8 * 16, data.vocab_size}), b.y.reshape({8 * 16})).item();
  }
  ASSERT_TRUE(res.val_loss.has_value());
  EXPECT_DOUBLE_EQ(sum / 2, *res.val_loss);
}

TEST_F(PretrainTest, ResumeIsBitExact) {
  json r = recipe(30);
  r["model"]["dropout"] = 0.1;  // the dropout stream must resume too
  r["train"]["grad_accum"] = 2;
  auto full = lm::pretrain(r.dump(), data_dir(), out("full"), opts());
  auto part = lm::pretrain(r.dump(), data_dir(), out("split"), opts(false, 13));
  EXPECT_EQ(part.stop_reason, "interrupted");
  EXPECT_EQ(part.steps, 13);
  EXPECT_EQ(checkpoint::latest_step(out("split")), 13);
  auto rest = lm::pretrain(r.dump(), data_dir(), out("split"), opts(true));
  EXPECT_EQ(rest.steps, 30);
  std::string a = slurp(fs::path(checkpoint::step_dir(out("full"), 30)) / "model.safetensors");
  std::string b = slurp(fs::path(checkpoint::step_dir(out("split"), 30)) / "model.safetensors");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "resumed weights differ from the uninterrupted run's";
  EXPECT_TRUE(slurp(fs::path(checkpoint::step_dir(out("full"), 30)) / "optimizer.bin") ==
              slurp(fs::path(checkpoint::step_dir(out("split"), 30)) / "optimizer.bin"))
      << "resumed AdamW state differs";
  EXPECT_DOUBLE_EQ(*full.val_loss, *rest.val_loss);
  // The resumed log reads as one run: each logged step once.
  std::vector<int64_t> steps;
  for (const auto& l : metrics(out("split"))) steps.push_back(l["step"]);
  std::vector<int64_t> want;
  for (const auto& l : metrics(out("full"))) want.push_back(l["step"]);
  EXPECT_EQ(steps, want);
}

TEST_F(PretrainTest, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  json r = recipe(20);
  r["optimizer"]["lr"] = 1e30;  // the first update blows the weights up
  r["schedule"] = {{"type", "constant"}};
  r["train"]["clip_grad_norm"] = 0;
  r["train"]["checkpoint"]["every"] = 1;
  std::string msg;
  try {
    lm::pretrain(r.dump(), data_dir(), out("nan"), opts());
    ADD_FAILURE() << "expected NonFiniteLossError";
  } catch (const lm::NonFiniteLossError& e) {
    msg = e.what();
  }
  auto last = checkpoint::latest_step(out("nan"));
  ASSERT_TRUE(last.has_value());
  EXPECT_NE(msg.find("step " + std::to_string(*last + 1) + ": loss is"), std::string::npos) << msg;
  EXPECT_NE(msg.find("last good checkpoint is " + checkpoint::step_dir(out("nan"), *last)), std::string::npos) << msg;
  json s = json::parse(slurp(fs::path(out("nan")) / "summary.json"));
  EXPECT_EQ(s["stop_reason"], "nonfinite_loss");
  EXPECT_EQ(s["steps"], *last);
}

TEST_F(PretrainTest, MismatchedCheckpointsAndRecipesAreErrors) {
  json r = recipe(4);
  lm::pretrain(r.dump(), data_dir(), out("run"), opts(false, 2));
  json wider = r;
  wider["model"]["n_embd"] = 48;
  expect_error<Error>([&] { lm::pretrain(wider.dump(), data_dir(), out("run"), opts(true)); },
                      {"--resume", "another GPT config", "model.n_embd is 32 there, 48 here"});
  json small = r;
  small["model"]["vocab_size"] = 100;
  expect_error<Error>([&] { lm::pretrain(small.dump(), data_dir(), out("x"), opts()); },
                      {"model.vocab_size is 100", "257"});
  json typo = r;
  typo["train"]["stpes"] = 3;
  expect_error<Error>([&] { lm::pretrain(typo.dump(), data_dir(), out("x"), opts()); }, "train.stpes");
  json longer = r;
  longer["train"]["seq_len"] = 32;
  expect_error<Error>([&] { lm::pretrain(longer.dump(), data_dir(), out("x"), opts()); },
                      "seq_len 32 exceeds model.block_size 16");
  expect_error<Error>(
      [&] { lm::pretrain(r.dump(), data_dir(), out("x"), opts(false, 0, 12345)); },
      {"meta.json", "fingerprint"});
}

// bf16 mixed precision ("train.precision"): the loss falls as in fp32 and
// stays within 0.05 of it step by step (the GEMMs round their operands to
// bf16; everything else is fp32), and summary.json says which precision ran.
TEST_F(PretrainTest, Bf16TrainsLikeFp32) {
  json r = recipe(30);
  auto fp32 = lm::pretrain(r.dump(), data_dir(), out("fp32"), opts());
  r["train"]["precision"] = "bf16";
  auto bf16 = lm::pretrain(r.dump(), data_dir(), out("bf16"), opts());
  ASSERT_EQ(bf16.steps, 30);
  auto a = metrics(out("fp32")), b = metrics(out("bf16"));
  ASSERT_EQ(a.size(), b.size());
  bool any_different = false;
  for (size_t i = 0; i < a.size(); ++i) {
    const double la = a[i].at("loss"), lb = b[i].at("loss");
    EXPECT_NEAR(la, lb, 0.05) << "step " << a[i]["step"];
    any_different |= la != lb;
  }
  EXPECT_TRUE(any_different) << "bf16 ran exactly as fp32: autocast did not apply";
  EXPECT_GT(b.front().at("loss").get<double>(), 4.5);
  EXPECT_LT(b.back().at("loss").get<double>(), 3.0);
  ASSERT_TRUE(bf16.val_loss && fp32.val_loss);
  EXPECT_NEAR(*bf16.val_loss, *fp32.val_loss, 0.05);
  EXPECT_EQ(json::parse(slurp(fs::path(out("bf16")) / "summary.json"))["precision"], "bf16");
  EXPECT_EQ(json::parse(slurp(fs::path(out("fp32")) / "summary.json"))["precision"], "fp32");
  r["train"]["precision"] = "fp16";
  expect_error<Error>([&] { lm::pretrain(r.dump(), data_dir(), out("x"), opts()); },
                      {"train.precision", "unknown precision 'fp16'"});
}

// Checkpoints hold the fp32 master weights either way: a run resumes in the
// other precision, and a bf16 run's checkpoint stores float32 tensors.
TEST_F(PretrainTest, ResumesAcrossPrecisions) {
  for (const auto& [first, then] : {std::pair{"bf16", "fp32"}, std::pair{"fp32", "bf16"}}) {
    const std::string run = out(std::string(first) + "_then_" + then);
    json r = recipe(20);
    r["train"]["precision"] = first;
    lm::pretrain(r.dump(), data_dir(), run, opts(false, 10));
    r["train"]["precision"] = then;
    auto rest = lm::pretrain(r.dump(), data_dir(), run, opts(true));
    EXPECT_EQ(rest.steps, 20) << run;
    ASSERT_TRUE(rest.val_loss.has_value());
    EXPECT_LT(*rest.val_loss, 3.0) << run;
    EXPECT_EQ(json::parse(slurp(fs::path(run) / "summary.json"))["precision"], then);
    auto weights = io::load_safetensors((fs::path(checkpoint::step_dir(run, 10)) / "model.safetensors").string());
    ASSERT_FALSE(weights.tensors.empty());
    for (const auto& [name, t] : weights.tensors) EXPECT_EQ(t.dtype(), DType::F32) << name;
  }
}

}  // namespace
