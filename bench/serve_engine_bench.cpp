// Serving engine throughput (serve/engine.h): decode tokens/s of a randomly
// initialized GPT through serve::measure_tokens_per_second, at several batch
// sizes, and continuous batching against one-at-a-time at one concurrency;
// with --ttft-chunks, the time to first token of a long prompt that arrives
// while other sequences decode, at each prefill_chunk (0 = whole prompt).
//
//   serve_engine_bench [--threads 2] [--layers 12] [--heads 12] [--embd 768]
//                      [--vocab 50257] [--block 1024] [--prompt 32] [--new 32]
//                      [--batches 1,8,32] [--concurrency 32] [--prefill-chunk 256]
//                      [--ttft-chunks 0,256] [--ttft-prompt 512] [--ttft-others 16]
//                      [--rounds 1]
//
// An empty list (--batches "") or --concurrency 0 skips that part. One JSON
// line per measurement. Timings, not assertions: run it on a quiet machine
// (or say it was not).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
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

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct Ttft {
  double first_token_seconds = 0;  // the long prompt's submit -> first token
  double others_max_gap = 0;       // the running sequences' longest wait for a token meanwhile
  double others_median_gap = 0;    // their usual time per token before it arrived
};

// `others` sequences of 32 random ids decode; once each has 4 tokens, a
// prompt of `long_prompt` random ids arrives and generates one token.
Ttft measure_ttft(std::shared_ptr<models::GPT> model, std::shared_ptr<const text::Tokenizer> tok, int64_t others,
                  int64_t long_prompt, int64_t chunk) {
  const int64_t block = model->config().block_size, short_prompt = 32;
  std::mt19937 rng(99);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(tok->vocab_size()) - 1);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<Clock::time_point>> times(others);  // each other sequence's token arrivals
  int64_t done = 0;
  double first_token = -1;
  auto flag = std::make_shared<std::atomic<bool>>(false);  // cancels the others at the end
  serve::Engine engine(model, tok, {.max_batch = others + 1, .max_queue = others + 1, .prefill_chunk = chunk});
  for (int64_t i = 0; i < others; ++i) {
    serve::SequenceRequest r;
    for (int64_t t = 0; t < short_prompt; ++t) r.prompt.push_back(id(rng));
    r.max_tokens = block - short_prompt;
    r.sampling.temperature = 0;
    r.stop_at_eot = false;
    r.cancelled = flag;
    r.on_text = [&, i](std::string_view, int64_t) {
      std::lock_guard lk(mu);
      times[i].push_back(Clock::now());
      cv.notify_all();
    };
    r.on_done = [&](const serve::SequenceResult&) {
      std::lock_guard lk(mu);
      ++done;
      cv.notify_all();
    };
    engine.submit(std::move(r));
  }
  auto min_tokens = [&] {
    size_t n = SIZE_MAX;
    for (const auto& t : times) n = std::min(n, t.size());
    return n;
  };
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return min_tokens() >= 4; });
  const Clock::time_point submitted = Clock::now();
  serve::SequenceRequest r;
  for (int64_t t = 0; t < long_prompt; ++t) r.prompt.push_back(id(rng));
  r.max_tokens = 1;
  r.sampling.temperature = 0;
  r.stop_at_eot = false;
  r.on_done = [&](const serve::SequenceResult& res) {
    std::lock_guard lk2(mu);
    first_token = res.first_token_seconds;
    ++done;
    cv.notify_all();
  };
  lk.unlock();
  engine.submit(std::move(r));
  lk.lock();
  cv.wait(lk, [&] { return first_token >= 0; });
  const size_t after = min_tokens() + 2;  // the steps right after it too
  cv.wait(lk, [&] { return min_tokens() >= after; });
  Ttft out;
  out.first_token_seconds = first_token;
  std::vector<double> before;
  for (const auto& t : times) {
    for (size_t k = 1; k < t.size(); ++k) {
      if (t[k] <= submitted) before.push_back(seconds(t[k - 1], t[k]));
      else out.others_max_gap = std::max(out.others_max_gap, seconds(std::max(t[k - 1], submitted), t[k]));
    }
  }
  std::sort(before.begin(), before.end());
  out.others_median_gap = before.empty() ? 0 : before[before.size() / 2];
  flag->store(true);
  cv.wait(lk, [&] { return done == others + 1; });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  models::GPTConfig cfg;  // GPT-2 small by default
  int64_t prompt = 32, fresh = 32, concurrency = 32, prefill_chunk = serve::EngineOptions{}.prefill_chunk;
  int64_t ttft_prompt = 512, ttft_others = 16, rounds = 1;
  std::vector<int64_t> batches = {1, 8, 32}, ttft_chunks;
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
    else if (k == "--prefill-chunk") prefill_chunk = std::stoll(v);
    else if (k == "--ttft-chunks") ttft_chunks = parse_list(v);
    else if (k == "--ttft-prompt") ttft_prompt = std::stoll(v);
    else if (k == "--ttft-others") ttft_others = std::stoll(v);
    else if (k == "--rounds") rounds = std::stoll(v);
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
              << ", \"prefill_chunk\": " << prefill_chunk << ", \"tokens_per_second\": " << tps << "}" << std::endl;
  };
  auto tps = [&](int64_t conc, int64_t max_batch) {
    return serve::measure_tokens_per_second(model, tok, conc, prompt, fresh,
                                            {.max_batch = max_batch, .prefill_chunk = prefill_chunk});
  };
  serve::measure_tokens_per_second(model, tok, 1, prompt, 4, {.max_batch = 1});  // warm up (allocator, BLAS)
  for (int64_t r = 0; r < rounds; ++r) {
    for (int64_t b : batches) line("decode", b, b, tps(b, b));
    if (concurrency > 0)
      for (int64_t mb : {int64_t{1}, concurrency}) line("concurrency", concurrency, mb, tps(concurrency, mb));
    for (int64_t chunk : ttft_chunks) {  // alternated within each round
      Ttft t = measure_ttft(model, tok, ttft_others, ttft_prompt, chunk);
      std::cout << "{\"bench\": \"ttft\", \"layers\": " << cfg.n_layer << ", \"embd\": " << cfg.n_embd
                << ", \"threads\": " << threads << ", \"long_prompt\": " << ttft_prompt
                << ", \"others\": " << ttft_others << ", \"prefill_chunk\": " << chunk
                << ", \"first_token_seconds\": " << t.first_token_seconds
                << ", \"others_max_gap_seconds\": " << t.others_max_gap
                << ", \"others_median_gap_seconds\": " << t.others_median_gap << "}" << std::endl;
    }
  }
  return 0;
}
