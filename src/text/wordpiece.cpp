// BERT WordPiece (steps in wordpiece.h): loading (vocab.txt,
// tokenizer_config.json, tokenizer.json), greedy longest-match pieces, decode
// and save. Steps 2-6 (normalization and word splitting) are BertNormalizer's
// (bert_normalizer.h).
#include "tessera/text/wordpiece.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "bert_normalizer.h"
#include "text_io.h"
#include "utf8.h"

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace tessera::text {

using detail::BertNormalizer;

namespace {

constexpr int kFormatVersion = 1;  // the "tessera" object, as in tokenizer_io.cpp

bool is_continuation_byte(char b) { return (static_cast<unsigned char>(b) & 0xC0) == 0x80; }

// Python's str.replace, left to right, non-overlapping.
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  for (size_t p; (p = s.find(from, i)) != std::string::npos; i = p + from.size()) {
    out.append(s, i, p - i);
    out += to;
  }
  if (i == 0) return;
  out.append(s, i, std::string::npos);
  s = std::move(out);
}

// `tokenizers`' decoders::wordpiece::cleanup (applied to each token).
void cleanup_token(std::string& s) {
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},          {" ,", ","},     {" ' ", "'"},    {" n't", "n't"},
      {" 'm", "'m"},   {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) replace_all(s, from, to);
}

// transformers' PreTrainedTokenizerBase.clean_up_tokenization (applied to the whole text).
void cleanup_text(std::string& s) {
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."},   {" ?", "?"},   {" !", "!"},   {" ,", ","},   {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) replace_all(s, from, to);
}

// tokenizer_config.json values: "x" or {"content": "x", ...} (an AddedToken).
std::optional<std::string> token_string(const json& cfg, const char* key, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  TSR_CHECK(v.is_object() && v.contains("content") && v["content"].is_string(), Error, path, ": ", key,
            " must be a string or an object with a string \"content\"");
  return v["content"].get<std::string>();
}

bool bool_field(const json& obj, const char* key, bool fallback, const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  TSR_CHECK(obj[key].is_boolean(), Error, where, ": ", key, " must be true or false");
  return obj[key].get<bool>();
}

// Applies a tokenizer_config.json's settings to `o` (what BertTokenizer(Fast) reads from it).
void apply_config(const std::string& path, WordPieceOptions& o) {
  json cfg = read_json_file(path);
  TSR_CHECK(cfg.is_object(), Error, path, ": expected a JSON object");
  o.lowercase = bool_field(cfg, "do_lower_case", o.lowercase, path);
  if (cfg.contains("strip_accents")) {
    if (cfg["strip_accents"].is_null()) o.strip_accents.reset();
    else o.strip_accents = bool_field(cfg, "strip_accents", false, path);
  }
  o.tokenize_chinese_chars = bool_field(cfg, "tokenize_chinese_chars", o.tokenize_chinese_chars, path);
  TSR_CHECK(bool_field(cfg, "do_basic_tokenize", true, path), Error, path,
            ": do_basic_tokenize=false is not supported (BERT's basic tokenizer always runs)");
  if (auto s = token_string(cfg, "unk_token", path)) o.unk_token = *s;
  if (auto s = token_string(cfg, "cls_token", path)) o.cls_token = *s;
  if (auto s = token_string(cfg, "sep_token", path)) o.sep_token = *s;
  if (auto s = token_string(cfg, "pad_token", path)) o.pad_token = *s;
  if (auto s = token_string(cfg, "mask_token", path)) o.mask_token = *s;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options, std::string origin)
    : vocab_(std::move(vocab)), options_(std::move(options)), origin_(origin.empty() ? "<memory>" : std::move(origin)) {
  TSR_CHECK(!vocab_.empty(), Error, origin_, ": the WordPiece vocabulary is empty");
  TSR_CHECK(vocab_.size() < (size_t{1} << 31), Error, origin_, ": the vocabulary is too large");
  TSR_CHECK(options_.max_input_chars_per_word > 0, Error, origin_, ": max_input_chars_per_word must be > 0");
  strip_accents_ = options_.strip_accents.value_or(options_.lowercase);
  id_of_.reserve(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    const std::string& t = vocab_[i];
    TSR_CHECK(detail::is_valid_utf8(t), Error, origin_, ": vocabulary entry ", i, " ('", detail::printable(t),
              "') is not valid UTF-8");
    auto [it, fresh] = id_of_.emplace(t, static_cast<int32_t>(i));
    TSR_CHECK(fresh, Error, origin_, ": vocabulary entry ", i, " ('", detail::printable(t), "') repeats entry ",
              it->second);
    max_piece_bytes_ = std::max(max_piece_bytes_, t.size());
    if (t.size() > 2 && t.compare(0, 2, "##") == 0) cont_id_of_.emplace(t.substr(2), static_cast<int32_t>(i));
  }
  auto need = [&](const std::string& tok, const char* what) {
    auto it = id_of_.find(tok);
    TSR_CHECK(it != id_of_.end(), Error, origin_, ": the ", what, " token '", detail::printable(tok),
              "' is not in the vocabulary");
    return it->second;
  };
  unk_id_ = need(options_.unk_token, "unk");
  cls_id_ = need(options_.cls_token, "cls");
  sep_id_ = need(options_.sep_token, "sep");
  for (const std::string* s : {&options_.pad_token, &options_.unk_token, &options_.cls_token, &options_.sep_token,
                               &options_.mask_token}) {
    auto it = id_of_.find(*s);
    if (s->empty() || it == id_of_.end() || find_special(specials_, *s)) continue;
    specials_.emplace_back(*s, it->second);
  }
  if (auto it = id_of_.find(options_.pad_token); it != id_of_.end()) pad_id_ = it->second;
  if (auto it = id_of_.find(options_.mask_token); it != id_of_.end()) mask_id_ = it->second;
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_file(const std::string& vocab_txt,
                                                                        WordPieceOptions options) {
  std::ifstream in(vocab_txt, std::ios::binary);
  TSR_CHECK(in.good(), Error, "WordPiece vocabulary '", vocab_txt, "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  // Python's readlines() in text mode: \n, \r\n and \r all end a line.
  std::vector<std::string> vocab;
  size_t i = 0;
  while (i < data.size()) {
    size_t e = data.find_first_of("\r\n", i);
    if (e == std::string::npos) {
      vocab.push_back(data.substr(i));
      break;
    }
    vocab.push_back(data.substr(i, e - i));
    i = e + (data[e] == '\r' && e + 1 < data.size() && data[e + 1] == '\n' ? 2 : 1);
  }
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(options), vocab_txt);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_folder(const std::string& folder) {
  fs::path p(folder);
  if (!fs::is_directory(p)) {
    TSR_CHECK(fs::exists(p), Error, "WordPiece tokenizer '", folder, "' not found");
    if (p.extension() == ".json") return from_tokenizer_json(folder);
    // A vocab.txt: the tokenizer_config.json beside it, if any, sets the options.
    WordPieceOptions o;
    fs::path cfg = p.parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg)) apply_config(cfg.string(), o);
    return from_vocab_file(folder, std::move(o));
  }
  fs::path cfg = p / "tokenizer_config.json";
  if (fs::exists(p / "tokenizer.json")) {
    json j = read_json_file((p / "tokenizer.json").string());
    if (j.is_object() && j.contains("model") && j["model"].is_object() && j["model"].value("type", "") == "WordPiece") {
      auto tok = from_tokenizer_json((p / "tokenizer.json").string());
      if (!fs::exists(cfg)) return tok;
      // BertTokenizerFast lets tokenizer_config.json override the normalizer.
      WordPieceOptions o = tok->options();
      apply_config(cfg.string(), o);
      return std::make_unique<WordPieceTokenizer>(tok->vocab_, std::move(o), tok->origin_);
    }
  }
  TSR_CHECK(fs::exists(p / "vocab.txt"), Error, "tokenizer folder '", folder,
            "' holds neither vocab.txt nor a WordPiece tokenizer.json");
  WordPieceOptions o;
  if (fs::exists(cfg)) apply_config(cfg.string(), o);
  return from_vocab_file((p / "vocab.txt").string(), std::move(o));
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_tokenizer_json(const std::string& path) {
  json j = read_json_file(path);
  TSR_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), Error, path,
            ": expected a tokenizer.json with a \"model\" object");
  const json& model = j["model"];
  TSR_CHECK(model.value("type", "") == "WordPiece", Error, path, ": model.type '", model.value("type", "?"),
            "' is not WordPiece");
  TSR_CHECK(model.value("continuing_subword_prefix", "##") == "##", Error, path,
            ": model.continuing_subword_prefix must be \"##\"");
  WordPieceOptions o;
  if (model.contains("unk_token") && model["unk_token"].is_string()) o.unk_token = model["unk_token"].get<std::string>();
  if (model.contains("max_input_chars_per_word")) {
    TSR_CHECK(model["max_input_chars_per_word"].is_number_integer(), Error, path,
              ": model.max_input_chars_per_word must be an integer");
    o.max_input_chars_per_word = model["max_input_chars_per_word"].get<int>();
  }
  TSR_CHECK(j.contains("normalizer") && j["normalizer"].is_object() &&
                j["normalizer"].value("type", "") == "BertNormalizer",
            Error, path, ": only a BertNormalizer normalizer is supported");
  const json& norm = j["normalizer"];
  std::string where = path + ": normalizer";
  TSR_CHECK(bool_field(norm, "clean_text", true, where), Error, where, ": clean_text=false is not supported");
  o.lowercase = bool_field(norm, "lowercase", true, where);
  o.tokenize_chinese_chars = bool_field(norm, "handle_chinese_chars", true, where);
  if (norm.contains("strip_accents") && !norm["strip_accents"].is_null())
    o.strip_accents = bool_field(norm, "strip_accents", false, where);
  TSR_CHECK(j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object() &&
                j["pre_tokenizer"].value("type", "") == "BertPreTokenizer",
            Error, path, ": only a BertPreTokenizer pre_tokenizer is supported");
  // [CLS] / [SEP] from the post-processor, [PAD] from the padding settings.
  if (j.contains("post_processor") && j["post_processor"].is_object()) {
    const json& pp = j["post_processor"];
    if (pp.value("type", "") == "BertProcessing") {
      if (pp.contains("cls") && pp["cls"].is_array() && pp["cls"][0].is_string()) o.cls_token = pp["cls"][0];
      if (pp.contains("sep") && pp["sep"].is_array() && pp["sep"][0].is_string()) o.sep_token = pp["sep"][0];
    } else if (pp.value("type", "") == "TemplateProcessing" && pp.contains("single") && pp["single"].is_array()) {
      const json& single = pp["single"];
      auto special_at = [&](size_t i) -> std::optional<std::string> {
        if (i >= single.size() || !single[i].is_object() || !single[i].contains("SpecialToken")) return std::nullopt;
        const json& s = single[i]["SpecialToken"];
        if (!s.is_object() || !s.contains("id") || !s["id"].is_string()) return std::nullopt;
        return s["id"].get<std::string>();
      };
      if (!single.empty()) {
        if (auto s = special_at(0)) o.cls_token = *s;
        if (auto s = special_at(single.size() - 1)) o.sep_token = *s;
      }
    }
  }
  if (j.contains("padding") && j["padding"].is_object() && j["padding"].contains("pad_token") &&
      j["padding"]["pad_token"].is_string())
    o.pad_token = j["padding"]["pad_token"].get<std::string>();
  TSR_CHECK(model.contains("vocab") && model["vocab"].is_object(), Error, path, ": model.vocab must be an object");
  const json& v = model["vocab"];
  std::vector<std::string> vocab(v.size());
  std::vector<bool> seen(v.size(), false);
  for (const auto& [tok, idj] : v.items()) {
    TSR_CHECK(idj.is_number_integer() && idj.get<int64_t>() >= 0 && idj.get<int64_t>() < int64_t(v.size()), Error,
              path, ": model.vocab['", detail::printable(tok), "'] must be an id in [0, ", v.size(), ")");
    size_t id = idj.get<size_t>();
    TSR_CHECK(!seen[id], Error, path, ": model.vocab id ", id, " is used twice");
    seen[id] = true;
    vocab[id] = tok;
  }
  auto tok = std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(o), path);
  // Added tokens: must be vocabulary entries; all are matched literally (like the special ones).
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    const json& arr = j["added_tokens"];
    for (size_t i = 0; i < arr.size(); ++i) {
      const json& t = arr[i];
      TSR_CHECK(t.is_object() && t.contains("id") && t["id"].is_number_integer() && t.contains("content") &&
                    t["content"].is_string(),
                Error, path, ": added_tokens[", i, "] needs an integer \"id\" and a string \"content\"");
      int64_t id = t["id"].get<int64_t>();
      std::string content = t["content"].get<std::string>();
      TSR_CHECK(id >= 0 && id < tok->vocab_size() && tok->vocab_[size_t(id)] == content, Error, path,
                ": added_tokens[", i, "] ('", detail::printable(content), "', id ", id,
                ") is not the vocabulary entry of that id (only added tokens inside the vocabulary are supported)");
      if (!find_special(tok->specials_, content) && !content.empty())
        tok->specials_.emplace_back(content, static_cast<int32_t>(id));
    }
  }
  return tok;
}

void WordPieceTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  size_t chars = 0;
  for (char b : word) chars += !is_continuation_byte(b);
  if (chars > static_cast<size_t>(options_.max_input_chars_per_word)) {
    out.push_back(unk_id_);
    return;
  }
  const size_t mark = out.size();
  for (size_t start = 0; start < word.size();) {
    const auto& table = start == 0 ? id_of_ : cont_id_of_;
    // Longest match first; nothing in the vocabulary is longer than max_piece_bytes_.
    size_t end = std::min(word.size(), start + max_piece_bytes_);
    while (end < word.size() && is_continuation_byte(word[end])) --end;
    int32_t id = -1;
    while (end > start) {
      auto it = table.find(word.substr(start, end - start));
      if (it != table.end()) {
        id = it->second;
        break;
      }
      do --end;
      while (end > start && is_continuation_byte(word[end]));
    }
    if (id < 0) {  // no piece fits: the whole word is unknown
      out.resize(mark);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(id);
    start = end;
  }
}

void WordPieceTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  BertNormalizer(options_.lowercase, strip_accents_, options_.tokenize_chinese_chars)
      .split_words(text, [&](std::string_view word) { encode_word(word, out); });
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  if (!allow_special || specials_.empty()) {
    encode_ordinary(text, out);
    return out;
  }
  for (size_t pos = 0; pos < text.size();) {
    SpecialHit hit = next_special(text, pos, specials_);
    encode_ordinary(text.substr(pos, hit.pos - pos), out);
    if (hit.len == 0) break;
    out.push_back(hit.id);
    pos = hit.pos + hit.len;
  }
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode_for_model(std::string_view text, int64_t max_len) const {
  TSR_CHECK(max_len >= 2, Error, "encode_for_model: max_len ", max_len, " leaves no room for [CLS] and [SEP]");
  std::vector<int32_t> pieces = encode(text, true);
  size_t keep = std::min(pieces.size(), static_cast<size_t>(max_len - 2));
  std::vector<int32_t> out;
  out.reserve(keep + 2);
  out.push_back(cls_id_);
  out.insert(out.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  out.push_back(sep_id_);
  return out;
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& tok = token_entry(vocab_, ids[i]);
    std::string piece;
    if (i == 0) piece = tok;
    else if (tok.compare(0, 2, "##") == 0) piece = tok.substr(2);
    else piece = " " + tok;
    cleanup_token(piece);
    out += piece;
  }
  cleanup_text(out);
  return out;
}

std::string WordPieceTokenizer::token_bytes(int32_t id) const { return token_entry(vocab_, id); }

std::optional<int32_t> WordPieceTokenizer::special_id(std::string_view text) const {
  return find_special(specials_, text);
}

int32_t WordPieceTokenizer::pad_id() const {
  TSR_CHECK(pad_id_ >= 0, Error, origin_, ": the pad token '", options_.pad_token, "' is not in the vocabulary");
  return pad_id_;
}

int32_t WordPieceTokenizer::mask_id() const {
  TSR_CHECK(mask_id_ >= 0, Error, origin_, ": the mask token '", options_.mask_token, "' is not in the vocabulary");
  return mask_id_;
}

void WordPieceTokenizer::save(const std::string& path) const {
  ordered_json vocab = ordered_json::object();
  for (size_t id = 0; id < vocab_.size(); ++id) append_new_key(vocab, vocab_[id], static_cast<int32_t>(id));
  auto special = [](const std::string& tok, int type_id) {
    return ordered_json{{"SpecialToken", {{"id", tok}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) {
    return ordered_json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  const std::string& cls = options_.cls_token;
  const std::string& sep = options_.sep_token;
  ordered_json post = {
      {"type", "TemplateProcessing"},
      {"single", {special(cls, 0), sequence("A", 0), special(sep, 0)}},
      {"pair",
       {special(cls, 0), sequence("A", 0), special(sep, 0), sequence("B", 1),
        special(sep, 1)}},
      {"special_tokens",
       {{cls, {{"id", cls}, {"ids", {cls_id_}}, {"tokens", {cls}}}},
        {sep, {{"id", sep}, {"ids", {sep_id_}}, {"tokens", {sep}}}}}}};
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added_tokens_json(specials_);
  j["normalizer"] = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", options_.tokenize_chinese_chars},
                     {"strip_accents", options_.strip_accents ? ordered_json(*options_.strip_accents) : nullptr},
                     {"lowercase", options_.lowercase}};
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  j["post_processor"] = std::move(post);
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
  j["model"] = {{"type", "WordPiece"},
                {"unk_token", options_.unk_token},
                {"continuing_subword_prefix", "##"},
                {"max_input_chars_per_word", options_.max_input_chars_per_word},
                {"vocab", std::move(vocab)},
                {"tessera", {{"format_version", kFormatVersion}, {"kind", "wordpiece"}}}};
  io::write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace tessera::text
