// decode_attention: checks that every buffer has the shape, dtype and device
// the kernel assumes, then one kernel call writes the caches and the output.
#include "tessera/ops/decode_attention.h"
#include "tessera/core/profiler.h"

#include <algorithm>
#include <cmath>

#include "kernels/decode_attention.h"
#include "tessera/autograd/grad_mode.h"

namespace tessera {

namespace {

constexpr const char* kOp = "decode_attention";

// t is defined, contiguous, and has `dtype` (qkv's unless a bf16 cache) and
// qkv's device; `what` names it.
void check_like(const Tensor& t, const Tensor& qkv, const char* what, int64_t b, DType dtype) {
  TSR_CHECK(t.defined(), Error, kOp, ": ", what, " ", b, " is undefined");
  TSR_CHECK(t.dtype() == dtype, DTypeError, kOp, ": ", what, " ", b, " has dtype ", dtype_name(t.dtype()),
            " but ", dtype == qkv.dtype() ? "qkv has " : "the first cache has ", dtype_name(dtype));
  TSR_CHECK(t.device() == qkv.device(), DeviceError, kOp, ": ", what, " ", b, " is on ", t.device().str(),
            " but qkv is on ", qkv.device().str());
  TSR_CHECK(t.is_contiguous(), ShapeError, kOp, ": ", what, " ", b, " must be contiguous");
}

// Two sequences writing one cache would race (and corrupt both).
void check_distinct(std::span<const Tensor* const> caches, const char* what) {
  for (size_t a = 0; a < caches.size(); ++a)
    for (size_t b = a + 1; b < caches.size(); ++b)
      TSR_CHECK(caches[a]->storage() != caches[b]->storage(), Error, kOp, ": sequences ", a, " and ", b,
                " share one ", what, " cache");
}

}  // namespace

void decode_attention(const Tensor& out, const Tensor& qkv, std::span<const Tensor* const> k_caches,
                      std::span<const Tensor* const> v_caches, std::span<const int64_t> positions,
                      int64_t num_heads, const Tensor& rope_cos, const Tensor& rope_sin) {
  TSR_PROFILE_OP("decode_attention", qkv);
  TSR_CHECK(qkv.defined() && out.defined(), Error, kOp, ": qkv and out must be defined");
  TSR_CHECK(qkv.dtype() == DType::F32 || qkv.dtype() == DType::F64, DTypeError, kOp,
            ": qkv must be float32 or float64, got ", dtype_name(qkv.dtype()));
  TSR_CHECK(!(grad_enabled() && qkv.requires_grad()), AutogradError, kOp,
            ": inference only; run under NoGradGuard or detach qkv");
  TSR_CHECK(num_heads > 0 && qkv.dim() == 2 && qkv.size(0) >= 1 && qkv.size(1) % (3 * num_heads) == 0 &&
                qkv.is_contiguous(),
            ShapeError, kOp, ": qkv must be a contiguous (B, 3 * H * D) tensor with B >= 1 and H = ", num_heads,
            ", got shape ", shape_str(qkv.shape()));
  const int64_t B = qkv.size(0), H = num_heads, D = qkv.size(1) / (3 * num_heads);
  TSR_CHECK(static_cast<int64_t>(k_caches.size()) == B && static_cast<int64_t>(v_caches.size()) == B &&
                static_cast<int64_t>(positions.size()) == B,
            ShapeError, kOp, ": qkv has ", B, " rows but got ", k_caches.size(), " key caches, ", v_caches.size(),
            " value caches and ", positions.size(), " positions");
  check_like(out, qkv, "output of batch", B, qkv.dtype());
  TSR_CHECK(out.shape() == (Shape{B, H * D}), ShapeError, kOp, ": out must have shape ", shape_str({B, H * D}),
            ", got ", shape_str(out.shape()));
  // Caches hold qkv's dtype, or bf16 (halving the bytes a step reads) when
  // qkv is float32; one dtype for all, so the kernel has one inner loop.
  TSR_CHECK(k_caches[0] != nullptr, Error, kOp, ": cache 0 is null");
  const DType cache_dtype = k_caches[0]->dtype();
  TSR_CHECK(cache_dtype == qkv.dtype() || (cache_dtype == DType::BF16 && qkv.dtype() == DType::F32), DTypeError,
            kOp, ": caches must have qkv's dtype (", dtype_name(qkv.dtype()),
            ") or bfloat16 with float32 qkv, got ", dtype_name(cache_dtype));
  int64_t max_position = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (const Tensor* cache : {k_caches[b], v_caches[b]}) {
      TSR_CHECK(cache != nullptr, Error, kOp, ": cache ", b, " is null");
      check_like(*cache, qkv, "cache of sequence", b, cache_dtype);
      TSR_CHECK(cache->dim() == 4 && cache->size(0) == 1 && cache->size(1) == H && cache->size(3) == D, ShapeError,
                kOp, ": cache ", b, " must have shape (1, ", H, ", max_len, ", D, "), got ",
                shape_str(cache->shape()));
    }
    TSR_CHECK(k_caches[b]->size(2) == v_caches[b]->size(2), ShapeError, kOp, ": key and value caches ", b,
              " hold ", k_caches[b]->size(2), " and ", v_caches[b]->size(2), " positions");
    TSR_CHECK(positions[b] >= 0 && positions[b] < k_caches[b]->size(2), IndexError, kOp, ": position ",
              positions[b], " of sequence ", b, " is outside its cache of ", k_caches[b]->size(2), " positions");
    max_position = std::max(max_position, positions[b]);
  }
  check_distinct(k_caches, "key");
  check_distinct(v_caches, "value");
  TSR_CHECK(rope_cos.defined() == rope_sin.defined(), Error, kOp,
            ": rope_cos and rope_sin must both be given or both be undefined");
  if (rope_cos.defined()) {
    TSR_CHECK(D % 2 == 0, ShapeError, kOp, ": rotary embedding needs an even head dim, got ", D);
    for (const Tensor* table : {&rope_cos, &rope_sin}) {
      check_like(*table, qkv, "rope table of head dim", D, qkv.dtype());
      TSR_CHECK(table->dim() == 2 && table->size(1) == D / 2 && table->size(0) > max_position, ShapeError, kOp,
                ": rope tables must have shape (> ", max_position, ", ", D / 2, "), got ",
                shape_str(table->shape()));
    }
  }
  const DecodeAttentionParams p{B, H, D, 1.0 / std::sqrt(static_cast<double>(D))};
  decode_attention_stub[qkv.device()](out, qkv, k_caches, v_caches, positions, rope_cos, rope_sin, p);
  for (int64_t b = 0; b < B; ++b) {  // written in place, as copy_ would
    k_caches[b]->bump_version();
    v_caches[b]->bump_version();
  }
  out.bump_version();
}

}  // namespace tessera
