// The chat template of `tessera serve`: how /v1/chat/completions turns
// messages into the text a plain GPT continues. Our checkpoints are base
// models with no chat tokens, so the template is a transcript a base model can
// follow:
//
//   System: <system content>\n
//   User: <user content>\n
//   Assistant: <assistant content>\n
//   ...
//   Assistant:
//
// one line per message in order (a message's content is used as is, newlines
// included), then "Assistant:" with no trailing space (BPE models put the space
// in the next word's token). The reply is what the model writes after it, as
// generated (it usually starts with a space). "\nUser:" and "\nSystem:" are
// implicit stop strings, so the model stops before writing the next turn.
#pragma once
#include <string>
#include <vector>

#include "serve/openai_api.h"

namespace tessera::serve {

std::string render_chat(const std::vector<api::ChatMessage>& messages);
// The stop strings every chat request gets in addition to its own.
std::vector<std::string> chat_implicit_stops();

}  // namespace tessera::serve
