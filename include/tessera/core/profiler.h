// The process-wide profiler (what torch.profiler's record does): while a
// session is on, every op frontend (src/ops), every kernel call through a
// stub (core/dispatch.h), every autograd backward node, optimizer steps and
// the ranges a caller marks (training steps and their phases, generation's
// prefill and decode) become events: name, kind, input shapes, whether it ran
// under backward, thread, start, duration, FLOPs when the op knows them, and
// the bytes the caching allocator handed out while it was the innermost open
// event. Events nest per thread (a Scope is RAII), so a report can split
// total time into self time and children (core/profile_report.h).
//
// Cost: when no session is on, a Scope is one relaxed atomic load and a
// branch; nothing else runs (shapes and FLOPs are computed only when on).
// When on, each event costs two clock reads, a push on a thread-local stack
// and an append to the thread's buffer under an uncontended mutex.
//
// Per-thread buffers live until the next start(); collect() copies them out.
// Events that began before start() or are still open at stop() are dropped.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

class Tensor;

namespace profiler {

enum class Kind : uint8_t {
  Op,         // an op frontend (src/ops): "linear", "add", ...
  Kernel,     // a kernel call through a stub: "matmul_stub", ...
  Backward,   // an autograd node run by the engine: "linear_backward"
  Optimizer,  // Optimizer::step: "AdamW.step"
  Phase,      // a marked phase of a step: "forward", "backward", "optimizer", "clip"
  Step,       // a marked step: "train_step", "prefill", "decode"
  User,       // anything else a caller marks
};
const char* kind_name(Kind kind);

namespace detail {
extern std::atomic<bool> g_enabled;
// Opens an event on this thread; returns a token for end() (0: not recorded).
uint64_t begin(const char* name, Kind kind, int64_t step);
void end(uint64_t token);
void note_input(const Tensor& t);
void note_input(const std::vector<Tensor>& ts);
void add_flops(double flops);
void add_bytes(int64_t bytes);
// Interns a name built at run time (backward nodes): the pointer lives as long as the process.
const char* intern(const std::string& name);
}  // namespace detail

// Whether a session is recording now.
inline bool enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }

// A name built at run time ("linear" + "_backward"), interned while
// recording; "" (and no work) when off.
inline const char* runtime_name(const std::string& name) { return enabled() ? detail::intern(name) : ""; }

// Starts a session: clears every thread's buffer, then records.
void start();
// Pauses / resumes recording within a session (between profiled steps).
void pause();
void resume();
// Ends the session; collect() reads what it recorded.
void stop();

// An event from construction to destruction on this thread.
class Scope {
 public:
  Scope(const char* name, Kind kind, int64_t step = -1) : token_(enabled() ? detail::begin(name, kind, step) : 0) {}
  ~Scope() {
    if (token_) detail::end(token_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  bool active() const { return token_ != 0; }
  // Input shapes of the event (Tensors or vectors of Tensors).
  template <typename... Ts>
  void inputs(const Ts&... ts) {
    if (token_) (detail::note_input(ts), ...);
  }

 private:
  uint64_t token_;
};

// The caching allocator calls this for every allocation: the bytes go to the
// innermost open event of the calling thread.
inline void note_alloc(size_t bytes) {
  if (enabled()) detail::add_bytes(static_cast<int64_t>(bytes));
}

// One recorded event, as collect() returns it.
struct Event {
  std::string name;
  Kind kind = Kind::User;
  bool backward = false;  // a Backward event or inside one (or inside a "backward" phase)
  int64_t tid = 0;        // the OS thread id
  int64_t start_ns = 0;   // since start()
  int64_t dur_ns = 0;
  int depth = 0;          // nesting depth on its thread (0: outermost)
  int64_t step = -1;      // Step events: the step's number; -1 otherwise
  double flops = 0;       // FLOPs the event itself did (not its children's); 0: unknown
  int64_t bytes = 0;      // bytes allocated while it was the innermost open event
  std::vector<std::vector<int64_t>> shapes;  // input shapes
};

// Every event of the last session, ordered by thread, then start, then depth
// (a parent before its children).
std::vector<Event> collect();

}  // namespace profiler
}  // namespace tessera

// An op frontend's event: TSR_PROFILE_OP("linear", x, weight, bias);
#define TSR_PROFILE_OP(name, ...)                                                        \
  ::tessera::profiler::Scope tsr_profile_scope_(name, ::tessera::profiler::Kind::Op);  \
  tsr_profile_scope_.inputs(__VA_ARGS__)
// FLOPs of the work in the innermost open event; `expr` is evaluated only when recording.
#define TSR_PROFILE_FLOPS(expr)                                                 \
  do {                                                                          \
    if (::tessera::profiler::enabled())                                         \
      ::tessera::profiler::detail::add_flops(static_cast<double>(expr));        \
  } while (0)
