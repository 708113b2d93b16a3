#include "serve/openai_api.h"

#include <algorithm>
#include <cmath>
#include <set>

using nlohmann::json;

namespace tessera::serve::api {

ApiError::ApiError(int status_, std::string message, std::string param_, std::string code_, std::string type_)
    : std::runtime_error(std::move(message)),
      status(status_),
      type(std::move(type_)),
      param(std::move(param_)),
      code(std::move(code_)) {}

json error_json(const std::string& message, const std::string& type, const std::string& param,
                const std::string& code) {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  return json{{"error", e}};
}

json ApiError::body() const { return error_json(what(), type, param, code); }

namespace {

ApiError bad(const std::string& param, const std::string& message, const std::string& code = "") {
  return ApiError(400, message, param, code);
}

ApiError unsupported(const std::string& param) {
  return bad(param, "'" + param + "' is not supported by this server", "unsupported_parameter");
}

// OpenAI's phrasing for a value of the wrong JSON type.
ApiError wrong_type(const std::string& param, const json& v, const std::string& want) {
  return bad(param, "Invalid type for '" + param + "': expected " + want + ", but got " + std::string(v.type_name()) +
                        ".",
             "invalid_type");
}

// Deepest [ / { nesting outside strings; stops counting past `limit`.
int nesting_depth(const std::string& s, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

const json* field(const json& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> number_in(const json& o, const char* name, double lo, double hi, bool lo_open) {
  const json* v = field(o, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(name, *v, "a number");
  double x = v->get<double>();
  bool low_ok = lo_open ? x > lo : x >= lo;
  if (!std::isfinite(x) || !low_ok || x > hi) {
    std::string range = (lo_open ? "(" : "[") + json(lo).dump() + ", " + json(hi).dump() + "]";
    throw bad(name, "'" + std::string(name) + "' must be in " + range + ", got " + v->dump(), "invalid_value");
  }
  return x;
}

std::optional<int64_t> integer_in(const json& o, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(o, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw wrong_type(name, *v, "an integer");
  // nlohmann reads every non-negative integer as unsigned.
  bool in_range = v->is_number_unsigned() ? v->get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                static_cast<int64_t>(v->get<uint64_t>()) >= lo
                                          : v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
  if (!in_range)
    throw bad(name, "'" + std::string(name) + "' must be an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "], got " + v->dump(),
              "invalid_value");
  return v->get<int64_t>();
}

std::optional<bool> boolean(const json& o, const char* name) {
  const json* v = field(o, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(name, *v, "a boolean");
  return v->get<bool>();
}

void expect_string(const json& o, const char* name) {
  const json* v = field(o, name);
  if (v && !v->is_string()) throw wrong_type(name, *v, "a string");
}

// Fields we know but do not implement: allowed only at their "off" value.
void reject_unless_default(const json& o, const char* name, const std::vector<json>& defaults) {
  const json* v = field(o, name);
  if (!v) return;
  for (const auto& d : defaults)
    if (*v == d) return;
  throw unsupported(name);
}

void reject_unknown_fields(const json& o, const std::set<std::string>& known) {
  for (auto it = o.begin(); it != o.end(); ++it)
    if (!known.count(it.key()))
      throw bad(it.key(), "Unrecognized request argument supplied: " + it.key(), "unknown_parameter");
}

// The sampling and streaming fields both routes share.
void parse_common(const json& o, GenerationRequest& r) {
  const json* model = field(o, "model");
  if (!model) throw bad("model", "you must provide a model parameter", "missing_required_parameter");
  if (!model->is_string()) throw wrong_type("model", *model, "a string");
  r.model = model->get<std::string>();

  if (auto t = number_in(o, "temperature", 0.0, 2.0, false)) r.temperature = *t;
  if (auto p = number_in(o, "top_p", 0.0, 1.0, true)) r.top_p = *p;
  if (auto k = integer_in(o, "top_k", 0, kMaxTokensLimit)) r.top_k = *k;
  if (auto n = integer_in(o, "n", 1, kMaxChoices)) r.n = *n;
  if (const json* s = field(o, "seed")) {
    if (!s->is_number_integer()) throw wrong_type("seed", *s, "an integer");
    r.seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
  }
  if (const json* s = field(o, "stop")) {
    std::vector<json> items;
    if (s->is_string()) items.push_back(*s);
    else if (s->is_array()) items.assign(s->begin(), s->end());
    else throw wrong_type("stop", *s, "a string or an array of strings");
    if (items.size() > kMaxStops)
      throw bad("stop", "'stop' takes at most " + std::to_string(kMaxStops) + " sequences, got " +
                            std::to_string(items.size()),
                "invalid_value");
    for (size_t i = 0; i < items.size(); ++i) {
      std::string p = "stop[" + std::to_string(i) + "]";
      if (!items[i].is_string()) throw wrong_type(p, items[i], "a string");
      if (items[i].get<std::string>().empty()) throw bad(p, "stop sequences must not be empty", "invalid_value");
      r.stop.push_back(items[i].get<std::string>());
    }
  }
  r.stream = boolean(o, "stream").value_or(false);
  if (const json* so = field(o, "stream_options")) {
    if (!so->is_object()) throw wrong_type("stream_options", *so, "an object");
    if (!r.stream)
      throw bad("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "invalid_value");
    for (auto it = so->begin(); it != so->end(); ++it)
      if (it.key() != "include_usage")
        throw bad("stream_options." + it.key(), "Unrecognized stream option: " + it.key(), "unknown_parameter");
    if (const json* iu = field(*so, "include_usage")) {
      if (!iu->is_boolean()) throw wrong_type("stream_options.include_usage", *iu, "a boolean");
      r.include_usage = iu->get<bool>();
    }
  }
  expect_string(o, "user");  // accepted and ignored
  reject_unless_default(o, "frequency_penalty", {0, 0.0});
  reject_unless_default(o, "presence_penalty", {0, 0.0});
  reject_unless_default(o, "logit_bias", {json::object()});
}

std::optional<int64_t> max_tokens_field(const json& o, const char* name) {
  return integer_in(o, name, 1, kMaxTokensLimit);
}

// One message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string message_content(const json& c, const std::string& where) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw wrong_type(where, c, "a string or an array of content parts");
  std::string text;
  for (size_t i = 0; i < c.size(); ++i) {
    std::string p = where + "[" + std::to_string(i) + "]";
    const json& part = c[i];
    if (!part.is_object()) throw wrong_type(p, part, "an object");
    const json* type = field(part, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "text")
      throw bad(p + ".type", "only content parts of type 'text' are supported", "unsupported_parameter");
    const json* t = field(part, "text");
    if (!t || !t->is_string()) throw bad(p + ".text", "a text part needs a string 'text'", "invalid_value");
    text += t->get<std::string>();
  }
  return text;
}

}  // namespace

json parse_json_object(const std::string& body) {
  if (nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth)
    throw bad("", "the JSON body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels", "invalid_json");
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    throw bad("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                  "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
              "invalid_json");
  if (!j.is_object()) throw bad("", "the request body must be a JSON object, got " + std::string(j.type_name()),
                                "invalid_json");
  return j;
}

GenerationRequest parse_completion_request(const std::string& body) {
  json o = parse_json_object(body);
  reject_unknown_fields(o, {"model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs",
                            "max_tokens", "n", "presence_penalty", "seed", "stop", "stream", "stream_options",
                            "suffix", "temperature", "top_p", "top_k", "user"});
  GenerationRequest r;
  parse_common(o, r);
  reject_unless_default(o, "echo", {false});
  reject_unless_default(o, "best_of", {1});
  reject_unless_default(o, "suffix", {""});
  reject_unless_default(o, "logprobs", {});
  r.max_tokens = max_tokens_field(o, "max_tokens");

  const json* p = field(o, "prompt");
  if (!p) throw bad("prompt", "you must provide a prompt parameter", "missing_required_parameter");
  // A string, [string], [int, ...] or [[int, ...]]: one prompt per request.
  auto take_ids = [&](const json& ids) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].is_number_integer())
        throw bad("prompt", "a token-id prompt holds integers; element " + std::to_string(i) + " is " +
                                std::string(ids[i].type_name()),
                  "invalid_type");
      if (ids[i].is_number_unsigned() && ids[i].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        throw bad("prompt", "token id " + ids[i].dump() + " is out of range", "invalid_value");
      r.prompt_ids.push_back(ids[i].get<int64_t>());
    }
    r.prompt_is_ids = true;
  };
  if (p->is_string()) {
    r.prompt_text = p->get<std::string>();
  } else if (p->is_array()) {
    if (p->empty()) throw bad("prompt", "'prompt' must not be an empty array", "invalid_value");
    const json& first = (*p)[0];
    if (first.is_string() || first.is_array()) {
      if (p->size() != 1)
        throw bad("prompt", "batched prompts are not supported: send one prompt per request (got " +
                                std::to_string(p->size()) + ")",
                  "unsupported_parameter");
      if (first.is_string()) r.prompt_text = first.get<std::string>();
      else {
        if (first.empty()) throw bad("prompt", "'prompt' must not be an empty token list", "invalid_value");
        take_ids(first);
      }
    } else {
      take_ids(*p);
    }
  } else {
    throw wrong_type("prompt", *p, "a string, an array of one string, or an array of token ids");
  }
  return r;
}

GenerationRequest parse_chat_request(const std::string& body) {
  json o = parse_json_object(body);
  reject_unknown_fields(o, {"messages", "model", "audio", "frequency_penalty", "function_call", "functions",
                            "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "metadata",
                            "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty",
                            "reasoning_effort", "response_format", "seed", "service_tier", "stop", "store", "stream",
                            "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "top_k",
                            "user", "web_search_options"});
  GenerationRequest r;
  r.chat = true;
  parse_common(o, r);
  reject_unless_default(o, "logprobs", {false});
  reject_unless_default(o, "top_logprobs", {});
  for (const char* name : {"audio", "function_call", "functions", "prediction", "reasoning_effort", "tools",
                           "web_search_options"})
    reject_unless_default(o, name, {});
  reject_unless_default(o, "tool_choice", {"none"});
  reject_unless_default(o, "modalities", {json::array({"text"})});
  reject_unless_default(o, "response_format", {json{{"type", "text"}}});
  // Accepted and ignored (bookkeeping fields with no effect on generation).
  boolean(o, "store");
  boolean(o, "parallel_tool_calls");
  expect_string(o, "service_tier");
  if (const json* m = field(o, "metadata"); m && !m->is_object()) throw wrong_type("metadata", *m, "an object");

  auto mt = max_tokens_field(o, "max_tokens");
  auto mct = max_tokens_field(o, "max_completion_tokens");
  if (mt && mct && *mt != *mct)
    throw bad("max_completion_tokens", "give max_tokens or max_completion_tokens, not two different values",
              "invalid_value");
  r.max_tokens = mct ? mct : mt;

  const json* msgs = field(o, "messages");
  if (!msgs) throw bad("messages", "you must provide a messages parameter", "missing_required_parameter");
  if (!msgs->is_array()) throw wrong_type("messages", *msgs, "an array");
  if (msgs->empty()) throw bad("messages", "'messages' must contain at least one message", "invalid_value");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const json& m = (*msgs)[i];
    if (!m.is_object()) throw wrong_type(where, m, "an object");
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string& k = it.key();
      if (k == "role" || k == "content" || k == "name") continue;
      if ((k == "refusal" || k == "tool_calls" || k == "function_call") && it->is_null()) continue;
      throw bad(where + "." + k, "'" + k + "' in a message is not supported by this server", "unsupported_parameter");
    }
    const json* role = field(m, "role");
    if (!role) throw bad(where + ".role", "a message needs a 'role'", "missing_required_parameter");
    if (!role->is_string()) throw wrong_type(where + ".role", *role, "a string");
    std::string rl = role->get<std::string>();
    if (rl == "developer") rl = "system";
    if (rl != "system" && rl != "user" && rl != "assistant")
      throw bad(where + ".role",
                "role '" + role->get<std::string>() + "' is not supported (system, developer, user, assistant)",
                "invalid_value");
    expect_string(m, "name");
    const json* content = field(m, "content");
    if (!content) throw bad(where + ".content", "a message needs a 'content'", "missing_required_parameter");
    r.messages.push_back({rl, message_content(*content, where + ".content")});
  }
  return r;
}

}  // namespace tessera::serve::api
