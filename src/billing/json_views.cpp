#include "tessera/billing/json_views.h"

namespace tessera::billing {

nlohmann::json to_json(const Plan& p) {
  return {{"name", p.name},
          {"period", p.period},
          {"token_quota", p.token_quota},
          {"budget_micros", p.budget_micros},
          {"requests_per_minute", p.requests_per_minute},
          {"tokens_per_minute", p.tokens_per_minute},
          {"max_parallel", p.max_parallel},
          {"max_output_tokens", p.max_output_tokens},
          {"allowed_models", p.allowed_models}};
}

nlohmann::json to_json(const KeyInfo& k) {
  return {{"id", k.key_id},       {"prefix", k.key_prefix}, {"name", k.name},
          {"account", k.account}, {"plan", k.plan.name},    {"revoked", k.revoked},
          {"created_at", k.created_at}};
}

nlohmann::json to_json(const KeyCounters& c) {
  return {{"key_id", c.key_id}, {"tokens", c.tokens}, {"micros", c.micros}, {"open_requests", c.open_requests}};
}

nlohmann::json to_json(const std::vector<KeyCounters>& cs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : cs) a.push_back(to_json(c));
  return a;
}

}  // namespace tessera::billing
