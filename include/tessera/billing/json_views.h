// JSON views of ledger records, one spelling for the CLI (`--format json`) and
// the server's admin routes, so scripts see the same fields from both.
// (Implemented in src/billing/json_views.cpp.)
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "tessera/billing/ledger.h"

namespace tessera::billing {

nlohmann::json to_json(const Plan& p);
nlohmann::json to_json(const KeyInfo& k);  // never the key itself: only its prefix
nlohmann::json to_json(const KeyCounters& c);
nlohmann::json to_json(const std::vector<KeyCounters>& cs);

}  // namespace tessera::billing
