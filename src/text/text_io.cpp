// Shared reading helpers for tokenizer files (see text_io.h).
#include "text_io.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tessera/core/error.h"
#include "tessera/text/bpe.h"
#include "utf8.h"

namespace tessera::text {

nlohmann::json read_json_file(const std::string& path) {
  TSR_CHECK(std::filesystem::is_regular_file(path), Error, "tokenizer file '", path, "' not found");
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in, Error, "tokenizer file '", path, "' cannot be opened");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(::tessera::detail::concat("tokenizer file '", path, "' is not valid JSON: ", e.what()));
  }
}

std::vector<std::string> vocab_from_json(const nlohmann::json& obj, const std::string& where,
                                         const std::string& field,
                                         std::unordered_map<std::string, int32_t>& id_of,
                                         const std::vector<int32_t>& extra) {
  std::string at = field.empty() ? where : where + ": " + field;
  TSR_CHECK(obj.is_object(), Error, at, " must be a JSON object of token -> id");
  int64_t max_id = -1;
  for (int32_t e : extra) max_id = std::max<int64_t>(max_id, e);
  for (const auto& [key, value] : obj.items()) {
    TSR_CHECK(value.is_number_integer() && value.get<int64_t>() >= 0 && value.get<int64_t>() < (int64_t{1} << 30), Error,
              at, ": token '", key, "' has id ", value.dump(), " (expected an integer id >= 0)");
    max_id = std::max(max_id, value.get<int64_t>());
  }
  TSR_CHECK(max_id >= 0, Error, at, " is empty");
  std::vector<std::string> vocab(static_cast<size_t>(max_id + 1));
  std::vector<const std::string*> owner(vocab.size(), nullptr);
  std::vector<bool> is_extra(vocab.size(), false);
  for (int32_t e : extra) is_extra[e] = true;
  id_of.reserve(obj.size());
  for (const auto& [key, value] : obj.items()) {
    auto id = value.get<int32_t>();
    TSR_CHECK(owner[id] == nullptr, Error, at, ": id ", id, " is used by both '", *owner[id], "' and '", key,
              "' (each id must name one token)");
    owner[id] = &key;
    // Added (special) tokens may be spelled verbatim; their bytes come from added_tokens.
    TSR_CHECK(unicode_to_bytes(key, vocab[id]) || is_extra[id], Error, at, ": token '", key, "' (id ", id,
              ") is not in GPT-2's byte-level spelling");
    id_of.emplace(key, id);
  }
  for (size_t id = 0; id < vocab.size(); ++id)
    TSR_CHECK(owner[id] != nullptr || is_extra[id], Error, at, ": id ", id, " is missing (ids must run 0..",
              vocab.size() - 1, " without gaps)");
  return vocab;
}

std::pair<int32_t, int32_t> merge_ids(std::string_view left, std::string_view right,
                                      const std::unordered_map<std::string, int32_t>& id_of, const std::string& where) {
  auto a = id_of.find(std::string(left));
  TSR_CHECK(a != id_of.end(), Error, where, ": merge '", left, " ", right, "' uses unknown token '", left, "'");
  auto b = id_of.find(std::string(right));
  TSR_CHECK(b != id_of.end(), Error, where, ": merge '", left, " ", right, "' uses unknown token '", right, "'");
  // Byte-level spellings concatenate like the bytes they stand for.
  std::string joined = std::string(left) + std::string(right);
  TSR_CHECK(id_of.count(joined), Error, where, ": merge '", left, " ", right, "' makes '", joined,
            "' which is not in the vocabulary");
  return {a->second, b->second};
}

std::pair<int32_t, int32_t> parse_merge(std::string_view line, const std::unordered_map<std::string, int32_t>& id_of,
                                        const std::string& where) {
  size_t sp = line.find(' ');
  TSR_CHECK(sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                line.find(' ', sp + 1) == std::string_view::npos,
            Error, where, ": merge '", detail::printable(line), "' must be two tokens separated by one space");
  return merge_ids(line.substr(0, sp), line.substr(sp + 1), id_of, where);
}

SpecialHit next_special(std::string_view text, size_t from,
                        const std::vector<std::pair<std::string, int32_t>>& specials) {
  SpecialHit best{text.size(), -1, 0};
  for (const auto& [s, id] : specials) {
    size_t p = text.find(s, from);
    if (p == std::string_view::npos) continue;
    if (p < best.pos || (p == best.pos && s.size() > best.len)) best = {p, id, s.size()};
  }
  return best;
}

void append_new_key(nlohmann::ordered_json& obj, std::string key, nlohmann::ordered_json value) {
  auto& map = obj.get_ref<nlohmann::ordered_json::object_t&>();
  static_cast<nlohmann::ordered_json::object_t::Container&>(map).emplace_back(std::move(key), std::move(value));
}

nlohmann::ordered_json added_tokens_json(const std::vector<std::pair<std::string, int32_t>>& specials) {
  auto arr = nlohmann::ordered_json::array();
  auto sorted = specials;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  for (const auto& [text, id] : sorted) {
    TSR_CHECK(detail::is_valid_utf8(text), Error, "special token '", detail::printable(text),
              "' is not valid UTF-8 and cannot be saved");
    arr.push_back({{"id", id},
                   {"content", text},
                   {"single_word", false},
                   {"lstrip", false},
                   {"rstrip", false},
                   {"normalized", false},
                   {"special", true}});
  }
  return arr;
}

const std::string& token_entry(const std::vector<std::string>& vocab, int32_t id) {
  TSR_CHECK(id >= 0 && id < static_cast<int32_t>(vocab.size()), IndexError, "token id ", id,
            " is outside the vocabulary [0, ", vocab.size(), ")");
  return vocab[static_cast<size_t>(id)];
}

std::string decode_ids(const std::vector<std::string>& vocab, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) out += token_entry(vocab, id);
  return out;
}

std::optional<int32_t> find_special(const std::vector<std::pair<std::string, int32_t>>& specials,
                                    std::string_view text) {
  for (const auto& [t, id] : specials)
    if (t == text) return id;
  return std::nullopt;
}

std::vector<bool> place_specials(std::vector<std::string>& vocab,
                                 const std::vector<std::pair<std::string, int32_t>>& specials,
                                 const std::string& source) {
  const auto n = static_cast<int32_t>(vocab.size());
  std::vector<bool> is_special(vocab.size(), false);
  for (const auto& [text, id] : specials) {
    TSR_CHECK(id >= 0 && id < n, Error, source, ": special token '", detail::printable(text), "' has id ", id,
              " outside the vocabulary [0, ", n, ")");
    TSR_CHECK(!text.empty(), Error, source, ": special token ", id, " is empty");
    is_special[id] = true;
    vocab[id] = text;
  }
  return is_special;
}

}  // namespace tessera::text
