// Saving byte-level BPE tokenizers as Hugging Face tokenizer.json (plus our
// "tessera" object) and load_tokenizer(): our files, HF byte-level BPE files,
// GPT-2's encoder.json + vocab.bpe folders, and our SentencePiece files.
#include <filesystem>
#include <unordered_set>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"
#include "tessera/text/bpe.h"
#include "tessera/text/char_tokenizer.h"
#include "tessera/text/sentencepiece_bpe.h"
#include "tessera/text/wordpiece.h"
#include "text_io.h"
#include "utf8.h"

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace tessera::text {
namespace {

constexpr int kFormatVersion = 1;

ordered_json byte_level(bool add_prefix_space, bool trim_offsets) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", trim_offsets},
          {"use_regex", true}};
}

// added_tokens -> (content, id) pairs; errors name the entry.
std::vector<std::pair<std::string, int32_t>> read_added(const json& j, const std::string& path) {
  std::vector<std::pair<std::string, int32_t>> out;
  if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return out;
  const json& arr = j["added_tokens"];
  TSR_CHECK(arr.is_array(), Error, path, ": added_tokens must be an array");
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& t = arr[i];
    TSR_CHECK(t.is_object() && t.contains("id") && t["id"].is_number_integer() && t["id"].get<int64_t>() >= 0 &&
                  t["id"].get<int64_t>() < (int64_t{1} << 30) && t.contains("content") && t["content"].is_string(),
              Error, path, ": added_tokens[", i, "] needs an integer \"id\" >= 0 and a string \"content\"");
    for (const auto& [text, id] : out)
      TSR_CHECK(id != t["id"].get<int32_t>(), Error, path, ": added_tokens[", i, "] reuses id ", id);
    out.emplace_back(t["content"].get<std::string>(), t["id"].get<int32_t>());
  }
  return out;
}

std::vector<int32_t> ids_of(const std::vector<std::pair<std::string, int32_t>>& specials) {
  std::vector<int32_t> ids;
  for (const auto& s : specials) ids.push_back(s.second);
  return ids;
}

void check_byte_level(const json& j, const char* field, const std::string& path) {
  if (!j.contains(field) || j[field].is_null()) return;
  const json& p = j[field];
  TSR_CHECK(p.is_object() && p.value("type", "") == "ByteLevel", Error, path, ": ", field, " of type '",
            p.is_object() ? p.value("type", "?") : p.dump(), "' is not supported (only ByteLevel)");
  TSR_CHECK(std::string(field) != "pre_tokenizer" ||
                (!p.value("add_prefix_space", false) && p.value("use_regex", true)),
            Error, path, ": pre_tokenizer ByteLevel with add_prefix_space=true or use_regex=false is not supported");
}

std::unique_ptr<Tokenizer> load_json_tokenizer(const std::string& path) {
  json j = read_json_file(path);
  TSR_CHECK(j.is_object(), Error, path, ": expected a JSON object (a tokenizer.json)");
  std::string kind = "bpe";
  // Our object sits in "model" (HF rejects unknown top-level keys but ignores
  // them inside the model); a top-level one is accepted too.
  const json* tess = nullptr;
  if (j.contains("tessera"))
    tess = &j["tessera"];
  else if (j.contains("model") && j["model"].is_object() && j["model"].contains("tessera"))
    tess = &j["model"]["tessera"];
  if (tess) {
    const json& t = *tess;
    TSR_CHECK(t.is_object() && t.contains("format_version") && t["format_version"].is_number_integer(), Error, path,
              ": tessera.format_version is missing");
    int64_t v = t["format_version"].get<int64_t>();
    TSR_CHECK(v == kFormatVersion, Error, path, ": tessera.format_version ", v, " is not supported (this build reads ",
              kFormatVersion, ")");
    kind = t.value("kind", "bpe");
    TSR_CHECK(kind == "bpe" || kind == "char" || kind == "wordpiece" || kind == "spm", Error, path,
              ": tessera.kind '", kind, "' is unknown (bpe, char, wordpiece or spm)");
  }
  if (kind == "spm") return SentencePieceBPE::from_saved_json(path);
  TSR_CHECK(j.contains("model") && j["model"].is_object(), Error, path, ": the \"model\" object is missing");
  // BERT's WordPiece (ours or a Hugging Face BertTokenizerFast file).
  if (kind == "wordpiece" || j["model"].value("type", "") == "WordPiece")
    return WordPieceTokenizer::from_tokenizer_json(path);
  const json& model = j["model"];
  auto specials = read_added(j, path);
  std::unordered_map<std::string, int32_t> id_of;
  TSR_CHECK(model.contains("vocab"), Error, path, ": model.vocab is missing");
  if (kind == "char") {
    auto vocab = vocab_from_json(model["vocab"], path, "model.vocab", id_of, ids_of(specials));
    return std::make_unique<CharTokenizer>(std::move(vocab), std::move(specials), path);
  }
  std::string type = model.value("type", "");
  TSR_CHECK(type == "BPE", Error, path, ": model.type '", type, "' is not supported (only byte-level BPE)");
  TSR_CHECK(!j.contains("normalizer") || j["normalizer"].is_null(), Error, path,
            ": a normalizer is not supported (byte-level BPE without normalization only)");
  TSR_CHECK(!model.value("byte_fallback", false) && model.value("continuing_subword_prefix", "").empty() &&
                model.value("end_of_word_suffix", "").empty(),
            Error, path, ": model.byte_fallback / continuing_subword_prefix / end_of_word_suffix are not supported");
  check_byte_level(j, "pre_tokenizer", path);
  check_byte_level(j, "decoder", path);
  auto vocab = vocab_from_json(model["vocab"], path, "model.vocab", id_of, ids_of(specials));
  std::vector<std::pair<int32_t, int32_t>> merges;
  if (model.contains("merges") && !model["merges"].is_null()) {
    const json& ms = model["merges"];
    TSR_CHECK(ms.is_array(), Error, path, ": model.merges must be an array");
    merges.reserve(ms.size());
    for (size_t i = 0; i < ms.size(); ++i) {
      std::string where = path + ": model.merges[" + std::to_string(i) + "]";
      const json& m = ms[i];
      if (m.is_string()) {
        merges.push_back(parse_merge(m.get_ref<const std::string&>(), id_of, where));
      } else {  // newer HF files: ["left", "right"]
        TSR_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), Error, where,
                  ": expected \"left right\" or [\"left\", \"right\"]");
        merges.push_back(merge_ids(m[0].get<std::string>(), m[1].get<std::string>(), id_of, where));
      }
    }
  }
  auto tok = std::make_unique<ByteLevelBPE>(std::move(vocab), std::move(merges), std::move(specials), path);
  tok->set_ignore_merges(model.value("ignore_merges", false));
  return tok;
}

}  // namespace

void ByteLevelBPE::save(const std::string& path) const {
  std::vector<bool> is_special(vocab_.size(), false);
  for (const auto& s : specials_) is_special[s.second] = true;
  ordered_json vocab = ordered_json::object();
  for (size_t id = 0; id < vocab_.size(); ++id) {
    std::string spelled = bytes_to_unicode(vocab_[id]);
    // Specials also go in model.vocab (as in GPT-2's HF file) unless the
    // spelling is taken by an ordinary token; added_tokens carries them anyway.
    if (!is_special[id] || !id_of_.count(vocab_[id])) append_new_key(vocab, std::move(spelled), id);
  }
  auto merges = ordered_json::array();
  for (const auto& [a, b] : merges_) merges.push_back(bytes_to_unicode(vocab_[a]) + " " + bytes_to_unicode(vocab_[b]));
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = added_tokens_json(specials_);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = byte_level(false, true);
  j["post_processor"] = byte_level(true, false);
  j["decoder"] = byte_level(true, true);
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", ignore_merges_},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)},
                {"tessera", {{"format_version", kFormatVersion}, {"kind", "bpe"}}}};
  io::write_file_atomic(path, j.dump(2) + "\n");
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) return load_json_tokenizer((p / "tokenizer.json").string());
    if (fs::exists(p / "encoder.json") && fs::exists(p / "vocab.bpe"))
      return ByteLevelBPE::from_gpt2_files((p / "encoder.json").string(), (p / "vocab.bpe").string());
    if (fs::exists(p / "vocab.txt")) return WordPieceTokenizer::from_folder(path);  // BERT's files
    throw Error(::tessera::detail::concat("tokenizer folder '", path,
                                          "' holds neither tokenizer.json, encoder.json + vocab.bpe nor vocab.txt"));
  }
  TSR_CHECK(fs::exists(p), Error, "tokenizer file '", path, "' not found");
  if (p.extension() == ".txt") return WordPieceTokenizer::from_folder(path);  // a BERT vocab.txt
  return load_json_tokenizer(path);
}

}  // namespace tessera::text
