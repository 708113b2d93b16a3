// The live progress of a training run (train/loop.h): a one-line bar on a
// terminal (stderr is a tty), plain log lines otherwise (files, CI logs,
// pipes). Shows step/total, loss, lr and the ETA, plus what the objective's
// ProgressStyle asks for: epoch and samples/s, or tokens/s and MFU.
#pragma once
#include <cstdint>
#include <string>

#include "tessera/core/stopwatch.h"
#include "tessera/train/objective.h"

namespace tessera::train {

class Progress {
 public:
  Progress(bool quiet, int64_t total_steps, ProgressStyle style);
  // After each optimizer step; `log_line` is true on log steps (plain mode prints then).
  void update(const StepStats& s, bool log_line);
  // A message on its own line (clears the bar first).
  void message(const std::string& text);
  void finish();

 private:
  void clear_bar();
  bool quiet_, tty_;
  int64_t total_;
  ProgressStyle style_;
  bool bar_shown_ = false;
  int64_t first_step_ = -1;  // step before the first update of this session
  Stopwatch since_start_;
  SteadyClock::time_point last_draw_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace tessera::train
