// The profiling window of a training run (train/profile_hook.h).
#include "tessera/train/profile_hook.h"

#include <iostream>

#include "tessera/dist/world.h"

namespace tessera::train {

ProfileHook::ProfileHook(ProfileOptions options) : options_(std::move(options)) {
  TSR_CHECK(options_.warmup_steps >= 0, Error, "profile: warm-up steps must be >= 0, got ", options_.warmup_steps);
  TSR_CHECK(options_.steps > 0, Error, "profile: the window must hold at least one step, got ", options_.steps);
}

ProfileHook::~ProfileHook() {
  if (started_ && !finished_) profiler::stop();
}

void ProfileHook::step_begin(const StepContext& ctx) {
  recording_ = !finished_ && in_window(ctx.step);
  if (!recording_) return;
  if (!started_) {
    profiler::start();
    started_ = true;
  } else {
    profiler::resume();
  }
  open_.push_back(profiler::detail::begin("train_step", profiler::Kind::Step, ctx.step));
}

void ProfileHook::open(const char* phase) {
  if (recording_) open_.push_back(profiler::detail::begin(phase, profiler::Kind::Phase, -1));
}

void ProfileHook::close() {
  if (!recording_ || open_.size() < 2) return;  // the step itself closes in step_end
  profiler::detail::end(open_.back());
  open_.pop_back();
}

void ProfileHook::step_end(const StepContext& ctx) {
  if (!recording_) return;
  while (!open_.empty()) {
    profiler::detail::end(open_.back());
    open_.pop_back();
  }
  ++steps_recorded_;
  recording_ = false;
  if (ctx.step >= options_.warmup_steps + options_.steps)
    finish();
  else
    profiler::pause();
}

void ProfileHook::finish() {
  if (finished_) return;
  finished_ = true;
  if (!started_) {
    if (options_.print)
      std::cout << "profile: nothing recorded: the run ended before step " << options_.warmup_steps + 1
                << " (the window is steps " << options_.warmup_steps + 1 << " to "
                << options_.warmup_steps + options_.steps << ")\n";
    return;
  }
  profiler::stop();
  events_ = profiler::collect();
  summary_ = profiler::summarize(events_);
  table_ = profiler::format_table(summary_, options_.table_rows);
  // In a data-parallel job each rank profiles itself: rank 0 writes the named
  // file, rank r FILE.rank<r> (their communication waits differ).
  if (!options_.trace_file.empty())
    profiler::write_chrome_trace(events_, dist::world().rank == 0 ? options_.trace_file
                                                                  : options_.trace_file + ".rank" +
                                                                        std::to_string(dist::world().rank));
  if (options_.print) {
    std::cout << "profile of steps " << options_.warmup_steps + 1 << " to "
              << options_.warmup_steps + steps_recorded_ << ":\n"
              << table_;
    if (!options_.trace_file.empty())
      std::cout << "profile: Chrome trace (" << events_.size() << " events) written to " << options_.trace_file
                << " (open it in ui.perfetto.dev or chrome://tracing)\n";
    std::cout.flush();
  }
}

}  // namespace tessera::train
