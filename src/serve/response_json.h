// The JSON `tessera serve` writes for a completion, in OpenAI's shapes: the
// whole response (non-streamed, and what an Idempotency-Key replays), the
// server-sent events of a streamed one (chunks, the usage chunk, [DONE]), and
// a stored whole response replayed as a stream. Kept apart from the request's
// life (job.h) so each shape is written once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::serve {

// JSON text that never throws on invalid UTF-8 (bad bytes become U+FFFD).
std::string dump_json(const nlohmann::json& j);

// One server-sent event: "data: <json>\n\n".
std::string sse(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

// The fields every completion object and chunk starts with: id, object,
// created, model, system_fingerprint.
nlohmann::json completion_header(const std::string& id, const std::string& model, int64_t created,
                                 const std::string& object);

// The whole response: one choice per text (chat: an assistant message), then usage.
nlohmann::json completion_response(bool chat, const nlohmann::json& header, const std::vector<std::string>& texts,
                                   const std::vector<std::string>& finish_reasons, const nlohmann::json& usage);

// One streamed chunk of choice `index`: a text piece, the chat role opener, or
// the final chunk carrying finish_reason. include_usage: "usage": null, as
// OpenAI sends on every chunk before the usage chunk.
nlohmann::json stream_chunk(bool chat, const nlohmann::json& header, bool include_usage, size_t index,
                            const std::string* piece, bool role_opener, const std::string* finish_reason);

// The last chunk before [DONE] when stream_options.include_usage: no choices, the usage.
nlohmann::json usage_chunk(bool chat, const nlohmann::json& header, const nlohmann::json& usage);

// A stored complete response replayed as a stream: per choice its opener
// (chat), its whole text and its finish_reason; then usage if asked; then [DONE].
std::string replay_as_stream(const nlohmann::json& response, bool include_usage);

}  // namespace tessera::serve
