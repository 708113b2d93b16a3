// GPT-2 byte-level BPE against independent references: llama.cpp's tokenizer
// test vectors, the npm gpt-3-encoder vectors, and (TokenizerGolden.*) a golden
// file written by tiktoken / HF tokenizers (tests/text/gen_tokenizer_golden.py,
// path in $TESSERA_TOKENIZER_GOLDEN; skipped when unset). Also lossless
// round trips on random bytes and GPT-2 -> tokenizer.json -> reload, and
// parallel encoding (encode_parallel / encode_batch) equal to serial encoding.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include <unistd.h>

#include "tessera/core/parallel.h"
#include "tessera/text/bpe.h"
#include "test_util.h"

using namespace tessera;
using namespace tessera::text;
namespace fs = std::filesystem;

namespace {

fs::path shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data";
}
fs::path gpt2_dir() { return shared_data() / "gpt2-tokenizer"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One GPT-2 tokenizer for the whole file (loading takes ~0.2 s).
const Tokenizer* gpt2() {
  static std::unique_ptr<Tokenizer> tok = [] {
    return fs::exists(gpt2_dir() / "encoder.json") ? load_tokenizer(gpt2_dir().string()) : nullptr;
  }();
  return tok.get();
}

// Sets the thread count for one test and restores the previous one.
struct ThreadsGuard {
  int saved = get_num_threads();
  explicit ThreadsGuard(int n) { set_num_threads(n); }
  ~ThreadsGuard() { set_num_threads(saved); }
};

#define REQUIRE_GPT2()                                                                     \
  if (gpt2() == nullptr) GTEST_SKIP() << gpt2_dir() << " not found (set TESSERA_SHARED_DATA)"

}  // namespace

TEST(Gpt2Bpe, MatchesLlamaCppVectors) {
  REQUIRE_GPT2();
  fs::path base = shared_data() / "models" / "llama.cpp-vocab" / "ggml-vocab-gpt-2.gguf";
  std::string inp = slurp(base.string() + ".inp"), out = slurp(base.string() + ".out");
  ASSERT_FALSE(inp.empty());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t from = 0; from < inp.size();) {
    size_t p = inp.find(sep, from);
    if (p == std::string::npos) p = inp.size();
    texts.push_back(inp.substr(from, p - from));
    from = p + sep.size();
  }
  std::vector<std::vector<int32_t>> expected;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    expected.emplace_back();
    for (int32_t id; ids >> id;) expected.back().push_back(id);
  }
  ASSERT_EQ(texts.size(), expected.size());
  ASSERT_GE(texts.size(), 40u);
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(gpt2()->encode(texts[i]), expected[i]) << "case " << i << ": '" << texts[i] << "'";
    EXPECT_EQ(gpt2()->decode(expected[i]), texts[i]);
  }
}

TEST(Gpt2Bpe, MatchesGpt3EncoderVectors) {
  REQUIRE_GPT2();
  auto j = nlohmann::json::parse(slurp(gpt2_dir() / "test_vectors.json"));
  ASSERT_GT(j["cases"].size(), 3u);
  for (const auto& c : j["cases"]) {
    std::string text = c["text"];
    // gpt-3-encoder has no special tokens: "<|endoftext|>" is plain text there.
    EXPECT_EQ(gpt2()->encode(text, false), c["ids"].get<std::vector<int32_t>>()) << text;
  }
}

TEST(Gpt2Bpe, SpecialTokenAndBasics) {
  REQUIRE_GPT2();
  EXPECT_EQ(gpt2()->vocab_size(), 50257);
  EXPECT_EQ(gpt2()->eot_id(), 50256);
  EXPECT_EQ(gpt2()->kind(), "bpe");
  EXPECT_EQ(gpt2()->encode("Hello world<|endoftext|>Hi"), (std::vector<int32_t>{15496, 995, 50256, 17250}));
  EXPECT_EQ(gpt2()->encode("<|endoftext|>", false), (std::vector<int32_t>{27, 91, 437, 1659, 5239, 91, 29}));
  EXPECT_EQ(gpt2()->token_bytes(995), " world");
  EXPECT_EQ(gpt2()->decode({50256}), "<|endoftext|>");
  test_util::expect_error<IndexError>([] { gpt2()->decode({50257}); }, "50257");
}

TEST(Gpt2Bpe, DecodeInvertsEncodeOnRandomBytes) {
  REQUIRE_GPT2();
  std::mt19937 rng(11);
  const std::vector<std::string> parts = {"a", " the", "\n", "  ", "\t", "'s", "é", "東", "😀", "<|endoftext|>", "12",
                                          std::string(1, '\0'), "\xFF", "\x80", "\xE2\x82", "\xF0\x9F"};
  for (int t = 0; t < 300; ++t) {
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i)
      s += rng() % 3 == 0 ? std::string(1, static_cast<char>(rng() % 256)) : parts[rng() % parts.size()];
    EXPECT_EQ(gpt2()->decode(gpt2()->encode(s)), s);
    EXPECT_EQ(gpt2()->decode(gpt2()->encode(s, false)), s);
  }
  // A long piece (one 20 KB "word") takes the heap path and must agree with short ones.
  std::string word(20000, 'a');
  auto ids = gpt2()->encode(word);
  EXPECT_EQ(gpt2()->decode(ids), word);
  std::string shorter(40, 'a');
  auto short_ids = gpt2()->encode(shorter);
  ASSERT_GE(ids.size(), short_ids.size());
  // 40 a's split into the same tokens as the start of the long run (both are "aaaa..." merged greedily by rank).
  std::string prefix;
  for (auto id : ids) {
    prefix += gpt2()->token_bytes(id);
    if (prefix.size() >= 40) break;
  }
  EXPECT_EQ(prefix.substr(0, 40), shorter);
}

TEST(Gpt2Bpe, SavedAsTokenizerJsonReloadsIdentically) {
  REQUIRE_GPT2();
  fs::path dir = fs::temp_directory_path() / ("tessera_gpt2_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  gpt2()->save((dir / "tokenizer.json").string());
  auto loaded = load_tokenizer(dir.string());
  EXPECT_EQ(loaded->vocab_size(), 50257);
  EXPECT_EQ(loaded->eot_id(), 50256);
  std::string text = slurp(shared_data() / "tinyshakespeare" / "input.txt").substr(0, 20000) +
                     "<|endoftext|> 東京 😀 \xFF\x00 it's   done\n\n\n";
  EXPECT_EQ(loaded->encode(text), gpt2()->encode(text));
  fs::remove_all(dir);
}

// Every safe split point ends a pre-token, and the text after it pre-tokenizes
// exactly as it does inside the whole text: the property encode_parallel needs.
TEST(Gpt2Bpe, SafeSplitPointsArePretokenBoundaries) {
  std::mt19937 rng(5);
  const std::vector<std::string> parts = {"a", "Ab", " the", "\n", "\n\n", "  ", "\t", "'s", "'", "é", "東", "😀",
                                          "12", ".", "!?", "\r\n", " ", "\xC2\xA0", "\xE3\x80\x80", "\xFF", "x"};
  int checked = 0;
  for (int t = 0; t < 1500; ++t) {
    std::string s;
    int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) s += parts[rng() % parts.size()];
    auto pieces = gpt2_pretokenize(s);
    std::vector<size_t> bounds;
    size_t at = 0;
    for (auto p : pieces) bounds.push_back(at += p.size());
    for (size_t p = 1; p < s.size(); ++p) {
      if (!bpe_safe_split(s, p)) continue;
      ++checked;
      EXPECT_NE(std::find(bounds.begin(), bounds.end(), p), bounds.end()) << "'" << s << "' at " << p;
      auto tail = gpt2_pretokenize(std::string_view(s).substr(p));
      auto k = static_cast<size_t>(std::find(bounds.begin(), bounds.end(), p) - bounds.begin()) + 1;
      std::vector<std::string_view> expect(pieces.begin() + static_cast<std::ptrdiff_t>(std::min(k, pieces.size())),
                                           pieces.end());
      EXPECT_EQ(tail, expect) << "'" << s << "' at " << p;
      auto head = gpt2_pretokenize(std::string_view(s).substr(0, p));
      std::vector<std::string_view> expect_head(pieces.begin(),
                                                pieces.begin() + static_cast<std::ptrdiff_t>(std::min(k, pieces.size())));
      EXPECT_EQ(head, expect_head) << "'" << s << "' at " << p;
    }
  }
  EXPECT_GT(checked, 500);
}

TEST(Gpt2Bpe, ParallelEncodeEqualsSerial) {
  REQUIRE_GPT2();
  auto* bpe = dynamic_cast<const ByteLevelBPE*>(gpt2());
  ASSERT_NE(bpe, nullptr);
  std::string text = slurp(shared_data() / "tinyshakespeare" / "input.txt").substr(0, 200000);
  std::mt19937 rng(3);
  const std::vector<std::string> parts = {"a", " the", "\n", "\nX", "  ", "\t", "'s", "é", "東", "😀",
                                          "<|endoftext|>", "12", "\xFF", " x", "!"};
  std::vector<std::string> randoms;
  for (int t = 0; t < 50; ++t) {
    std::string s;
    for (int i = 0, n = static_cast<int>(rng() % 400); i < n; ++i) s += parts[rng() % parts.size()];
    randoms.push_back(s);
  }
  ThreadsGuard guard(1);
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (bool special : {true, false}) {
      auto serial = bpe->encode(text, special);
      EXPECT_EQ(bpe->encode_parallel(text, special), serial) << threads << " threads";
      EXPECT_EQ(bpe->encode_parallel(text, special, 100), serial) << threads << " threads, 100-byte chunks";
      for (const auto& s : randoms)
        EXPECT_EQ(bpe->encode_parallel(s, special, 16), bpe->encode(s, special)) << "'" << s << "'";
    }
    std::vector<std::string_view> views(randoms.begin(), randoms.end());
    auto batch = bpe->encode_batch(views);
    ASSERT_EQ(batch.size(), randoms.size());
    for (size_t i = 0; i < randoms.size(); ++i) EXPECT_EQ(batch[i], bpe->encode(randoms[i]));
  }
}

TEST(Gpt2Bpe, EncodeThroughput) {
  REQUIRE_GPT2();
  std::string text = slurp(shared_data() / "tinyshakespeare" / "input.txt");
  if (text.empty()) GTEST_SKIP() << "tinyshakespeare not found";
  auto t0 = std::chrono::steady_clock::now();
  auto ids = gpt2()->encode(text);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ tessera ] GPT-2 encode: " << text.size() / 1e6 / s << " MB/s (" << ids.size() << " tokens, "
            << s << " s)\n";
  EXPECT_EQ(gpt2()->decode(ids), text);
  EXPECT_EQ(ids.size(), 338025u);  // tiktoken's count for the whole file
}

// --- golden file from tiktoken / HF tokenizers -----------------------------

namespace {
const char* golden_path() { return std::getenv("TESSERA_TOKENIZER_GOLDEN"); }
nlohmann::json golden() {
  return nlohmann::json::parse(slurp(golden_path()));
}
#define REQUIRE_GOLDEN()                                                                            \
  if (golden_path() == nullptr) GTEST_SKIP() << "TESSERA_TOKENIZER_GOLDEN not set (ctest tokenizer_parity sets it)"
}  // namespace

TEST(TokenizerGolden, Gpt2MatchesTiktoken) {
  REQUIRE_GOLDEN();
  REQUIRE_GPT2();
  auto g = golden();
  ASSERT_GT(g["tiktoken"].size(), 20u);
  size_t bytes = 0;
  for (const auto& c : g["tiktoken"]) {
    std::string text = c["text"];
    bytes += text.size();
    EXPECT_EQ(gpt2()->encode(text, c["allow_special"].get<bool>()), c["ids"].get<std::vector<int32_t>>())
        << "text: '" << text.substr(0, 80) << "'";
  }
  EXPECT_GT(bytes, 15000u);
}

namespace {
std::vector<int32_t> read_ids(const std::string& path) {
  std::string raw = slurp(path);
  std::vector<int32_t> ids(raw.size() / 4);
  for (size_t i = 0; i < ids.size(); ++i) {  // int32 little-endian
    uint32_t v = 0;
    for (int b = 3; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(raw[i * 4 + static_cast<size_t>(b)]);
    ids[i] = static_cast<int32_t>(v);
  }
  return ids;
}
// Index of the first difference (for readable failures of 300k-id comparisons).
size_t first_diff(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}
}  // namespace

TEST(TokenizerGolden, WholeShakespeareMatchesTiktoken) {
  REQUIRE_GOLDEN();
  REQUIRE_GPT2();
  auto g = golden();
  ASSERT_TRUE(g.contains("whole"));
  std::string text = slurp(g["whole"]["text_file"].get<std::string>());
  auto expected = read_ids(g["whole"]["ids_file"].get<std::string>());
  ASSERT_EQ(expected.size(), g["whole"]["count"].get<size_t>());
  ASSERT_EQ(expected.size(), 338025u);
  auto ids = gpt2()->encode(text);
  EXPECT_EQ(ids.size(), expected.size());
  EXPECT_TRUE(ids == expected) << "first difference at id " << first_diff(ids, expected);
  ThreadsGuard threads(2);
  auto par = gpt2()->encode_parallel(text);
  EXPECT_TRUE(par == expected) << "parallel: first difference at id " << first_diff(par, expected);
}

TEST(TokenizerGolden, MixedTextMatchesTiktoken) {
  REQUIRE_GOLDEN();
  REQUIRE_GPT2();
  auto g = golden();
  ASSERT_TRUE(g.contains("mixed"));
  std::string text = g["mixed"]["text"];
  auto expected = g["mixed"]["ids"].get<std::vector<int32_t>>();
  ASSERT_GT(text.size(), 90000u);
  auto ids = gpt2()->encode(text, false);
  EXPECT_TRUE(ids == expected) << "first difference at id " << first_diff(ids, expected) << " of "
                               << expected.size();
  ThreadsGuard threads(2);
  auto* bpe = dynamic_cast<const ByteLevelBPE*>(gpt2());
  ASSERT_NE(bpe, nullptr);
  auto par = bpe->encode_parallel(text, false, 256);  // many small chunks
  EXPECT_TRUE(par == expected) << "parallel: first difference at id " << first_diff(par, expected);
}

// Issue acceptance: a BPE trained by Tessera and one trained by HF tokenizers
// on the same corpus and vocabulary size give token counts within 1%.
TEST(TokenizerGolden, TrainedBpeCompressesLikeHf) {
  REQUIRE_GOLDEN();
  auto g = golden();
  if (!g.contains("hf_train")) GTEST_SKIP() << "golden file has no HF training section";
  const auto& h = g["hf_train"];
  std::string corpus = slurp(h["corpus_file"].get<std::string>());
  std::string heldout = h["heldout_file"].get<std::string>().empty() ? "" : slurp(h["heldout_file"].get<std::string>());
  ASSERT_FALSE(corpus.empty());
  ASSERT_GE(h["runs"].size(), 1u);
  ThreadsGuard threads(2);
  for (const auto& r : h["runs"]) {
    auto tok = load_tokenizer(r["tessera_file"].get<std::string>());
    EXPECT_EQ(tok->vocab_size(), r["vocab_size"].get<int64_t>());
    EXPECT_EQ(r["hf_vocab_size"].get<int64_t>(), r["vocab_size"].get<int64_t>());
    auto check = [&](const std::string& text, int64_t hf_count, const char* what) {
      auto ours = static_cast<int64_t>(tok->encode_parallel(text).size());
      double rel = static_cast<double>(ours - hf_count) / static_cast<double>(hf_count);
      std::cout << "[ tessera ] vocab " << r["vocab_size"] << " " << what << ": tessera " << ours << " tokens, HF "
                << hf_count << " (" << rel * 100 << "%)\n";
      EXPECT_LT(std::abs(rel), 0.01) << what << " at vocab " << r["vocab_size"];
    };
    check(corpus, r["hf_corpus_tokens"].get<int64_t>(), "corpus");
    if (!heldout.empty()) check(heldout, r["hf_heldout_tokens"].get<int64_t>(), "held-out");
  }
}

TEST(TokenizerGolden, HfLoadsOurTrainedFile) {
  REQUIRE_GOLDEN();
  auto g = golden();
  if (!g.contains("hf_trained")) GTEST_SKIP() << "golden file has no HF section";
  auto tok = load_tokenizer(g["hf_trained"]["tokenizer"].get<std::string>());
  ASSERT_GT(g["hf_trained"]["cases"].size(), 3u);
  for (const auto& c : g["hf_trained"]["cases"]) {
    std::string text = c["text"];
    EXPECT_EQ(tok->encode(text), c["ids"].get<std::vector<int32_t>>()) << text.substr(0, 80);
  }
}
