// Learning-rate schedules: the documented formulas at a few hand-checked
// points, resuming from a state file, and argument / state errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>

#include <unistd.h>

#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/sgd.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::optim;

namespace {

std::unique_ptr<SGD> make_opt(std::vector<double> lrs = {0.1, 0.01}) {
  std::vector<ParamGroupSpec> specs;
  for (double lr : lrs) specs.push_back({{zeros({1}).set_requires_grad(true)}, "", lr, std::nullopt});
  return std::make_unique<SGD>(specs);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tessera_sched_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST(LRScheduler, FormulasAtHandCheckedPoints) {
  auto opt = make_opt();
  StepLR step(*opt, 3, 0.5);
  EXPECT_EQ(opt->lr(0), 0.1);
  for (int i = 0; i < 3; ++i) step.step();
  EXPECT_DOUBLE_EQ(opt->lr(0), 0.05);
  EXPECT_DOUBLE_EQ(opt->lr(1), 0.005);

  auto o2 = make_opt({1.0});
  WarmupCosineLR warm(*o2, 10, 110, 0.1);
  EXPECT_EQ(o2->lr(0), 0.0);
  for (int i = 0; i < 5; ++i) warm.step();
  EXPECT_DOUBLE_EQ(o2->lr(0), 0.5);  // halfway through warmup
  for (int i = 0; i < 55; ++i) warm.step();  // s = 60: halfway through decay
  EXPECT_DOUBLE_EQ(o2->lr(0), 0.1 + 0.9 * 0.5);
  for (int i = 0; i < 100; ++i) warm.step();
  EXPECT_DOUBLE_EQ(o2->lr(0), 0.1);  // held at min_lr past total_steps

  auto o3 = make_opt({2.0});
  WarmupLinearLR lin(*o3, 0, 100);
  for (int i = 0; i < 25; ++i) lin.step();
  EXPECT_DOUBLE_EQ(o3->lr(0), 1.5);

  auto o4 = make_opt({1.0});
  InverseSqrtLR inv(*o4, 512, 4000);
  EXPECT_DOUBLE_EQ(o4->lr(0), std::pow(512.0, -0.5) * 1.0 * std::pow(4000.0, -1.5));
  for (int i = 0; i < 3999; ++i) inv.step();  // step_num 4000: the peak, both branches agree
  EXPECT_NEAR(o4->lr(0), std::pow(512.0, -0.5) * std::pow(4000.0, -0.5), 1e-15);

  auto o5 = make_opt({0.3});
  ConstantLR c(*o5, 0.5, 2);
  EXPECT_DOUBLE_EQ(o5->lr(0), 0.15);
  c.step();
  c.step();
  EXPECT_DOUBLE_EQ(o5->lr(0), 0.3);
}

TEST(LRScheduler, PlateauRules) {
  auto opt = make_opt({1.0});
  ReduceLROnPlateau p(*opt, {.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.2});
  for (double m : {1.0, 0.5, 0.5, 0.5}) p.step(m);  // 2 bad steps: not more than patience
  EXPECT_EQ(opt->lr(0), 1.0);
  p.step(0.5);  // third bad step: reduce
  EXPECT_EQ(opt->lr(0), 0.5);
  for (int i = 0; i < 4; ++i) p.step(0.5);  // cooldown 1, then 3 bad steps
  EXPECT_EQ(opt->lr(0), 0.25);
  for (int i = 0; i < 4; ++i) p.step(0.5);
  EXPECT_EQ(opt->lr(0), 0.2);  // clamped at min_lr
  EXPECT_EQ(p.best(), 0.5);
}

TEST(LRScheduler, ResumeFromFile) {
  auto a = make_opt();
  auto b = make_opt({7.0, 7.0});
  WarmupCosineLR s1(*a, 20, 200, 1e-3);
  for (int i = 0; i < 37; ++i) s1.step();
  const std::string path = temp_path("cos.tsrsched");
  s1.save(path);
  WarmupCosineLR s2(*b, 1, 2);  // configuration and counters come from the file
  s2.load(path);
  EXPECT_EQ(s2.last_epoch(), 37);
  EXPECT_EQ(b->lrs(), a->lrs());
  for (int i = 0; i < 100; ++i) {
    s1.step();
    s2.step();
    ASSERT_EQ(a->lrs(), b->lrs());
  }

  // ReduceLROnPlateau round-trips its infinite initial best and counters.
  auto c = make_opt();
  auto d = make_opt();
  ReduceLROnPlateau p1(*c, {.patience = 1});
  p1.save(path);
  ReduceLROnPlateau p2(*d, {.mode = ReduceLROnPlateauOptions::Mode::Max});
  p2.load(path);
  EXPECT_TRUE(std::isinf(p2.best()) && p2.best() > 0);
  for (double m : {3.0, 2.0, 2.5, 2.5, 2.5, 1.0, 1.0, 1.0}) {
    p1.step(m);
    p2.step(m);
    ASSERT_EQ(c->lrs(), d->lrs());
  }
  std::filesystem::remove(path);
}

TEST(LRScheduler, Errors) {
  auto opt = make_opt();
  StepLR s(*opt, 5);
  const std::string path = temp_path("step.tsrsched");
  s.save(path);
  ExponentialLR e(*opt, 0.9);
  try {
    e.load(path);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("ExponentialLR: cannot load the state of a StepLR scheduler"),
              std::string::npos)
        << err.what();
  }
  auto other = make_opt({0.1});
  StepLR one_group(*other, 5);
  try {
    one_group.load(path);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("'base_lrs' has 2 values, expected 1"), std::string::npos) << err.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(StepLR(*opt, 0), Error);
  EXPECT_THROW(WarmupCosineLR(*opt, 10, 5), Error);
  EXPECT_THROW(ReduceLROnPlateau(*opt, {.factor = 1.0}), Error);
  EXPECT_THROW(ReduceLROnPlateau(*opt, {.min_lrs = {0.1}}), Error);
}
