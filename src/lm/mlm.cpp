// BERT masking (lm/mlm.h). One Philox counter per position keeps the masks a
// function of the generator state alone (no dependence on threads or on how
// many positions turn out special).
#include "tessera/lm/mlm.h"

#include <algorithm>

#include "tessera/core/error.h"

namespace tessera::lm {

namespace {

double unit(uint32_t w) { return static_cast<double>(w) * (1.0 / 4294967296.0); }  // [0, 1)

}  // namespace

MlmBatch mask_tokens(const Tensor& ids, const MlmOptions& o, Generator& gen) {
  TSR_CHECK(ids.defined() && ids.dtype() == DType::I64, Error, "mask_tokens: ids must be an int64 tensor");
  TSR_CHECK(o.vocab_size > 0, Error, "mask_tokens: vocab_size must be positive, got ", o.vocab_size);
  TSR_CHECK(o.mask_prob >= 0 && o.mask_prob <= 1, Error, "mask_tokens: mask_prob must lie in [0, 1], got ", o.mask_prob);
  TSR_CHECK(o.replace_mask >= 0 && o.replace_random >= 0 && o.replace_mask + o.replace_random <= 1 + 1e-12, Error,
            "mask_tokens: replace_mask (", o.replace_mask, ") and replace_random (", o.replace_random,
            ") must be >= 0 and sum to at most 1");
  TSR_CHECK(o.mask_id >= 0 && o.mask_id < o.vocab_size, Error, "mask_tokens: mask_id ", o.mask_id,
            " is outside the vocabulary [0, ", o.vocab_size, ")");
  Tensor src = ids.contiguous();
  const int64_t n = src.numel();
  MlmBatch out;
  out.input_ids = empty(src.shape(), {.dtype = DType::I64});
  out.labels = empty(src.shape(), {.dtype = DType::I64});
  out.attention_mask = empty(src.shape(), {.dtype = DType::I64});
  const int64_t* in = src.data<int64_t>();
  int64_t* x = out.input_ids.data<int64_t>();
  int64_t* y = out.labels.data<int64_t>();
  int64_t* am = out.attention_mask.data<int64_t>();
  const uint64_t base = gen.reserve(static_cast<uint64_t>(n));
  const uint64_t key = gen.seed();
  const double keep_from = o.replace_mask + o.replace_random;
  const auto vocab = static_cast<uint64_t>(o.vocab_size);
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = in[i];
    TSR_CHECK(id >= 0 && id < o.vocab_size, Error, "mask_tokens: id ", id, " at position ", i,
              " is outside the vocabulary [0, ", o.vocab_size, ")");
    x[i] = id;
    y[i] = -100;
    am[i] = id == o.pad_id ? 0 : 1;
    if (std::find(o.special_ids.begin(), o.special_ids.end(), id) != o.special_ids.end()) continue;
    auto w = philox4x32(base + static_cast<uint64_t>(i), key);
    if (unit(w[0]) >= o.mask_prob) continue;
    y[i] = id;
    ++out.num_selected;
    double r = unit(w[1]);
    if (r < o.replace_mask) {
      x[i] = o.mask_id;
    } else if (r < keep_from) {
      x[i] = static_cast<int64_t>((static_cast<uint64_t>(w[2]) << 32 | w[3]) % vocab);
    }
  }
  return out;
}

}  // namespace tessera::lm
