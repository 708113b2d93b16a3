// Tensor forms of the packed-weight kernels (quant/packed_weight.h): the
// quantized Linear's product and the packed embedding lookup.
#include <cstring>

#include "tessera/core/error.h"
#include "tessera/core/profiler.h"
#include "tessera/quant/packed_weight.h"

namespace tessera::quant {

Tensor linear(const Tensor& x, const PackedWeight& w, const Tensor& bias) {
  TSR_PROFILE_OP("quant_linear", x);
  TSR_CHECK(x.defined() && x.dtype() == DType::F32 && x.dim() >= 1 && x.size(-1) == w.cols, ShapeError,
            "quant::linear: expected float32 input (..., ", w.cols, ") for a ", w.rows, " x ", w.cols, " ",
            format_name(w.format), " weight, got ",
            x.defined() ? dtype_name(x.dtype()) + std::string(" ") + shape_str(x.shape()) : "undefined");
  TSR_CHECK(!x.requires_grad(), Error, "quant::linear: ", format_name(w.format),
            " weights are for inference only (the input requires grad); dequantize the checkpoint to train");
  TSR_CHECK(x.device() == cpu_device(), Error, "quant::linear: packed weights run on the CPU, got input on ",
            x.device().str());
  TSR_CHECK(!bias.defined() || (bias.dtype() == DType::F32 && bias.numel() == w.rows), ShapeError,
            "quant::linear: bias must be float32 (", w.rows, "), got ", shape_str(bias.shape()));
  const Tensor xc = x.contiguous();
  const int64_t M = xc.numel() / w.cols;
  Shape shape = x.shape();
  shape.back() = w.rows;
  Tensor y = empty(shape);
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  TSR_PROFILE_FLOPS(2.0 * M * w.rows * w.cols);
  matmul(xc.data<float>(), M, w.cols, w, b.defined() ? b.data<float>() : nullptr, y.data<float>(), w.rows);
  return y;
}

Tensor embedding(const PackedWeight& w, const Tensor& ids) {
  TSR_PROFILE_OP("quant_embedding", ids);
  TSR_CHECK(ids.defined() && ids.dtype() == DType::I64, ShapeError, "quant::embedding: expected int64 ids, got ",
            ids.defined() ? dtype_name(ids.dtype()) : "undefined");
  const Tensor c = ids.contiguous();
  Shape shape = ids.shape();
  shape.push_back(w.cols);
  Tensor out = empty(shape);
  const int64_t* id = c.data<int64_t>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < c.numel(); ++i) {
    TSR_CHECK(id[i] >= 0 && id[i] < w.rows, IndexError, "embedding: id ", id[i], " is outside [0, ", w.rows, ")");
    unpack_row(w, id[i], dst + i * w.cols);
  }
  return out;
}

}  // namespace tessera::quant
