// Completion responses in OpenAI's shapes (response_json.h).
#include "serve/response_json.h"

namespace tessera::serve {

using nlohmann::json;

namespace {
constexpr const char* kFingerprint = "fp_tessera";
}  // namespace

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

json completion_header(const std::string& id, const std::string& model, int64_t created, const std::string& object) {
  return {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"system_fingerprint", kFingerprint}};
}

json completion_response(bool chat, const json& header, const std::vector<std::string>& texts,
                         const std::vector<std::string>& finish_reasons, const json& usage) {
  json j = header;
  json choices = json::array();
  for (size_t i = 0; i < texts.size(); ++i) {
    if (chat)
      choices.push_back({{"index", i},
                         {"message", {{"role", "assistant"}, {"content", texts[i]}, {"refusal", nullptr}}},
                         {"logprobs", nullptr},
                         {"finish_reason", finish_reasons[i]}});
    else
      choices.push_back(
          {{"text", texts[i]}, {"index", i}, {"logprobs", nullptr}, {"finish_reason", finish_reasons[i]}});
  }
  j["choices"] = choices;
  j["usage"] = usage;
  return j;
}

json stream_chunk(bool chat, const json& header, bool include_usage, size_t index, const std::string* piece,
                  bool role_opener, const std::string* finish_reason) {
  json j = header;
  j["object"] = chat ? "chat.completion.chunk" : "text_completion";
  json choice;
  if (chat) {
    json delta = json::object();
    if (role_opener) delta = {{"role", "assistant"}, {"content", ""}};
    else if (piece) delta["content"] = *piece;
    choice = {{"index", index}, {"delta", delta}, {"logprobs", nullptr}};
  } else {
    choice = {{"text", piece ? *piece : std::string()}, {"index", index}, {"logprobs", nullptr}};
  }
  choice["finish_reason"] = finish_reason ? json(*finish_reason) : json(nullptr);
  j["choices"] = json::array({choice});
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json usage_chunk(bool chat, const json& header, const json& usage) {
  json j = header;
  j["object"] = chat ? "chat.completion.chunk" : "text_completion";
  j["choices"] = json::array();
  j["usage"] = usage;
  return j;
}

std::string replay_as_stream(const json& r, bool include_usage) {
  bool chat = r.value("object", "") == "chat.completion";
  json header = {{"id", r.value("id", "")},
                 {"created", r.value("created", 0)},
                 {"model", r.value("model", "")},
                 {"system_fingerprint", kFingerprint}};
  std::string out;
  for (const auto& c : r.value("choices", json::array())) {
    size_t i = c.value("index", 0);
    std::string text = chat ? c["message"].value("content", "") : c.value("text", "");
    std::string fr = c.value("finish_reason", "stop");
    if (chat) out += sse(stream_chunk(true, header, include_usage, i, nullptr, true, nullptr));
    out += sse(stream_chunk(chat, header, include_usage, i, &text, false, nullptr));
    out += sse(stream_chunk(chat, header, include_usage, i, nullptr, false, &fr));
  }
  if (include_usage) out += sse(usage_chunk(chat, header, r.value("usage", json::object())));
  return out + kSseDone;
}

}  // namespace tessera::serve
