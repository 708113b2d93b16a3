// JsonReader (io/json_reader.h): key checks and typed reads with messages
// that name the field.
#include "io/json_reader.h"

#include <cmath>
#include <limits>

#include "tessera/core/error.h"

using nlohmann::json;

namespace tessera::io {

namespace {

// An integral JSON number that fits int64 (64, 64.0, 1e4; not 2.5 or 1e30).
bool integral(const json& v, int64_t& out) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    out = v.get<int64_t>();
    return true;
  }
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e18) return false;
  out = static_cast<int64_t>(d);
  return true;
}

// 'name', as messages quote keys.
std::string in_quotes(const std::string& name) {
  std::string q;
  q.reserve(name.size() + 2);
  q.push_back('\'');
  q.append(name);
  q.push_back('\'');
  return q;
}

}  // namespace

json parse_json(const std::string& text, std::string_view error_prefix) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string(error_prefix) + e.what());
  }
}

JsonReader::JsonReader(const json& object, std::string who, std::string path)
    : j_(&object), who_(std::move(who)), path_(std::move(path)) {
  if (j_->is_object()) return;
  if (path_.empty()) fail(std::string("the top level must be a JSON object, got ") + j_->type_name());
  const std::string name(path_, 0, path_.size() - 1);  // "train." -> "train"
  fail(in_quotes(name) + " must be an object, got " + j_->dump());
}

void JsonReader::fail(const std::string& what) const { throw Error(who_ + ": " + what); }

void JsonReader::wrong_type(const char* key, const char* expected) const {
  fail(in_quotes(field(key)) + " must be " + expected + ", got " + j_->at(key).dump());
}

const JsonReader& JsonReader::known_keys(std::initializer_list<std::string_view> known) const {
  return known_keys(std::set<std::string>(known.begin(), known.end()));
}

const JsonReader& JsonReader::known_keys(const std::set<std::string>& known) const {
  for (auto it = j_->begin(); it != j_->end(); ++it) {
    if (known.count(it.key())) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    fail("unknown key " + in_quotes(path_ + it.key()) + " (known: " + list + ")");
  }
  return *this;
}

bool JsonReader::has(const char* key) const { return j_->contains(key); }

JsonReader JsonReader::section(const char* key) const {
  static const json empty = json::object();
  if (!has(key)) return JsonReader(empty, who_, field(key) + ".");
  return JsonReader(j_->at(key), who_, field(key) + ".");
}

bool JsonReader::read(const char* key, int64_t& dst) const {
  if (!has(key)) return false;
  if (!integral(j_->at(key), dst)) wrong_type(key, "an integer");
  return true;
}

bool JsonReader::read(const char* key, int& dst) const {
  if (!has(key)) return false;
  int64_t v = 0;
  if (!integral(j_->at(key), v) || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    wrong_type(key, "an integer");
  dst = static_cast<int>(v);
  return true;
}

bool JsonReader::read(const char* key, uint64_t& dst) const {
  if (!has(key)) return false;
  const json& v = j_->at(key);
  if (v.is_number_unsigned()) {
    dst = v.get<uint64_t>();
    return true;
  }
  int64_t i = 0;
  if (!integral(v, i) || i < 0) wrong_type(key, "a non-negative integer");
  dst = static_cast<uint64_t>(i);
  return true;
}

bool JsonReader::read(const char* key, double& dst) const {
  if (!has(key)) return false;
  if (!j_->at(key).is_number()) wrong_type(key, "a number");
  dst = j_->at(key).get<double>();
  return true;
}

bool JsonReader::read(const char* key, bool& dst) const {
  if (!has(key)) return false;
  if (!j_->at(key).is_boolean()) wrong_type(key, "true or false");
  dst = j_->at(key).get<bool>();
  return true;
}

bool JsonReader::read(const char* key, std::string& dst) const {
  if (!has(key)) return false;
  if (!j_->at(key).is_string()) wrong_type(key, "a string");
  dst = j_->at(key).get<std::string>();
  return true;
}

bool JsonReader::read(const char* key, std::vector<int64_t>& dst) const {
  if (!has(key)) return false;
  const json& v = j_->at(key);
  if (!v.is_array()) wrong_type(key, "a list of integers");
  std::vector<int64_t> out;
  for (const auto& e : v) {
    int64_t i = 0;
    if (!integral(e, i)) wrong_type(key, "a list of integers");
    out.push_back(i);
  }
  dst = std::move(out);
  return true;
}

bool JsonReader::read(const char* key, std::vector<double>& dst) const {
  if (!has(key)) return false;
  const json& v = j_->at(key);
  if (!v.is_array()) wrong_type(key, "a list of numbers");
  std::vector<double> out;
  for (const auto& e : v) {
    if (!e.is_number()) wrong_type(key, "a list of numbers");
    out.push_back(e.get<double>());
  }
  dst = std::move(out);
  return true;
}

bool JsonReader::read(const char* key, std::vector<std::string>& dst) const {
  if (!has(key)) return false;
  const json& v = j_->at(key);
  if (!v.is_array()) wrong_type(key, "a list of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) wrong_type(key, "a list of strings");
    out.push_back(e.get<std::string>());
  }
  dst = std::move(out);
  return true;
}

}  // namespace tessera::io
