// GGUF reader and writer (io/gguf.h): a written file reads back value for
// value; the staged llama.cpp files parse; every corruption (truncation at any
// byte, bad magic, bad types, absurd counts, offsets beyond the file or
// overlapping) is a tessera::Error naming the file, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tessera/io/gguf.h"
#include "test_util.h"

using namespace tessera;
using namespace tessera::io;
using tessera::test_util::expect_error;
namespace fs = std::filesystem;

namespace {

fs::path shared_models() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return fs::path(env) / "models";
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data" / "models";
}

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// A small file with every value type and two tensors.
GgufWriter sample_writer() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::of_string("llama"));
  w.set("a.u32", GgufValue::of_uint32(7));
  w.set("a.i32", GgufValue::of_int32(-3));
  w.set("a.f32", GgufValue::of_float32(0.5f));
  w.set("a.bool", GgufValue::of_bool(true));
  w.set("a.strings", GgufValue::of_strings({"x", "", "hello world"}));
  w.set("a.ints", GgufValue::of_int32s({1, -2, 3}));
  w.set("a.floats", GgufValue::of_float32s({0.25, -1.5}));
  GgufValue u8;
  u8.type = GgufType::Uint8;
  u8.integer = 200;
  w.set("a.u8", u8);
  w.add_tensor("m", {3, 2}, GgmlType::F32, float_bytes({1, 2, 3, 4, 5, 6}));
  w.add_tensor("v", {8}, GgmlType::F32, float_bytes({9, 8, 7, 6, 5, 4, 3, 2}));  // no padding after it
  return w;
}

class Gguf : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_gguf_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path dir_;
};

TEST_F(Gguf, WriteThenRead) {
  const std::string path = (dir_ / "s.gguf").string();
  sample_writer().write(path);
  GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.keys().front(), "general.architecture");
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("a.u32"), 7);
  EXPECT_EQ(f.get_int("a.i32"), -3);
  EXPECT_EQ(f.get_int("a.u8"), 200);
  EXPECT_EQ(f.get_float("a.f32"), 0.5);
  EXPECT_EQ(f.get_float("a.u32"), 7.0);  // integers read as numbers
  EXPECT_TRUE(f.get_bool("a.bool", false));
  EXPECT_EQ(f.get_int("missing", 11), 11);
  EXPECT_EQ(f.find("a.strings")->strings, (std::vector<std::string>{"x", "", "hello world"}));
  EXPECT_EQ(f.find("a.ints")->integers, (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.find("a.floats")->numbers, (std::vector<double>{0.25, -1.5}));
  ASSERT_EQ(f.tensors().size(), 2u);
  const GgufTensorInfo* m = f.find_tensor("m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->dims, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(m->rows(), 2);
  EXPECT_EQ(m->nbytes, 24u);
  EXPECT_EQ(m->offset % 32, 0u);
  float got[6];
  std::memcpy(got, f.data(*m), 24);
  EXPECT_EQ(got[5], 6.0f);
  const GgufTensorInfo* v = f.find_tensor("v");
  EXPECT_EQ(v->offset, 32u);  // the next multiple of the alignment
  std::memcpy(got, f.data(*v), 4);
  EXPECT_EQ(got[0], 9.0f);
  // Typed access names the key and the type found.
  expect_error<Error>([&] { f.get_string("a.u32"); }, {path, "a.u32", "string", "uint32"});
  expect_error<Error>([&] { f.get_int("a.strings"); }, {path, "a.strings", "integer"});
  expect_error<Error>([&] { f.get_int("nope"); }, {path, "nope", "missing"});
}

TEST_F(Gguf, ReadsLlamaCppFiles) {
  const fs::path llama = shared_models() / "llama-2-tiny-random" / "llama-2-tiny-random.gguf";
  if (!fs::exists(llama)) GTEST_SKIP() << llama << " not found (set TESSERA_SHARED_DATA)";
  GgufFile f = GgufFile::open(llama.string());
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 8);
  EXPECT_EQ(f.find("tokenizer.ggml.tokens")->strings.size(), 32000u);
  EXPECT_EQ(f.tensors().size(), 12u);
  const GgufTensorInfo* e = f.find_tensor("token_embd.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->dims, (std::vector<int64_t>{8, 32000}));
  EXPECT_EQ(e->type, GgmlType::F16);
  // A vocabulary-only file: metadata, no tensors.
  const fs::path vocab = shared_models() / "llama.cpp-vocab" / "ggml-vocab-gpt-2.gguf";
  GgufFile v = GgufFile::open(vocab.string());
  EXPECT_EQ(v.find("tokenizer.ggml.merges")->strings.size(), 50000u);
  EXPECT_TRUE(v.tensors().empty());
}

// Cutting the file anywhere is an error naming the file, never a crash or a
// huge allocation.
TEST_F(Gguf, TruncatedAnywhere) {
  const std::string bytes = sample_writer().serialize();
  for (size_t n = 0; n < bytes.size(); n += (n < 400 ? 1 : 7)) {
    const std::string p = write("cut.gguf", bytes.substr(0, n));
    try {
      GgufFile::open(p);
      ADD_FAILURE() << "a file cut at byte " << n << " of " << bytes.size() << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
}

// The staged llama.cpp model cut at 80 places (header, vocabulary, tensor
// infos, data): always an error naming the file. (The last alignment-1 bytes
// may be padding, so cuts stop before them.)
TEST_F(Gguf, TruncatedLlamaCppFile) {
  const fs::path llama = shared_models() / "llama-2-tiny-random" / "llama-2-tiny-random.gguf";
  if (!fs::exists(llama)) GTEST_SKIP() << llama << " not found (set TESSERA_SHARED_DATA)";
  std::ifstream in(llama, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t end = bytes.size() - 32;
  for (size_t i = 0; i < 80; ++i) {
    const size_t n = i < 40 ? i * 13 : (end / 40) * (i - 40) + 977;
    if (n >= end) break;
    const std::string p = write("cut.gguf", bytes.substr(0, n));
    expect_error<Error>([&] { GgufFile::open(p); }, {p});
  }
}

// Overwrites 4 or 8 bytes at `at` with `v`.
template <typename T>
std::string patched(std::string bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof(T));
  return bytes;
}

TEST_F(Gguf, CorruptHeaders) {
  const std::string good = sample_writer().serialize();
  auto fails = [&](const std::string& bytes, const std::vector<std::string>& parts) {
    const std::string p = write("bad.gguf", bytes);
    std::vector<std::string> all = parts;
    all.push_back(p);
    expect_error<Error>([&] { GgufFile::open(p); }, all);
  };
  fails("GGML" + good.substr(4), {"bad magic"});
  fails("", {"too short"});
  fails(patched<uint32_t>(good, 4, 99), {"version 99"});
  fails(patched<uint64_t>(good, 8, uint64_t(1) << 60), {"tensor count"});
  fails(patched<uint64_t>(good, 16, uint64_t(1) << 62), {"metadata count"});
  // The first key's value type (after magic, version, counts and the key
  // "general.architecture": 24 + 8 + 20 bytes).
  fails(patched<uint32_t>(good, 52, 77), {"general.architecture", "unknown value type 77"});
  // Its string length: absurd.
  fails(patched<uint64_t>(good, 56, uint64_t(1) << 50), {"truncated", "general.architecture"});
}

TEST_F(Gguf, CorruptTensorInfos) {
  auto one_tensor = [](std::vector<int64_t> dims, GgmlType type, size_t nbytes, uint64_t alignment = 0) {
    GgufWriter w;
    if (alignment) w.set("general.alignment", GgufValue::of_uint32(uint32_t(alignment)));
    w.add_tensor("t", std::move(dims), type, std::string(nbytes, '\0'));
    return w.serialize();
  };
  // The tensor info sits at the end of the header: name (8 + 1), n_dims (4), dims, type (4), offset (8).
  const std::string good = one_tensor({32, 2}, GgmlType::Q8_0, 68);
  const size_t info = 24 + 8 + 1;  // after the header and the name
  auto fails = [&](const std::string& bytes, const std::vector<std::string>& parts) {
    const std::string p = write("bad.gguf", bytes);
    std::vector<std::string> all = parts;
    all.push_back(p);
    expect_error<Error>([&] { GgufFile::open(p); }, all);
  };
  EXPECT_NO_THROW(GgufFile::open(write("ok.gguf", good)));
  fails(patched<uint32_t>(good, info, 9), {"'t'", "9 dims"});
  fails(patched<uint64_t>(good, info + 4, 0), {"'t'", "impossible dim 0"});
  fails(patched<uint64_t>(good, info + 4 + 8, uint64_t(1) << 45), {"'t'", "impossible dim"});
  fails(patched<uint32_t>(good, info + 4 + 16, 1234), {"'t'", "unknown ggml type 1234"});
  fails(patched<uint32_t>(good, info + 4 + 16, uint32_t(GgmlType::Q4_K)), {"'t'", "Q4_K", "multiple of its block"});
  fails(patched<uint64_t>(good, info + 4 + 20, 64), {"'t'", "ends beyond"});
  fails(patched<uint64_t>(good, info + 4 + 20, 3), {"'t'", "alignment"});
  fails(one_tensor({4}, GgmlType::F32, 16, 3), {"general.alignment 3"});
  // Two tensors at the same offset.
  GgufWriter two;
  two.add_tensor("a", {8}, GgmlType::F32, std::string(32, '\0'));
  two.add_tensor("b", {8}, GgmlType::F32, std::string(32, '\0'));
  std::string bytes = two.serialize();
  const size_t b_offset = 24 + (8 + 1 + 4 + 8 + 4 + 8) + (8 + 1 + 4 + 8 + 4);
  fails(patched<uint64_t>(bytes, b_offset, 0), {"'a' and 'b' overlap"});
}

TEST_F(Gguf, CorruptArrays) {
  GgufWriter w;
  w.set("k", GgufValue::of_strings({"ab", "cd"}));
  const std::string good = w.serialize();
  // key "k" (8 + 1), type (4), element type, count.
  const size_t at = 24 + 9 + 4;
  auto fails = [&](const std::string& bytes, const std::vector<std::string>& parts) {
    const std::string p = write("bad.gguf", bytes);
    std::vector<std::string> all = parts;
    all.push_back(p);
    expect_error<Error>([&] { GgufFile::open(p); }, all);
  };
  fails(patched<uint64_t>(good, at + 4, uint64_t(1) << 61), {"'k'", "claims"});
  fails(patched<uint32_t>(good, at, uint32_t(GgufType::Array)), {"'k'", "array of arrays"});
  fails(patched<uint32_t>(good, at, 40), {"'k'", "unknown value type 40"});
}

}  // namespace
