// Optimizer and schedule parity with torch.optim: replays the golden file of
// tests/optim/gen_optim_golden.py (path in env TESSERA_OPTIM_GOLDEN).
//   - every optimizer configuration: 20 steps on the recorded gradients follow
//     torch's parameter trajectory within 1e-6 relative (max|x - ref| / max|ref|
//     per parameter and step), and a copy resumed from a state file saved
//     after step 10 continues bit-identically;
//   - every schedule: 1,000 learning rates within 1e-9 absolute.
// Prints a table of the errors (also written to env TESSERA_OPTIM_TABLE when set).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include <unistd.h>

#include "tessera/optim/adam.h"
#include "tessera/optim/lr_scheduler.h"
#include "tessera/optim/sgd.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::optim;
using nlohmann::json;

namespace {

constexpr double kTrajectoryTol = 1e-6;
constexpr double kScheduleTol = 1e-9;

const json* golden() {
  static std::unique_ptr<json> g = [] {
    const char* path = std::getenv("TESSERA_OPTIM_GOLDEN");
    if (!path || !*path) return std::unique_ptr<json>();
    std::ifstream in(path);
    if (!in) throw Error(std::string("TESSERA_OPTIM_GOLDEN: cannot open ") + path);
    return std::make_unique<json>(json::parse(in));
  }();
  return g.get();
}

#define REQUIRE_GOLDEN()                                                                                   \
  if (!golden())                                                                                           \
  GTEST_SKIP() << "TESSERA_OPTIM_GOLDEN is not set: generate it with /usr/bin/python3 "                   \
                  "tests/optim/gen_optim_golden.py --out <file> (ctest's optim_parity does this)"

// Rows of the printed table, kept across the two tests.
std::vector<std::string>& table_rows() {
  static std::vector<std::string> rows;
  return rows;
}

void emit_table() {
  std::ostringstream os;
  os << "| kind | case | torch | steps | max error | tolerance |\n|---|---|---|---|---|---|\n";
  for (const auto& r : table_rows()) os << r << "\n";
  std::cout << os.str();
  if (const char* out = std::getenv("TESSERA_OPTIM_TABLE"); out && *out) std::ofstream(out) << os.str();
}

Tensor make_tensor(const json& values, const Shape& shape, DType dtype) {
  return from_vector<double>(values.get<std::vector<double>>(), shape, {.dtype = dtype});
}

std::unique_ptr<Optimizer> make_optimizer(const json& c, const std::vector<Tensor>& params) {
  const std::string type = c["type"];
  const json& d = c["defaults"];
  std::vector<ParamGroupSpec> specs;
  for (const auto& g : c["groups"]) {
    ParamGroupSpec s;
    for (int64_t i : g["params"].get<std::vector<int64_t>>()) s.params.push_back(params[i]);
    if (g.contains("lr")) s.lr = g["lr"].get<double>();
    if (g.contains("weight_decay")) s.weight_decay = g["weight_decay"].get<double>();
    specs.push_back(s);
  }
  auto get = [&](const char* k, double dflt) { return d.contains(k) ? d[k].get<double>() : dflt; };
  auto get_bool = [&](const char* k) { return d.contains(k) && d[k].get<bool>(); };
  if (type == "SGD") {
    SGDOptions o;
    o.lr = get("lr", o.lr);
    o.momentum = get("momentum", 0.0);
    o.dampening = get("dampening", 0.0);
    o.weight_decay = get("weight_decay", 0.0);
    o.nesterov = get_bool("nesterov");
    return std::make_unique<SGD>(specs, o);
  }
  auto fill = [&](auto o) {
    o.lr = get("lr", o.lr);
    o.beta1 = get("beta1", o.beta1);
    o.beta2 = get("beta2", o.beta2);
    o.eps = get("eps", o.eps);
    o.weight_decay = get("weight_decay", o.weight_decay);
    o.amsgrad = get_bool("amsgrad");
    return o;
  };
  if (type == "Adam") return std::make_unique<Adam>(specs, fill(AdamOptions{}));
  if (type == "AdamW") return std::make_unique<AdamW>(specs, fill(AdamWOptions{}));
  throw Error("unknown optimizer type " + type);
}

double rel_error(const Tensor& x, const json& ref) {
  auto got = x.to_vector<double>();
  auto want = ref.get<std::vector<double>>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / std::max(scale, 1e-30);
}

std::string fmt(double v) {
  std::ostringstream os;
  os << std::setprecision(2) << std::scientific << v;
  return os.str();
}

}  // namespace

TEST(OptimParity, OptimizerTrajectories) {
  REQUIRE_GOLDEN();
  const auto tmp = std::filesystem::temp_directory_path() / ("tessera_optim_parity_" + std::to_string(::getpid()));
  for (const auto& c : (*golden())["optimizers"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const DType dtype = c["dtype"] == "float64" ? DType::F64 : DType::F32;
    std::vector<Shape> shapes;
    for (const auto& s : c["shapes"]) shapes.push_back(s.get<Shape>());
    std::vector<Tensor> params, resumed_params;
    for (size_t i = 0; i < shapes.size(); ++i) {
      params.push_back(make_tensor(c["init"][i], shapes[i], dtype).set_requires_grad(true));
      resumed_params.push_back(params.back().detach().clone().set_requires_grad(true));
    }
    auto opt = make_optimizer(c, params);
    std::unique_ptr<Optimizer> resumed;
    const auto& grads = c["grads"];
    const auto& traj = c["trajectory"];
    double worst = 0;
    bool resumed_identical = true;
    const int steps = static_cast<int>(traj.size());
    for (int t = 0; t < steps; ++t) {
      for (size_t i = 0; i < params.size(); ++i) {
        const json& g = grads[t][i];
        if (g.is_null()) {
          params[i].zero_grad();
          resumed_params[i].zero_grad();
        } else {
          params[i].set_grad(make_tensor(g, shapes[i], dtype));
          resumed_params[i].set_grad(make_tensor(g, shapes[i], dtype));
        }
      }
      opt->step();
      if (resumed) resumed->step();
      for (size_t i = 0; i < params.size(); ++i) {
        worst = std::max(worst, rel_error(params[i], traj[t][i]));
        if (resumed && params[i].to_vector<double>() != resumed_params[i].to_vector<double>()) resumed_identical = false;
      }
      if (t == steps / 2 - 1) {
        // Resume a fresh optimizer over copied parameters from a state file.
        opt->save(tmp.string());
        for (size_t i = 0; i < params.size(); ++i) {
          NoGradGuard ng;
          resumed_params[i].copy_(params[i]);
        }
        resumed = make_optimizer(c, resumed_params);
        resumed->load(tmp.string());
      }
    }
    EXPECT_LE(worst, kTrajectoryTol) << name << ": trajectory differs from torch.optim." << c["type"].get<std::string>();
    EXPECT_TRUE(resumed_identical) << name << ": resumed optimizer diverged from the uninterrupted one";
    table_rows().push_back("| optimizer | " + name + " | torch.optim." + c["type"].get<std::string>() + " | " +
                           std::to_string(steps) + " | " + fmt(worst) + (resumed_identical ? "" : " (resume DIVERGED)") +
                           " | " + fmt(kTrajectoryTol) + " rel |");
  }
  std::filesystem::remove(tmp);
}

TEST(OptimParity, Schedules) {
  REQUIRE_GOLDEN();
  for (const auto& c : (*golden())["schedules"]) {
    const std::string name = c["name"], type = c["type"];
    SCOPED_TRACE(name);
    const json& cfg = c["config"];
    const auto base = c["base_lrs"].get<std::vector<double>>();
    std::vector<ParamGroupSpec> specs;
    for (double b : base) specs.push_back({{zeros({1}).set_requires_grad(true)}, "", b, std::nullopt});
    SGD opt(specs, SGDOptions{.lr = base[0]});
    std::unique_ptr<LRScheduler> sched;
    std::unique_ptr<ReduceLROnPlateau> plateau;
    std::string torch_name = "LambdaLR (formula)";
    if (type == "ConstantLR") {
      sched = std::make_unique<ConstantLR>(opt, cfg["factor"].get<double>(), cfg["total_iters"].get<int64_t>());
      torch_name = "ConstantLR";
    } else if (type == "StepLR") {
      sched = std::make_unique<StepLR>(opt, cfg["step_size"].get<int64_t>(), cfg["gamma"].get<double>());
      torch_name = "StepLR";
    } else if (type == "ExponentialLR") {
      sched = std::make_unique<ExponentialLR>(opt, cfg["gamma"].get<double>());
      torch_name = "ExponentialLR";
    } else if (type == "WarmupCosineLR") {
      sched = std::make_unique<WarmupCosineLR>(opt, cfg["warmup_steps"].get<int64_t>(),
                                               cfg["total_steps"].get<int64_t>(), cfg["min_lr"].get<double>());
    } else if (type == "WarmupLinearLR") {
      sched = std::make_unique<WarmupLinearLR>(opt, cfg["warmup_steps"].get<int64_t>(),
                                               cfg["total_steps"].get<int64_t>(), cfg["min_lr"].get<double>());
    } else if (type == "InverseSqrtLR") {
      sched = std::make_unique<InverseSqrtLR>(opt, cfg["d_model"].get<int64_t>(), cfg["warmup_steps"].get<int64_t>());
    } else if (type == "ReduceLROnPlateau") {
      ReduceLROnPlateauOptions o;
      o.mode = cfg["mode"] == "max" ? ReduceLROnPlateauOptions::Mode::Max : ReduceLROnPlateauOptions::Mode::Min;
      o.threshold_mode = cfg["threshold_mode"] == "abs" ? ReduceLROnPlateauOptions::Threshold::Abs
                                                        : ReduceLROnPlateauOptions::Threshold::Rel;
      o.factor = cfg["factor"];
      o.patience = cfg["patience"];
      o.threshold = cfg["threshold"];
      o.cooldown = cfg["cooldown"];
      if (cfg.contains("min_lr")) o.min_lr = cfg["min_lr"];
      if (cfg.contains("min_lrs")) o.min_lrs = cfg["min_lrs"].get<std::vector<double>>();
      plateau = std::make_unique<ReduceLROnPlateau>(opt, o);
      torch_name = "ReduceLROnPlateau";
    } else {
      FAIL() << "unknown schedule type " << type;
    }
    const auto& lrs = c["lrs"];
    std::vector<double> metrics;
    if (plateau) metrics = c["metrics"].get<std::vector<double>>();
    double worst = 0;
    for (size_t t = 0; t < lrs.size(); ++t) {
      if (plateau) plateau->step(metrics[t]);
      const auto want = lrs[t].get<std::vector<double>>();
      for (size_t g = 0; g < want.size(); ++g) worst = std::max(worst, std::abs(opt.lr(g) - want[g]));
      if (!plateau) sched->step();
    }
    EXPECT_LE(worst, kScheduleTol) << name;
    table_rows().push_back("| schedule | " + name + " | torch.optim.lr_scheduler." + torch_name + " | " +
                           std::to_string(lrs.size()) + " | " + fmt(worst) + " | " + fmt(kScheduleTol) + " abs |");
  }
  emit_table();
}
