// Live progress of `tessera pretrain`: a one-line bar on a terminal (stderr is
// a tty), plain log lines otherwise. Shows step/total, loss, lr, tokens/s,
// MFU and the ETA. (train/progress.h's bar speaks of epochs and samples/s,
// which mean nothing for random-window LM batches.)
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace tessera::lm {

class LMProgress {
 public:
  LMProgress(bool quiet, int64_t total_steps);
  void update(int64_t step, double loss, double lr, double tokens_per_s, double mfu, bool log_line);
  void message(const std::string& text);  // on its own line (clears the bar first)
  void finish();

 private:
  void clear_bar();
  bool quiet_, tty_;
  int64_t total_;
  bool bar_shown_ = false;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tessera::lm
