// Strict reading of JSON objects: the one reader behind every recipe and
// config parser (train, pretrain and finetune recipes, data sections, model
// descriptions, GPTConfig), so a typo in a file is an error that names it
// instead of a setting that silently falls back to its default.
//
//   JsonReader r(j, "recipe");                 // `who` starts every message
//   r.known_keys({"model", "train"});          // "recipe: unknown key 'trian' (known: model, train)"
//   JsonReader t = r.section("train");         // key path "train."
//   t.read("steps", steps);                    // "recipe: 'train.steps' must be an integer, got \"10\""
//
// Types are strict: an integer field takes an integral number (64.0 and 1e4
// are fine, 2.5, "2" and true are not), a number field any number, a flag
// true or false. Private to the library: it exposes nlohmann::json, which is
// not part of the public headers.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::io {

// Parses `text`; a syntax error throws tessera::Error "<prefix><parser message>"
// (prefix e.g. "config is not valid JSON: ").
nlohmann::json parse_json(const std::string& text, std::string_view error_prefix);

class JsonReader {
 public:
  // `object` must outlive the reader. `path` is the key path of this object
  // inside the file ("" at the top, "train." for a section).
  JsonReader(const nlohmann::json& object, std::string who, std::string path = "");

  // Every key of the object must be one of `known`.
  const JsonReader& known_keys(std::initializer_list<std::string_view> known) const;
  const JsonReader& known_keys(const std::set<std::string>& known) const;

  bool has(const char* key) const;
  // The nested object under `key` (an empty object when absent), with the key
  // path extended; anything but an object is an error.
  JsonReader section(const char* key) const;

  // dst = the value of `key` when present (returns true), else dst is left
  // as it is (its default). A value of another type is an error naming the
  // field and the type expected.
  bool read(const char* key, int64_t& dst) const;
  bool read(const char* key, int& dst) const;
  bool read(const char* key, uint64_t& dst) const;
  bool read(const char* key, double& dst) const;
  bool read(const char* key, bool& dst) const;
  bool read(const char* key, std::string& dst) const;
  bool read(const char* key, std::vector<int64_t>& dst) const;
  bool read(const char* key, std::vector<double>& dst) const;
  bool read(const char* key, std::vector<std::string>& dst) const;

  const nlohmann::json& object() const { return *j_; }
  const std::string& who() const { return who_; }
  // "<path><key>", as messages name a field.
  std::string field(const char* key) const { return path_ + key; }
  // Throws tessera::Error "<who>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  [[noreturn]] void wrong_type(const char* key, const char* expected) const;
  const nlohmann::json* j_;
  std::string who_, path_;
};

}  // namespace tessera::io
