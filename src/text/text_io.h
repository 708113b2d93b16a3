// Private helpers shared by the tokenizer sources: reading JSON files with
// errors that name the file and position, byte-level vocabularies and merge
// lines with errors that name the entry or line, and finding special tokens.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tessera::text {

// Parses a JSON file; a missing file or a syntax error becomes a tessera::Error
// naming the file (and nlohmann's byte position).
nlohmann::json read_json_file(const std::string& path);

// A {"token": id} object in GPT-2's byte-level spelling -> bytes by id (ids
// must be 0..V-1 without gaps and without duplicates, counting `extra`, ids
// that the caller fills afterwards, e.g. added tokens). id_of gets
// spelling -> id. Errors name `where`.
std::vector<std::string> vocab_from_json(const nlohmann::json& obj, const std::string& where,
                                         const std::string& field,
                                         std::unordered_map<std::string, int32_t>& id_of,
                                         const std::vector<int32_t>& extra = {});

// "left right" (byte-level spellings) -> their ids; errors name `where` (file + line or index).
std::pair<int32_t, int32_t> parse_merge(std::string_view line, const std::unordered_map<std::string, int32_t>& id_of,
                                        const std::string& where);
std::pair<int32_t, int32_t> merge_ids(std::string_view left, std::string_view right,
                                      const std::unordered_map<std::string, int32_t>& id_of, const std::string& where);

// The bytes of token `id` of a vocabulary, and the concatenated bytes of
// `ids`; an id outside [0, V) is an IndexError naming it.
const std::string& token_entry(const std::vector<std::string>& vocab, int32_t id);
std::string decode_ids(const std::vector<std::string>& vocab, const std::vector<int32_t>& ids);
// The id of a special token by its text, if present.
std::optional<int32_t> find_special(const std::vector<std::pair<std::string, int32_t>>& specials,
                                    std::string_view text);

// Writes each special token's text into vocab[id] and returns which ids are
// special; an id outside the vocabulary or an empty text is an Error naming
// `source`. Shared by the BPE and character tokenizers' constructors.
std::vector<bool> place_specials(std::vector<std::string>& vocab,
                                 const std::vector<std::pair<std::string, int32_t>>& specials,
                                 const std::string& source);

// The first special token at or after `from` (longest on a tie); len == 0 and
// pos == text.size() when there is none.
struct SpecialHit {
  size_t pos;
  int32_t id;
  size_t len;
};
SpecialHit next_special(std::string_view text, size_t from,
                        const std::vector<std::pair<std::string, int32_t>>& specials);

// Appends key -> value to an ordered_json object in O(1) (its operator[]
// searches linearly, quadratic for a 50k vocabulary); the caller guarantees
// the key is new.
void append_new_key(nlohmann::ordered_json& obj, std::string key, nlohmann::ordered_json value);

// The shared parts of a saved tokenizer.json ("added_tokens" + "tessera").
nlohmann::ordered_json added_tokens_json(const std::vector<std::pair<std::string, int32_t>>& specials);

}  // namespace tessera::text
