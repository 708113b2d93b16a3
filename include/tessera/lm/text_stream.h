// The text side of one generated sequence, shared by lm::generate and the
// serving engine: sampled ids in, final text out. Text is final once it is
// complete UTF-8 and cannot be the start of a stop string; a sequence stops at
// <|endoftext|> (when asked) or at the earliest occurrence of a stop string,
// whose bytes never reach the text. Public because the serving engine
// (src/serve/engine.cpp) streams its sequences' text through it too.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/text/tokenizer.h"

namespace tessera::lm {

class TextStream {
 public:
  // Throws tessera::Error for an empty stop string (it would match everywhere).
  TextStream(const text::Tokenizer& tokenizer, std::vector<std::string> stop, bool stop_at_eot);

  // Adds one sampled id and returns the text that became final with it (empty
  // when none; valid until the next call). `last`: the caller ends the
  // sequence after this id (max tokens, context), so every byte so far becomes
  // final. After an eot or a stop string stopped() is true and the piece
  // returned was the last. Ids after the sequence ended are errors.
  std::string_view push(int32_t id, bool last = false);
  // Ends the sequence for a reason of the caller's (cancelled, error): every
  // byte so far becomes final; returns the rest (empty if already ended).
  std::string_view finish();

  bool stopped() const { return stopped_; }  // eot or a stop string ended it
  bool ended() const { return ended_; }
  // The final text so far; the completion's whole text once ended().
  std::string_view text() const { return std::string_view(bytes_).substr(0, emitted_); }

 private:
  std::string_view end_at(size_t text_end);  // the sequence ends: text is bytes_[0, text_end)
  std::string_view emit(size_t end);

  const text::Tokenizer& tokenizer_;
  std::vector<std::string> stop_;
  std::optional<int32_t> eot_;   // set only when the sequence stops at eot
  std::string bytes_;            // the completion's bytes so far (no eot)
  size_t emitted_ = 0;           // bytes already returned as final
  bool stopped_ = false, ended_ = false;
};

}  // namespace tessera::lm
