// Wall-clock intervals on the monotonic clock: the one helper behind every
// "seconds since" in the training loops, generation timing and the server, so
// they all measure the same way (steady_clock never jumps with NTP or DST).
#pragma once
#include <chrono>

namespace tessera {

using SteadyClock = std::chrono::steady_clock;

// Seconds from `start` to now.
inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Seconds from `a` to `b`.
inline double seconds_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Started on construction; seconds() reads it without stopping it.
class Stopwatch {
 public:
  Stopwatch() : start_(SteadyClock::now()) {}
  double seconds() const { return seconds_since(start_); }
  void restart() { start_ = SteadyClock::now(); }
  SteadyClock::time_point started() const { return start_; }

 private:
  SteadyClock::time_point start_;
};

}  // namespace tessera
