// The profiler's table and Chrome trace (core/profile_report.h).
#include "tessera/core/profile_report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "tessera/io/atomic_file.h"

using nlohmann::json;

namespace tessera::profiler {

namespace {

bool is_work(Kind k) { return k == Kind::Op || k == Kind::Kernel || k == Kind::Backward || k == Kind::Optimizer; }

// Per event: its parent on the same thread (or -1), from the depth each was
// opened at. `events` is ordered as collect() orders it.
std::vector<int64_t> parents(const std::vector<Event>& events, int64_t& misnested) {
  std::vector<int64_t> parent(events.size(), -1);
  std::vector<int64_t> open;  // open[d]: the last event seen at depth d on this thread
  int64_t tid = -1;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (e.tid != tid) open.clear(), tid = e.tid;
    const auto d = static_cast<size_t>(std::max(e.depth, 0));
    if (d > 0 && open.size() >= d) {
      const Event& p = events[static_cast<size_t>(open[d - 1])];
      if (e.start_ns >= p.start_ns && e.start_ns + e.dur_ns <= p.start_ns + p.dur_ns)
        parent[i] = open[d - 1];
      else
        ++misnested;
    } else if (d > 0) {
      ++misnested;  // its parent was not recorded (opened before start() or closed after stop())
    }
    open.resize(d);
    open.push_back(static_cast<int64_t>(i));
  }
  return parent;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

Summary summarize(const std::vector<Event>& events) {
  Summary s;
  std::vector<int64_t> parent = parents(events, s.misnested);
  const bool has_steps =
      std::any_of(events.begin(), events.end(), [](const Event& e) { return e.kind == Kind::Step; });
  std::vector<int64_t> child_ns(events.size(), 0);
  std::vector<double> child_flops(events.size(), 0);
  std::vector<char> counted(events.size(), 0);
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t p = parent[i];
    counted[i] = !has_steps || events[i].kind == Kind::Step || (p >= 0 && counted[static_cast<size_t>(p)]);
    if (p >= 0) child_ns[static_cast<size_t>(p)] += events[i].dur_ns;
  }
  // Inclusive FLOPs: children come after their parent, so walk backwards.
  for (size_t i = events.size(); i-- > 0;) {
    child_flops[i] += events[i].flops;
    if (parent[i] >= 0) child_flops[static_cast<size_t>(parent[i])] += child_flops[i];
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (!counted[i]) {
      ++s.uncounted;
      continue;
    }
    const int64_t self = e.dur_ns - child_ns[i];
    auto [it, fresh] = index.emplace(e.name, s.rows.size());
    if (fresh) s.rows.push_back(Row{e.name, e.kind});
    Row& r = s.rows[it->second];
    ++r.calls;
    r.self_ns += self;
    r.total_ns += e.dur_ns;
    r.flops += child_flops[i];
    r.bytes += e.bytes;
    s.self_ns += self;
    if (is_work(e.kind)) s.work_self_ns += self;
    s.flops += e.flops;
    if (e.kind == Kind::Step) ++s.steps, s.step_ns += e.dur_ns;
    if (!has_steps && parent[i] < 0) s.step_ns += e.dur_ns;
  }
  std::stable_sort(s.rows.begin(), s.rows.end(), [](const Row& a, const Row& b) { return a.self_ns > b.self_ns; });
  return s;
}

std::vector<Event> within_steps(const std::vector<Event>& events, const std::function<bool(const Event&)>& keep) {
  std::vector<Event> out;
  int64_t tid = -1, until = -1;  // the kept step open on this thread ends at `until`
  for (const Event& e : events) {  // by thread, then start: a step comes before what it holds
    if (e.tid != tid) tid = e.tid, until = -1;
    if (e.kind == Kind::Step && e.start_ns >= until) {
      if (!keep(e)) continue;
      until = e.start_ns + e.dur_ns;
      out.push_back(e);
    } else if (e.start_ns < until && e.start_ns + e.dur_ns <= until) {
      out.push_back(e);
    }
  }
  return out;
}

std::string format_table(const Summary& s, size_t max_rows) {
  const double step_ms = static_cast<double>(s.step_ns) / 1e6;
  auto ms = [](int64_t ns) { return fixed(static_cast<double>(ns) / 1e6, 3); };
  auto pct = [&](int64_t ns) { return s.step_ns > 0 ? fixed(100.0 * static_cast<double>(ns) / s.step_ns, 2) + "%" : "-"; };
  size_t width = 4;
  const size_t n = max_rows == 0 ? s.rows.size() : std::min(max_rows, s.rows.size());
  for (size_t i = 0; i < n; ++i) width = std::max(width, s.rows[i].name.size());
  width = std::min<size_t>(width, 48);
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-*s %-9s %8s %11s %8s %11s %9s %11s\n", static_cast<int>(width), "Name", "Kind",
                "Calls", "Self ms", "Self %", "Total ms", "GFLOP/s", "Alloc MB");
  out += line;
  out += std::string(width + 80, '-') + "\n";
  for (size_t i = 0; i < n; ++i) {
    const Row& r = s.rows[i];
    const std::string gflops = r.flops > 0 && r.total_ns > 0 ? fixed(r.flops / static_cast<double>(r.total_ns), 1) : "";
    std::snprintf(line, sizeof line, "%-*.*s %-9s %8lld %11s %8s %11s %9s %11s\n", static_cast<int>(width),
                  static_cast<int>(width), r.name.c_str(), kind_name(r.kind), static_cast<long long>(r.calls),
                  ms(r.self_ns).c_str(), pct(r.self_ns).c_str(), ms(r.total_ns).c_str(), gflops.c_str(),
                  fixed(static_cast<double>(r.bytes) / (1 << 20), 2).c_str());
    out += line;
  }
  if (n < s.rows.size()) {
    int64_t rest = 0;
    for (size_t i = n; i < s.rows.size(); ++i) rest += s.rows[i].self_ns;
    std::snprintf(line, sizeof line, "(%zu more rows: %s ms self, %s)\n", s.rows.size() - n, ms(rest).c_str(),
                  pct(rest).c_str());
    out += line;
  }
  out += std::string(width + 80, '-') + "\n";
  out += std::to_string(s.steps) + " step(s): wall time " + fixed(step_ms, 3) + " ms";
  if (s.steps > 0) out += " (" + fixed(step_ms / static_cast<double>(s.steps), 3) + " ms/step)";
  out += "; sum of self times " + ms(s.self_ns) + " ms (" + pct(s.self_ns) + " of the wall time); in ops, kernels, "
         "backward nodes and optimizer steps " + ms(s.work_self_ns) + " ms (" + pct(s.work_self_ns) + ")\n";
  if (s.flops > 0)
    out += "FLOPs counted: " + fixed(s.flops / 1e9, 3) + " GFLOP, " +
           fixed(s.step_ns > 0 ? s.flops / static_cast<double>(s.step_ns) : 0.0, 1) + " GFLOP/s over the wall time\n";
  if (s.uncounted > 0)
    out += std::to_string(s.uncounted) + " event(s) outside the steps (other threads, between steps) are in the "
           "trace only\n";
  return out;
}

std::string chrome_trace_json(const std::vector<Event>& events) {
  const int pid = static_cast<int>(::getpid());
  json trace = json::array();
  std::map<int64_t, bool> threads;
  for (const Event& e : events) {
    threads[e.tid] = true;
    json args = json::object();
    if (!e.shapes.empty()) args["shapes"] = e.shapes;
    if (e.flops > 0) args["flops"] = e.flops;
    if (e.bytes > 0) args["bytes"] = e.bytes;
    if (e.backward) args["backward"] = true;
    if (e.step >= 0) args["step"] = e.step;
    // Microseconds with nanosecond digits: nested events keep their order.
    trace.push_back({{"name", e.name},
                     {"cat", kind_name(e.kind)},
                     {"ph", "X"},
                     {"ts", static_cast<double>(e.start_ns) / 1e3},
                     {"dur", static_cast<double>(e.dur_ns) / 1e3},
                     {"pid", pid},
                     {"tid", e.tid},
                     {"args", std::move(args)}});
  }
  trace.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", "tessera"}}}});
  for (const auto& [tid, _] : threads)
    trace.push_back({{"name", "thread_name"},
                     {"ph", "M"},
                     {"pid", pid},
                     {"tid", tid},
                     {"args", {{"name", tid == pid ? "main" : "thread " + std::to_string(tid)}}}});
  return json({{"traceEvents", std::move(trace)}, {"displayTimeUnit", "ms"}}).dump();
}

void write_chrome_trace(const std::vector<Event>& events, const std::string& path) {
  io::write_file_atomic(path, chrome_trace_json(events));
}

}  // namespace tessera::profiler
