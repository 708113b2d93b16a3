// The profiler's recording side (core/profiler.h): a thread-local stack of
// open events and a per-thread buffer of finished ones. The stack is touched
// only by its thread; the buffer is shared with collect() and start(), so
// appends take its mutex (uncontended while recording).
#include "tessera/core/profiler.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "tessera/core/tensor.h"

namespace tessera::profiler {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Op: return "op";
    case Kind::Kernel: return "kernel";
    case Kind::Backward: return "backward";
    case Kind::Optimizer: return "optimizer";
    case Kind::Phase: return "phase";
    case Kind::Step: return "step";
    case Kind::User: return "user";
  }
  return "?";
}

namespace detail {

std::atomic<bool> g_enabled{false};

namespace {

std::atomic<uint64_t> g_generation{1};  // bumped by start(); a token is the generation it began in
std::atomic<int64_t> g_origin_ns{0};    // start()'s clock reading

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A finished event as the buffer keeps it: the name is a static or interned
// string, the shapes are (rank, dims...) runs in the buffer's shape arena.
struct RawEvent {
  const char* name;
  int64_t start_ns, dur_ns, step, bytes;
  double flops;
  uint32_t shape_begin, shape_end;
  int32_t depth;
  Kind kind;
  bool backward;
};

struct ThreadBuffer {
  std::mutex mu;
  int64_t tid = 0;
  std::vector<RawEvent> events;
  std::vector<int64_t> shapes;
};

struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: threads may finish events during exit
  return *r;
}

struct OpenEvent {
  const char* name;
  int64_t start_ns, step, bytes;
  double flops;
  uint32_t shape_begin, shape_end;  // this event's runs in the thread's open-shape arena
  Kind kind;
  bool backward;
};

struct ThreadState {
  std::shared_ptr<ThreadBuffer> buffer;
  uint64_t generation = 0;
  std::vector<OpenEvent> stack;
  std::vector<int64_t> shapes;  // shapes of the open events, a stack like `stack`

  ThreadBuffer& buf() {
    if (!buffer) {
      buffer = std::make_shared<ThreadBuffer>();
      buffer->tid = static_cast<int64_t>(::syscall(SYS_gettid));
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      r.buffers.push_back(buffer);
    }
    return *buffer;
  }
};
thread_local ThreadState t_state;

// The stack of this thread for the current generation (an older session's open events are forgotten).
ThreadState& current(uint64_t generation) {
  ThreadState& ts = t_state;
  if (ts.generation != generation) {
    ts.stack.clear();
    ts.shapes.clear();
    ts.generation = generation;
  }
  return ts;
}

}  // namespace

uint64_t begin(const char* name, Kind kind, int64_t step) {
  const uint64_t gen = g_generation.load(std::memory_order_relaxed);
  ThreadState& ts = current(gen);
  ts.buf();
  const bool parent_backward = !ts.stack.empty() && ts.stack.back().backward;
  const bool backward = kind == Kind::Backward || parent_backward ||
                        (kind == Kind::Phase && std::strcmp(name, "backward") == 0);
  const auto at = static_cast<uint32_t>(ts.shapes.size());
  ts.stack.push_back(OpenEvent{name, now_ns(), step, 0, 0.0, at, at, kind, backward});
  return gen;
}

void end(uint64_t token) {
  ThreadState& ts = t_state;
  if (ts.generation != token || ts.stack.empty()) return;
  const int64_t t = now_ns();
  OpenEvent e = ts.stack.back();
  ts.stack.pop_back();
  const int32_t depth = static_cast<int32_t>(ts.stack.size());
  if (g_enabled.load(std::memory_order_relaxed) && g_generation.load(std::memory_order_relaxed) == token) {
    ThreadBuffer& b = ts.buf();
    const int64_t origin = g_origin_ns.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(b.mu);
    const auto sb = static_cast<uint32_t>(b.shapes.size());
    b.shapes.insert(b.shapes.end(), ts.shapes.begin() + e.shape_begin, ts.shapes.begin() + e.shape_end);
    b.events.push_back(RawEvent{e.name, e.start_ns - origin, t - e.start_ns, e.step, e.bytes, e.flops, sb,
                                static_cast<uint32_t>(b.shapes.size()), depth, e.kind, e.backward});
  }
  ts.shapes.resize(e.shape_begin);
}

namespace {
void note_shape(const Tensor& t) {
  ThreadState& ts = t_state;
  if (ts.stack.empty()) return;
  OpenEvent& e = ts.stack.back();
  if (e.shape_end != ts.shapes.size()) return;  // a child already noted its own: keep the runs contiguous
  if (!t.defined()) return;  // an absent optional input (a bias)
  ts.shapes.push_back(static_cast<int64_t>(t.dim()));
  for (int64_t d : t.shape()) ts.shapes.push_back(d);
  e.shape_end = static_cast<uint32_t>(ts.shapes.size());
}
}  // namespace

void note_input(const Tensor& t) { note_shape(t); }

void note_input(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) note_shape(t);
}

void add_flops(double flops) {
  ThreadState& ts = t_state;
  if (ts.generation == g_generation.load(std::memory_order_relaxed) && !ts.stack.empty())
    ts.stack.back().flops += flops;
}

void add_bytes(int64_t bytes) {
  ThreadState& ts = t_state;
  if (ts.generation == g_generation.load(std::memory_order_relaxed) && !ts.stack.empty())
    ts.stack.back().bytes += bytes;
}

const char* intern(const std::string& name) {
  static std::mutex mu;
  static auto* names = new std::unordered_map<std::string, std::unique_ptr<char[]>>();  // lives to exit
  std::lock_guard<std::mutex> lock(mu);
  auto it = names->find(name);
  if (it == names->end()) {
    auto copy = std::make_unique<char[]>(name.size() + 1);
    std::memcpy(copy.get(), name.c_str(), name.size() + 1);
    it = names->emplace(name, std::move(copy)).first;
  }
  return it->second.get();
}

}  // namespace detail

void start() {
  using namespace detail;
  g_enabled.store(false, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_relaxed);
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    for (auto& b : r.buffers) {
      std::lock_guard<std::mutex> bl(b->mu);
      b->events.clear();
      b->shapes.clear();
    }
  }
  g_origin_ns.store(now_ns(), std::memory_order_relaxed);
  g_enabled.store(true, std::memory_order_release);
}

void pause() { detail::g_enabled.store(false, std::memory_order_relaxed); }
void resume() { detail::g_enabled.store(true, std::memory_order_relaxed); }
void stop() { detail::g_enabled.store(false, std::memory_order_release); }

std::vector<Event> collect() {
  using namespace detail;
  std::vector<Event> out;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& b : r.buffers) {
    std::lock_guard<std::mutex> bl(b->mu);
    for (const RawEvent& raw : b->events) {
      Event e;
      e.name = raw.name;
      e.kind = raw.kind;
      e.backward = raw.backward;
      e.tid = b->tid;
      e.start_ns = raw.start_ns;
      e.dur_ns = raw.dur_ns;
      e.depth = raw.depth;
      e.step = raw.step;
      e.flops = raw.flops;
      e.bytes = raw.bytes;
      for (uint32_t i = raw.shape_begin; i < raw.shape_end;) {
        const int64_t rank = b->shapes[i++];
        e.shapes.emplace_back(b->shapes.begin() + i, b->shapes.begin() + i + rank);
        i += static_cast<uint32_t>(rank);
      }
      out.push_back(std::move(e));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Event& a, const Event& b) {
    if (a.tid != b.tid) return a.tid < b.tid;
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.depth < b.depth;
  });
  return out;
}

}  // namespace tessera::profiler
