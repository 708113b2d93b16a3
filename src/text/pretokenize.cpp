// The GPT-2 pre-tokenizer (pattern in bpe.h) as a hand-written scanner over
// code points, and GPT-2's byte <-> unicode spelling map. Hand-written because
// std::regex knows nothing of Unicode categories and is slow; the scanner is a
// single forward pass with one character of look-ahead, which is all the
// pattern needs (its only backtracking is \s+(?!\S) giving back one space).
#include <unicode/uchar.h>

#include <mutex>

#include "tessera/text/bpe.h"
#include "utf8.h"

namespace tessera::text {
namespace {

enum class Cls : uint8_t { Letter, Number, Space, Other };

Cls classify_slow(char32_t c) {
  if (u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE)) return Cls::Space;
  uint32_t mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  if (mask & U_GC_L_MASK) return Cls::Letter;
  if (mask & U_GC_N_MASK) return Cls::Number;
  return Cls::Other;
}

// The Basic Multilingual Plane is looked up in a table built once; the rest asks ICU.
const std::vector<Cls>& bmp_table() {
  static const std::vector<Cls> table = [] {
    std::vector<Cls> t(0x10000);
    for (char32_t c = 0; c < 0x10000; ++c) t[c] = classify_slow(c);
    return t;
  }();
  return table;
}

struct Scan {
  Cls cls;
  uint8_t len;
};

inline Scan scan(std::string_view s, size_t i, const std::vector<Cls>& bmp) {
  auto c = detail::decode_utf8(s, i);
  if (!c.valid) return {Cls::Other, 1};  // like U+FFFD (category So)
  return {c.cp < 0x10000 ? bmp[c.cp] : classify_slow(c.cp), c.len};
}

// End of the run of characters of class `cls` starting at i.
inline size_t run_end(std::string_view s, size_t i, Cls cls, const std::vector<Cls>& bmp) {
  while (i < s.size()) {
    Scan c = scan(s, i, bmp);
    if (c.cls != cls) break;
    i += c.len;
  }
  return i;
}

}  // namespace

size_t gpt2_piece_end(std::string_view s, size_t pos) {
  const auto& bmp = bmp_table();
  const size_t n = s.size();
  // 's|'t|'re|'ve|'m|'ll|'d (ASCII apostrophe, case-sensitive, tried first).
  if (s[pos] == '\'' && pos + 1 < n) {
    char a = s[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
    if (pos + 2 < n) {
      char b = s[pos + 2];
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
    }
  }
  //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ : an optional U+0020 then a run of one class.
  if (s[pos] == ' ' && pos + 1 < n) {
    Scan next = scan(s, pos + 1, bmp);
    if (next.cls != Cls::Space) return run_end(s, pos + 1, next.cls, bmp);
  }
  Scan first = scan(s, pos, bmp);
  if (first.cls != Cls::Space) return run_end(s, pos, first.cls, bmp);
  // \s+(?!\S) : the whitespace run, minus its last character when a non-space
  // follows and that leaves at least one; else \s+ : the single character.
  size_t i = pos, last_start = pos;
  int count = 0;
  while (i < n) {
    Scan c = scan(s, i, bmp);
    if (c.cls != Cls::Space) break;
    last_start = i;
    i += c.len;
    ++count;
  }
  if (i == n || count == 1) return i;
  return last_start;
}

std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = gpt2_piece_end(text, pos);
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

namespace {

struct ByteMap {
  std::array<char32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8;
  std::array<int16_t, 512> from_cp{};  // every mapped code point is < 324
};

const ByteMap& byte_map() {
  static const ByteMap m = [] {
    ByteMap m;
    m.from_cp.fill(-1);
    // Printable Latin-1 bytes stand for themselves; the rest are shifted to 256+ in byte order.
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int shift = 0;
    for (int b = 0; b < 256; ++b) {
      char32_t cp = printable(b) ? char32_t(b) : char32_t(256 + shift++);
      m.to_cp[b] = cp;
      detail::append_utf8(m.to_utf8[b], cp);
      m.from_cp[cp] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return m;
}

}  // namespace

std::string bytes_to_unicode(std::string_view bytes) {
  const auto& m = byte_map();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += m.to_utf8[b];
  return out;
}

bool unicode_to_bytes(std::string_view s, std::string& bytes) {
  const auto& m = byte_map();
  bytes.clear();
  for (size_t i = 0; i < s.size();) {
    auto c = detail::decode_utf8(s, i);
    if (!c.valid || c.cp >= m.from_cp.size() || m.from_cp[c.cp] < 0) return false;
    bytes += static_cast<char>(m.from_cp[c.cp]);
    i += c.len;
  }
  return true;
}

}  // namespace tessera::text
