// The one list of every kernel stub, grouped by the header that declares it.
// src/kernels/stubs.cpp defines each stub from this list, so a stub declared
// in a header but missing here fails to link wherever it is used, and
// all_stubs() (below) walks exactly this list: the test that every stub has a
// CPU kernel (tests/kernels/test_stub_list.cpp) and the device parity mode
// (tests/parity, --device) read it. A new backend registers one kernel per
// line, in src/backends/<device>/.
#pragma once
#include <vector>

#include "tessera/core/device.h"

// X(stub) once per stub.
#define TSR_FOR_EACH_STUB(X)                                                                      \
  /* activation.h */ X(activation_stub) X(activation_backward_stub)                                \
  /* attention.h */ X(attention_stub) X(attention_backward_stub)                                   \
  /* conv.h */ X(conv2d_stub) X(conv2d_backward_stub)                                              \
  /* copy.h */ X(copy_stub) X(fill_stub)                                                           \
  /* decode_attention.h */ X(decode_attention_stub)                                                \
  /* dropout.h */ X(dropout_stub)                                                                  \
  /* elementwise.h */ X(binary_stub) X(unary_stub) X(compare_stub)                                 \
  /* indexing.h */ X(index_range_stub) X(gather_stub) X(gather_backward_stub) X(embedding_stub)    \
  X(embedding_backward_stub)                                                                       \
  /* linalg.h */ X(matmul_stub)                                                                    \
  /* loss.h */ X(cross_entropy_stub) X(cross_entropy_backward_stub) X(nll_loss_stub)               \
  X(nll_loss_backward_stub) X(bce_logits_stub) X(bce_logits_backward_stub)                         \
  /* norm.h */ X(layer_norm_stub) X(layer_norm_backward_stub) X(rms_norm_stub)                     \
  X(rms_norm_backward_stub)                                                                        \
  /* optim.h */ X(sgd_step_stub) X(adam_step_stub)                                                 \
  /* pool.h */ X(max_pool2d_stub) X(max_pool2d_backward_stub) X(avg_pool2d_stub)                   \
  X(avg_pool2d_backward_stub)                                                                      \
  /* reduce.h */ X(mean_stub) X(var_stub) X(var_backward_stub) X(max_dim_stub)                     \
  X(max_dim_backward_stub) X(max_all_stub) X(max_all_backward_stub) X(pow_sum_stub)                \
  /* rope.h */ X(rope_stub)                                                                        \
  /* softmax.h */ X(softmax_stub) X(softmax_backward_stub)                                         \
  /* sum.h */ X(sum_rows_stub) X(sum_cols_stub)                                                    \
  /* where.h */ X(where_stub)

namespace tessera {

// One stub of the list, seen without its function type.
struct StubInfo {
  const char* name;
  bool (*has_kernel)(DeviceType device);  // whether a backend registered a kernel for the device
};

// Every stub of TSR_FOR_EACH_STUB, in list order.
const std::vector<StubInfo>& all_stubs();

}  // namespace tessera
