// LedgerMeter (meter.h): the ledger's reserve/settle under the Service's lock.
#include "serve/meter.h"

#include <iostream>

namespace tessera::serve {

billing::Admission LedgerMeter::reserve(const billing::KeyInfo& key, const std::string& request_id,
                                        const std::string& model, int64_t prompt_tokens, int64_t max_tokens,
                                        const std::string& idempotency_key, int64_t choices) {
  std::lock_guard<std::mutex> lock(ledger_mu_);
  return ledger_.reserve(key, request_id, model, prompt_tokens, max_tokens, idempotency_key, choices);
}

void LedgerMeter::settle(const billing::Reservation& reservation, int64_t prompt_tokens, int64_t completion_tokens,
                         const std::string& status, const std::string& response_json) {
  billing::Settlement s;
  {
    std::lock_guard<std::mutex> lock(ledger_mu_);
    s = ledger_.settle(reservation, prompt_tokens, completion_tokens, status, response_json);
  }
  if (s.prompt_tokens != prompt_tokens || s.completion_tokens != completion_tokens)
    std::cerr << "serve: warning: ledger settled " << reservation.request_id << " as " << s.prompt_tokens << "+"
              << s.completion_tokens << " tokens, the response said " << prompt_tokens << "+" << completion_tokens
              << "\n";
  metrics_.add_tokens(s.prompt_tokens, s.completion_tokens);
}

}  // namespace tessera::serve
