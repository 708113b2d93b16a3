// Helpers shared by the subcommands (see cli_common.h).
#include "cli_common.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessera/core/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tessera::cli {

json read_config(const std::string& path) {
  std::ifstream in(path);
  TSR_CHECK(in.good(), Error, "cannot read config file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    // nlohmann's message holds the line and column.
    throw Error("config file '" + path + "' is not valid JSON: " + e.what());
  }
}

std::string resolve_data(const std::string& flag, const json& data_section) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("TESSERA_DATA");
  TSR_CHECK(env && *env, Error, "no data given: pass --data PATH or set TESSERA_DATA");
  std::string base = env;
  if (data_section.is_object() && data_section.contains("dataset") && data_section["dataset"].is_string()) {
    fs::path sub = fs::path(base) / data_section["dataset"].get<std::string>();
    if (fs::exists(sub)) return sub.string();
  }
  return base;
}

}  // namespace tessera::cli
