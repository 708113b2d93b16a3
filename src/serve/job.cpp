// Job and EventQueue (job.h).
//
// Charging rules (what end() settles; a completed response's usage is exactly it):
//   - completed: prompt tokens once (as OpenAI, even for n > 1 choices) plus
//     every sampled token of every choice (eot and stop-string tokens included:
//     the model computed them).
//   - client gone mid-response: "cancelled", charged what was generated (the
//     prompt too when any choice was prefilled).
//   - engine queue full (503) or an engine error (500): "failed", charged 0.
#include "serve/job.h"

#include <iostream>
#include <utility>

#include "serve/response_json.h"

namespace tessera::serve {

void EventQueue::push(ChoiceEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (e.done) ++finished_;
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

std::deque<ChoiceEvent> EventQueue::take(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  return std::exchange(events_, {});
}

bool EventQueue::all_done() {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_ == submitted_ && events_.empty();
}

void EventQueue::add_submitted(int delta) {
  std::lock_guard<std::mutex> lock(mu_);
  submitted_ = static_cast<size_t>(static_cast<int64_t>(submitted_) + delta);
}

Job::Job(Meter& meter, CompletionInfo info)
    : meter_(meter),
      info_(std::move(info)),
      texts_(static_cast<size_t>(info_.choices)),
      results_(static_cast<size_t>(info_.choices)) {}

bool Job::submit(Engine& engine, const SequenceRequest& choice) {
  for (int64_t i = 0; i < info_.choices; ++i) {
    SequenceRequest s = choice;
    s.stream_index = static_cast<uint64_t>(i);  // choice i draws from stream index i
    s.cancelled = queue_->cancelled();
    // The callbacks run on the engine thread; the queue may outlive the Job
    // (a cancelled sequence retires at the next step), never the reverse.
    std::weak_ptr<EventQueue> wq = queue_;
    const size_t index = static_cast<size_t>(i);
    s.on_text = [wq, index](std::string_view piece, int64_t) {
      if (auto q = wq.lock()) q->push({index, false, std::string(piece), {}});
    };
    s.on_done = [wq, index](const SequenceResult& r) {
      if (auto q = wq.lock()) q->push({index, true, {}, r});
    };
    queue_->add_submitted(1);
    if (!engine.submit(std::move(s))) {
      queue_->add_submitted(-1);
      return false;
    }
  }
  return true;
}

void Job::apply(const ChoiceEvent& e) {
  if (!e.done) texts_[e.index] += e.piece;
  else results_[e.index] = e.result;
}

std::deque<ChoiceEvent> Job::take_events(std::chrono::milliseconds timeout) {
  std::deque<ChoiceEvent> events = queue_->take(timeout);
  for (const auto& e : events) apply(e);
  return events;
}

void Job::drain() {
  while (!queue_->all_done()) take_events(std::chrono::milliseconds(50));
}

std::optional<api::ApiError> Job::finish() {
  for (const auto& r : results_)
    if (r.finish_reason == "error") {
      end(Ending::failed);
      return api::ApiError(500, "generation failed: " + r.error, "", "server_error", "server_error");
    }
  std::vector<std::string> finish_reasons;
  for (const auto& r : results_) finish_reasons.push_back(r.finish_reason);
  response_text_ = dump_json(completion_response(
      info_.chat, header(info_.chat ? "chat.completion" : "text_completion"), texts_, finish_reasons, usage()));
  end(Ending::completed);
  return std::nullopt;
}

void Job::stop(Ending how) {
  queue_->cancelled()->store(true);
  drain();
  end(how);
}

void Job::abandon() noexcept {
  if (ended_) return;
  try {
    stop(Ending::cancelled);
  } catch (const std::exception& e) {
    std::cerr << "serve: settling cancelled request " << info_.id << " failed: " << e.what() << "\n";
  }
}

void Job::end(Ending how) {
  if (ended_) return;
  // Ended before the ledger is asked: a settle that throws is not retried
  // (start-up recovery interrupts a reservation left open).
  ended_ = true;
  switch (how) {
    case Ending::completed:
      meter_.settle(reservation_, info_.prompt_tokens, completion_tokens(), "completed", response_text_);
      break;
    case Ending::failed:
      meter_.settle(reservation_, 0, 0, "failed", "");
      break;
    case Ending::cancelled:
      meter_.settle(reservation_, any_prefilled() ? info_.prompt_tokens : 0, completion_tokens(), "cancelled", "");
      break;
  }
}

int64_t Job::completion_tokens() const {
  int64_t n = 0;
  for (const auto& r : results_) n += r.completion_tokens;
  return n;
}

bool Job::any_prefilled() const {
  for (const auto& r : results_)
    if (r.completion_tokens > 0) return true;
  return false;
}

nlohmann::json Job::header(const std::string& object) const {
  return completion_header(info_.id, info_.model, info_.created, object);
}

nlohmann::json Job::usage() const {
  const int64_t c = completion_tokens();
  return {{"prompt_tokens", info_.prompt_tokens}, {"completion_tokens", c}, {"total_tokens", info_.prompt_tokens + c}};
}

}  // namespace tessera::serve
