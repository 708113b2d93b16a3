// One generating request's life (serve/job.h) against a real Engine and a
// recording Meter: how each ending is charged, that it is charged once, and
// that the whole response is built before (and stored by) the settlement.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serve/job.h"
#include "tessera/text/char_tokenizer.h"

using namespace tessera;
using namespace tessera::serve;
using nlohmann::json;

namespace {

struct Settled {
  int64_t prompt = 0, completion = 0;
  std::string status, response_json;
};

// Records every settle(); reserve() is the Service's business, not the Job's.
class RecordingMeter : public Meter {
 public:
  billing::Admission reserve(const billing::KeyInfo&, const std::string&, const std::string&, int64_t, int64_t,
                             const std::string&, int64_t) override {
    ADD_FAILURE() << "a Job never reserves";
    return {};
  }
  void settle(const billing::Reservation& r, int64_t prompt, int64_t completion, const std::string& status,
              const std::string& response_json) override {
    EXPECT_EQ(r.request_id, "cmpl-test");
    settled.push_back({prompt, completion, status, response_json});
  }
  std::vector<Settled> settled;
};

std::shared_ptr<const text::CharTokenizer> char_tokenizer() {
  std::string corpus = "\n";
  for (char c = 32; c < 127; ++c) corpus += c;
  return std::make_shared<text::CharTokenizer>(text::CharTokenizer::from_corpus({corpus}, {"<|endoftext|>"}));
}

std::shared_ptr<models::GPT> tiny_gpt(int64_t vocab) {
  models::GPTConfig c;
  c.vocab_size = vocab;
  c.block_size = 64;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_embd = 32;
  return std::make_shared<models::GPT>(c, 3);
}

struct Fixture {
  std::shared_ptr<const text::CharTokenizer> tok = char_tokenizer();
  RecordingMeter meter;
  std::unique_ptr<Engine> engine;
  explicit Fixture(EngineOptions o = {.threads = 1})
      : engine(std::make_unique<Engine>(tiny_gpt(tok->vocab_size()), tok, o)) {}

  std::shared_ptr<Job> job(int64_t choices, int64_t prompt_tokens) {
    CompletionInfo info;
    info.id = "cmpl-test";
    info.model = "tiny";
    info.created = 1700000000;
    info.prompt_tokens = prompt_tokens;
    info.choices = choices;
    auto j = std::make_shared<Job>(meter, info);
    billing::Reservation r;
    r.request_id = info.id;
    j->set_reservation(r);
    return j;
  }
  SequenceRequest choice(const std::string& prompt, int64_t max_tokens) const {
    SequenceRequest s;
    s.prompt = tok->encode(prompt, true);
    s.max_tokens = max_tokens;
    s.sampling.temperature = 0;
    s.stop_at_eot = false;
    return s;
  }
};

void wait_all(Job& job) {
  while (!job.all_done()) job.take_events(std::chrono::milliseconds(50));
}

}  // namespace

TEST(ServeJob, CompletedChargesPromptOncePlusEveryChoiceAndStoresTheResponse) {
  Fixture f;
  auto job = f.job(3, 5);
  ASSERT_TRUE(job->submit(*f.engine, f.choice("Hello", 6)));
  wait_all(*job);
  EXPECT_TRUE(f.meter.settled.empty()) << "nothing is charged before finish()";
  EXPECT_FALSE(job->finish().has_value());
  ASSERT_EQ(f.meter.settled.size(), 1u);
  const Settled& s = f.meter.settled[0];
  EXPECT_EQ(s.status, "completed");
  EXPECT_EQ(s.prompt, 5) << "the prompt once, as OpenAI, for n = 3";
  EXPECT_EQ(s.completion, 3 * 6);
  EXPECT_EQ(s.response_json, job->response_text()) << "what an Idempotency-Key replays is what was sent";
  json r = json::parse(job->response_text());
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["id"], "cmpl-test");
  ASSERT_EQ(r["choices"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r["choices"][i]["index"], i);
    EXPECT_EQ(r["choices"][i]["finish_reason"], "length");
    EXPECT_EQ(r["choices"][i]["text"], job->results()[i].text);
  }
  EXPECT_EQ(r["usage"], json({{"prompt_tokens", 5}, {"completion_tokens", 18}, {"total_tokens", 23}}));
  // The request has ended: a later hang-up charges nothing more.
  EXPECT_TRUE(job->ended());
  job->abandon();
  EXPECT_EQ(f.meter.settled.size(), 1u);
}

TEST(ServeJob, ClientGoneIsCancelledAndChargedWhatWasGenerated) {
  Fixture f;
  auto job = f.job(2, 5);
  ASSERT_TRUE(job->submit(*f.engine, f.choice("Hello", 50)));
  job->take_events(std::chrono::milliseconds(20));
  job->abandon();
  ASSERT_EQ(f.meter.settled.size(), 1u);
  const Settled& s = f.meter.settled[0];
  EXPECT_EQ(s.status, "cancelled");
  int64_t generated = 0;
  for (const auto& r : job->results()) generated += r.completion_tokens;
  EXPECT_EQ(s.completion, generated);
  EXPECT_EQ(s.prompt, generated > 0 ? 5 : 0) << "the prompt is charged when a choice was prefilled";
  EXPECT_TRUE(s.response_json.empty());
  EXPECT_TRUE(job->all_done()) << "abandon waits for every choice";
  job->abandon();
  EXPECT_EQ(f.meter.settled.size(), 1u) << "charged once";
}

TEST(ServeJob, EngineErrorFailsAndChargesNothing) {
  Fixture f;
  auto job = f.job(2, 3);
  SequenceRequest bad = f.choice("Hey", 4);
  bad.prompt[1] = 500;  // outside the model's vocabulary: the engine fails the sequence
  ASSERT_TRUE(job->submit(*f.engine, bad));
  wait_all(*job);
  std::optional<api::ApiError> error = job->finish();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->status, 500);
  EXPECT_EQ(error->type, "server_error");
  EXPECT_NE(std::string(error->what()).find("generation failed: "), std::string::npos) << error->what();
  ASSERT_EQ(f.meter.settled.size(), 1u);
  EXPECT_EQ(f.meter.settled[0].status, "failed");
  EXPECT_EQ(f.meter.settled[0].prompt, 0);
  EXPECT_EQ(f.meter.settled[0].completion, 0);
}

TEST(ServeJob, RefusedChoiceStopsTheOthersAndFails) {
  // One running slot and one waiting: 8 long choices cannot all be queued.
  Fixture f({.max_batch = 1, .max_queue = 1, .threads = 1});
  auto job = f.job(8, 5);
  EXPECT_FALSE(job->submit(*f.engine, f.choice("Hello", 50)));
  job->stop(Ending::failed);
  EXPECT_TRUE(job->all_done()) << "the choices already queued were cancelled and waited for";
  ASSERT_EQ(f.meter.settled.size(), 1u);
  EXPECT_EQ(f.meter.settled[0].status, "failed");
  EXPECT_EQ(f.meter.settled[0].prompt, 0);
  EXPECT_EQ(f.meter.settled[0].completion, 0);
}

TEST(ServeJob, CancelledBeforePrefillIsFree) {
  // One running slot, held by a long choice of another request: this job's
  // choice is still waiting when its client goes, so nothing was computed.
  Fixture f({.max_batch = 1, .max_queue = 4, .threads = 1});
  auto busy = f.job(1, 1);
  ASSERT_TRUE(busy->submit(*f.engine, f.choice("B", 60)));
  auto job = f.job(1, 5);
  ASSERT_TRUE(job->submit(*f.engine, f.choice("Hello", 8)));
  job->abandon();
  ASSERT_EQ(f.meter.settled.size(), 1u);
  EXPECT_EQ(f.meter.settled[0].status, "cancelled");
  EXPECT_EQ(f.meter.settled[0].completion, 0);
  EXPECT_EQ(f.meter.settled[0].prompt, 0) << "no choice was prefilled: the prompt is not charged";
  busy->abandon();
}
