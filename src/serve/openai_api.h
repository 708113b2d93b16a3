// OpenAI request parsing and validation for `tessera serve`, kept apart from
// HTTP so it can be tested on strings alone.
//
// Every rejection is an ApiError carrying the HTTP status and OpenAI's error
// object fields: {"error": {"message", "type", "param", "code"}}. The param is
// the request field at fault (e.g. "max_tokens", "messages[1].role"), so a
// client knows what to fix.
//
// Strictness (as OpenAI): an unknown top-level field is a 400 ("Unrecognized
// request argument supplied"); a field we know but do not implement (logprobs,
// echo, best_of > 1, suffix, logit_bias, presence/frequency penalties, tools,
// a non-text response_format, ...) is a 400 "... is not supported" naming it,
// rather than being silently ignored. null means "the default" for every
// optional field.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::serve::api {

struct ApiError : std::runtime_error {
  int status;
  std::string type, param, code;
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "invalid_request_error");
  nlohmann::json body() const;  // {"error": {...}}; empty param/code become null
};

// {"error": {"message", "type", "param", "code"}} (empty param/code: null).
nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& param,
                          const std::string& code);

struct ChatMessage {
  std::string role;     // "system" | "user" | "assistant" ("developer" reads as "system")
  std::string content;  // text parts of an array content are joined
};

// One /v1/completions or /v1/chat/completions request, validated.
struct GenerationRequest {
  bool chat = false;
  std::string model;
  // Completions: text, or token ids (prompt_is_ids).
  std::string prompt_text;
  std::vector<int64_t> prompt_ids;
  bool prompt_is_ids = false;
  std::vector<ChatMessage> messages;      // chat
  std::optional<int64_t> max_tokens;      // max_tokens / max_completion_tokens; unset: the route's default
  double temperature = 1.0;               // [0, 2]
  double top_p = 1.0;                     // (0, 1]
  int64_t top_k = 0;                      // extension; 0 = off
  std::optional<uint64_t> seed;           // unset: a random seed
  std::vector<std::string> stop;          // at most 4, non-empty strings
  int64_t n = 1;                          // 1..8
  bool stream = false;
  bool include_usage = false;             // stream_options.include_usage
};

// Largest max_tokens accepted at all (beyond: 400); smaller values are then
// clamped to the plan and the context by the server.
constexpr int64_t kMaxTokensLimit = 1 << 30;
// Largest JSON nesting accepted (deeper: 400 before parsing, so no recursion
// in the JSON library sees it).
constexpr int kMaxJsonDepth = 64;
constexpr int64_t kMaxChoices = 8;
constexpr size_t kMaxStops = 4;

// Parses a body as a JSON object; malformed JSON, too deep or not an object: 400.
nlohmann::json parse_json_object(const std::string& body);

GenerationRequest parse_completion_request(const std::string& body);
GenerationRequest parse_chat_request(const std::string& body);

}  // namespace tessera::serve::api
