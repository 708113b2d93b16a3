// Strict reading of JSON recipe sections, shared by the `train` and `pretrain`
// recipe parsers: unknown keys and wrong types are errors that name the key,
// so a typo in a recipe never silently trains something else. `who` prefixes
// every message ("config", "recipe").
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tessera/core/error.h"

namespace tessera::train {

struct RecipeJson {
  const char* who;

  // root[name] (an empty object when absent); not an object is an error.
  const nlohmann::json& section(const nlohmann::json& root, const char* name) const {
    static const nlohmann::json empty = nlohmann::json::object();
    if (!root.contains(name)) return empty;
    TSR_CHECK(root[name].is_object(), Error, who, ": \"", name, "\" must be an object, got ", root[name].dump());
    return root[name];
  }

  void check_keys(const nlohmann::json& j, const std::string& where, const std::set<std::string>& allowed) const {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (allowed.count(it.key())) continue;
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw Error(std::string(who) + ": unknown key '" + where + it.key() + "' (known in this section: " + list + ")");
    }
  }

  // dst = j[key] when present; a value of the wrong type is an error.
  template <class T>
  void read(const nlohmann::json& j, const std::string& where, const char* key, T& dst) const {
    if (!j.contains(key)) return;
    try {
      dst = j.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      throw Error(std::string(who) + ": '" + where + key + "' has the wrong type (" + j.at(key).dump() + ")");
    }
  }
};

}  // namespace tessera::train
