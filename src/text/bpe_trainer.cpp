// BPE training (see bpe_trainer.h for the algorithm and tie rule).
#include "tessera/text/bpe_trainer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "tessera/core/error.h"
#include "text_io.h"
#include "utf8.h"

namespace tessera::text {
namespace {

inline uint64_t key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Cand {
  int64_t count;
  uint64_t pair;
  // Max-heap on count; on equal counts the smaller pair must come out first.
  bool operator<(const Cand& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

}  // namespace

std::unique_ptr<ByteLevelBPE> train_bpe(const std::vector<std::string_view>& texts, const BpeTrainOptions& opt,
                                        BpeTrainStats* stats) {
  const auto n_special = static_cast<int64_t>(opt.specials.size());
  TSR_CHECK(opt.vocab_size >= 256 + n_special, Error, "BPE vocab_size ", opt.vocab_size,
            " is too small: it must hold the 256 byte tokens and ", n_special, " special token(s)");
  std::vector<std::pair<std::string, int32_t>> sp;
  for (size_t i = 0; i < opt.specials.size(); ++i) {
    TSR_CHECK(!opt.specials[i].empty() && detail::is_valid_utf8(opt.specials[i]), Error, "special token ", i,
              " must be non-empty valid UTF-8");
    sp.emplace_back(opt.specials[i], static_cast<int32_t>(i));
  }

  // 1. Pre-token frequencies.
  std::unordered_map<std::string_view, int64_t> freq;
  for (std::string_view t : texts) {
    for (size_t from = 0;;) {
      SpecialHit hit = next_special(t, from, sp);
      std::string_view chunk = t.substr(from, hit.pos - from);
      for (size_t pos = 0; pos < chunk.size();) {
        size_t end = gpt2_piece_end(chunk, pos);
        ++freq[chunk.substr(pos, end - pos)];
        pos = end;
      }
      if (hit.len == 0) break;
      from = hit.pos + hit.len;
    }
  }
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
  words.reserve(freq.size());
  for (const auto& [w, c] : freq) {
    if (w.size() < 2) continue;  // no pairs inside
    words.emplace_back(w.begin(), w.end());
    for (auto& id : words.back()) id = static_cast<unsigned char>(id);
    counts.push_back(c);
  }
  // Word order must not depend on hash order: pair counts do not, but the
  // `where` lists are walked in order, which only affects speed. Sort anyway
  // so runs are bit-identical across library versions.
  {
    std::vector<size_t> order(words.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return words[a] < words[b]; });
    std::vector<std::vector<int32_t>> w2;
    std::vector<int64_t> c2;
    for (size_t i : order) w2.push_back(std::move(words[i])), c2.push_back(counts[i]);
    words = std::move(w2), counts = std::move(c2);
  }

  // 2. Pair counts, where each pair occurs, and the heap.
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  for (size_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      uint64_t k = key(s[i], s[i + 1]);
      pair_count[k] += counts[w];
      auto& list = where[k];
      if (list.empty() || list.back() != static_cast<int32_t>(w)) list.push_back(static_cast<int32_t>(w));
    }
  }
  std::priority_queue<Cand> heap;
  for (const auto& [k, c] : pair_count) heap.push({c, k});

  std::vector<std::string> vocab(256);
  for (int b = 0; b < 256; ++b) vocab[b] = std::string(1, static_cast<char>(b));
  std::unordered_map<std::string, int32_t> id_of;
  for (int b = 0; b < 256; ++b) id_of.emplace(vocab[b], b);
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int64_t> stamp(words.size(), -1);
  std::vector<uint64_t> touched;

  // 3. Merge until the vocabulary (plus specials) is full.
  while (static_cast<int64_t>(vocab.size()) + n_special < opt.vocab_size && !heap.empty()) {
    Cand top = heap.top();
    heap.pop();
    auto it = pair_count.find(top.pair);
    int64_t cur = it == pair_count.end() ? 0 : it->second;
    if (cur != top.count) {  // stale entry: re-queue with the current count
      if (cur > 0) heap.push({cur, top.pair});
      continue;
    }
    if (cur < std::max<int64_t>(opt.min_frequency, 1)) break;
    auto a = static_cast<int32_t>(top.pair >> 32), b = static_cast<int32_t>(top.pair & 0xFFFFFFFFu);
    std::string spelled = vocab[a] + vocab[b];
    auto [pos, added] = id_of.emplace(spelled, static_cast<int32_t>(vocab.size()));
    if (added) vocab.push_back(spelled);
    const int32_t c = pos->second;
    const auto step = static_cast<int64_t>(merges.size());
    merges.emplace_back(a, b);
    touched.clear();
    std::vector<int32_t> ws = std::move(where[top.pair]);
    where.erase(top.pair);
    for (int32_t w : ws) {
      if (stamp[w] == step) continue;
      stamp[w] = step;
      auto& s = words[w];
      const int64_t f = counts[w];
      bool has = false;
      for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == a && s[i + 1] == b;
      if (!has) continue;
      // Remove this word's pairs, merge left to right without overlap, add its pairs back.
      for (size_t i = 0; i + 1 < s.size(); ++i) pair_count[key(s[i], s[i + 1])] -= f;
      size_t out = 0;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[out++] = c;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      s.resize(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t k = key(s[i], s[i + 1]);
        pair_count[k] += f;
        if (s[i] == c || s[i + 1] == c) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
          touched.push_back(k);
        }
      }
    }
    pair_count.erase(top.pair);
    // Only pairs with the new token can have grown; everything else is fixed lazily.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t k : touched)
      if (auto p = pair_count.find(k); p != pair_count.end() && p->second > 0) heap.push({p->second, k});
  }
  if (stats) stats->unique_words = static_cast<int64_t>(freq.size()), stats->merges = static_cast<int64_t>(merges.size());

  std::vector<std::pair<std::string, int32_t>> specials;
  for (const auto& s : opt.specials) {
    specials.emplace_back(s, static_cast<int32_t>(vocab.size()));
    vocab.push_back(s);
  }
  return std::make_unique<ByteLevelBPE>(std::move(vocab), std::move(merges), std::move(specials), "trained BPE");
}

}  // namespace tessera::text
