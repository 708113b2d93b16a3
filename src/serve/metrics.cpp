#include "serve/metrics.h"

#include <cstdio>

namespace tessera::serve {

namespace {
std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
constexpr double kRateWindowSeconds = 10.0;
}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, std::string& out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + format_double(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += counts_.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  out += name + "_sum " + format_double(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : duration_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}),
      first_token_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}) {}

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
}

void Metrics::add_tokens(int64_t prompt, int64_t completion) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += static_cast<uint64_t>(prompt);
  completion_tokens_ += static_cast<uint64_t>(completion);
}

void Metrics::observe_duration(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  duration_.observe(seconds);
}

void Metrics::observe_first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  first_token_.observe(seconds);
}

void Metrics::sample_generated(int64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  samples_.emplace_back(now, total);
  // Keep one sample older than the window, so the rate spans the whole window.
  while (samples_.size() > 2 &&
         std::chrono::duration<double>(now - samples_[1].first).count() > kRateWindowSeconds)
    samples_.pop_front();
}

double Metrics::tokens_per_second_locked() const {
  if (samples_.size() < 2) return 0.0;
  double dt = std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
  if (dt <= 0) return 0.0;
  return static_cast<double>(samples_.back().second - samples_.front().second) / dt;
}

namespace {
// The "# HELP" and "# TYPE" lines every metric family starts with.
void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
void sample(std::string& out, const char* name, const std::string& value) { out += std::string(name) + " " + value + "\n"; }
}  // namespace

std::string Metrics::render(int64_t queue_depth, int64_t running, int64_t tokens_generated_total) {
  sample_generated(tokens_generated_total);
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  family(out, "tessera_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, n] : requests_)
    out += "tessera_requests_total{route=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  family(out, "tessera_prompt_tokens_total", "counter", "Prompt tokens settled in the ledger.");
  sample(out, "tessera_prompt_tokens_total", std::to_string(prompt_tokens_));
  family(out, "tessera_completion_tokens_total", "counter", "Completion tokens settled in the ledger.");
  sample(out, "tessera_completion_tokens_total", std::to_string(completion_tokens_));
  family(out, "tessera_queue_depth", "gauge", "Sequences waiting for a batch slot.");
  sample(out, "tessera_queue_depth", std::to_string(queue_depth));
  family(out, "tessera_running_sequences", "gauge", "Sequences in the running batch.");
  sample(out, "tessera_running_sequences", std::to_string(running));
  family(out, "tessera_request_duration_seconds", "histogram", "Generating requests, arrival to last byte.");
  duration_.render("tessera_request_duration_seconds", out);
  family(out, "tessera_time_to_first_token_seconds", "histogram", "Submit to first sampled token, per choice.");
  first_token_.render("tessera_time_to_first_token_seconds", out);
  family(out, "tessera_generation_tokens_per_second", "gauge", "Tokens sampled per second over the last 10 s.");
  sample(out, "tessera_generation_tokens_per_second", format_double(tokens_per_second_locked()));
  return out;
}

}  // namespace tessera::serve
