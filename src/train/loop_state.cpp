// What the training loop (train/loop.h) keeps on disk: step folders and
// resume, metrics.jsonl, summary.json. Key names are those of every
// checkpoint written so far (trainer_state.json, summary.json), so old runs
// still resume and old readers still read.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/checkpoint/folders.h"
#include "tessera/core/parallel.h"
#include "tessera/core/random.h"
#include "tessera/dist/world.h"
#include "tessera/io/atomic_file.h"
#include "tessera/ops/dropout_layout.h"
#include "train/loop_impl.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::train {

namespace {

// Objects merge key by key (so the loop's "rng" and the objective's share one
// object); anything else is replaced by `from`'s value.
void merge_into(json& into, const json& from) {
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (it.value().is_object() && into.contains(it.key()) && into[it.key()].is_object()) {
      merge_into(into[it.key()], it.value());
    } else {
      into[it.key()] = it.value();
    }
  }
}

json objective_json(const std::string& text, const char* what) {
  json j = json::parse(text.empty() ? std::string("{}") : text);
  TSR_CHECK(j.is_object(), Error, "training loop: the objective's ", what, " is not a JSON object");
  return j;
}

}  // namespace

// ---- metrics.jsonl ----

void MetricsLog::open(const std::string& path, bool resumed, int64_t step) {
  if (resumed && fs::exists(path)) {
    std::ifstream in(path);
    std::string line, kept;
    while (std::getline(in, line)) {
      try {
        if (json::parse(line).value("step", int64_t{0}) <= step) kept += line + "\n";
      } catch (const json::exception&) {
        // A line torn by a kill: drop it.
      }
    }
    in.close();
    io::write_file_atomic(path, kept);
    file_.open(path, std::ios::app);
  } else {
    file_.open(path, std::ios::trunc);
  }
  TSR_CHECK(file_.good(), Error, "training loop: cannot write ", path);
}

void MetricsLog::line(const std::string& json_object) {
  if (!file_.is_open()) return;
  file_ << json_object << "\n";
  file_.flush();
}

// ---- checkpoints ----

void TrainingLoop::Impl::save_checkpoint() {
  if (!cfg.writer) {  // a data-parallel rank > 0: only the collectives a sharded optimizer needs
    for (StepHook* h : hooks) h->save_optimizer("");
    last_checkpoint = step;
    return;
  }
  const std::string tmp = checkpoint::begin(cfg.out_dir, step);
  const fs::path d(tmp);
  obj.save_files(tmp, step);
  bool saved = false;
  for (StepHook* h : hooks) saved = h->save_optimizer((d / "optimizer.bin").string()) || saved;
  if (!saved) optimizer.save((d / "optimizer.bin").string());
  scheduler.save((d / "scheduler.bin").string());
  const auto& dg = default_generator();
  json st = {{"step", step},
             {"wall_seconds", elapsed()},
             {"samples_seen", examples_seen},
             {"tokens_seen", tokens_seen},
             {"bad_evals", bad_evals},
             {"best_step", best_step},
             {"best_metric", best_step >= 0 ? json(best_value) : json(nullptr)},
             {"rng", {{"default", {dg.seed(), dg.offset()}}}},
             {"dropout_masks", dropout_mask_layout_name(dropout_mask_layout())}};
  merge_into(st, objective_json(obj.state_json(), "state"));
  io::write_file_atomic((d / "trainer_state.json").string(), st.dump(2) + "\n");
  checkpoint::commit(tmp, cfg.out_dir, step);
  last_checkpoint = step;
  const bool keep_best = cfg.keep_best_checkpoint && best_step >= 0;
  checkpoint::prune(cfg.out_dir, cfg.keep_last, keep_best ? std::optional<int64_t>(best_step) : std::nullopt);
}

void TrainingLoop::Impl::load_checkpoint(int64_t s) {
  const std::string dir = checkpoint::step_dir(cfg.out_dir, s);
  const std::string config = checkpoint::read_config(dir);  // checks the format version
  const std::string state_text = io::read_file((fs::path(dir) / "trainer_state.json").string(), "checkpoint");
  json st;
  try {
    st = json::parse(state_text);
  } catch (const json::exception& e) {
    throw Error("checkpoint " + dir + ": trainer_state.json is malformed: " + e.what());
  }
  try {
    obj.load(dir, config, state_text);
  } catch (const json::exception& e) {
    throw Error("checkpoint " + dir + " is malformed: " + e.what());
  }
  optimizer.load((fs::path(dir) / "optimizer.bin").string());
  scheduler.load((fs::path(dir) / "scheduler.bin").string());
  try {
    step = st.at("step");
    wall_before = st.at("wall_seconds");
    // Counters that runs of one kind did not write: zero.
    examples_seen = st.value("samples_seen", int64_t{0});
    tokens_seen = st.value("tokens_seen", int64_t{0});
    bad_evals = st.value("bad_evals", int64_t{0});
    best_step = st.value("best_step", int64_t{-1});
    const bool has_best = st.contains("best_metric") && !st["best_metric"].is_null();
    best_value = has_best ? st["best_metric"].get<double>() : 0.0;
    if (!has_best) best_step = -1;
    const json& d = st.at("rng").at("default");
    default_generator().set_state(d.at(0), d.at(1));
    // Runs saved before the layout was recorded drew their masks from word 0
    // of one counter per element: resumed, they keep doing so.
    set_dropout_mask_layout(st.contains("dropout_masks")
                                ? parse_dropout_mask_layout(st.at("dropout_masks").get<std::string>())
                                : DropoutMaskLayout::kWord0PerCounter);
  } catch (const json::exception& e) {
    throw Error("checkpoint " + dir + ": trainer_state.json is malformed: " + e.what());
  } catch (const Error& e) {
    throw Error("checkpoint " + dir + ": trainer_state.json: " + e.what());
  }
  last_checkpoint = s;
}

// ---- summary.json ----

std::string TrainingLoop::Impl::write_summary(const RunSummary& run) {
  json s = {{"stop_reason", run.stop_reason},
            {"steps", step},
            {"wall_seconds", run.last.elapsed_seconds},
            {"train_seconds", run.train_seconds},
            {"threads", get_num_threads()},
            {"world_size", dist::world().size},
            {"precision", precision_name(cfg.precision)}};
  if (last_checkpoint) s["last_checkpoint"] = checkpoint::step_dir(cfg.out_dir, *last_checkpoint);
  if (best_step >= 0) {
    s["best_step"] = best_step;
    s["best_" + obj.eval_split() + "_" + cfg.best_metric] = std::isfinite(best_value) ? json(best_value) : json(nullptr);
  }
  merge_into(s, objective_json(obj.summary_json(run), "summary"));
  for (StepHook* h : hooks) merge_into(s, objective_json(h->summary_json(run), "hook summary"));
  if (!cfg.writer) return "";
  std::string text = s.dump(2) + "\n";
  io::write_file_atomic((fs::path(cfg.out_dir) / "summary.json").string(), text);
  return text;
}

}  // namespace tessera::train
