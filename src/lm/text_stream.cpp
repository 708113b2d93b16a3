// TextStream (tessera/lm/text_stream.h): UTF-8 completion, stop-string hold-back and
// detection, eot.
#include "tessera/lm/text_stream.h"

#include <algorithm>

#include "tessera/core/error.h"

namespace tessera::lm {
namespace {

// Where bytes[from, to) can be cut without splitting a UTF-8 character: `to`,
// or the start of a character that the bytes before `to` leave incomplete.
// Bytes that are not valid UTF-8 leads count as whole characters, so invalid
// output streams instead of waiting forever.
size_t utf8_safe_end(const std::string& bytes, size_t from, size_t to) {
  size_t lowest = to >= from + 4 ? to - 4 : from;
  for (size_t j = to; j-- > lowest;) {
    unsigned char c = static_cast<unsigned char>(bytes[j]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return j + n > to ? j : to;
  }
  return to;
}

// Length of the longest suffix of bytes[from, end) that is a proper prefix of a
// stop string: those bytes may still become a stop string and are held back.
size_t stop_holdback(const std::string& bytes, size_t from, const std::vector<std::string>& stops) {
  size_t avail = bytes.size() - from, best = 0;
  for (const auto& s : stops) {
    for (size_t k = std::min(avail, s.size() - 1); k > best; --k) {
      if (bytes.compare(bytes.size() - k, k, s, 0, k) == 0) {
        best = k;
        break;
      }
    }
  }
  return best;
}

}  // namespace

TextStream::TextStream(const text::Tokenizer& tokenizer, std::vector<std::string> stop, bool stop_at_eot)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {
  for (const auto& s : stop_) TSR_CHECK(!s.empty(), Error, "a stop string must not be empty");
  if (stop_at_eot) eot_ = tokenizer.eot_id();
}

std::string_view TextStream::push(int32_t id, bool last) {
  TSR_CHECK(!ended_, Error, "TextStream: token ", id, " given after the sequence ended");
  if (eot_ && id == *eot_) {
    stopped_ = true;
    return end_at(bytes_.size());
  }
  const size_t before = bytes_.size();
  bytes_ += tokenizer_.token_bytes(id);
  // Only a match ending in the new bytes can be new; the earliest one wins.
  size_t hit = std::string::npos;
  for (const auto& s : stop_) {
    size_t from = before >= s.size() - 1 ? before - (s.size() - 1) : 0;
    hit = std::min(hit, bytes_.find(s, from));
  }
  if (hit != std::string::npos) {
    stopped_ = true;
    return end_at(hit);
  }
  if (last) return end_at(bytes_.size());
  size_t end = bytes_.size() - stop_holdback(bytes_, emitted_, stop_);
  return emit(utf8_safe_end(bytes_, emitted_, end));
}

std::string_view TextStream::finish() { return ended_ ? std::string_view() : end_at(bytes_.size()); }

std::string_view TextStream::end_at(size_t text_end) {
  ended_ = true;
  return emit(std::max(text_end, emitted_));  // never take back text already final
}

std::string_view TextStream::emit(size_t end) {
  if (end <= emitted_) return {};
  std::string_view piece = std::string_view(bytes_).substr(emitted_, end - emitted_);
  emitted_ = end;
  return piece;
}

}  // namespace tessera::lm
