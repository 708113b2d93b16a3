// Checkpoint folders: atomic creation by temp folder + rename, listing and pruning.
#include "tessera/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/core/error.h"
#include "tessera/io/safetensors.h"
#include "tessera/models/factory.h"

namespace fs = std::filesystem;

namespace tessera::train {

namespace {

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  TSR_CHECK(fd >= 0, Error, "checkpoint: cannot open ", path, " to sync: ", std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  TSR_CHECK(rc == 0, Error, "checkpoint: fsync of ", path, " failed: ", std::strerror(err));
}

// "step-123" -> 123; anything else (temp folders, stray files) -> nullopt.
std::optional<int64_t> parse_step(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

}  // namespace

std::string checkpoint_root(const std::string& out_dir) { return (fs::path(out_dir) / "checkpoints").string(); }

std::string checkpoint_dir(const std::string& out_dir, int64_t step) {
  return (fs::path(checkpoint_root(out_dir)) / ("step-" + std::to_string(step))).string();
}

std::vector<int64_t> list_checkpoints(const std::string& out_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  fs::path root = checkpoint_root(out_dir);
  if (!fs::is_directory(root, ec)) return steps;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory()) continue;
    if (auto s = parse_step(e.path().filename().string())) steps.push_back(*s);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::optional<int64_t> latest_checkpoint(const std::string& out_dir) {
  auto steps = list_checkpoints(out_dir);
  if (steps.empty()) return std::nullopt;
  return steps.back();
}

std::string begin_checkpoint(const std::string& out_dir, int64_t step) {
  fs::path root = checkpoint_root(out_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  TSR_CHECK(!ec, Error, "checkpoint: cannot create ", root.string(), ": ", ec.message());
  fs::path tmp = root / (".tmp-step-" + std::to_string(step) + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  TSR_CHECK(!ec, Error, "checkpoint: cannot create ", tmp.string(), ": ", ec.message());
  return tmp.string();
}

std::string commit_checkpoint(const std::string& temp_dir, const std::string& out_dir, int64_t step) {
  for (const auto& e : fs::directory_iterator(temp_dir)) {
    if (e.is_regular_file()) fsync_path(e.path().string(), false);
  }
  fsync_path(temp_dir, true);
  std::string final_dir = checkpoint_dir(out_dir, step);
  std::error_code ec;
  if (fs::exists(final_dir, ec)) {
    // Re-writing a step (a resumed run reaching it again): move the old one
    // aside first so step-N is never half old, half new.
    std::string old = final_dir + ".old";
    fs::remove_all(old, ec);
    fs::rename(final_dir, old, ec);
    TSR_CHECK(!ec, Error, "checkpoint: cannot replace ", final_dir, ": ", ec.message());
    fs::rename(temp_dir, final_dir, ec);
    TSR_CHECK(!ec, Error, "checkpoint: cannot rename ", temp_dir, " to ", final_dir, ": ", ec.message());
    fs::remove_all(old, ec);
  } else {
    fs::rename(temp_dir, final_dir, ec);
    TSR_CHECK(!ec, Error, "checkpoint: cannot rename ", temp_dir, " to ", final_dir, ": ", ec.message());
  }
  fsync_path(checkpoint_root(out_dir), true);
  return final_dir;
}

void prune_checkpoints(const std::string& out_dir, int64_t keep_last, std::optional<int64_t> keep_also) {
  auto steps = list_checkpoints(out_dir);
  int64_t n = static_cast<int64_t>(steps.size());
  for (int64_t i = 0; i < n - std::max<int64_t>(keep_last, 1); ++i) {
    if (keep_also && steps[i] == *keep_also) continue;
    std::error_code ec;
    fs::remove_all(checkpoint_dir(out_dir, steps[i]), ec);
  }
}

std::string read_checkpoint_config(const std::string& dir) {
  fs::path p = fs::path(dir) / "config.json";
  std::ifstream in(p);
  TSR_CHECK(in.good(), Error, "checkpoint: cannot read ", p.string(), " (is ", dir, " a checkpoint folder?)");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint: " + p.string() + " is not valid JSON: " + e.what());
  }
  TSR_CHECK(j.is_object() && j.contains("format_version") && j["format_version"].is_number_integer(), Error,
            "checkpoint: ", p.string(), " has no integer \"format_version\"");
  int v = j["format_version"];
  TSR_CHECK(v >= 1 && v <= kCheckpointFormatVersion, Error, "checkpoint: ", p.string(), " has format_version ", v,
            "; this build reads versions 1..", kCheckpointFormatVersion);
  return ss.str();
}

LoadedCheckpoint load_checkpoint_model(const std::string& dir_in) {
  std::string dir = dir_in;
  TSR_CHECK(fs::is_directory(dir), Error, "checkpoint: '", dir, "' is not a folder");
  if (!fs::exists(fs::path(dir) / "config.json")) {
    // A run folder: the weights its summary.json was tested with (the best
    // checkpoint when early stopping picked one), else the newest checkpoint.
    std::optional<int64_t> pick;
    fs::path summary = fs::path(dir) / "summary.json";
    if (fs::exists(summary)) {
      std::ifstream in(summary);
      auto s = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (s.is_object() && s.contains("tested_checkpoint_step") && s["tested_checkpoint_step"].is_number_integer()) {
        int64_t st = s["tested_checkpoint_step"];
        if (fs::exists(fs::path(checkpoint_dir(dir, st)) / "config.json")) pick = st;
      }
    }
    if (!pick) pick = latest_checkpoint(dir);
    TSR_CHECK(pick.has_value(), Error, "checkpoint: '", dir,
              "' holds neither config.json nor checkpoints/step-N folders");
    dir = checkpoint_dir(dir, *pick);
  }
  nlohmann::json c = nlohmann::json::parse(read_checkpoint_config(dir));
  LoadedCheckpoint out;
  try {
    out.step = c.at("step");
    out.task = c.at("task");
    const auto& recipe = c.at("recipe");
    out.recipe_json = recipe.dump();
    out.data_json = recipe.contains("data") ? recipe["data"].dump() : std::string("{}");
    out.data_state_json = c.contains("data_state") ? c["data_state"].dump() : std::string("null");
    out.class_names = c.value("class_names", std::vector<std::string>{});
    out.seed = recipe.contains("train") ? recipe["train"].value("seed", uint64_t{0}) : 0;
    Shape input_shape = c.at("input_shape").get<Shape>();
    out.model = models::build_model(recipe.at("model").dump(), input_shape, c.at("num_outputs").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint: " + dir + "/config.json is missing a field: " + e.what());
  }
  auto w = io::load_safetensors((fs::path(dir) / "model.safetensors").string());
  out.model->load_state_dict(w.tensors);
  out.model->eval();
  return out;
}

}  // namespace tessera::train
