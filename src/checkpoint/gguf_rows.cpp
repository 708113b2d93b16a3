// Rows of GGUF tensors (gguf_rows.h): reading, converting, reordering.
#include "gguf_rows.h"

#include <cstring>

#include "tessera/core/error.h"

namespace tessera::checkpoint::gguf {

namespace {

using io::GgmlType;

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

quant::WeightFormat block_format(GgmlType t) {
  return t == GgmlType::Q8_0 ? quant::WeightFormat::Q8_0 : quant::WeightFormat::Q4_0;
}

float bf16_to_float(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

bool loadable(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || t == GgmlType::Q8_0 ||
         t == GgmlType::Q4_0;
}

Rows read_rows(const io::GgufFile& file, const std::string& name, const Shape& shape) {
  const io::GgufTensorInfo* t = file.find_tensor(name);
  TSR_CHECK(t, Error, file.path(), ": tensor '", name, "' is missing");
  const std::vector<int64_t> want(shape.rbegin(), shape.rend());  // ggml order
  TSR_CHECK(t->dims == want, Error, file.path(), ": tensor '", name, "' has ggml dims ", shape_text(t->dims),
            ", expected ", shape_text(want), " from the hyperparameters");
  TSR_CHECK(loadable(t->type), Error, file.path(), ": tensor '", name, "' has type ", io::ggml_type_name(t->type),
            ", which Tessera cannot load (F32, F16, BF16, Q8_0 and Q4_0 are supported)");
  Rows r;
  r.type = t->type;
  r.cols = t->dims[0];
  r.rows = t->rows();
  r.bytes.assign(reinterpret_cast<const char*>(file.data(*t)), t->nbytes);
  return r;
}

Tensor to_float(const Rows& r) {
  if (r.type == GgmlType::Q8_0 || r.type == GgmlType::Q4_0) return quant::unpack(to_packed(r));
  Tensor out = empty({r.rows, r.cols});
  float* o = out.data<float>();
  const int64_t n = r.rows * r.cols;
  const auto* p = reinterpret_cast<const uint8_t*>(r.bytes.data());
  switch (r.type) {
    case GgmlType::F32: std::memcpy(o, p, size_t(n) * 4); break;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        o[i] = quant::half_to_float(h);
      }
      break;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        o[i] = bf16_to_float(h);
      }
      break;
    default: throw Error("GGUF: cannot convert a " + io::ggml_type_name(r.type) + " tensor to float32");
  }
  return out;
}

quant::PackedWeight to_packed(const Rows& r) {
  TSR_CHECK(r.type == GgmlType::Q8_0 || r.type == GgmlType::Q4_0, Error, "GGUF: a ",
            io::ggml_type_name(r.type), " tensor is not block-quantized");
  return quant::from_bytes(block_format(r.type), r.rows, r.cols, r.bytes.data(), r.bytes.size());
}

Rows from_float(const Tensor& t, GgmlType type) {
  Tensor m = t.dim() == 1 ? t.view({1, t.size(0)}) : t;
  TSR_CHECK(m.dim() == 2 && m.dtype() == DType::F32, Error, "GGUF export: expected a float32 matrix");
  m = m.contiguous();
  Rows r;
  r.type = type;
  r.rows = m.size(0);
  r.cols = m.size(1);
  const float* x = m.data<float>();
  const int64_t n = r.rows * r.cols;
  switch (type) {
    case GgmlType::F32: r.bytes.assign(reinterpret_cast<const char*>(x), size_t(n) * 4); break;
    case GgmlType::F16:
      r.bytes.resize(size_t(n) * 2);
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = quant::float_to_half(x[i]);
        std::memcpy(r.bytes.data() + 2 * i, &h, 2);
      }
      break;
    case GgmlType::Q8_0:
    case GgmlType::Q4_0: r.bytes = quant::to_bytes(quant::pack(m, block_format(type))); break;
    default: throw Error("GGUF export: cannot write " + io::ggml_type_name(type) + " tensors");
  }
  return r;
}

namespace {

// out row h*D + j*D/2 + i <-> in row h*D + 2i + j; to_file picks the direction.
Rows reorder_rope_rows(const Rows& r, int64_t n_head, bool to_file) {
  TSR_CHECK(n_head > 0 && r.rows % n_head == 0 && (r.rows / n_head) % 2 == 0, Error, "GGUF: ", r.rows,
            " q/k rows do not split into ", n_head, " heads of an even size");
  const int64_t D = r.rows / n_head, rb = r.row_bytes();
  Rows out = r;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < D / 2; ++i) {
        const int64_t hf = h * D + j * (D / 2) + i, file = h * D + 2 * i + j;
        const int64_t dst = to_file ? file : hf, src = to_file ? hf : file;
        std::memcpy(out.bytes.data() + dst * rb, r.bytes.data() + src * rb, size_t(rb));
      }
  return out;
}

}  // namespace

Rows unpermute_rope_rows(const Rows& r, int64_t n_head) { return reorder_rope_rows(r, n_head, false); }
Rows permute_rope_rows(const Rows& r, int64_t n_head) { return reorder_rope_rows(r, n_head, true); }

Rows stack_rows(const std::vector<Rows>& parts) {
  TSR_CHECK(!parts.empty(), Error, "GGUF: nothing to stack");
  bool same = true;
  for (const auto& p : parts) {
    TSR_CHECK(p.cols == parts[0].cols, Error, "GGUF: stacking matrices of ", p.cols, " and ", parts[0].cols,
              " columns");
    same = same && p.type == parts[0].type;
  }
  Rows out;
  out.type = same ? parts[0].type : GgmlType::F32;
  out.cols = parts[0].cols;
  for (const auto& p : parts) {
    out.rows += p.rows;
    if (same) {
      out.bytes += p.bytes;
    } else {
      Tensor f = to_float(p);
      out.bytes.append(reinterpret_cast<const char*>(f.data<float>()), size_t(f.numel()) * 4);
    }
  }
  return out;
}

}  // namespace tessera::checkpoint::gguf
