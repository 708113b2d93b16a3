// A tiny byte-level Tokenizer for the shard and pretraining tests, so they do
// not depend on the real tokenizers: id b (0..255) is byte b, id 256 is
// <|endoftext|>. `extra` ids widen the vocabulary (vocab = 257 + extra).
#pragma once
#include <string>
#include <vector>

#include "tessera/io/atomic_file.h"
#include "tessera/text/tokenizer.h"

namespace tessera::test_util {

class ByteTokenizer : public text::Tokenizer {
 public:
  explicit ByteTokenizer(int64_t extra = 0) : extra_(extra) {}
  std::vector<int32_t> encode(std::string_view s, bool allow_special = true) const override {
    std::vector<int32_t> ids;
    const std::string_view eot = "<|endoftext|>";
    for (size_t i = 0; i < s.size(); ++i) {
      if (allow_special && s.substr(i, eot.size()) == eot) {
        ids.push_back(256);
        i += eot.size() - 1;
      } else {
        ids.push_back(static_cast<unsigned char>(s[i]));
      }
    }
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids) out += token_bytes(id);
    return out;
  }
  std::string token_bytes(int32_t id) const override {
    if (id < 256) return std::string(1, static_cast<char>(id));
    return id == 256 ? "<|endoftext|>" : "";
  }
  int64_t vocab_size() const override { return 257 + extra_; }
  std::optional<int32_t> eot_id() const override { return 256; }
  std::optional<int32_t> special_id(std::string_view t) const override {
    return t == "<|endoftext|>" ? std::optional<int32_t>(256) : std::nullopt;
  }
  std::string kind() const override { return "bytes"; }
  void save(const std::string& path) const override {
    io::write_file_atomic(path, "{\"tessera\": {\"kind\": \"bytes\", \"extra\": " + std::to_string(extra_) + "}}\n");
  }

 private:
  int64_t extra_;
};

}  // namespace tessera::test_util
