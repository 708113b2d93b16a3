// The definition of every kernel stub, from the one list (stub_list.h). The
// table of each starts empty; backends fill it at load time.
#include "kernels/stub_list.h"

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/copy.h"
#include "kernels/decode_attention.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/indexing.h"
#include "kernels/linalg.h"
#include "kernels/loss.h"
#include "kernels/norm.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"
#include "kernels/sum.h"
#include "kernels/where.h"

namespace tessera {

#define TSR_DEFINE_LISTED_STUB(stub) TSR_DEFINE_STUB(stub);
TSR_FOR_EACH_STUB(TSR_DEFINE_LISTED_STUB)
#undef TSR_DEFINE_LISTED_STUB

const std::vector<StubInfo>& all_stubs() {
  static const std::vector<StubInfo> stubs{
#define TSR_STUB_INFO(stub) StubInfo{#stub, [](DeviceType d) { return stub.has_kernel(d); }},
      TSR_FOR_EACH_STUB(TSR_STUB_INFO)
#undef TSR_STUB_INFO
  };
  return stubs;
}

}  // namespace tessera
