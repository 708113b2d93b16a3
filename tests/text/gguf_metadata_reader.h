// A test-only reader of a GGUF file's metadata (GGUF v3: magic "GGUF", u32
// version, u64 tensor count, u64 key count, then key/value pairs), enough to
// take the tokenizer.ggml.* values out of llama.cpp's vocabulary files without
// depending on the library's GGUF loader. Tensor infos and data are not read.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/text/gguf_vocab.h"

namespace tessera::test_util {

struct GgufMetadata {
  std::map<std::string, std::string> strings;
  std::map<std::string, double> numbers;  // every integer, float and bool scalar
  std::map<std::string, std::vector<std::string>> string_arrays;
  std::map<std::string, std::vector<double>> number_arrays;
};

inline GgufMetadata read_gguf_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string d = ss.str();
  size_t p = 0;
  auto take = [&](size_t n) {
    if (p + n > d.size()) throw std::runtime_error(path + ": truncated");
    const char* at = d.data() + p;
    p += n;
    return at;
  };
  auto u32 = [&] { uint32_t v; std::memcpy(&v, take(4), 4); return v; };
  auto u64 = [&] { uint64_t v; std::memcpy(&v, take(8), 8); return v; };
  auto str = [&] { uint64_t n = u64(); return std::string(take(n), n); };
  // A scalar of GGUF type t as a double (0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32,
  // 6 f32, 7 bool, 10 u64, 11 i64, 12 f64).
  auto number = [&](uint32_t t) -> double {
    switch (t) {
      case 0: return static_cast<uint8_t>(*take(1));
      case 1: return static_cast<int8_t>(*take(1));
      case 2: { uint16_t v; std::memcpy(&v, take(2), 2); return v; }
      case 3: { int16_t v; std::memcpy(&v, take(2), 2); return v; }
      case 4: return u32();
      case 5: { int32_t v; std::memcpy(&v, take(4), 4); return v; }
      case 6: { float v; std::memcpy(&v, take(4), 4); return v; }
      case 7: return *take(1) != 0;
      case 10: return static_cast<double>(u64());
      case 11: { int64_t v; std::memcpy(&v, take(8), 8); return static_cast<double>(v); }
      case 12: { double v; std::memcpy(&v, take(8), 8); return v; }
      default: throw std::runtime_error(path + ": unknown GGUF value type " + std::to_string(t));
    }
  };
  if (std::string(take(4), 4) != "GGUF") throw std::runtime_error(path + ": not a GGUF file");
  if (u32() != 3) throw std::runtime_error(path + ": not GGUF v3");
  u64();  // tensor count
  GgufMetadata m;
  for (uint64_t kv = u64(); kv > 0; --kv) {
    std::string key = str();
    uint32_t type = u32();
    if (type == 8) {
      m.strings[key] = str();
    } else if (type == 9) {
      uint32_t elem = u32();
      uint64_t n = u64();
      for (uint64_t i = 0; i < n; ++i) {
        if (elem == 8)
          m.string_arrays[key].push_back(str());
        else
          m.number_arrays[key].push_back(number(elem));
      }
    } else {
      m.numbers[key] = number(type);
    }
  }
  return m;
}

// The tokenizer.ggml.* values of a GGUF file, as the library's loader fills them.
inline text::GgufVocab gguf_vocab_of(const std::string& path) {
  GgufMetadata m = read_gguf_metadata(path);
  text::GgufVocab v;
  v.origin = path;
  v.model = m.strings["tokenizer.ggml.model"];
  v.pre = m.strings["tokenizer.ggml.pre"];
  v.tokens = m.string_arrays["tokenizer.ggml.tokens"];
  v.merges = m.string_arrays["tokenizer.ggml.merges"];
  for (double s : m.number_arrays["tokenizer.ggml.scores"]) v.scores.push_back(static_cast<float>(s));
  for (double t : m.number_arrays["tokenizer.ggml.token_type"]) v.token_types.push_back(static_cast<int32_t>(t));
  auto id = [&](const char* key, std::optional<int32_t>& out) {
    if (m.numbers.count(key)) out = static_cast<int32_t>(m.numbers[key]);
  };
  id("tokenizer.ggml.bos_token_id", v.bos);
  id("tokenizer.ggml.eos_token_id", v.eos);
  id("tokenizer.ggml.unknown_token_id", v.unk);
  id("tokenizer.ggml.padding_token_id", v.pad);
  auto flag = [&](const char* key, std::optional<bool>& out) {
    if (m.numbers.count(key)) out = m.numbers[key] != 0;
  };
  flag("tokenizer.ggml.add_bos_token", v.add_bos);
  flag("tokenizer.ggml.add_eos_token", v.add_eos);
  flag("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  return v;
}

}  // namespace tessera::test_util
