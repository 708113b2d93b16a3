// Learning-rate schedules (see lr_scheduler.h), their state and state files.
#include "tessera/optim/lr_scheduler.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>

#include "optim/state_file.h"

namespace tessera::optim {
namespace {

constexpr char kMagic[9] = "TSRSCHED";
constexpr uint32_t kVersion = 1;
constexpr const char* kWhat = "scheduler state";

// JSON has no inf / nan (ReduceLROnPlateau's initial best is inf): write those as strings.
nlohmann::json encode(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}
double decode(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  throw Error("scheduler state: bad number '" + s + "'");
}

double warmup_factor(int64_t s, int64_t warmup) {
  return static_cast<double>(s) / static_cast<double>(std::max<int64_t>(1, warmup));
}
double decay_progress(int64_t s, int64_t warmup, int64_t total) {
  double p = static_cast<double>(s - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return std::min(1.0, p);
}

}  // namespace

// ---- StatefulScheduler ----

void StatefulScheduler::check_type(const SchedulerState& s) const {
  TSR_CHECK(s.type == type_, Error, type_, ": cannot load the state of a ", s.type, " scheduler");
}

const std::vector<double>& StatefulScheduler::value(const SchedulerState& s, const std::string& key, int64_t n) const {
  auto it = s.values.find(key);
  TSR_CHECK(it != s.values.end(), Error, type_, ": state lacks '", key, "'");
  TSR_CHECK(n < 0 || static_cast<int64_t>(it->second.size()) == n, Error, type_, ": state '", key, "' has ",
            it->second.size(), " values, expected ", n);
  return it->second;
}

void StatefulScheduler::save(const std::string& path) const {
  SchedulerState st = state_dict();
  nlohmann::json h;
  h["format"] = "tessera.scheduler";
  h["type"] = st.type;
  h["values"] = nlohmann::json::object();
  for (const auto& [k, vs] : st.values) {
    nlohmann::json arr = nlohmann::json::array();
    for (double v : vs) arr.push_back(encode(v));
    h["values"][k] = arr;
  }
  detail::write_state_file(path, kMagic, kVersion, h.dump(), {}, kWhat);
}

void StatefulScheduler::load(const std::string& path) {
  detail::StateFile f = detail::read_state_file(path, kMagic, kVersion, kWhat);
  detail::decode_and_apply<SchedulerState>(
      path, kWhat, f,
      [](const nlohmann::json& h, SchedulerState& st) {
        st.type = h.at("type").get<std::string>();
        for (const auto& [k, arr] : h.at("values").items()) {
          auto& out = st.values[k];
          for (const auto& v : arr) out.push_back(decode(v));
        }
      },
      [this](const SchedulerState& st) { load_state_dict(st); });
}

// ---- LRScheduler ----

LRScheduler::LRScheduler(std::string type, Optimizer& optimizer)
    : StatefulScheduler(std::move(type)), optimizer_(optimizer), base_lrs_(optimizer.lrs()) {}

void LRScheduler::initial_step() {
  last_epoch_ = -1;
  step();
}

void LRScheduler::step() {
  TSR_CHECK(optimizer_.num_groups() == base_lrs_.size(), Error, type_name(), ": the optimizer has ",
            optimizer_.num_groups(), " parameter groups, the scheduler was built for ", base_lrs_.size());
  ++last_epoch_;
  last_lr_ = compute_lrs();
  for (size_t g = 0; g < last_lr_.size(); ++g) optimizer_.set_lr(g, last_lr_[g]);
}

SchedulerState LRScheduler::state_dict() const {
  SchedulerState s{type_name(), {}};
  s.values["last_epoch"] = {static_cast<double>(last_epoch_)};
  s.values["base_lrs"] = base_lrs_;
  s.values["last_lr"] = last_lr_;
  save_config(s);
  return s;
}

void LRScheduler::load_state_dict(const SchedulerState& s) {
  check_type(s);
  const auto n = static_cast<int64_t>(optimizer_.num_groups());
  const double epoch = value(s, "last_epoch")[0];
  auto base = value(s, "base_lrs", n);
  auto last = value(s, "last_lr", n);
  load_config(s);
  last_epoch_ = static_cast<int64_t>(epoch);
  base_lrs_ = std::move(base);
  last_lr_ = std::move(last);
  // The optimizer's own state file restores the group lrs; a scheduler loaded
  // alone restores them too, so the next step continues from the same point.
  for (size_t g = 0; g < last_lr_.size(); ++g) optimizer_.set_lr(g, last_lr_[g]);
}

// ---- the schedules ----

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : LRScheduler("ConstantLR", optimizer), factor_(factor), total_iters_(total_iters) {
  TSR_CHECK(factor > 0.0 && factor <= 1.0, Error, "ConstantLR: factor must be in (0, 1], got ", factor);
  TSR_CHECK(total_iters >= 0, Error, "ConstantLR: total_iters must be >= 0, got ", total_iters);
  initial_step();
}
std::vector<double> ConstantLR::compute_lrs() {
  std::vector<double> out;
  for (double b : base_lrs()) out.push_back(last_epoch() < total_iters_ ? b * factor_ : b);
  return out;
}
void ConstantLR::save_config(SchedulerState& s) const {
  s.values["factor"] = {factor_};
  s.values["total_iters"] = {static_cast<double>(total_iters_)};
}
void ConstantLR::load_config(const SchedulerState& s) {
  factor_ = value(s, "factor")[0];
  total_iters_ = static_cast<int64_t>(value(s, "total_iters")[0]);
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
  TSR_CHECK(step_size > 0, Error, "StepLR: step_size must be positive, got ", step_size);
  initial_step();
}
std::vector<double> StepLR::compute_lrs() {
  std::vector<double> out = optimizer().lrs();
  if (last_epoch() != 0 && last_epoch() % step_size_ == 0)
    for (double& lr : out) lr *= gamma_;
  return out;
}
void StepLR::save_config(SchedulerState& s) const {
  s.values["step_size"] = {static_cast<double>(step_size_)};
  s.values["gamma"] = {gamma_};
}
void StepLR::load_config(const SchedulerState& s) {
  step_size_ = static_cast<int64_t>(value(s, "step_size")[0]);
  gamma_ = value(s, "gamma")[0];
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler("ExponentialLR", optimizer), gamma_(gamma) {
  initial_step();
}
std::vector<double> ExponentialLR::compute_lrs() {
  std::vector<double> out = optimizer().lrs();
  if (last_epoch() != 0)
    for (double& lr : out) lr *= gamma_;
  return out;
}
void ExponentialLR::save_config(SchedulerState& s) const { s.values["gamma"] = {gamma_}; }
void ExponentialLR::load_config(const SchedulerState& s) { gamma_ = value(s, "gamma")[0]; }

LambdaLR::LambdaLR(Optimizer& optimizer, std::function<double(int64_t)> fn)
    : LRScheduler("LambdaLR", optimizer), fn_(std::move(fn)) {
  TSR_CHECK(static_cast<bool>(fn_), Error, "LambdaLR: no function given");
  initial_step();
}
std::vector<double> LambdaLR::compute_lrs() {
  std::vector<double> out;
  const double f = fn_(last_epoch());
  for (double b : base_lrs()) out.push_back(b * f);
  return out;
}

namespace {
void check_warmup(const char* who, int64_t warmup, int64_t total, double min_lr) {
  TSR_CHECK(warmup >= 0 && total >= warmup, Error, who, ": need 0 <= warmup_steps <= total_steps, got ", warmup,
            " and ", total);
  TSR_CHECK(min_lr >= 0.0, Error, who, ": min_lr must be >= 0, got ", min_lr);
}
}  // namespace

WarmupDecayLR::WarmupDecayLR(const char* name, Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                             double min_lr)
    : LRScheduler(name, optimizer), warmup_(warmup_steps), total_(total_steps), min_lr_(min_lr) {
  check_warmup(name, warmup_steps, total_steps, min_lr);
}
std::vector<double> WarmupDecayLR::compute_lrs() {
  const int64_t s = last_epoch();
  std::vector<double> out;
  for (double b : base_lrs()) {
    if (s < warmup_) {
      out.push_back(b * warmup_factor(s, warmup_));
    } else {
      const double p = decay_progress(s, warmup_, total_);
      out.push_back(min_lr_ + (b - min_lr_) * decay_factor(p));
    }
  }
  return out;
}
void WarmupDecayLR::save_config(SchedulerState& s) const {
  s.values["warmup_steps"] = {static_cast<double>(warmup_)};
  s.values["total_steps"] = {static_cast<double>(total_)};
  s.values["min_lr"] = {min_lr_};
}
void WarmupDecayLR::load_config(const SchedulerState& s) {
  warmup_ = static_cast<int64_t>(value(s, "warmup_steps")[0]);
  total_ = static_cast<int64_t>(value(s, "total_steps")[0]);
  min_lr_ = value(s, "min_lr")[0];
}

// initial_step() runs in the subclasses: it calls decay_factor, which is not
// dispatched to them while the base is still being constructed.
WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr)
    : WarmupDecayLR("WarmupCosineLR", optimizer, warmup_steps, total_steps, min_lr) {
  initial_step();
}
double WarmupCosineLR::decay_factor(double p) const { return 0.5 * (1.0 + std::cos(std::numbers::pi * p)); }

WarmupLinearLR::WarmupLinearLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr)
    : WarmupDecayLR("WarmupLinearLR", optimizer, warmup_steps, total_steps, min_lr) {
  initial_step();
}
double WarmupLinearLR::decay_factor(double p) const { return 1.0 - p; }

InverseSqrtLR::InverseSqrtLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps)
    : LRScheduler("InverseSqrtLR", optimizer), d_model_(d_model), warmup_(warmup_steps) {
  TSR_CHECK(d_model > 0 && warmup_steps > 0, Error, "InverseSqrtLR: d_model and warmup_steps must be positive, got ",
            d_model, " and ", warmup_steps);
  initial_step();
}
std::vector<double> InverseSqrtLR::compute_lrs() {
  const double n = static_cast<double>(last_epoch() + 1);
  const double f = std::pow(static_cast<double>(d_model_), -0.5) *
                   std::min(std::pow(n, -0.5), n * std::pow(static_cast<double>(warmup_), -1.5));
  std::vector<double> out;
  for (double b : base_lrs()) out.push_back(b * f);
  return out;
}
void InverseSqrtLR::save_config(SchedulerState& s) const {
  s.values["d_model"] = {static_cast<double>(d_model_)};
  s.values["warmup_steps"] = {static_cast<double>(warmup_)};
}
void InverseSqrtLR::load_config(const SchedulerState& s) {
  d_model_ = static_cast<int64_t>(value(s, "d_model")[0]);
  warmup_ = static_cast<int64_t>(value(s, "warmup_steps")[0]);
}

// ---- ReduceLROnPlateau ----

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const Options& options)
    : StatefulScheduler("ReduceLROnPlateau"), optimizer_(optimizer), options_(options) {
  TSR_CHECK(options.factor < 1.0 && options.factor >= 0.0, Error, "ReduceLROnPlateau: factor must be in [0, 1), got ",
            options.factor);
  TSR_CHECK(options.patience >= 0 && options.cooldown >= 0, Error,
            "ReduceLROnPlateau: patience and cooldown must be >= 0");
  if (options_.min_lrs.empty()) options_.min_lrs.assign(optimizer.num_groups(), options.min_lr);
  TSR_CHECK(options_.min_lrs.size() == optimizer.num_groups(), Error, "ReduceLROnPlateau: expected ",
            optimizer.num_groups(), " min_lrs (one per group), got ", options_.min_lrs.size());
  best_ = options_.mode == Options::Mode::Min ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  const bool rel = options_.threshold_mode == Options::Threshold::Rel;
  if (options_.mode == Options::Mode::Min) return rel ? a < best * (1.0 - options_.threshold) : a < best - options_.threshold;
  return rel ? a > best * (options_.threshold + 1.0) : a > best + options_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad steps during cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (size_t g = 0; g < optimizer_.num_groups(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lrs.at(g));
      if (old_lr - new_lr > options_.eps) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
}

SchedulerState ReduceLROnPlateau::state_dict() const {
  SchedulerState s{type_name(), {}};
  s.values["last_epoch"] = {static_cast<double>(last_epoch_)};
  s.values["best"] = {best_};
  s.values["num_bad_epochs"] = {static_cast<double>(num_bad_epochs_)};
  s.values["cooldown_counter"] = {static_cast<double>(cooldown_counter_)};
  s.values["mode_max"] = {options_.mode == Options::Mode::Max ? 1.0 : 0.0};
  s.values["threshold_abs"] = {options_.threshold_mode == Options::Threshold::Abs ? 1.0 : 0.0};
  s.values["factor"] = {options_.factor};
  s.values["patience"] = {static_cast<double>(options_.patience)};
  s.values["threshold"] = {options_.threshold};
  s.values["cooldown"] = {static_cast<double>(options_.cooldown)};
  s.values["min_lrs"] = options_.min_lrs;
  s.values["eps"] = {options_.eps};
  s.values["lrs"] = optimizer_.lrs();
  return s;
}

void ReduceLROnPlateau::load_state_dict(const SchedulerState& s) {
  check_type(s);
  const auto n = static_cast<int64_t>(optimizer_.num_groups());
  Options o = options_;
  o.mode = value(s, "mode_max")[0] != 0.0 ? Options::Mode::Max : Options::Mode::Min;
  o.threshold_mode = value(s, "threshold_abs")[0] != 0.0 ? Options::Threshold::Abs : Options::Threshold::Rel;
  o.factor = value(s, "factor")[0];
  o.patience = static_cast<int64_t>(value(s, "patience")[0]);
  o.threshold = value(s, "threshold")[0];
  o.cooldown = static_cast<int64_t>(value(s, "cooldown")[0]);
  o.min_lrs = value(s, "min_lrs", n);
  o.eps = value(s, "eps")[0];
  const auto& lrs = value(s, "lrs", n);
  const double last_epoch = value(s, "last_epoch")[0];
  const double best = value(s, "best")[0];
  const double bad = value(s, "num_bad_epochs")[0];
  const double cooldown = value(s, "cooldown_counter")[0];
  options_ = o;
  last_epoch_ = static_cast<int64_t>(last_epoch);
  best_ = best;
  num_bad_epochs_ = static_cast<int64_t>(bad);
  cooldown_counter_ = static_cast<int64_t>(cooldown);
  for (size_t g = 0; g < lrs.size(); ++g) optimizer_.set_lr(g, lrs[g]);
}

}  // namespace tessera::optim
