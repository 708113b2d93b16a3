// Fine-tuning data (train/finetune_data.h): labels, encoding, bucketed batch order.
#include "train/finetune_data.h"

#include <algorithm>
#include <set>

#include "tessera/core/tensor.h"
#include "tessera/train/finetune.h"

namespace tessera::train {

namespace {

bool is_integer(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

}  // namespace

std::vector<std::string> label_set(const std::vector<data::TextExample>& rows) {
  std::set<std::string> s;
  for (const auto& r : rows) s.insert(r.label);
  std::vector<std::string> v(s.begin(), s.end());
  if (std::all_of(v.begin(), v.end(), is_integer))
    std::sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return v;
}

EncodedExamples encode_rows(const std::vector<data::TextExample>& rows, const std::map<std::string, int64_t>& label_id,
                            const std::vector<std::string>& labels, const text::Tokenizer& tok,
                            const std::string& kind, int64_t max_len, const std::string& file) {
  EncodedExamples e;
  e.ids.reserve(rows.size());
  for (const auto& r : rows) {
    auto it = label_id.find(r.label);
    if (it == label_id.end()) {
      std::string known;
      for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
      throw Error(file + ":" + std::to_string(r.line) + ": label '" + r.label +
                  "' never appears in the training file (its labels: " + known + ")");
    }
    try {
      e.ids.push_back(encode_example(tok, kind, r.text, max_len));
    } catch (const Error& err) {
      throw Error(file + ":" + std::to_string(r.line) + ": " + err.what());
    }
    e.y.push_back(it->second);
  }
  return e;
}

std::vector<std::vector<size_t>> bucketed_batches(const std::vector<std::vector<int32_t>>& ids, int64_t batch,
                                                  Generator& gen) {
  const size_t n = ids.size();
  auto shuffle = [&gen](auto& v) {
    Tensor keys = rand({static_cast<int64_t>(v.size())}, gen);
    const float* k = keys.data<float>();
    std::vector<size_t> idx(v.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [k](size_t a, size_t b) { return k[a] < k[b]; });
    auto copy = v;
    for (size_t i = 0; i < idx.size(); ++i) v[i] = copy[idx[i]];
  };
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  shuffle(order);
  std::vector<std::vector<size_t>> batches;
  const size_t span = static_cast<size_t>(batch) * 100;
  for (size_t s = 0; s < n; s += span) {
    std::vector<size_t> part(order.begin() + static_cast<std::ptrdiff_t>(s),
                             order.begin() + static_cast<std::ptrdiff_t>(std::min(n, s + span)));
    std::stable_sort(part.begin(), part.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
    for (size_t i = 0; i < part.size(); i += static_cast<size_t>(batch))
      batches.emplace_back(part.begin() + static_cast<std::ptrdiff_t>(i),
                           part.begin() + static_cast<std::ptrdiff_t>(std::min(part.size(), i + static_cast<size_t>(batch))));
  }
  shuffle(batches);
  return batches;
}

}  // namespace tessera::train
