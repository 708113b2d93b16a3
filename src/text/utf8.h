// Strict UTF-8 decoding shared by the tokenizers. A byte that does not start a
// well-formed sequence (stray continuation byte, overlong form, surrogate,
// > U+10FFFF, truncated sequence) is reported as invalid with length 1, so
// callers can treat it as a one-byte symbol and still cover every input byte:
// that is what keeps encode/decode lossless on arbitrary bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::text::detail {

struct Utf8Char {
  char32_t cp = 0;   // the code point (the byte value when !valid)
  uint8_t len = 1;   // bytes consumed (1 when !valid)
  bool valid = true;
};

inline Utf8Char decode_utf8(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  unsigned char b0 = p[i];
  if (b0 < 0x80) return {b0, 1, true};
  auto cont = [&](size_t k, unsigned char lo, unsigned char hi) {
    return i + k < n && p[i + k] >= lo && p[i + k] <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (cont(1, 0x80, 0xBF)) return {char32_t((b0 & 0x1F) << 6 | (p[i + 1] & 0x3F)), 2, true};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    // E0 needs A0.. (no overlongs), ED needs ..9F (no surrogates).
    unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    if (cont(1, lo, hi) && cont(2, 0x80, 0xBF))
      return {char32_t((b0 & 0x0F) << 12 | (p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F)), 3, true};
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF))
      return {char32_t((b0 & 0x07) << 18 | (p[i + 1] & 0x3F) << 12 | (p[i + 2] & 0x3F) << 6 | (p[i + 3] & 0x3F)), 4,
              true};
  }
  return {b0, 1, false};
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

inline bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = decode_utf8(s, i);
    if (!c.valid) return false;
    i += c.len;
  }
  return true;
}

// "é" for printable text, "\xNN" escapes for control and invalid bytes: used in error messages.
inline std::string printable(std::string_view s) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (size_t i = 0; i < s.size();) {
    auto c = decode_utf8(s, i);
    if (c.valid && c.cp >= 0x20 && c.cp != 0x7F) {
      out.append(s.substr(i, c.len));
    } else {
      for (size_t k = 0; k < c.len; ++k) {
        unsigned char b = static_cast<unsigned char>(s[i + k]);
        out += "\\x";
        out += hex[b >> 4];
        out += hex[b & 15];
      }
    }
    i += c.len;
  }
  return out;
}

}  // namespace tessera::text::detail
