// Serving engine throughput (serve/engine.h): decode tokens/s of a randomly
// initialized GPT through serve::measure_tokens_per_second, at several batch
// sizes, and continuous batching against one-at-a-time at one concurrency.
//
//   serve_engine_bench [--threads 2] [--layers 12] [--heads 12] [--embd 768]
//                      [--vocab 50257] [--block 1024] [--prompt 32] [--new 32]
//                      [--batches 1,8,32] [--concurrency 32]
//
// One JSON line per measurement. Timings, not assertions: run it on a quiet
// machine (or say it was not).
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/core/parallel.h"
#include "tessera/serve/engine.h"

using namespace tessera;

namespace {

// Ids 0..n-1, one letter each: enough for random prompts and greedy decoding.
class IdTokenizer : public text::Tokenizer {
 public:
  explicit IdTokenizer(int64_t n) : n_(n) {}
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    return std::vector<int32_t>(text.size(), 0);
  }
  std::string decode(const std::vector<int32_t>& ids) const override { return std::string(ids.size(), 'x'); }
  std::string token_bytes(int32_t) const override { return "x"; }
  int64_t vocab_size() const override { return n_; }
  std::optional<int32_t> eot_id() const override { return std::nullopt; }
  std::optional<int32_t> special_id(std::string_view) const override { return std::nullopt; }
  std::string kind() const override { return "bench-ids"; }
  void save(const std::string&) const override {}

 private:
  int64_t n_;
};

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  models::GPTConfig cfg;  // GPT-2 small by default
  int64_t prompt = 32, fresh = 32, concurrency = 32;
  std::vector<int64_t> batches = {1, 8, 32};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--threads") threads = std::stoi(v);
    else if (k == "--layers") cfg.n_layer = std::stoll(v);
    else if (k == "--heads") cfg.n_head = std::stoll(v);
    else if (k == "--embd") cfg.n_embd = std::stoll(v);
    else if (k == "--vocab") cfg.vocab_size = std::stoll(v);
    else if (k == "--block") cfg.block_size = std::stoll(v);
    else if (k == "--prompt") prompt = std::stoll(v);
    else if (k == "--new") fresh = std::stoll(v);
    else if (k == "--batches") batches = parse_list(v);
    else if (k == "--concurrency") concurrency = std::stoll(v);
    else {
      std::cerr << "unknown flag " << k << "\n";
      return 2;
    }
  }
  set_num_threads(threads);
  auto model = std::make_shared<models::GPT>(cfg, 0);
  auto tok = std::make_shared<IdTokenizer>(cfg.vocab_size);
  auto line = [&](const char* what, int64_t conc, int64_t max_batch, double tps) {
    std::cout << "{\"bench\": \"" << what << "\", \"layers\": " << cfg.n_layer << ", \"embd\": " << cfg.n_embd
              << ", \"vocab\": " << cfg.vocab_size << ", \"threads\": " << threads << ", \"prompt\": " << prompt
              << ", \"new\": " << fresh << ", \"concurrency\": " << conc << ", \"max_batch\": " << max_batch
              << ", \"tokens_per_second\": " << tps << "}" << std::endl;
  };
  serve::measure_tokens_per_second(model, tok, 1, prompt, 4, 1);  // warm up (allocator, BLAS)
  for (int64_t b : batches) line("decode", b, b, serve::measure_tokens_per_second(model, tok, b, prompt, fresh, b));
  if (concurrency > 0) {
    for (int64_t mb : {int64_t{1}, concurrency})
      line("concurrency", concurrency, mb, serve::measure_tokens_per_second(model, tok, concurrency, prompt, fresh, mb));
  }
  return 0;
}
