// Saving a SentencePieceBPE as a Hugging Face Llama-style tokenizer.json and
// reading that file back. HF's BPE model has merges instead of scores, so the
// merges are derived the way HF's SentencePiece converter derives them (every
// split of a piece into two vocabulary pieces, ranked by the piece's score);
// our model.tessera object keeps the scores and types themselves, so reading
// the file back gives the exact tokenizer, not an approximation.
#include <algorithm>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/text/sentencepiece_bpe.h"
#include "text_io.h"
#include "utf8.h"

using nlohmann::json;
using nlohmann::ordered_json;

namespace tessera::text {
namespace {

constexpr int kFormatVersion = 1;
const char* const kSpace = "\xE2\x96\x81";

ordered_json replace(const std::string& from, const std::string& to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}

ordered_json optional_id(const std::optional<int32_t>& id) { return id ? ordered_json(*id) : ordered_json(nullptr); }

// HF's SentencePieceExtractor: for each piece (by score, high first; ids break
// ties as the stable sort over the id-ordered vocabulary does), every split at
// a character boundary into two vocabulary pieces, ordered by their ids.
ordered_json derived_merges(const std::vector<std::string>& pieces, const std::vector<float>& scores,
                            const std::unordered_map<std::string, int32_t>& id_of) {
  struct Merge {
    float score;
    int32_t piece, left, right;
    size_t cut;
  };
  std::vector<Merge> merges;
  for (size_t id = 0; id < pieces.size(); ++id) {
    const std::string& p = pieces[id];
    for (size_t cut = detail::decode_utf8(p, 0).len; cut < p.size(); cut += detail::decode_utf8(p, cut).len) {
      auto l = id_of.find(p.substr(0, cut));
      auto r = id_of.find(p.substr(cut));
      if (l != id_of.end() && r != id_of.end())
        merges.push_back({scores[id], static_cast<int32_t>(id), l->second, r->second, cut});
    }
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.piece != b.piece) return a.piece < b.piece;
    return a.left != b.left ? a.left < b.left : a.right < b.right;
  });
  auto out = ordered_json::array();
  for (const Merge& m : merges) {
    const std::string& p = pieces[static_cast<size_t>(m.piece)];
    std::string l = p.substr(0, m.cut), r = p.substr(m.cut);
    // "left right" is the classic spelling; a piece holding ' ' needs the pair form.
    if (l.find(' ') == std::string::npos && r.find(' ') == std::string::npos)
      out.push_back(l + " " + r);
    else
      out.push_back(ordered_json::array({l, r}));
  }
  return out;
}

template <typename T>
std::vector<T> read_array(const json& t, const char* key, size_t n, const std::string& path) {
  TSR_CHECK(t.contains(key) && t[key].is_array(), Error, path, ": model.tessera.", key, " must be an array");
  TSR_CHECK(t[key].size() == n, Error, path, ": model.tessera.", key, " has ", t[key].size(), " entries for ", n,
            " tokens");
  std::vector<T> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const json& v = t[key][i];
    TSR_CHECK(v.is_number(), Error, path, ": model.tessera.", key, "[", i, "] must be a number");
    out.push_back(v.get<T>());
  }
  return out;
}

std::optional<int32_t> read_id(const json& t, const char* key, const std::string& path) {
  if (!t.contains(key) || t[key].is_null()) return std::nullopt;
  TSR_CHECK(t[key].is_number_integer(), Error, path, ": model.tessera.", key, " must be an integer or null");
  return t[key].get<int32_t>();
}

}  // namespace

void SentencePieceBPE::save(const std::string& path) const {
  std::unordered_map<std::string, int32_t> id_of;
  ordered_json vocab = ordered_json::object();
  std::vector<std::pair<std::string, int32_t>> added;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    const std::string& p = pieces_[i];
    TSR_CHECK(detail::is_valid_utf8(p), Error, "cannot save the tokenizer of ", source_, " to ", path, ": token ", id,
              " '", detail::printable(p), "' is not valid UTF-8");
    auto [it, fresh] = id_of.emplace(p, id);
    TSR_CHECK(fresh, Error, "cannot save the tokenizer of ", source_, " to ", path, ": tokens ", it->second, " and ",
              id, " are both '", detail::printable(p), "' (a tokenizer.json vocabulary needs distinct pieces)");
    append_new_key(vocab, p, id);
    auto t = static_cast<SpmTokenType>(types_[i]);
    if (t == SpmTokenType::kControl || t == SpmTokenType::kUnknown || t == SpmTokenType::kUserDefined)
      added.emplace_back(p, id);
  }
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added_tokens_json(added);
  auto normalizers = ordered_json::array();
  if (options_.add_space_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", kSpace}});
  normalizers.push_back(replace(" ", kSpace));
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", std::move(normalizers)}};
  j["pre_tokenizer"] = nullptr;
  if (adds_bos()) {
    const std::string& bos = pieces_[static_cast<size_t>(*options_.bos)];
    auto special = [&](int type_id) { return ordered_json{{"SpecialToken", {{"id", bos}, {"type_id", type_id}}}}; };
    auto seq = [](const char* id, int type_id) { return ordered_json{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", {special(0), seq("A", 0)}},
                           {"pair", {special(0), seq("A", 0), special(1), seq("B", 1)}},
                           {"special_tokens", {{bos, {{"id", bos}, {"ids", {*options_.bos}}, {"tokens", {bos}}}}}}};
  } else {
    j["post_processor"] = nullptr;
  }
  auto decoders = ordered_json::array({replace(kSpace, " "), {{"type", "ByteFallback"}}, {{"type", "Fuse"}}});
  if (options_.add_space_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  j["decoder"] = {{"type", "Sequence"}, {"decoders", std::move(decoders)}};
  ordered_json unk = options_.unk ? ordered_json(pieces_[static_cast<size_t>(*options_.unk)]) : ordered_json(nullptr);
  ordered_json merges = derived_merges(pieces_, scores_, id_of);
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", std::move(unk)},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", true},
                {"byte_fallback", true},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)},
                {"tessera",
                 {{"format_version", kFormatVersion},
                  {"kind", "spm"},
                  {"scores", scores_},
                  {"types", types_},
                  {"bos", optional_id(options_.bos)},
                  {"eos", optional_id(options_.eos)},
                  {"unk", optional_id(options_.unk)},
                  {"add_bos", options_.add_bos},
                  {"add_space_prefix", options_.add_space_prefix}}}};
  io::write_file_atomic(path, j.dump(2) + "\n");
}

std::unique_ptr<SentencePieceBPE> SentencePieceBPE::from_saved_json(const std::string& path) {
  json j = read_json_file(path);
  TSR_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), Error, path,
            ": expected a tokenizer.json with a \"model\" object");
  const json& model = j["model"];
  TSR_CHECK(model.contains("tessera") && model["tessera"].is_object(), Error, path,
            ": model.tessera is missing (a SentencePiece tokenizer is read from the files Tessera saves)");
  const json& t = model["tessera"];
  TSR_CHECK(model.contains("vocab") && model["vocab"].is_object(), Error, path, ": model.vocab must be an object");
  const json& v = model["vocab"];
  std::vector<std::string> pieces(v.size());
  std::vector<bool> seen(v.size(), false);
  for (auto it = v.begin(); it != v.end(); ++it) {
    TSR_CHECK(it.value().is_number_integer(), Error, path, ": model.vocab['", it.key(), "'] must be an integer id");
    const int64_t id = it.value().get<int64_t>();
    TSR_CHECK(id >= 0 && id < static_cast<int64_t>(pieces.size()) && !seen[static_cast<size_t>(id)], Error, path,
              ": model.vocab['", it.key(), "'] has id ", id, " (ids must be 0..", pieces.size() - 1,
              " without repeats)");
    seen[static_cast<size_t>(id)] = true;
    pieces[static_cast<size_t>(id)] = it.key();
  }
  const size_t n = pieces.size();
  Options options;
  options.bos = read_id(t, "bos", path);
  options.eos = read_id(t, "eos", path);
  options.unk = read_id(t, "unk", path);
  TSR_CHECK(t.value("add_bos", json(true)).is_boolean() && t.value("add_space_prefix", json(true)).is_boolean(),
            Error, path, ": model.tessera.add_bos / add_space_prefix must be true or false");
  options.add_bos = t.value("add_bos", true);
  options.add_space_prefix = t.value("add_space_prefix", true);
  return std::make_unique<SentencePieceBPE>(std::move(pieces), read_array<float>(t, "scores", n, path),
                                            read_array<int32_t>(t, "types", n, path), options, path);
}

}  // namespace tessera::text
