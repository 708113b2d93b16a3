// Step folders (checkpoint/folders.h): atomic creation by temp folder + rename, listing, pruning.
#include "tessera/checkpoint/folders.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"

namespace fs = std::filesystem;

namespace tessera::checkpoint {

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

std::string root(const std::string& out_dir) { return (fs::path(out_dir) / "checkpoints").string(); }

std::string step_dir(const std::string& out_dir, int64_t step) {
  return (fs::path(root(out_dir)) / ("step-" + std::to_string(step))).string();
}

std::vector<int64_t> list_steps(const std::string& out_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  fs::path dir = root(out_dir);
  if (!fs::is_directory(dir, ec)) return steps;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_directory()) continue;
    if (auto s = parse_step(e.path().filename().string())) steps.push_back(*s);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

std::optional<int64_t> latest_step(const std::string& out_dir) {
  auto steps = list_steps(out_dir);
  if (steps.empty()) return std::nullopt;
  return steps.back();
}

std::string begin(const std::string& out_dir, int64_t step) {
  fs::path dir = root(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  TSR_CHECK(!ec, Error, "checkpoint: cannot create ", dir.string(), ": ", ec.message());
  fs::path tmp = dir / (".tmp-step-" + std::to_string(step) + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  TSR_CHECK(!ec, Error, "checkpoint: cannot create ", tmp.string(), ": ", ec.message());
  return tmp.string();
}

std::string commit(const std::string& temp_dir, const std::string& out_dir, int64_t step) {
  for (const auto& e : fs::directory_iterator(temp_dir)) {
    if (e.is_regular_file()) fsync_path(e.path().string(), false);
  }
  fsync_path(temp_dir, true);
  std::string final_dir = step_dir(out_dir, step);
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
  fsync_path(root(out_dir), true);
  return final_dir;
}

void prune(const std::string& out_dir, int64_t keep_last, std::optional<int64_t> keep_also) {
  auto steps = list_steps(out_dir);
  int64_t n = static_cast<int64_t>(steps.size());
  for (int64_t i = 0; i < n - std::max<int64_t>(keep_last, 1); ++i) {
    if (keep_also && steps[i] == *keep_also) continue;
    std::error_code ec;
    fs::remove_all(step_dir(out_dir, steps[i]), ec);
  }
}

std::string read_config(const std::string& dir) {
  fs::path p = fs::path(dir) / "config.json";
  std::error_code ec;
  TSR_CHECK(fs::is_regular_file(p, ec), Error, "checkpoint: cannot read ", p.string(), " (is ", dir,
            " a checkpoint folder?)");
  std::string text = io::read_file(p.string(), "checkpoint");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint: " + p.string() + " is not valid JSON: " + e.what());
  }
  TSR_CHECK(j.is_object() && j.contains("format_version") && j["format_version"].is_number_integer(), Error,
            "checkpoint: ", p.string(), " has no integer \"format_version\"");
  int v = j["format_version"];
  TSR_CHECK(v >= 1 && v <= kFormatVersion, Error, "checkpoint: ", p.string(), " has format_version ", v,
            "; this build reads versions 1..", kFormatVersion);
  return text;
}

}  // namespace tessera::checkpoint
