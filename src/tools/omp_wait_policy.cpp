// The `tessera` tool's OpenMP wait policy: bounded spinning, then sleep.
//
// Why: parallel_for and oneDNN's GEMM both run on libgomp's thread team.
// Between parallel regions libgomp's idle threads spin 300,000 pause-loop
// iterations (GOMP_SPINCOUNT's default; about 30 ms on the development VM,
// 100 ns an iteration) before they sleep. When another process holds a core, a spinning thread keeps its core
// while the partner it waits for sits preempted in the run queue, and every
// region waits a scheduler slice: 2-thread training fell to a fraction of its
// 1-thread speed (docs/training_speed.md has the measurements).
//
// How: libgomp reads its environment once, in its constructor, before main,
// and has no API to change the spin count later; a .preinit_array function
// runs earlier but before libc has set `environ` (its setenv is then lost).
// So main sets the variable and re-executes the program once: the exec costs
// some 30 ms at start-up (the libraries load twice), nothing afterwards. An explicit
// OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user always wins (and skips the
// exec). Programs that link libtessera themselves get libgomp's defaults: set
// the variable in their environment (docs/training_speed.md).
#include "omp_wait_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace tessera::cli {

namespace {
// Pause-loop iterations before a waiting libgomp thread sleeps on a futex (about
// 0.1 ms on the development VM): libgomp's own value for an oversubscribed
// machine; measured against 100, 10000 and passive in docs/training_speed.md.
constexpr const char* kTesseraSpinCount = "1000";
}  // namespace

void bound_openmp_spinning(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (::setenv("GOMP_SPINCOUNT", kTesseraSpinCount, 0) != 0) return;
  ::execv("/proc/self/exe", argv);  // returns only on failure: run on with libgomp's defaults
}

}  // namespace tessera::cli
