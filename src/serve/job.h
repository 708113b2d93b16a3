// One generating request (POST /v1/completions, /v1/chat/completions) from
// its reservation to its settlement: the choices it queued in the Engine, the
// text they stream back, and the one place that decides what it is charged.
//
// Life of a Job (service_generate.cpp drives it):
//   reserved  -> submit(): one engine sequence per choice
//   generating-> take_events(): the connection's thread applies what the
//                engine thread queued (pieces, finished choices)
//   ends, exactly once, through end():
//     finish()  every choice done: settles "completed" (or "failed" when a
//               choice hit an engine error), durably, before the caller
//               writes the response's last byte
//     stop()    the engine refused a choice (queue full): "failed"
//     abandon() the client is gone or the response was dropped: "cancelled"
// The charging rules are at the top of job.cpp.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/meter.h"
#include "serve/openai_api.h"
#include "tessera/billing/ledger.h"
#include "tessera/serve/engine.h"

namespace tessera::serve {

// What the engine thread hands to the connection's thread about one choice.
struct ChoiceEvent {
  size_t index = 0;
  bool done = false;      // false: `piece` is new final text; true: `result` ends the choice
  std::string piece;
  SequenceResult result;
};

// The engine's callbacks append and notify (they never wait on the client);
// the connection's thread waits on the condition variable and takes them.
class EventQueue {
 public:
  void push(ChoiceEvent e);
  // Waits until an event is queued (or `timeout`) and takes all of them.
  std::deque<ChoiceEvent> take(std::chrono::milliseconds timeout);
  // Every submitted choice has sent its done event and every event was taken.
  bool all_done();
  void add_submitted(int delta);  // +1 before Engine::submit, -1 when it refused
  // Shared with every sequence: set, they retire at the next engine step.
  const std::shared_ptr<std::atomic<bool>>& cancelled() const { return cancelled_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChoiceEvent> events_;
  size_t submitted_ = 0, finished_ = 0;
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

// What the response says about the request, fixed before it is reserved.
struct CompletionInfo {
  bool chat = false;
  std::string id;                 // "cmpl-..." / "chatcmpl-...": the ledger's request id too
  std::string model;
  int64_t created = 0;            // unix seconds
  bool include_usage = false;     // stream_options.include_usage
  int64_t prompt_tokens = 0;
  int64_t choices = 1;            // OpenAI's n
};

// How a request ended; it decides the charge.
enum class Ending { completed, failed, cancelled };

class Job {
 public:
  Job(Meter& meter, CompletionInfo info);

  const CompletionInfo& info() const { return info_; }
  // Set once Meter::reserve admitted the request; settle() charges it.
  void set_reservation(billing::Reservation r) { reservation_ = std::move(r); }

  // Queues one engine sequence per choice (`choice` with stream index i and
  // this job's callbacks). False when the engine refused one (queue full):
  // the caller then stop()s the job.
  bool submit(Engine& engine, const SequenceRequest& choice);

  // Waits up to `timeout` for engine events, applies them to the choices'
  // text and results, and returns them in order (a streamed response writes
  // each).
  std::deque<ChoiceEvent> take_events(std::chrono::milliseconds timeout);
  bool all_done() { return queue_->all_done(); }
  // The request has ended (finished, stopped or abandoned): nothing more to write.
  bool ended() const { return ended_; }

  // Every choice is done: settles the request (durably: Meter::settle returns
  // after the commit) and returns the error to send instead of the response
  // when a choice failed in the engine. Call before writing the response's
  // last byte; throws when the ledger fails.
  std::optional<api::ApiError> finish();
  // Cancels the choices still running, waits for them, and ends with `how`
  // (throws when the ledger fails).
  void stop(Ending how);
  // The client is gone or the response was dropped: stop(cancelled) unless
  // the request already ended. Never throws (a ledger error is logged).
  void abandon() noexcept;

  const std::vector<SequenceResult>& results() const { return results_; }
  int64_t completion_tokens() const;
  // The header of every chunk of a streamed response (its "object" is set per chunk).
  nlohmann::json header(const std::string& object) const;
  nlohmann::json usage() const;
  // The whole response, as dump_json text, once finish() returned no error:
  // what a non-streamed request sends and an Idempotency-Key replays.
  const std::string& response_text() const { return response_text_; }

 private:
  void apply(const ChoiceEvent& e);
  void drain();  // after cancelling: applies events until every choice is done
  bool any_prefilled() const;
  // The one end of every request: charges it by `how`, once.
  void end(Ending how);

  Meter& meter_;
  const CompletionInfo info_;
  billing::Reservation reservation_;
  std::shared_ptr<EventQueue> queue_ = std::make_shared<EventQueue>();
  std::vector<std::string> texts_;
  std::vector<SequenceResult> results_;
  std::string response_text_;
  bool ended_ = false;
};

}  // namespace tessera::serve
