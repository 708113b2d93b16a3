// Progress bar / log lines for the trainer.
#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tessera::train {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  auto t = static_cast<long long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

Progress::Progress(bool quiet, int64_t total_steps)
    : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1), total_(total_steps) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t step, int64_t epoch, double loss, double lr, double samples_per_s, bool log_line) {
  if (quiet_) return;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  // ETA from this session's pace (steps done since the bar started).
  if (first_step_ < 0) first_step_ = step - 1;
  double per_step = elapsed / static_cast<double>(std::max<int64_t>(step - first_step_, 1));
  double eta = per_step * static_cast<double>(total_ - step);
  if (tty_) {
    bool last = step >= total_;
    if (!last && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int width = 24;
    int filled = static_cast<int>(width * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total_, 1)));
    std::string bar(static_cast<size_t>(std::min(filled, width)), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[2K[%s] %lld/%lld ep %lld loss %.4f lr %.2e %.0f samples/s ETA %s", bar.c_str(),
                 (long long)step, (long long)total_, (long long)epoch + 1, loss, lr, samples_per_s,
                 format_duration(eta).c_str());
    std::fflush(stderr);
    bar_shown_ = true;
  } else if (log_line) {
    std::printf("step %lld/%lld epoch %lld loss %.4f lr %.3e %.0f samples/s eta %s\n", (long long)step,
                (long long)total_, (long long)epoch + 1, loss, lr, samples_per_s, format_duration(eta).c_str());
    std::fflush(stdout);
  }
}

void Progress::clear_bar() {
  if (bar_shown_) {
    std::fprintf(stderr, "\r\033[2K");
    std::fflush(stderr);
    bar_shown_ = false;
  }
}

void Progress::message(const std::string& text) {
  if (quiet_) return;
  clear_bar();
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

void Progress::finish() {
  if (!quiet_) clear_bar();
}

}  // namespace tessera::train
