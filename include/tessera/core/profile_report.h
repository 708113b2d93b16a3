// What a profiler session (core/profiler.h) becomes: a table of time by
// event name sorted by self time (torch.profiler's key_averages().table()),
// and a Chrome trace (chrome://tracing, ui.perfetto.dev: "X" events with ts
// and dur in microseconds, pid/tid, args with shapes, flops, bytes).
//
// Self time is an event's duration minus its children's on the same thread.
// The table counts the events inside the marked steps (Step events, with the
// steps' own gaps as rows of their own), so its self times add up to the
// steps' wall time; events on other threads or between steps stay in the
// trace only. Without Step events every event counts.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/core/profiler.h"

namespace tessera::profiler {

struct Row {
  std::string name;
  Kind kind = Kind::User;
  int64_t calls = 0;
  int64_t self_ns = 0;
  int64_t total_ns = 0;  // duration including children (an event nested in its own name counts twice)
  double flops = 0;      // FLOPs of the events and their children
  int64_t bytes = 0;     // allocated while one of these events was the innermost open one
};

struct Summary {
  std::vector<Row> rows;       // by self time, largest first
  int64_t steps = 0;           // Step events counted
  int64_t step_ns = 0;         // their summed wall time
  int64_t self_ns = 0;         // the summed self time of every counted event
  int64_t work_self_ns = 0;    // of which ops, kernels, backward nodes and optimizer steps (not step/phase gaps)
  double flops = 0;            // FLOPs of the counted events
  int64_t uncounted = 0;       // recorded events outside the steps (other threads, between steps)
  int64_t misnested = 0;       // events that did not lie inside their parent (should stay 0)
};

Summary summarize(const std::vector<Event>& events);

// The Step events `keep` accepts and every event on the same thread inside
// them (a window of generation's decode steps, say).
std::vector<Event> within_steps(const std::vector<Event>& events, const std::function<bool(const Event&)>& keep);

// The table, at most max_rows rows (0: all), then the accounting lines: the
// steps' wall time, the sum of self times against it, FLOPs and GFLOP/s.
std::string format_table(const Summary& s, size_t max_rows = 30);

// Chrome trace JSON ({"traceEvents": [...], "displayTimeUnit": "ms"}).
std::string chrome_trace_json(const std::vector<Event>& events);
// Writes it to `path` (replaced atomically); errors name the path.
void write_chrome_trace(const std::vector<Event>& events, const std::string& path);

}  // namespace tessera::profiler
