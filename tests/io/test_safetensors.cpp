// Safetensors and atomic files: round trips of every dtype (copy and mmap
// loads, non-contiguous inputs), byte-identical re-writes of real files from
// candle, agreement with an independent Python reader/writer
// (tests/io/safetensors_peer.py), one clear error per kind of corruption, and
// crash safety: a writer SIGKILLed mid-save leaves the previous file loadable.
#include <gtest/gtest.h>

#include "test_util.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::test_util;
using namespace tessera::io;
namespace fs = std::filesystem;

namespace {

const fs::path kTestDir = fs::path(TESSERA_TESTS_DIR) / "io";  // tests/io in the source tree
const char* kPython = "/usr/bin/python3";

// A fresh directory per test, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("tessera_st_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The bytes of a tensor in logical (row-major) order.
std::string bytes_of(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
}

void expect_same_tensor(const Tensor& got, const Tensor& want, const std::string& name) {
  ASSERT_TRUE(got.defined()) << name;
  EXPECT_EQ(got.dtype(), want.dtype()) << name;
  EXPECT_EQ(got.shape(), want.shape()) << name;
  EXPECT_TRUE(bytes_of(got) == bytes_of(want)) << name << ": bytes differ";  // bitwise: NaN, -0.0 included
}

Tensor bf16_from_bits(const std::vector<uint16_t>& bits, const Shape& shape) {
  std::vector<uint16_t> copy = bits;
  return from_blob(copy.data(), shape, DType::BF16).clone();
}

// One tensor of every dtype, with edge values, a 0-d scalar and an empty tensor.
TensorMap every_dtype() {
  const float inf = std::numeric_limits<float>::infinity();
  TensorMap m;
  m["f32"] = from_vector<float>({1.5f, -0.0f, inf, -inf, std::nanf(""), 1e-45f}, {2, 3});
  m["f64"] = from_vector<double>({3.141592653589793, -1e308, 5e-324, 0.1}, {4});
  m["bf16"] = bf16_from_bits({0x3f80, 0xc020, 0x7f80, 0x7fc1, 0x8000, 0x0001}, {3, 2});
  m["i32"] = from_vector<int32_t>({INT32_MIN, -1, 0, INT32_MAX}, {2, 2});
  m["i64"] = from_vector<int64_t>({INT64_MIN, -7, 12345678901234, INT64_MAX}, {1, 4});
  m["bool"] = from_vector<bool>({true, false, false, true, true}, {5});
  m["scalar"] = from_vector<float>({42.25f}, {});
  m["empty"] = empty({0, 3}, {.dtype = DType::F64});
  m["a.b.c.weight"] = from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  return m;
}

// ---- running the independent Python peer ----

bool have_python() { return ::access(kPython, X_OK) == 0; }

// Runs safetensors_peer.py; returns its stdout, fails the test on a non-zero exit.
std::string run_peer(const std::string& mode, const std::string& file, const std::string& scratch) {
  const std::string out = scratch + ".peer_out", err = scratch + ".peer_err";
  const std::string cmd = std::string(kPython) + " '" + (kTestDir / "safetensors_peer.py").string() + "' " + mode +
                          " '" + file + "' > '" + out + "' 2> '" + err + "'";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd << "\n" << read_bytes(err);
  return read_bytes(out);
}

double peer_value(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return std::nan("");
    return s == "inf" ? INFINITY : -INFINITY;
  }
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  return v.get<double>();
}

// Exact comparison of the peer's decoded values with the tensor's. Integers
// are compared as JSON integers (int64 extremes do not survive a double).
void expect_peer_values(const nlohmann::json& peer, const Tensor& t, const std::string& name) {
  const auto& vals = peer.at("values");
  ASSERT_EQ(static_cast<int64_t>(vals.size()), t.numel()) << name;
  if (t.dtype() == DType::I64 || t.dtype() == DType::I32) {
    std::vector<int64_t> want = t.to(DType::I64).to_vector<int64_t>();
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(vals[i].get<int64_t>(), want[i]) << name << "[" << i << "]";
    return;
  }
  std::vector<double> want = t.dtype() == DType::BF16 ? t.to(DType::F64).to_vector<double>() : t.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) {
    const double got = peer_value(vals[i]);
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got)) << name << "[" << i << "]";
    } else {
      EXPECT_EQ(got, want[i]) << name << "[" << i << "]";
      EXPECT_EQ(std::signbit(got), std::signbit(want[i])) << name << "[" << i << "]";
    }
  }
}

fs::path shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return kTestDir.parent_path().parent_path().parent_path() / "shared" / "data";
}

}  // namespace

// ---- round trips ----

TEST_F(SafetensorsTest, RoundTripEveryDtypeCopyAndMmap) {
  const TensorMap src = every_dtype();
  const Metadata meta = {{"format", "pt"}, {"epoch", "3"}, {"note", "h\u00e9llo \"quoted\"\n"}};
  save_safetensors(path("all.safetensors"), src, meta);
  for (LoadMode mode : {LoadMode::Copy, LoadMode::Mmap}) {
    SafetensorsContents got = load_safetensors(path("all.safetensors"), mode);
    EXPECT_EQ(got.metadata, meta);
    ASSERT_EQ(got.tensors.size(), src.size());
    for (const auto& [name, t] : src) expect_same_tensor(got.tensors.at(name), t, name);
  }
  // The in-memory parser sees the same thing.
  const std::string bytes = serialize_safetensors(src, meta);
  EXPECT_EQ(bytes, read_bytes(path("all.safetensors")));
  SafetensorsContents mem = parse_safetensors(bytes.data(), bytes.size(), "memory");
  for (const auto& [name, t] : src) expect_same_tensor(mem.tensors.at(name), t, name);
}

TEST_F(SafetensorsTest, LayoutMatchesReferenceWriter) {
  save_safetensors(path("l.safetensors"), every_dtype());
  SafetensorsHeader h = read_safetensors_header(path("l.safetensors"));
  EXPECT_EQ(h.data_start % 8, 0u) << "header padded to 8 bytes";
  EXPECT_TRUE(h.metadata.empty());
  // Widest dtypes first (the reference's order), by name within a dtype, each aligned.
  std::vector<std::string> names;
  for (const auto& e : h.tensors) {
    names.push_back(e.name);
    EXPECT_EQ(e.begin % dtype_size(dtype_from_safetensors_code(e.dtype)), 0u) << e.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"i64", "empty", "f64", "a.b.c.weight", "f32", "scalar", "i32", "bf16",
                                             "bool"}));
  const std::string text = read_bytes(path("l.safetensors")).substr(8, h.data_start - 8);
  EXPECT_EQ(text.rfind("{\"i64\":{\"dtype\":\"I64\",\"shape\":[1,4],\"data_offsets\":[0,32]},", 0), 0u) << text;
}

TEST_F(SafetensorsTest, NonContiguousInputsAreWrittenContiguous) {
  Tensor base = from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor cube = from_vector<double>(std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                                        18, 19, 20, 21, 22, 23},
                                    {2, 3, 4});
  TensorMap src;
  src["transposed"] = base.t();                                  // strides (1, 4)
  src["stepped"] = base.slice(1, 1, 4, 2);                       // (3, 2), step 2, offset 1
  src["expanded"] = from_vector<int64_t>({7, 8, 9}, {3, 1}).expand({3, 5});  // stride 0
  src["selected"] = cube.select(0, 1).permute({1, 0});          // offset 12, permuted
  src["bf16_t"] = bf16_from_bits({1, 2, 3, 4, 5, 6}, {2, 3}).t();
  src["needs_grad"] = from_vector<float>({1, 2}, {2}).set_requires_grad(true);
  for (const auto& [name, t] : src) ASSERT_TRUE(name == "needs_grad" || !t.is_contiguous()) << name;
  save_safetensors(path("nc.safetensors"), src);
  for (LoadMode mode : {LoadMode::Copy, LoadMode::Mmap}) {
    SafetensorsContents got = load_safetensors(path("nc.safetensors"), mode);
    for (const auto& [name, t] : src) {
      expect_same_tensor(got.tensors.at(name), t, name);
      EXPECT_TRUE(got.tensors.at(name).is_contiguous()) << name;
      EXPECT_FALSE(got.tensors.at(name).requires_grad()) << name;
    }
  }
  EXPECT_EQ(load_safetensors(path("nc.safetensors")).tensors.at("transposed").to_vector<float>(),
            (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
}

TEST_F(SafetensorsTest, MmapTensorsOutliveTheLoadAndAreCopyOnWrite) {
  save_safetensors(path("m.safetensors"), {{"w", from_vector<float>({1, 2, 3, 4}, {4})}});
  const std::string before = read_bytes(path("m.safetensors"));
  Tensor w;
  {
    SafetensorsContents got = load_safetensors(path("m.safetensors"), LoadMode::Mmap);
    w = got.tensors.at("w");
  }
  fs::remove(path("m.safetensors"));  // the mapping keeps the data alive
  w.mul_(2.0);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{2, 4, 6, 8}));
  write_bytes(path("m2.safetensors"), before);
  EXPECT_EQ(load_safetensors(path("m2.safetensors"), LoadMode::Mmap).tensors.at("w").to_vector<float>(),
            (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(SafetensorsTest, EmptyFileHasNoTensors) {
  save_safetensors(path("e.safetensors"), {});
  EXPECT_EQ(read_bytes(path("e.safetensors")), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  EXPECT_TRUE(load_safetensors(path("e.safetensors")).tensors.empty());
}

// ---- real files written by the reference implementation (candle fixtures) ----

TEST_F(SafetensorsTest, LoadsRealFilesFromCandleAndRewritesThemByteForByte) {
  const fs::path dir = shared_data() / "models" / "safetensors-fixtures";
  if (!fs::exists(dir / "mel_filters.safetensors"))
    GTEST_SKIP() << "fixtures not found in " << dir << " (set TESSERA_SHARED_DATA to the shared data folder)";

  for (LoadMode mode : {LoadMode::Copy, LoadMode::Mmap}) {
    SafetensorsContents mel = load_safetensors((dir / "mel_filters.safetensors").string(), mode);
    ASSERT_EQ(mel.tensors.size(), 1u);
    const Tensor& f = mel.tensors.at("mel_80");
    EXPECT_EQ(f.dtype(), DType::F32);
    EXPECT_EQ(f.shape(), (Shape{80, 201}));
    // A mel filterbank: non-negative triangles, every filter non-empty.
    std::vector<float> v = f.to_vector<float>();
    for (float x : v) ASSERT_TRUE(x >= 0.0f && std::isfinite(x));
    for (int r = 0; r < 80; ++r) {
      double s = 0;
      for (int c = 0; c < 201; ++c) s += v[r * 201 + c];
      EXPECT_GT(s, 0.0) << "filter " << r;
    }
    SafetensorsContents codes = load_safetensors((dir / "jfk-codes.safetensors").string(), mode);
    const Tensor& c = codes.tensors.at("codes");
    EXPECT_EQ(c.dtype(), DType::I64);
    EXPECT_EQ(c.shape(), (Shape{1, 2, 828}));
    for (int64_t x : c.to_vector<int64_t>()) ASSERT_TRUE(x >= 0 && x < 1024) << x;  // EnCodec codebook of 1024
  }
  // Our writer reproduces the reference writer's bytes exactly.
  for (const char* name : {"mel_filters.safetensors", "jfk-codes.safetensors"}) {
    const std::string original = read_bytes((dir / name).string());
    SafetensorsContents c = load_safetensors((dir / name).string());
    EXPECT_TRUE(serialize_safetensors(c.tensors, c.metadata) == original) << name;
  }
  // And the independent reader decodes the same values we do.
  if (!have_python()) GTEST_SKIP() << kPython << " not found: skipping the peer comparison";
  auto peer = nlohmann::json::parse(run_peer("read", (dir / "jfk-codes.safetensors").string(), path("jfk")));
  expect_peer_values(peer["tensors"]["codes"],
                     load_safetensors((dir / "jfk-codes.safetensors").string()).tensors.at("codes"), "codes");
  peer = nlohmann::json::parse(run_peer("read", (dir / "mel_filters.safetensors").string(), path("mel")));
  expect_peer_values(peer["tensors"]["mel_80"],
                     load_safetensors((dir / "mel_filters.safetensors").string()).tensors.at("mel_80"), "mel_80");
}

// ---- the independent peer ----

TEST_F(SafetensorsTest, IndependentReaderAgreesWithTesseraFiles) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found: skipping the independent-reader test";
  const TensorMap src = every_dtype();
  const Metadata meta = {{"format", "pt"}, {"step", "1200"}};
  save_safetensors(path("t.safetensors"), src, meta);
  const std::string out = run_peer("read", path("t.safetensors"), path("t"));
  ASSERT_FALSE(out.empty());
  auto peer = nlohmann::json::parse(out);
  EXPECT_EQ(peer["metadata"].get<Metadata>(), meta);
  ASSERT_EQ(peer["tensors"].size(), src.size());
  for (const auto& [name, t] : src) {
    const auto& p = peer["tensors"].at(name);
    EXPECT_EQ(p["dtype"].get<std::string>(), safetensors_dtype_code(t.dtype())) << name;
    EXPECT_EQ(p["shape"].get<Shape>(), t.shape()) << name;
    expect_peer_values(p, t, name);
  }
}

TEST_F(SafetensorsTest, LoadsAFileWrittenByTheIndependentWriter) {
  if (!have_python()) GTEST_SKIP() << kPython << " not found: skipping the independent-writer test";
  run_peer("write", path("peer.safetensors"), path("peer"));
  // The peer neither pads its header nor orders by width, so its F64 lands
  // misaligned: the mmap load must fall back to a copy for it.
  SafetensorsHeader h = read_safetensors_header(path("peer.safetensors"));
  bool misaligned = false;
  for (const auto& e : h.tensors)
    if (e.name == "layer.0.weight") misaligned = (h.data_start + e.begin) % 8 != 0;
  EXPECT_TRUE(misaligned);

  for (LoadMode mode : {LoadMode::Copy, LoadMode::Mmap}) {
    SafetensorsContents got = load_safetensors(path("peer.safetensors"), mode);
    EXPECT_EQ(got.metadata, (Metadata{{"format", "pt"}, {"writer", "safetensors_peer.py"}}));
    ASSERT_EQ(got.tensors.size(), 8u);
    std::vector<double> w64;
    for (int i = 0; i < 6; ++i) w64.push_back(0.1 * i - 0.25);
    expect_same_tensor(got.tensors.at("layer.0.weight"), from_vector<double>(w64, {2, 3}), "layer.0.weight");
    expect_same_tensor(got.tensors.at("mask"), from_vector<bool>({true, false, true}, {3}), "mask");
    std::vector<uint16_t> bits;
    for (float f : {1.0f, -2.5f, 0.15625f, 3.0e38f, -0.0f, 7.0f}) {
      uint32_t u;
      std::memcpy(&u, &f, 4);
      bits.push_back(static_cast<uint16_t>(u >> 16));  // the peer truncates
    }
    expect_same_tensor(got.tensors.at("half"), bf16_from_bits(bits, {2, 3}), "half");
    expect_same_tensor(got.tensors.at("idx32"), from_vector<int32_t>({INT32_MIN, -1, 0, INT32_MAX}, {4}), "idx32");
    expect_same_tensor(got.tensors.at("idx64"),
                       from_vector<int64_t>({INT64_MIN, -7, 12345678901234, INT64_MAX}, {2, 2}), "idx64");
    expect_same_tensor(got.tensors.at("scalar"), from_vector<float>({0.333251953125f}, {}), "scalar");
    expect_same_tensor(got.tensors.at("empty"), empty({0, 4}), "empty");
    std::vector<float> w;
    for (int i = 0; i < 8; ++i) w.push_back(i / 8.0f);
    expect_same_tensor(got.tensors.at("w"), from_vector<float>(w, {2, 2, 2}), "w");
  }
}

// ---- corruption: one clear error per defect ----

namespace {

std::string craft(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

struct Corrupt {
  const char* label;
  std::string bytes;
  std::vector<std::string> expect;  // substrings of the message
  bool header_only_ok = false;      // read_safetensors_header accepts it (the defect is in the data)
};

std::vector<Corrupt> corruptions() {
  const std::string d8(8, '\0');
  const std::string ok_w = "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  uint64_t huge = 1000;
  return {
      {"too_short", std::string("abc"), {"3 bytes, too short for the 8-byte header length"}},
      {"header_past_eof", std::string(reinterpret_cast<const char*>(&huge), 8) + "{}",
       {"header length 1000 runs past the end of the file (10 bytes)"}},
      {"malformed_json", craft("{\"w\":{\"dtype\":\"F32\",", d8), {"malformed JSON header", "parse error"}},
      {"not_an_object", craft("[1, 2]", ""), {"does not start with '{'"}},
      {"unknown_dtype", craft("{\"w\":{\"dtype\":\"F17\",\"shape\":[2],\"data_offsets\":[0,8]}}", d8),
       {"tensor 'w'", "unknown dtype \"F17\""}},
      {"entry_not_object", craft("{\"w\":5}", ""), {"tensor 'w'", "must be a JSON object"}},
      {"missing_offsets", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", d8),
       {"tensor 'w'", "missing field \"data_offsets\""}},
      {"negative_dim", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d8),
       {"tensor 'w'", "shape [-2] must hold non-negative integers"}},
      {"fractional_dim", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", d8),
       {"tensor 'w'", "must hold non-negative integers"}},
      {"huge_shape",
       craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", d8),
       {"tensor 'w'", "is too large"}},
      {"offsets_arity", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", d8),
       {"tensor 'w'", "\"data_offsets\" must be [begin, end]"}},
      {"end_before_begin", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", d8),
       {"tensor 'w'", "data_offsets [8, 0] end before they begin"}},
      {"size_mismatch", craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d8),
       {"tensor 'w'", "data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12"}},
      {"out_of_range", craft("{" + ok_w + "}", std::string(4, '\0')),
       {"tensor 'w'", "data_offsets [0, 8] run past the data section of 4 bytes"}},
      {"overlap",
       craft("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             std::string(12, '\0')),
       {"tensors 'a' [0, 8] and 'b' [4, 12] overlap"}},
      {"gap",
       craft("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
             std::string(20, '\0')),
       {"tensor 'b'", "leave a gap of 4 bytes after tensor 'a'"}},
      {"trailing_bytes", craft("{" + ok_w + "}", std::string(12, '\0')),
       {"4 trailing bytes after the last tensor (the data section holds 12 bytes, the tensors end at 8)"}},
      {"duplicate_name", craft("{" + ok_w + "," + ok_w + "}", d8), {"tensor 'w' appears twice"}},
      {"metadata_not_string", craft("{\"__metadata__\":{\"epoch\":3}," + ok_w + "}", d8),
       {"\"__metadata__\" value of 'epoch' must be a string"}},
      {"bool_not_0_or_1", craft("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", "\x01\x07"),
       {"tensor 'm' (BOOL) holds byte value 7 at element 1 (expected 0 or 1)"}, true},
      {"unsupported_dtype",
       craft("{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", std::string(4, '\0')),
       {"tensor 'h' has dtype F16, which Tessera cannot hold"}, true},
  };
}


}  // namespace

TEST_F(SafetensorsTest, EveryCorruptionGivesAClearError) {
  for (const Corrupt& c : corruptions()) {
    const std::string file = path(std::string(c.label) + ".safetensors");
    write_bytes(file, c.bytes);
    std::vector<std::pair<std::string, std::string>> got = {
        {"copy", error_of([&] { load_safetensors(file, LoadMode::Copy); })},
        {"mmap", error_of([&] { load_safetensors(file, LoadMode::Mmap); })},
        {"memory", error_of([&] { parse_safetensors(c.bytes.data(), c.bytes.size(), file); })},
    };
    if (c.header_only_ok)
      EXPECT_NO_THROW(read_safetensors_header(file)) << c.label;
    else
      got.push_back({"header", error_of([&] { read_safetensors_header(file); })});
    for (const auto& [how, msg] : got) {
      EXPECT_NE(msg.find("safetensors file '" + file + "': "), std::string::npos)
          << c.label << " (" << how << "): " << msg;
      for (const auto& s : c.expect)
        EXPECT_NE(msg.find(s), std::string::npos) << c.label << " (" << how << "): expected '" << s << "' in: " << msg;
    }
  }
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsADTypeErrorAndListsInTheHeader) {
  write_bytes(path("h.safetensors"), craft("{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", "abcd"));
  EXPECT_THROW(load_safetensors(path("h.safetensors")), DTypeError);
  SafetensorsHeader h = read_safetensors_header(path("h.safetensors"));
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].dtype, "F16");
  EXPECT_EQ(h.tensors[0].shape, (Shape{2}));
  EXPECT_THROW(dtype_from_safetensors_code("F16"), DTypeError);
  EXPECT_THROW(dtype_from_safetensors_code("nope"), DTypeError);
  EXPECT_EQ(dtype_from_safetensors_code("BF16"), DType::BF16);
}

TEST_F(SafetensorsTest, MissingFileAndDirectoryAreNamed) {
  std::string msg = error_of([&] { load_safetensors(path("absent.safetensors")); });
  EXPECT_NE(msg.find("'" + path("absent.safetensors") + "': cannot open: No such file or directory"), std::string::npos)
      << msg;
  msg = error_of([&] { load_safetensors(dir_.string()); });
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
}

TEST_F(SafetensorsTest, WriterRejectsBadEntriesAndLeavesNoFile) {
  std::string msg = error_of([&] { save_safetensors(path("x.safetensors"), {{"__metadata__", zeros({1})}}); });
  EXPECT_NE(msg.find("\"__metadata__\" is reserved"), std::string::npos) << msg;
  msg = error_of([&] { save_safetensors(path("x.safetensors"), {{"w", Tensor()}}); });
  EXPECT_NE(msg.find("tensor 'w' is undefined"), std::string::npos) << msg;
  msg = error_of([&] { save_safetensors(path("x.safetensors"), {{std::string("bad\xff"), zeros({1})}}); });
  EXPECT_NE(msg.find("not valid UTF-8"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_empty(dir_)) << "no target and no temp file left behind";
  msg = error_of([&] { save_safetensors(path("no_such_dir/x.safetensors"), {{"w", zeros({1})}}); });
  EXPECT_NE(msg.find("writing '" + path("no_such_dir/x.safetensors") + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
}

TEST_F(SafetensorsTest, EveryTruncationAndRandomHeaderDamageIsCaught) {
  const std::string good = serialize_safetensors(every_dtype(), {{"k", "v"}});
  // Every proper prefix is a truncated file: always an error, never a crash.
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_THROW(parse_safetensors(good.data(), n, "prefix"), Error) << "prefix of " << n << " bytes";
  // Random byte damage in the length field and header: an Error or, rarely
  // (e.g. inside a metadata string), a file that still validates; nothing else.
  uint64_t header_len = 0;
  std::memcpy(&header_len, good.data(), 8);
  std::mt19937 rng(1234);
  int rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bad[rng() % (8 + header_len)] = static_cast<char>(rng() % 256);
    try {
      parse_safetensors(bad.data(), bad.size(), "damaged");
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 2500);
}
