// BertNormalizer (bert_normalizer.h). Normalization is per code point: every
// step of BertNormalizer (clean, CJK, NFD + drop Mn, lowercase) maps one input
// code point to a string independently of its neighbours (lowercasing per code
// point has no final-sigma context; NFD's canonical reordering only moves
// combining marks, and the ones that survive are not Mn: only a handful of Mc
// symbols, which we leave in input order). So the result for each Basic
// Multilingual Plane code point is computed once per option set with ICU and
// kept in a table; other planes ask ICU each time.
#include "bert_normalizer.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <array>
#include <mutex>
#include <string>
#include <vector>

#include "tessera/core/error.h"
#include "utf8.h"

namespace tessera::text::detail {
namespace {

// What one input code point contributes.
enum class Kind : uint8_t {
  Drop,   // removed by clean_text (NUL, U+FFFD, controls, unassigned, ...)
  Space,  // ends the current word
  Cjk,    // its expansion is a word of its own
  Punct,  // the expansion is one punctuation character: a word of its own
  Plain,  // the expansion (maybe empty) joins the current word
  Mixed,  // the expansion holds punctuation or space: classify each of its characters
};

// General category as `tokenizers` sees it: its BertNormalizer and
// BertPreTokenizer take categories from the unicode_categories crate, which
// holds Unicode 8.0. A code point assigned later (or unassigned) is in none of
// its tables: not a control (so NOT dropped, unlike Python's slow tokenizer),
// not punctuation, not a nonspacing mark. The few code points whose category
// changed since 8.0 get their 8.0 category back (found by comparing all code
// points with `tokenizers` 0.19.1; tests/text/gen_wordpiece_golden.py keeps
// checking every code point).
int8_t category(char32_t c) {
  switch (c) {
    case 0x166D: return U_OTHER_PUNCTUATION;    // So since 12.0
    case 0x111C9: return U_OTHER_PUNCTUATION;   // Mn since 11.0
    case 0x1734: return U_NON_SPACING_MARK;     // Mc since 14.0
    case 0x1885: case 0x1886: return U_OTHER_LETTER;  // Mn since 9.0
    case 0xA9BD: return U_COMBINING_SPACING_MARK;     // Mn since 12.0
    default: break;
  }
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(c), age);
  if (age[0] == 0 || age[0] > 8 || (age[0] == 8 && age[1] > 0)) return U_UNASSIGNED;
  return static_cast<int8_t>(u_charType(static_cast<UChar32>(c)));
}

bool is_punct(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return (U_MASK(category(c)) & U_GC_P_MASK) != 0;
}

// Split points of BertPreTokenizer (Rust char::is_whitespace = White_Space).
bool is_space(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

// BERT's "Chinese character" blocks, as in `tokenizers` (BertNormalizer). The
// slow BertTokenizer has 0x2B820 where `tokenizers` has 0x2B920.
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

struct Info {
  Kind kind;
  std::string text;  // the expansion (UTF-8) for Cjk/Punct/Plain/Mixed
};

std::u16string to_u16(char32_t c) {
  std::u16string s;
  if (c < 0x10000) {
    s += static_cast<char16_t>(c);
  } else {
    s += static_cast<char16_t>(U16_LEAD(c));
    s += static_cast<char16_t>(U16_TRAIL(c));
  }
  return s;
}

std::vector<char32_t> to_u32(const std::u16string& s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    UChar32 c;
    U16_NEXT(s.data(), i, s.size(), c);
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

std::u16string icu_call(const std::u16string& src, int32_t (*f)(const std::u16string&, UChar*, int32_t, UErrorCode*)) {
  std::u16string out(src.size() * 4 + 8, u'\0');
  UErrorCode st = U_ZERO_ERROR;
  int32_t n = f(src, reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &st);
  TSR_CHECK(U_SUCCESS(st), Error, "ICU normalization failed: ", u_errorName(st));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::u16string nfd(const std::u16string& s) {
  return icu_call(s, [](const std::u16string& src, UChar* dst, int32_t cap, UErrorCode* st) {
    const UNormalizer2* n = unorm2_getNFDInstance(st);
    if (U_FAILURE(*st)) return int32_t{0};
    return unorm2_normalize(n, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), dst,
                            cap, st);
  });
}

// Full lowercase mapping of one code point (root locale; alone, so no final-sigma context).
std::u16string lower_one(char32_t c) {
  return icu_call(to_u16(c), [](const std::u16string& src, UChar* dst, int32_t cap, UErrorCode* st) {
    return u_strToLower(dst, cap, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()), "",
                        st);
  });
}

Info classify(char32_t c, bool lowercase, bool strip) {
  if (c >= 0xD800 && c <= 0xDFFF) return {Kind::Drop, {}};
  if (c == '\t' || c == '\n' || c == '\r') return {Kind::Space, {}};
  uint32_t mask = U_MASK(category(c));
  if (c == 0 || c == 0xFFFD || (mask & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK)))
    return {Kind::Drop, {}};
  if (is_space(c)) return {Kind::Space, {}};
  // BertNormalizer's order: strip accents (NFD, drop Mn), then lowercase.
  std::vector<char32_t> cps{c};
  if (strip) {
    cps.clear();
    for (char32_t d : to_u32(nfd(to_u16(c))))
      if (category(d) != U_NON_SPACING_MARK) cps.push_back(d);
  }
  if (lowercase) {
    std::vector<char32_t> low;
    for (char32_t d : cps)
      for (char32_t l : to_u32(lower_one(d))) low.push_back(l);
    cps = std::move(low);
  }
  Info info{Kind::Plain, {}};
  for (char32_t d : cps) append_utf8(info.text, d);
  if (is_cjk(c)) {
    info.kind = Kind::Cjk;
    return info;
  }
  bool special = false;
  for (char32_t d : cps) special = special || is_punct(d) || is_space(d);
  if (special) info.kind = cps.size() == 1 && is_punct(cps[0]) ? Kind::Punct : Kind::Mixed;
  return info;
}

// The Basic Multilingual Plane, per (lowercase, strip) pair, built on first use.
struct Table {
  std::vector<Kind> kind;
  std::vector<uint32_t> offset;  // into pool; entry c spans [offset[c], offset[c + 1])
  std::string pool;
};

const Table& bmp_table(bool lowercase, bool strip) {
  static std::array<std::once_flag, 4> once;
  static std::array<Table, 4> tables;
  int k = (lowercase ? 2 : 0) + (strip ? 1 : 0);
  std::call_once(once[k], [&] {
    Table& t = tables[k];
    t.kind.resize(0x10000);
    t.offset.resize(0x10001);
    for (char32_t c = 0; c < 0x10000; ++c) {
      t.offset[c] = static_cast<uint32_t>(t.pool.size());
      // ASCII needs no ICU: this keeps the common case cheap to build too.
      Info info;
      if (c >= 0x20 && c < 0x7F) {
        char ch = static_cast<char>(c);
        if (ch == ' ') info = {Kind::Space, {}};
        else if (is_punct(c)) info = {Kind::Punct, std::string(1, ch)};
        else info = {Kind::Plain, std::string(1, lowercase && ch >= 'A' && ch <= 'Z' ? char(ch - 'A' + 'a') : ch)};
      } else {
        info = classify(c, lowercase, strip);
      }
      t.kind[c] = info.kind;
      t.pool += info.text;
    }
    t.offset[0x10000] = static_cast<uint32_t>(t.pool.size());
  });
  return tables[k];
}
}  // namespace

void BertNormalizer::split_words(std::string_view text,
                                 const std::function<void(std::string_view word)>& on_word) const {
  const Table& table = bmp_table(lowercase_, strip_accents_);
  std::string word;
  auto flush = [&] {
    if (!word.empty()) on_word(word);
    word.clear();
  };
  auto own_word = [&](std::string_view w) {
    flush();
    if (!w.empty()) on_word(w);
  };
  Info slow;
  for (size_t i = 0; i < text.size();) {
    auto c = decode_utf8(text, i);
    i += c.len;
    if (!c.valid) continue;  // read as U+FFFD, which clean_text drops
    Kind kind;
    std::string_view exp;
    if (c.cp < 0x10000) {
      kind = table.kind[c.cp];
      exp = std::string_view(table.pool).substr(table.offset[c.cp], table.offset[c.cp + 1] - table.offset[c.cp]);
    } else {
      slow = classify(c.cp, lowercase_, strip_accents_);
      kind = slow.kind;
      exp = slow.text;
    }
    if (kind == Kind::Cjk && !split_cjk_) kind = Kind::Plain;
    switch (kind) {
      case Kind::Drop:
        break;
      case Kind::Space:
        flush();
        break;
      case Kind::Cjk:
      case Kind::Punct:
        own_word(exp);
        break;
      case Kind::Plain:
        word += exp;
        break;
      case Kind::Mixed:
        for (size_t k = 0; k < exp.size();) {
          auto d = decode_utf8(exp, k);
          if (is_space(d.cp)) flush();
          else if (is_punct(d.cp)) own_word(exp.substr(k, d.len));
          else word += exp.substr(k, d.len);
          k += d.len;
        }
        break;
    }
  }
  flush();
}

}  // namespace tessera::text::detail
