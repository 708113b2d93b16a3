#include "serve/chat_template.h"

namespace tessera::serve {

namespace {
const char* speaker(const std::string& role) {
  if (role == "system") return "System";
  if (role == "assistant") return "Assistant";
  return "User";
}
}  // namespace

std::string render_chat(const std::vector<api::ChatMessage>& messages) {
  std::string out;
  for (const auto& m : messages) {
    out += speaker(m.role);
    out += ": ";
    out += m.content;
    out += "\n";
  }
  out += "Assistant:";
  return out;
}

std::vector<std::string> chat_implicit_stops() { return {"\nUser:", "\nSystem:"}; }

}  // namespace tessera::serve
