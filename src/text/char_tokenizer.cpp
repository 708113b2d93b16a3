// CharTokenizer (see char_tokenizer.h): building from a corpus, encoding with
// a located error for unknown characters, and its tokenizer.json form. The
// file reuses the HF layout with model.type "Char" (not an HF model type;
// Hugging Face cannot load it) and vocabulary keys in GPT-2's byte-level
// spelling, so invalid bytes survive the trip through JSON.
#include "tessera/text/char_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/text/bpe.h"
#include "text_io.h"
#include "utf8.h"

namespace tessera::text {
namespace {

std::string describe(std::string_view sym) {
  auto c = detail::decode_utf8(sym, 0);
  char buf[32];
  if (c.valid)
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c.cp));
  else
    std::snprintf(buf, sizeof buf, "invalid UTF-8 byte 0x%02X", static_cast<unsigned>(c.cp));
  std::string out = "'";
  out += detail::printable(sym);
  out += "' (";
  out += buf;
  out += ")";
  return out;
}

}  // namespace

CharTokenizer::CharTokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, int32_t>> specials,
                             std::string source)
    : vocab_(std::move(vocab)), specials_(std::move(specials)) {
  const auto n = static_cast<int32_t>(vocab_.size());
  const std::vector<bool> is_special = place_specials(vocab_, specials_, source);
  ascii_.fill(-1);
  for (int32_t id = 0; id < n; ++id) {
    if (is_special[id]) continue;
    const std::string& s = vocab_[id];
    TSR_CHECK(!s.empty() && detail::decode_utf8(s, 0).len == s.size(), Error, source, ": vocabulary entry ", id,
              " ('", detail::printable(s), "') is not a single character");
    TSR_CHECK(id_of_.emplace(s, id).second, Error, source, ": character ", describe(s), " appears twice (ids ",
              id_of_[s], " and ", id, ")");
    if (static_cast<unsigned char>(s[0]) < 128) ascii_[static_cast<unsigned char>(s[0])] = id;
  }
}

CharTokenizer CharTokenizer::from_corpus(const std::vector<std::string_view>& texts,
                                         const std::vector<std::string>& specials) {
  std::vector<std::pair<std::string, int32_t>> sp;
  for (size_t i = 0; i < specials.size(); ++i) sp.emplace_back(specials[i], static_cast<int32_t>(i));
  std::set<std::string> symbols;
  std::array<bool, 128> seen_ascii{};
  auto collect = [&](std::string_view t) {
    for (size_t i = 0; i < t.size();) {
      auto c = detail::decode_utf8(t, i);
      if (c.valid && c.cp < 128)
        seen_ascii[c.cp] = true;
      else
        symbols.emplace(t.substr(i, c.len));
      i += c.len;
    }
  };
  for (std::string_view t : texts) {
    for (size_t from = 0;;) {
      SpecialHit hit = next_special(t, from, sp);
      collect(t.substr(from, hit.pos - from));
      if (hit.len == 0) break;
      from = hit.pos + hit.len;
    }
  }
  for (int c = 0; c < 128; ++c)
    if (seen_ascii[c]) symbols.emplace(1, static_cast<char>(c));
  std::vector<std::string> vocab(symbols.begin(), symbols.end());  // std::set: byte order
  std::vector<std::pair<std::string, int32_t>> special_ids;
  for (const auto& s : specials) {
    TSR_CHECK(std::find_if(special_ids.begin(), special_ids.end(), [&](const auto& p) { return p.first == s; }) ==
                  special_ids.end(),
              Error, "special token '", s, "' is given twice");
    special_ids.emplace_back(s, static_cast<int32_t>(vocab.size()));
    vocab.push_back(s);
  }
  return CharTokenizer(std::move(vocab), std::move(special_ids), "corpus");
}

void CharTokenizer::encode_ordinary(std::string_view text, size_t base, std::vector<int32_t>& out) const {
  for (size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 128 && ascii_[b] >= 0) {
      out.push_back(ascii_[b]);
      ++i;
      continue;
    }
    auto c = detail::decode_utf8(text, i);
    std::string sym(text.substr(i, c.len));
    auto it = id_of_.find(sym);
    TSR_CHECK(it != id_of_.end(), Error, "character ", describe(sym), " at byte offset ", base + i,
              " is not in the tokenizer's vocabulary (", id_of_.size(), " characters)");
    out.push_back(it->second);
    i += c.len;
  }
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size());
  if (!allow_special || specials_.empty()) {
    encode_ordinary(text, 0, out);
    return out;
  }
  for (size_t from = 0;;) {
    SpecialHit hit = next_special(text, from, specials_);
    encode_ordinary(text.substr(from, hit.pos - from), from, out);
    if (hit.len == 0) break;
    out.push_back(hit.id);
    from = hit.pos + hit.len;
  }
  return out;
}

std::string CharTokenizer::token_bytes(int32_t id) const { return token_entry(vocab_, id); }

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const { return decode_ids(vocab_, ids); }

std::optional<int32_t> CharTokenizer::special_id(std::string_view text) const { return find_special(specials_, text); }

void CharTokenizer::save(const std::string& path) const {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t id = 0; id < vocab_.size(); ++id)
    if (id_of_.count(vocab_[id]) && id_of_.at(vocab_[id]) == static_cast<int32_t>(id))
      append_new_key(vocab, bytes_to_unicode(vocab_[id]), id);
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["added_tokens"] = added_tokens_json(specials_);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nullptr;
  j["decoder"] = nullptr;
  j["model"] = {{"type", "Char"}, {"vocab", vocab}, {"tessera", {{"format_version", 1}, {"kind", "char"}}}};
  io::write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace tessera::text
