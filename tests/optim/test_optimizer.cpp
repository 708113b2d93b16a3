// Optimizers: parameter groups, zero_grad, option and gradient checks, state
// files (bit-identical resume, bad magic / version / truncation / mismatched
// shapes), strided parameters, and a small end-to-end fit.
#include <gtest/gtest.h>

#include "test_util.h"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tessera/nn/layers.h"
#include "tessera/optim/adam.h"
#include "tessera/optim/sgd.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;
using namespace tessera::optim;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tessera_optim_" + std::to_string(::getpid()) + "_" + name))
      .string();
}


std::vector<Tensor> make_params(uint64_t seed) {
  manual_seed(seed);
  return {randn({3, 4}).set_requires_grad(true), randn({5}).set_requires_grad(true)};
}

void set_random_grads(const std::vector<Tensor>& params, uint64_t seed) {
  Generator gen(seed);
  for (const Tensor& p : params) const_cast<Tensor&>(p).set_grad(randn(p.shape(), gen));
}

}  // namespace

TEST(Optimizer, DecayGroupsSplitByDimension) {
  nn::Sequential m({std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::LayerNorm>(8),
                    std::make_shared<nn::Linear>(8, 2, false)});
  m.parameter("0.bias").set_requires_grad(false);  // frozen: left out
  auto groups = decay_groups(m, 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].name, "decay");
  EXPECT_EQ(groups[0].weight_decay, 0.1);
  EXPECT_EQ(groups[0].params.size(), 2u);  // 0.weight, 2.weight
  EXPECT_EQ(groups[1].name, "no_decay");
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  EXPECT_EQ(groups[1].params.size(), 2u);  // 1.weight, 1.bias
  AdamW opt(groups, AdamWOptions{.lr = 0.01});
  EXPECT_EQ(opt.num_groups(), 2u);
  EXPECT_EQ(opt.options(0).weight_decay, 0.1);
  EXPECT_EQ(opt.options(1).weight_decay, 0.0);
  EXPECT_EQ(opt.group_name(1), "no_decay");
  EXPECT_EQ(opt.lrs(), (std::vector<double>{0.01, 0.01}));

  auto custom = decay_groups(m, 0.1, [](const std::string& name, const Tensor&) { return name.starts_with("2."); });
  EXPECT_EQ(custom[1].params.size(), 1u);
}

TEST(Optimizer, ZeroGradBothModes) {
  auto params = make_params(1);
  SGD opt(params, {.lr = 0.1});
  set_random_grads(params, 2);
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(params[0].grad().defined());
  for (float v : params[0].grad().to_vector<float>()) EXPECT_EQ(v, 0.0f);
  opt.zero_grad();
  EXPECT_FALSE(params[0].grad().defined());
  EXPECT_FALSE(params[1].grad().defined());
}

TEST(Optimizer, SkipsParametersWithoutGradient) {
  auto params = make_params(3);
  auto before = params[1].to_vector<float>();
  Adam opt(params, {.lr = 0.1});
  params[0].set_grad(ones({3, 4}));
  opt.step();
  EXPECT_EQ(params[1].to_vector<float>(), before);
  EXPECT_EQ(opt.param_state(0).step, 1);
  EXPECT_EQ(opt.param_state(1).step, 0);
  EXPECT_TRUE(opt.param_state(1).buffers.empty());
}

TEST(Optimizer, OptionAndParameterChecks) {
  auto params = make_params(4);
  EXPECT_NE(error_of<Error>([&] { SGD(params, {.lr = 0.1, .nesterov = true}); }).find("nesterov"), std::string::npos);
  EXPECT_NE(error_of<Error>([&] { Adam(params, {.beta2 = 1.0}); }).find("Adam: invalid beta2 1"), std::string::npos);
  EXPECT_NE(error_of<Error>([&] { AdamW(params, {.lr = -1}); }).find("AdamW: invalid learning rate -1"),
            std::string::npos);
  std::string dup = error_of<Error>([&] { SGD(std::vector<Tensor>{params[0], params[1], params[0]}); });
  EXPECT_NE(dup.find("appears more than once"), std::string::npos) << dup;
  Tensor non_leaf = params[0] * 2.0;
  EXPECT_NE(error_of<Error>([&] { SGD(std::vector<Tensor>{non_leaf}); }).find("not a leaf"), std::string::npos);
  Tensor ints = zeros({2}, {.dtype = DType::I64});
  EXPECT_NE(error_of<DTypeError>([&] { SGD(std::vector<Tensor>{ints}); }).find("int64"), std::string::npos);

  SGD opt(params);
  params[0].set_grad(zeros({3, 4}, {.dtype = DType::F64}));
  std::string msg = error_of<DTypeError>([&] { opt.step(); });
  EXPECT_NE(msg.find("SGD: gradient of parameter 0 is float64, the parameter float32"), std::string::npos) << msg;
}

TEST(Optimizer, StridedParameterMatchesContiguous) {
  manual_seed(5);
  Tensor base = randn({4, 3});
  Tensor strided = base.clone().t().detach().set_requires_grad(true);  // (3, 4), not contiguous
  Tensor dense = strided.contiguous().detach().set_requires_grad(true);
  ASSERT_FALSE(strided.is_contiguous());
  Adam a(std::vector<Tensor>{strided}, {.lr = 0.05, .weight_decay = 0.1, .amsgrad = true});
  Adam b(std::vector<Tensor>{dense}, {.lr = 0.05, .weight_decay = 0.1, .amsgrad = true});
  for (int t = 0; t < 5; ++t) {
    Tensor g = randn({3, 4});
    strided.set_grad(g);
    dense.set_grad(g);
    a.step();
    b.step();
  }
  EXPECT_EQ(strided.to_vector<float>(), dense.to_vector<float>());
}

// Saving mid-run and resuming into fresh parameters continues bit-identically.
template <class Opt, class Options>
void check_resume(const Options& options) {
  auto params = make_params(6);
  std::vector<Tensor> copy;
  for (auto& p : params) copy.push_back(p.detach().clone().set_requires_grad(true));
  std::vector<ParamGroupSpec> groups{{{params[0]}, "a", std::nullopt, std::nullopt}, {{params[1]}, "b", 0.003, 0.0}};
  std::vector<ParamGroupSpec> groups2{{{copy[0]}, "a", std::nullopt, std::nullopt}, {{copy[1]}, "b", 0.5, 0.5}};
  Opt opt(groups, options);
  for (int t = 0; t < 4; ++t) {
    set_random_grads(params, 100 + t);
    opt.step();
  }
  const std::string path = temp_path("resume.tsropt");
  opt.save(path);
  for (size_t i = 0; i < params.size(); ++i) {
    NoGradGuard ng;
    copy[i].copy_(params[i]);
  }
  Opt resumed(groups2, Options{});  // options come from the file
  resumed.load(path);
  EXPECT_EQ(resumed.lr(1), 0.003);
  EXPECT_EQ(resumed.param_state(0).step, 4);
  for (int t = 4; t < 10; ++t) {
    set_random_grads(params, 100 + t);
    set_random_grads(copy, 100 + t);
    opt.step();
    resumed.step();
  }
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].to_vector<float>(), copy[i].to_vector<float>());
  std::filesystem::remove(path);
}

TEST(Optimizer, ResumeFromFileIsBitIdentical) {
  check_resume<SGD>(SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  check_resume<Adam>(AdamOptions{.lr = 0.02, .weight_decay = 0.01, .amsgrad = true});
  check_resume<AdamW>(AdamWOptions{.lr = 0.02, .beta1 = 0.8});
}

TEST(Optimizer, StateDictIsADeepCopy) {
  auto params = make_params(7);
  SGD opt(params, {.lr = 0.1, .momentum = 0.9});
  set_random_grads(params, 8);
  opt.step();
  OptimizerState st = opt.state_dict();
  auto saved = st.state[0].buffers.at("momentum_buffer").to_vector<float>();
  opt.step();
  EXPECT_EQ(st.state[0].buffers.at("momentum_buffer").to_vector<float>(), saved);
  EXPECT_EQ(st.groups[0].options.at("momentum"), 0.9);
  EXPECT_EQ(st.groups[0].params, (std::vector<int64_t>{0, 1}));
}

TEST(Optimizer, StateFileErrors) {
  auto params = make_params(9);
  Adam opt(params, {.lr = 0.1});
  set_random_grads(params, 10);
  opt.step();
  const std::string path = temp_path("errors.tsropt");
  opt.save(path);

  // Wrong optimizer type.
  SGD sgd(params);
  std::string msg = error_of<Error>([&] { sgd.load(path); });
  EXPECT_NE(msg.find("cannot load the state of a Adam optimizer"), std::string::npos) << msg;

  // Shape mismatch names the parameter and both shapes.
  std::vector<Tensor> other{zeros({4, 3}).set_requires_grad(true), zeros({5}).set_requires_grad(true)};
  Adam wrong(other);
  msg = error_of<Error>([&] { wrong.load(path); });
  EXPECT_NE(msg.find("state 'exp_avg' of parameter 0 (group '0') has shape [3, 4], the parameter has [4, 3]"),
            std::string::npos)
      << msg;

  // Bad magic, future version, truncation.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& b) { std::ofstream(path, std::ios::binary | std::ios::trunc) << b; };
  std::string bad = bytes;
  bad[0] = 'X';
  write(bad);
  msg = error_of<Error>([&] { opt.load(path); });
  EXPECT_NE(msg.find("not a Tessera optimizer state file"), std::string::npos) << msg;
  std::string future = bytes;
  future[8] = 9;  // version field follows the 8-byte magic
  write(future);
  msg = error_of<Error>([&] { opt.load(path); });
  EXPECT_NE(msg.find("format version 9 is not supported"), std::string::npos) << msg;
  write(bytes.substr(0, bytes.size() - 8));
  msg = error_of<Error>([&] { opt.load(path); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  msg = error_of<Error>([&] { opt.load(path + ".missing"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  std::filesystem::remove(path);
}

TEST(Optimizer, SaveLeavesNoTempFiles) {
  auto params = make_params(11);
  SGD opt(params, {.lr = 0.1, .momentum = 0.5});
  const auto dir = std::filesystem::temp_directory_path() / ("tessera_optim_dir_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  opt.save((dir / "a.tsropt").string());
  opt.save((dir / "a.tsropt").string());  // overwrite in place
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename(), "a.tsropt");
    ++files;
  }
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(Optimizer, FitsALinearRegression) {
  manual_seed(12);
  Tensor x = randn({64, 3});
  Tensor w_true = from_vector<float>({1.5f, -2.0f, 0.5f}, {3, 1});
  Tensor y = matmul(x, w_true);
  nn::Linear model(3, 1);
  for (int which = 0; which < 2; ++which) {
    model.reset_parameters();
    std::unique_ptr<Optimizer> opt;
    if (which == 0) opt = std::make_unique<SGD>(model.parameters(), SGDOptions{.lr = 0.1, .momentum = 0.9});
    else opt = std::make_unique<Adam>(model.parameters(), AdamOptions{.lr = 0.05});
    double first = 0, last = 0;
    for (int t = 0; t < 200; ++t) {
      opt->zero_grad();
      Tensor loss = mse_loss(model(x), y);
      loss.backward();
      opt->step();
      (t == 0 ? first : last) = loss.item();
    }
    EXPECT_LT(last, first * 1e-3) << opt->type_name();
  }
}
