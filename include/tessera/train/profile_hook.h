// `--profile FILE` of train, pretrain and finetune: a StepHook (train/loop.h)
// that records a window of optimizer steps with the profiler
// (core/profiler.h), marks each step ("train_step") and its phases
// ("forward", "backward", "clip", "optimizer") in the trace, and at the end
// of the window writes the Chrome trace and prints the table sorted by self
// time (core/profile_report.h). Warm-up steps come first so that the caching
// allocator and the BLAS are in their steady state; the profiler is paused
// between the window's steps, so evaluation and checkpoints stay out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tessera/core/profile_report.h"
#include "tessera/train/loop.h"

namespace tessera::train {

struct ProfileOptions {
  std::string trace_file;      // Chrome trace JSON; "" : none
  int64_t warmup_steps = 3;    // steps taken before the window
  int64_t steps = 5;           // steps recorded
  size_t table_rows = 30;      // rows printed (0: all)
  bool print = true;           // print the table to stdout when the window ends
};

class ProfileHook : public StepHook {
 public:
  explicit ProfileHook(ProfileOptions options);
  ~ProfileHook() override;  // stops a session still open (no report)
  ProfileHook(const ProfileHook&) = delete;
  ProfileHook& operator=(const ProfileHook&) = delete;

  void step_begin(const StepContext& ctx) override;
  void forward_begin(const StepContext&) override { open("forward"); }
  void forward_end(const StepContext&) override { close(); }
  void backward_begin(const StepContext&) override { open("backward"); }
  void backward_end(const StepContext&) override { close(); }
  void gradients_ready(const StepContext&) override { open("clip"); }
  void optimizer_begin(const StepContext&) override {
    close();
    open("optimizer");
  }
  void optimizer_end(const StepContext&) override { close(); }
  void step_end(const StepContext& ctx) override;

  // Reports now: the window ended, or the run stopped inside or before it
  // (then it says so). Runs once; later calls do nothing.
  void finish();

  bool recorded() const { return started_; }
  int64_t steps_recorded() const { return steps_recorded_; }
  const profiler::Summary& summary() const { return summary_; }
  const std::vector<profiler::Event>& events() const { return events_; }
  const std::string& table() const { return table_; }

 private:
  bool in_window(int64_t step) const {
    return step > options_.warmup_steps && step <= options_.warmup_steps + options_.steps;
  }
  void open(const char* phase);
  void close();

  ProfileOptions options_;
  bool started_ = false, finished_ = false, recording_ = false;
  int64_t steps_recorded_ = 0;
  std::vector<uint64_t> open_;  // profiler tokens of the open step and phase
  std::vector<profiler::Event> events_;
  profiler::Summary summary_;
  std::string table_;
};

}  // namespace tessera::train
