// Progress bar / log lines of the training loop (train/progress.h).
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

Progress::Progress(bool quiet, int64_t total_steps, ProgressStyle style)
    : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1), total_(total_steps), style_(style) {
  last_draw_ = since_start_.started();
}

void Progress::update(const StepStats& s, bool log_line) {
  if (quiet_) return;
  const auto now = SteadyClock::now();
  // ETA from this session's pace (steps done since the bar started).
  if (first_step_ < 0) first_step_ = s.step - 1;
  const double per_step = since_start_.seconds() / static_cast<double>(std::max<int64_t>(s.step - first_step_, 1));
  const std::string eta = format_duration(per_step * static_cast<double>(total_ - s.step));
  // What differs by objective: " ep 2 ... 1234 samples/s" or " ... 5678 tok/s MFU 12.3%".
  const double mfu = style_.peak_flops > 0 ? style_.flops_per_token * s.tokens_per_second / style_.peak_flops : 0.0;
  char epoch[32] = "", rate[96];
  if (style_.tokens) {
    std::snprintf(rate, sizeof rate, "%.0f tok/s %s %.*f%%%s%s", s.tokens_per_second, tty_ ? "MFU" : "mfu",
                  tty_ ? 1 : 2, 100 * mfu, style_.precision.empty() ? "" : " ", style_.precision.c_str());
  } else {
    if (s.epoch >= 0) std::snprintf(epoch, sizeof epoch, tty_ ? " ep %lld" : " epoch %lld", (long long)s.epoch + 1);
    std::snprintf(rate, sizeof rate, "%.0f samples/s", s.examples_per_second);
  }
  if (tty_) {
    const bool last = s.step >= total_;
    if (!last && seconds_between(last_draw_, now) < 0.1) return;
    last_draw_ = now;
    const int width = 24;
    int filled = static_cast<int>(width * static_cast<double>(s.step) / static_cast<double>(std::max<int64_t>(total_, 1)));
    std::string bar(static_cast<size_t>(std::min(filled, width)), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[2K[%s] %lld/%lld%s loss %.4f lr %.2e %s ETA %s", bar.c_str(), (long long)s.step,
                 (long long)total_, epoch, s.loss, s.lr, rate, eta.c_str());
    std::fflush(stderr);
    bar_shown_ = true;
  } else if (log_line) {
    std::printf("step %lld/%lld%s loss %.4f lr %.3e %s eta %s\n", (long long)s.step, (long long)total_, epoch, s.loss,
                s.lr, rate, eta.c_str());
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
