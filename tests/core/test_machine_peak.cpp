// The measured machine peak (core/machine_peak.h): plausible numbers, the
// per-machine cache round trip, and a corrupt cache ignored and rewritten.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tessera/core/machine_peak.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tessera;

namespace {

fs::path temp_file(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tessera_peak_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  return p / "peak.json";  // its folder does not exist yet: the cache creates it
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

}  // namespace

TEST(MachinePeak, MeasuresPlausibleNumbers) {
  const MachinePeak p = measure_machine_peak(1);
  EXPECT_FALSE(p.cpu.empty());
  EXPECT_FALSE(p.fp32_isa.empty());
  EXPECT_EQ(p.threads, 1);
  // Any CPU of the last 15 years does more than 1 GFLOP/s per core and less than 1 TFLOP/s.
  EXPECT_GT(p.fp32_flops, 1e9);
  EXPECT_LT(p.fp32_flops, 1e12);
  if (p.bf16_flops > 0) {
    // Two multiply-adds per fp32 lane per instruction: at least the fp32 rate (0.9: timing noise).
    EXPECT_GE(p.bf16_flops, 0.9 * p.fp32_flops);
    EXPECT_EQ(p.for_precision("bf16"), p.bf16_flops);
  } else {
    EXPECT_EQ(p.for_precision("bf16"), p.fp32_flops);  // no bf16 instructions: the fp32 peak
  }
  EXPECT_EQ(p.for_precision("fp32"), p.fp32_flops);
}

TEST(MachinePeak, CacheRoundTrip) {
  const fs::path file = temp_file("roundtrip");
  const MachinePeak first = machine_peak(1, file.string());
  EXPECT_FALSE(first.from_cache);
  ASSERT_TRUE(fs::exists(file));
  json c = read_json(file);
  ASSERT_TRUE(c.at("entries").contains(first.key()));
  // Another process would read the entry: plant a recognizable figure and read it through a new path key.
  c["entries"][first.key()]["fp32_flops"] = 1.25e11;
  const fs::path copy = file.parent_path() / "copy.json";
  std::ofstream(copy) << c.dump();
  const MachinePeak again = machine_peak(1, copy.string());
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(again.fp32_flops, 1.25e11);
  EXPECT_EQ(again.bf16_flops, first.bf16_flops);
  EXPECT_EQ(again.cpu, first.cpu);
  // A second thread count is another entry of the same file.
  machine_peak(2, copy.string());
  EXPECT_EQ(read_json(copy).at("entries").size(), 2u);
  fs::remove_all(file.parent_path());
}

TEST(MachinePeak, CorruptCacheIsIgnoredAndRewritten) {
  const fs::path file = temp_file("corrupt");
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "{\"entries\": {\"truncated";
  const MachinePeak p = machine_peak(1, file.string());
  EXPECT_FALSE(p.from_cache);
  EXPECT_GT(p.fp32_flops, 0);
  const json c = read_json(file);  // valid JSON again
  EXPECT_TRUE(c.at("entries").contains(p.key()));

  // An entry with a wrong type is measured again too.
  const fs::path bad = file.parent_path() / "bad.json";
  std::ofstream(bad) << json({{"entries", {{p.key(), {{"fp32_flops", "fast"}, {"bf16_flops", 0}}}}}}).dump();
  const MachinePeak q = machine_peak(1, bad.string());
  EXPECT_FALSE(q.from_cache);
  EXPECT_TRUE(read_json(bad)["entries"][p.key()]["fp32_flops"].is_number());
  fs::remove_all(file.parent_path());
}
