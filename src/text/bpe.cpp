// ByteLevelBPE: construction checks, encoding (special-token split, GPT-2
// pre-tokenizer, lowest-rank-first merging with a per-piece cache), lossless
// decoding, and loading GPT-2's encoder.json + vocab.bpe.
#include "tessera/text/bpe.h"

#include <algorithm>
#include <climits>
#include <fstream>
#include <queue>
#include <sstream>

#include "tessera/core/error.h"
#include "tessera/core/parallel.h"
#include "text_io.h"
#include "utf8.h"

namespace tessera::text {
namespace {

inline uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
// Pieces up to this many bytes are merged with the quadratic scan (fast for
// words); longer ones (runs of symbols, long words without spaces) use a heap.
constexpr size_t kSmallPiece = 48;
constexpr size_t kCachePieceBytes = 128;
constexpr size_t kCacheEntries = 1 << 18;

}  // namespace

ByteLevelBPE::ByteLevelBPE(std::vector<std::string> vocab, std::vector<std::pair<int32_t, int32_t>> merges,
                           std::vector<std::pair<std::string, int32_t>> specials, std::string source)
    : vocab_(std::move(vocab)), merges_(std::move(merges)), specials_(std::move(specials)) {
  const auto n = static_cast<int32_t>(vocab_.size());
  const std::vector<bool> is_special = place_specials(vocab_, specials_, source);
  // Byte strings -> ids of ordinary tokens: merge results are found by spelling.
  auto& id_of = id_of_;
  id_of.reserve(vocab_.size());
  for (int32_t id = 0; id < n; ++id) {
    if (is_special[id]) continue;
    auto [it, added] = id_of.emplace(vocab_[id], id);
    TSR_CHECK(added, Error, source, ": tokens ", it->second, " and ", id, " have the same bytes '",
              detail::printable(vocab_[id]), "'");
  }
  for (int b = 0; b < 256; ++b) {
    auto it = id_of.find(std::string(1, static_cast<char>(b)));
    TSR_CHECK(it != id_of.end(), Error, source, ": the vocabulary has no token for byte 0x", std::hex, b,
              " (byte-level BPE needs all 256)");
    byte_id_[b] = it->second;
  }
  merge_of_.reserve(merges_.size() * 2);
  for (size_t r = 0; r < merges_.size(); ++r) {
    auto [a, b] = merges_[r];
    TSR_CHECK(a >= 0 && a < n && b >= 0 && b < n, Error, source, ": merge ", r, " uses id ", (a >= 0 && a < n) ? b : a,
              " outside the vocabulary [0, ", n, ")");
    auto it = id_of.find(vocab_[a] + vocab_[b]);
    TSR_CHECK(it != id_of.end(), Error, source, ": merge ", r, " ('", detail::printable(vocab_[a]), "' + '",
              detail::printable(vocab_[b]), "') makes a token that is not in the vocabulary");
    merge_of_.emplace(pair_key(a, b), Merge{static_cast<int32_t>(r), it->second});  // first rank wins
  }
}

const ByteLevelBPE::Merge* ByteLevelBPE::find_merge(int32_t a, int32_t b) const {
  auto it = merge_of_.find(pair_key(a, b));
  return it == merge_of_.end() ? nullptr : &it->second;
}

void ByteLevelBPE::merge_small(std::vector<int32_t>& ids) const {
  // ranks[i] = rank of the pair (ids[i], ids[i+1]); only neighbours change after a merge.
  std::vector<int32_t> ranks(ids.size() - 1);
  auto rank_at = [&](size_t i) {
    const Merge* m = find_merge(ids[i], ids[i + 1]);
    return m ? m->rank : INT_MAX;
  };
  for (size_t i = 0; i + 1 < ids.size(); ++i) ranks[i] = rank_at(i);
  while (ids.size() > 1) {
    size_t best = 0;
    for (size_t i = 1; i < ranks.size(); ++i)
      if (ranks[i] < ranks[best]) best = i;  // strict: leftmost on ties
    if (ranks[best] == INT_MAX) break;
    ids[best] = find_merge(ids[best], ids[best + 1])->id;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    ranks.erase(ranks.begin() + static_cast<std::ptrdiff_t>(best));
    if (best < ranks.size()) ranks[best] = rank_at(best);
    if (best > 0) ranks[best - 1] = rank_at(best - 1);
  }
}

void ByteLevelBPE::merge_large(std::vector<int32_t>& ids) const {
  // A doubly linked list of symbols plus a heap of candidate pairs ordered by
  // (rank, position): the same leftmost-lowest-rank order as merge_small, in
  // O(n log n). Entries go stale when a neighbour merges; they are re-checked
  // against the current ids when popped (token ids only ever get longer, so a
  // stale entry can never match again by accident).
  const int n = static_cast<int>(ids.size());
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  struct Cand {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int i) {
    if (i < 0 || next[i] < 0) return;
    if (const Merge* m = find_merge(ids[i], ids[next[i]])) heap.push({m->rank, i, ids[i], ids[next[i]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int j = next[c.pos];
    if (!alive[c.pos] || j < 0 || ids[c.pos] != c.left || ids[j] != c.right) continue;
    ids[c.pos] = find_merge(c.left, c.right)->id;
    alive[j] = false;
    next[c.pos] = next[j];
    if (next[j] >= 0) prev[next[j]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  std::vector<int32_t> out;
  for (int i = 0; i >= 0; i = next[i]) out.push_back(ids[i]);
  ids = std::move(out);
}

void ByteLevelBPE::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    if (auto it = id_of_.find(std::string(piece)); it != id_of_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> ids(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) ids[i] = byte_id_[static_cast<unsigned char>(piece[i])];
  if (ids.size() > 1) {
    if (ids.size() <= kSmallPiece)
      merge_small(ids);
    else
      merge_large(ids);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

void ByteLevelBPE::encode_ordinary(std::string_view text, std::vector<int32_t>& out, PieceCache* local) const {
  for (size_t pos = 0; pos < text.size();) {
    size_t end = gpt2_piece_end(text, pos);
    std::string_view piece = text.substr(pos, end - pos);
    pos = end;
    if (piece.size() == 1) {
      out.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
      continue;
    }
    if (piece.size() > kCachePieceBytes) {
      encode_piece(piece, out);
      continue;
    }
    std::string key(piece);
    if (local != nullptr) {
      auto it = local->find(key);
      if (it != local->end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        continue;
      }
      size_t start = out.size();
      encode_piece(piece, out);
      if (local->size() >= kCacheEntries) local->clear();
      local->emplace(std::move(key), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(cache_mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    size_t start = out.size();
    encode_piece(piece, out);
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kCacheEntries) cache_.clear();  // bounded memory on huge, varied inputs
    cache_.emplace(std::move(key), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(start), out.end()));
  }
}

void ByteLevelBPE::encode_with_specials(std::string_view text, bool allow_special, std::vector<int32_t>& out,
                                        PieceCache* local) const {
  if (!allow_special || specials_.empty()) {
    encode_ordinary(text, out, local);
    return;
  }
  size_t from = 0;
  while (true) {
    SpecialHit hit = next_special(text, from, specials_);
    encode_ordinary(text.substr(from, hit.pos - from), out, local);
    if (hit.len == 0) break;
    out.push_back(hit.id);
    from = hit.pos + hit.len;
  }
}

std::vector<int32_t> ByteLevelBPE::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_with_specials(text, allow_special, out, nullptr);
  return out;
}

bool bpe_safe_split(std::string_view text, size_t pos) {
  if (pos == 0 || pos >= text.size()) return false;
  auto at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  auto graph = [](unsigned char c) { return c >= 0x21 && c <= 0x7E; };
  // One '\n' after a non-space: a longer whitespace run at the end of the left
  // part would be one piece there (\s+(?!\S) succeeds at the end of text) but
  // two in the whole text.
  if (at(pos - 1) == '\n' && graph(at(pos))) return pos >= 2 && graph(at(pos - 2));
  if (at(pos) != ' ' || !graph(at(pos - 1)) || pos + 1 >= text.size()) return false;
  unsigned char next = at(pos + 1);
  return (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z');
}

std::vector<int32_t> ByteLevelBPE::encode_parallel(std::string_view text, bool allow_special,
                                                   size_t chunk_bytes) const {
  // Work units: ordinary spans cut at safe points, and special tokens (id >= 0).
  struct Unit {
    size_t begin, end;
    int32_t special;
  };
  std::vector<Unit> units;
  auto add_span = [&](size_t begin, size_t end) {
    while (begin < end) {
      size_t cut = end;
      if (end - begin > chunk_bytes + chunk_bytes / 2) {
        // The first safe point at or after the target; none -> the rest is one unit.
        for (size_t p = begin + std::max<size_t>(chunk_bytes, 1); p < end; ++p)
          if (bpe_safe_split(text, p)) {
            cut = p;
            break;
          }
      }
      units.push_back({begin, cut, -1});
      begin = cut;
    }
  };
  size_t from = 0;
  while (true) {
    SpecialHit hit = (allow_special && !specials_.empty()) ? next_special(text, from, specials_)
                                                           : SpecialHit{text.size(), -1, 0};
    add_span(from, hit.pos);
    if (hit.len == 0) break;
    units.push_back({hit.pos, hit.pos + hit.len, hit.id});
    from = hit.pos + hit.len;
  }
  std::vector<std::vector<int32_t>> parts(units.size());
  parallel_for(0, static_cast<int64_t>(units.size()), 1, [&](int64_t lo, int64_t hi) {
    PieceCache local;
    for (int64_t u = lo; u < hi; ++u) {
      const Unit& unit = units[static_cast<size_t>(u)];
      auto& ids = parts[static_cast<size_t>(u)];
      if (unit.special >= 0) {
        ids.push_back(unit.special);
        continue;
      }
      ids.reserve((unit.end - unit.begin) / 3 + 4);
      encode_ordinary(text.substr(unit.begin, unit.end - unit.begin), ids, &local);
    }
  });
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::vector<int32_t> out;
  out.reserve(total);
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<std::vector<int32_t>> ByteLevelBPE::encode_batch(const std::vector<std::string_view>& texts,
                                                             bool allow_special) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  parallel_for(0, static_cast<int64_t>(texts.size()), 1, [&](int64_t lo, int64_t hi) {
    PieceCache local;
    for (int64_t i = lo; i < hi; ++i)
      encode_with_specials(texts[static_cast<size_t>(i)], allow_special, out[static_cast<size_t>(i)], &local);
  });
  return out;
}

std::string ByteLevelBPE::token_bytes(int32_t id) const { return token_entry(vocab_, id); }

std::string ByteLevelBPE::decode(const std::vector<int32_t>& ids) const { return decode_ids(vocab_, ids); }

std::optional<int32_t> ByteLevelBPE::special_id(std::string_view text) const { return find_special(specials_, text); }

std::unique_ptr<ByteLevelBPE> ByteLevelBPE::from_gpt2_files(const std::string& encoder_json,
                                                            const std::string& vocab_bpe) {
  nlohmann::json enc = read_json_file(encoder_json);
  TSR_CHECK(enc.is_object(), Error, encoder_json, ": expected a JSON object of token -> id");
  std::unordered_map<std::string, int32_t> id_of;
  std::vector<std::string> vocab = vocab_from_json(enc, encoder_json, "", id_of);

  std::ifstream in(vocab_bpe, std::ios::binary);
  TSR_CHECK(in, Error, "merges file '", vocab_bpe, "' cannot be opened (not found or unreadable)");
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
    merges.push_back(parse_merge(line, id_of, vocab_bpe + " line " + std::to_string(lineno)));
  }
  std::vector<std::pair<std::string, int32_t>> specials;
  if (auto it = id_of.find("<|endoftext|>"); it != id_of.end()) specials.emplace_back("<|endoftext|>", it->second);
  return std::make_unique<ByteLevelBPE>(std::move(vocab), std::move(merges), std::move(specials),
                                        encoder_json + " + " + vocab_bpe);
}

}  // namespace tessera::text
