// Progress output of the trainer: a live one-line bar on a terminal (stderr
// is a tty), plain log lines otherwise (files, CI logs, pipes).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace tessera::train {

class Progress {
 public:
  Progress(bool quiet, int64_t total_steps);
  // After each optimizer step; `log_line` is true on log steps (plain mode prints then).
  void update(int64_t step, int64_t epoch, double loss, double lr, double samples_per_s, bool log_line);
  // A message on its own line (clears the bar first).
  void message(const std::string& text);
  void finish();

 private:
  void clear_bar();
  bool quiet_, tty_;
  int64_t total_;
  bool bar_shown_ = false;
  int64_t first_step_ = -1;  // step before the first update of this session
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace tessera::train
