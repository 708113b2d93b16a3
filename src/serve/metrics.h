// Prometheus metrics of `tessera serve`, rendered in the text exposition
// format (version 0.0.4) at GET /metrics:
//   tessera_requests_total{route,status}          counter (every HTTP answer)
//   tessera_prompt_tokens_total                    counter (settled prompt tokens)
//   tessera_completion_tokens_total                counter (settled completion tokens)
//   tessera_queue_depth, tessera_running_sequences gauges (the engine's, at scrape time)
//   tessera_request_duration_seconds               histogram (generating requests, arrival -> last byte)
//   tessera_time_to_first_token_seconds            histogram (per choice, from the engine)
//   tessera_generation_tokens_per_second           gauge: tokens the engine sampled over the
//                                                  last ~10 s of wall time, per second
// Routes outside the known set are counted as route="other", so a scanner
// cannot grow the label set without bound.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tessera::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // name_bucket{le="..."} lines (cumulative, with +Inf), name_sum, name_count.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& route, int status);
  void add_tokens(int64_t prompt, int64_t completion);
  void observe_duration(double seconds);
  void observe_first_token(double seconds);
  // Samples the engine's running total of sampled tokens (at scrapes and
  // request ends); the gauge is the rate over the samples of the last 10 s.
  void sample_generated(int64_t tokens_generated_total);
  std::string render(int64_t queue_depth, int64_t running_sequences, int64_t tokens_generated_total);

 private:
  double tokens_per_second_locked() const;

  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  Histogram duration_, first_token_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> samples_;
};

}  // namespace tessera::serve
