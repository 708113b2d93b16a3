// SentencePieceBPE: construction checks, llama.cpp's SPM merge loop (a
// priority queue of adjacent pairs by token score), byte fallback, and
// decoding. Saving and reading back: sentencepiece_bpe_io.cpp.
#include "tessera/text/sentencepiece_bpe.h"

#include <queue>

#include "tessera/core/error.h"
#include "text_io.h"
#include "utf8.h"

namespace tessera::text {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
constexpr size_t kCacheWords = size_t{1} << 18;

std::string with_spaces(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

// "<0xAB>" -> 0xAB; -1 when the piece is not spelled that way.
int byte_of_piece(std::string_view p) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  int hi = hex(p[3]), lo = hex(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

SentencePieceBPE::SentencePieceBPE(std::vector<std::string> pieces, std::vector<float> scores,
                                   std::vector<int32_t> types, Options options, std::string source)
    : pieces_(std::move(pieces)),
      scores_(std::move(scores)),
      types_(std::move(types)),
      options_(options),
      source_(std::move(source)) {
  const size_t n = pieces_.size();
  TSR_CHECK(n > 0, Error, source_, ": the SentencePiece vocabulary has no tokens");
  TSR_CHECK(n < (size_t{1} << 31), Error, source_, ": ", n, " tokens are too many");
  TSR_CHECK(scores_.empty() || scores_.size() == n, Error, source_, ": ", scores_.size(), " scores for ", n,
            " tokens (the counts must match)");
  TSR_CHECK(types_.empty() || types_.size() == n, Error, source_, ": ", types_.size(), " token types for ", n,
            " tokens (the counts must match)");
  auto check_id = [&](const std::optional<int32_t>& id, const char* what) {
    TSR_CHECK(!id || (*id >= 0 && static_cast<size_t>(*id) < n), Error, source_, ": the ", what, " token id ",
              id.value_or(0), " is outside the vocabulary [0, ", n, ")");
  };
  check_id(options_.bos, "BOS");
  check_id(options_.eos, "EOS");
  check_id(options_.unk, "unknown");
  if (scores_.empty()) scores_.assign(n, 0.0f);  // llama.cpp reads a file without scores as all 0
  if (types_.empty()) {                           // infer what a file without types means
    types_.assign(n, static_cast<int32_t>(SpmTokenType::kNormal));
    for (size_t id = 0; id < n; ++id)
      if (byte_of_piece(pieces_[id]) >= 0) types_[id] = static_cast<int32_t>(SpmTokenType::kByte);
    for (auto id : {options_.bos, options_.eos})
      if (id) types_[static_cast<size_t>(*id)] = static_cast<int32_t>(SpmTokenType::kControl);
    if (options_.unk) types_[static_cast<size_t>(*options_.unk)] = static_cast<int32_t>(SpmTokenType::kUnknown);
  }

  id_of_.reserve(n);
  text_.resize(n);
  makes_text_.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const std::string& piece = pieces_[i];
    // llama.cpp's token_to_id: every token by its text, a later repeat winning.
    id_of_.insert_or_assign(piece, id);
    const int32_t t = types_[i];
    TSR_CHECK(t >= 0 && t <= 6, Error, source_, ": token ", id, " '", detail::printable(piece), "' has type ", t,
              " (known: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte)");
    switch (static_cast<SpmTokenType>(t)) {
      case SpmTokenType::kByte: {
        int b = byte_of_piece(piece);
        TSR_CHECK(b >= 0, Error, source_, ": byte token ", id, " '", detail::printable(piece),
                  "' is not spelled <0xAB>");
        text_[i] = std::string(1, static_cast<char>(b));
        makes_text_[i] = true;
        break;
      }
      case SpmTokenType::kUserDefined:
        text_[i] = piece;
        makes_text_[i] = true;
        if (!piece.empty()) user_defined_.emplace_back(piece, id);
        break;
      case SpmTokenType::kControl:
      case SpmTokenType::kUnknown:
        text_[i] = piece;
        if (!piece.empty()) all_specials_.emplace_back(piece, id);
        break;
      case SpmTokenType::kUnused:
        text_[i] = piece;
        break;
      default:  // normal (and 0, llama.cpp's "undefined", read as normal)
        text_[i] = with_spaces(piece);
        makes_text_[i] = true;
        break;
    }
  }
  all_specials_.insert(all_specials_.end(), user_defined_.begin(), user_defined_.end());
  // Words can be encoded one by one when no piece has "▁" after another
  // character (true of Llama's vocabulary: "▁" only starts pieces).
  word_split_ = true;
  for (const std::string& piece : pieces_) {
    for (size_t p = piece.find(kSpace, 1); word_split_ && p != std::string::npos; p = piece.find(kSpace, p + 1))
      word_split_ = p >= kSpace.size() && piece.compare(p - kSpace.size(), kSpace.size(), kSpace) == 0;
  }
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char spelled[] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    std::optional<int32_t> id = find_piece(std::string_view(spelled, sizeof spelled));
    if (!id) id = find_piece(std::string_view(std::string(1, static_cast<char>(b))));
    if (!id) id = options_.unk;
    byte_token_[static_cast<size_t>(b)] = id.value_or(-1);
  }
}

std::optional<int32_t> SentencePieceBPE::find_piece(std::string_view piece) const {
  auto it = id_of_.find(piece);
  if (it == id_of_.end()) return std::nullopt;
  return it->second;
}

void SentencePieceBPE::encode_fragment(std::string_view text, bool prefix_space, std::vector<int32_t>& out) const {
  // Normalize: ' ' -> "▁", and one "▁" in front when asked.
  std::string buf;
  buf.reserve(text.size() + kSpace.size() * 4);
  if (prefix_space) buf += kSpace;
  for (char c : text) {
    if (c == ' ')
      buf += kSpace;
    else
      buf += c;
  }
  if (!word_split_) {
    encode_segment(buf, out);
    return;
  }
  // Words: a cut before every "▁" that follows another character. No token
  // spans such a cut (word_split_), so no merge candidate ever crosses one and
  // each word merges on its own exactly as in the whole text; words repeat, so
  // their ids are cached for this call.
  std::unordered_map<std::string_view, std::vector<int32_t>> cache;
  auto encode_word = [&](std::string_view word) {
    if (cache.size() >= kCacheWords) cache.clear();  // bounded memory on huge, varied inputs
    auto [it, fresh] = cache.try_emplace(word);
    if (fresh) encode_segment(word, it->second);
    out.insert(out.end(), it->second.begin(), it->second.end());
  };
  const std::string_view all(buf);
  size_t start = 0;
  for (size_t p = all.find(kSpace, 1); p != std::string_view::npos; p = all.find(kSpace, p + kSpace.size())) {
    if (p >= kSpace.size() && all.compare(p - kSpace.size(), kSpace.size(), kSpace) == 0) continue;  // a run of ▁
    encode_word(all.substr(start, p - start));
    start = p;
  }
  if (start < all.size()) encode_word(all.substr(start));
}

void SentencePieceBPE::encode_segment(std::string_view buf, std::vector<int32_t>& out) const {
  // Symbols: a doubly linked list over buf; n == 0 marks one merged away.
  struct Symbol {
    uint32_t start, n;
    int32_t prev, next;
  };
  std::vector<Symbol> sym;
  sym.reserve(buf.size());
  for (size_t off = 0; off < buf.size();) {
    // One character per symbol; a byte that does not start a well-formed
    // sequence is a symbol of its own. (llama.cpp takes as many bytes as the
    // lead byte announces, so a broken sequence can swallow the next
    // character, a "▁" included, and decode would not give the text back;
    // on valid UTF-8 the two are the same.)
    size_t len = detail::decode_utf8(buf, off).len;
    const auto index = static_cast<int32_t>(sym.size());
    sym.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(len), index - 1,
                   off + len == buf.size() ? -1 : index + 1});
    off += len;
  }
  // Candidate merges: the highest score first, the leftmost on a tie
  // (llama.cpp's llm_bigram_spm comparator). An entry is stale once either
  // side changed; its recorded size tells (symbols only ever grow).
  struct Bigram {
    float score;
    int32_t left, right;
    uint32_t size;
  };
  auto lower = [](const Bigram& l, const Bigram& r) {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(lower)> queue(lower);
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t size = sym[left].n + sym[right].n;
    auto id = find_piece(buf.substr(sym[left].start, size));
    if (id) queue.push({scores_[static_cast<size_t>(*id)], left, right, size});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  // Every merged symbol is a token (merges only make tokens); a single
  // character that is not one falls back to its bytes.
  for (int32_t i = sym.empty() ? -1 : 0; i != -1; i = sym[i].next) {
    std::string_view piece = buf.substr(sym[i].start, sym[i].n);
    if (auto id = find_piece(piece)) {
      out.push_back(*id);
      continue;
    }
    for (char c : piece) {
      int32_t id = byte_token_[static_cast<uint8_t>(c)];
      TSR_CHECK(id >= 0, Error, source_, ": byte 0x", std::hex, static_cast<int>(static_cast<uint8_t>(c)),
                " has no token (no <0xAB> byte token, no single-byte token and no <unk>)");
      out.push_back(id);
    }
  }
}

std::vector<int32_t> SentencePieceBPE::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  const auto& specials = allow_special ? all_specials_ : user_defined_;
  // llama.cpp: the space prefix goes on the first fragment and on every
  // fragment that follows a special token.
  bool after_special = true;
  size_t from = 0;
  while (from < text.size()) {
    SpecialHit hit = specials.empty() ? SpecialHit{text.size(), -1, 0} : next_special(text, from, specials);
    if (hit.pos > from) {
      encode_fragment(text.substr(from, hit.pos - from), options_.add_space_prefix && after_special, out);
      after_special = false;
    }
    if (hit.len == 0) break;
    out.push_back(hit.id);
    after_special = true;
    from = hit.pos + hit.len;
  }
  return out;
}

std::string SentencePieceBPE::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  bool strip = options_.add_space_prefix;  // the first text's leading space came from encode
  for (int32_t id : ids) {
    const std::string& piece = token_entry(text_, id);
    if (!makes_text_[static_cast<size_t>(id)]) continue;
    size_t skip = 0;
    if (strip && static_cast<SpmTokenType>(types_[static_cast<size_t>(id)]) != SpmTokenType::kByte &&
        !piece.empty() && piece[0] == ' ')
      skip = 1;
    strip = false;
    out.append(piece, skip);
  }
  return out;
}

std::string SentencePieceBPE::token_bytes(int32_t id) const { return token_entry(text_, id); }

std::optional<int32_t> SentencePieceBPE::special_id(std::string_view text) const {
  return find_special(all_specials_, text);
}

}  // namespace tessera::text
