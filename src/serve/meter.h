// The billing side of one generating request, in the order the server calls
// it (the metering order of tessera/serve/server.h): reserve() before the
// first token is generated, settle() before the client sees the last byte of
// the response. Each is one durable ledger transaction. A Job (job.h) settles
// through this interface, so the request's life is written, and tested,
// without a ledger.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>

#include "serve/metrics.h"
#include "tessera/billing/ledger.h"

namespace tessera::serve {

class Meter {
 public:
  virtual ~Meter() = default;
  // Admits the request and reserves its worst case (prompt once + `choices`
  // x max_tokens), or says why not (Admission::ok false), or hands back the
  // stored response of an Idempotency-Key already settled.
  virtual billing::Admission reserve(const billing::KeyInfo& key, const std::string& request_id,
                                     const std::string& model, int64_t prompt_tokens, int64_t max_tokens,
                                     const std::string& idempotency_key, int64_t choices) = 0;
  // Charges what the request used (status "completed" | "cancelled" |
  // "failed") and stores response_json for Idempotency-Key replays. Durable
  // when it returns; throws when the ledger fails.
  virtual void settle(const billing::Reservation& reservation, int64_t prompt_tokens, int64_t completion_tokens,
                      const std::string& status, const std::string& response_json) = 0;
};

// The Service's meter: its ledger, used by one HTTP thread at a time (the
// mutex is the Service's, shared with the admin routes), and the settled
// token counters of /metrics.
class LedgerMeter final : public Meter {
 public:
  LedgerMeter(billing::Ledger& ledger, std::mutex& ledger_mu, Metrics& metrics)
      : ledger_(ledger), ledger_mu_(ledger_mu), metrics_(metrics) {}

  billing::Admission reserve(const billing::KeyInfo& key, const std::string& request_id, const std::string& model,
                             int64_t prompt_tokens, int64_t max_tokens, const std::string& idempotency_key,
                             int64_t choices) override;
  // Counts the tokens the ledger settled (it clamps to the reservation) in the
  // metrics, and warns when they differ from what the response said.
  void settle(const billing::Reservation& reservation, int64_t prompt_tokens, int64_t completion_tokens,
              const std::string& status, const std::string& response_json) override;

 private:
  billing::Ledger& ledger_;
  std::mutex& ledger_mu_;
  Metrics& metrics_;
};

}  // namespace tessera::serve
