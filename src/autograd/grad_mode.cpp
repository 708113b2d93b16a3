#include "tessera/autograd/grad_mode.h"

namespace tessera {

// Thread-local, as in PyTorch: a NoGradGuard in one thread does not affect another.
static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

}  // namespace tessera
