// Progress bar / log lines for pretraining (lm/pretrain_progress.h).
#include "lm/pretrain_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "train/progress.h"

namespace tessera::lm {

LMProgress::LMProgress(bool quiet, int64_t total_steps)
    : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1), total_(total_steps) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void LMProgress::update(int64_t step, double loss, double lr, double tps, double mfu, bool log_line) {
  if (quiet_) return;
  auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) first_step_ = step - 1;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = elapsed / static_cast<double>(std::max<int64_t>(step - first_step_, 1)) * static_cast<double>(total_ - step);
  std::string eta_s = train::format_duration(eta);
  if (tty_) {
    if (step < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int width = 20;
    int filled = static_cast<int>(width * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total_, 1)));
    std::string bar(static_cast<size_t>(std::min(filled, width)), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[2K[%s] %lld/%lld loss %.4f lr %.2e %.0f tok/s MFU %.1f%% ETA %s", bar.c_str(),
                 (long long)step, (long long)total_, loss, lr, tps, 100 * mfu, eta_s.c_str());
    std::fflush(stderr);
    bar_shown_ = true;
  } else if (log_line) {
    std::printf("step %lld/%lld loss %.4f lr %.3e %.0f tok/s mfu %.2f%% eta %s\n", (long long)step, (long long)total_,
                loss, lr, tps, 100 * mfu, eta_s.c_str());
    std::fflush(stdout);
  }
}

void LMProgress::clear_bar() {
  if (bar_shown_) {
    std::fprintf(stderr, "\r\033[2K");
    std::fflush(stderr);
    bar_shown_ = false;
  }
}

void LMProgress::message(const std::string& text) {
  if (quiet_) return;
  clear_bar();
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

void LMProgress::finish() {
  if (!quiet_) clear_bar();
}

}  // namespace tessera::lm
