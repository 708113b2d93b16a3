// The tokenizers GGUF files carry (tessera/text/gguf_vocab.h): llama.cpp's own
// test vectors for its GPT-2 and LLaMA SentencePiece vocabularies
// (../shared/data/models/llama.cpp-vocab, read with the test-only metadata
// reader; skipped when the data is missing), the same ids as GPT-2's
// encoder.json + vocab.bpe, SentencePiece's merge order, byte fallback,
// specials, BOS, decoding, save/reload, and the errors for bad vocabularies.
// A hand-made SentencePiece vocabulary covers the merge rules without the data.
// Whole files against llama.cpp itself: tests/text/llama_cpp_vocab_golden.json
// (written by gen_llama_cpp_vocab_golden.py with llama-cpp-python).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include <unistd.h>

#include "gguf_metadata_reader.h"
#include "tessera/core/error.h"
#include "tessera/text/bpe.h"
#include "tessera/text/gguf_vocab.h"
#include "tessera/text/sentencepiece_bpe.h"
#include "test_util.h"

using namespace tessera;
using namespace tessera::text;
using tessera::test_util::expect_error;
namespace fs = std::filesystem;

namespace {

fs::path shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data";
}
fs::path vocab_dir() { return shared_data() / "models" / "llama.cpp-vocab"; }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// llama.cpp's test-tokenizer-0 files: texts separated (and ended) by
// "\n__ggml_vocab_test__\n", one line of expected ids per text.
std::vector<Case> cases_of(const fs::path& gguf) {
  std::string inp = slurp(gguf.string() + ".inp"), out = slurp(gguf.string() + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t from = 0; from < inp.size();) {
    size_t p = inp.find(sep, from);
    if (p == std::string::npos) p = inp.size();
    cases.push_back({inp.substr(from, p - from), {}});
    from = p + sep.size();
  }
  std::istringstream lines(out);
  size_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    if (i >= cases.size()) throw std::runtime_error(gguf.string() + ".out has more lines than .inp has texts");
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) cases[i].ids.push_back(id);
  }
  if (i != cases.size()) throw std::runtime_error(gguf.string() + ": .inp and .out differ in length");
  return cases;
}

// One tokenizer per file for the whole test binary (building takes ~0.1-0.3 s).
const Tokenizer* from_file(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  fs::path p = vocab_dir() / name;
  std::unique_ptr<Tokenizer> tok;
  if (fs::exists(p)) tok = tokenizer_from_gguf_vocab(test_util::gguf_vocab_of(p.string()));
  return (cache[name] = std::move(tok)).get();
}

#define REQUIRE_VOCAB(name) \
  if (from_file(name) == nullptr) GTEST_SKIP() << vocab_dir() / name << " not found (set TESSERA_SHARED_DATA)"

void expect_vectors(const Tokenizer& tok, const std::string& name) {
  auto cases = cases_of(vocab_dir() / name);
  ASSERT_GE(cases.size(), 40u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    // add_special=false, parse_special=false: no BOS, specials as text.
    EXPECT_EQ(tok.encode(c.text, false), c.ids) << name << " case " << i << ": '" << c.text << "'";
    EXPECT_EQ(tok.decode(c.ids), c.text) << name << " case " << i;
  }
}

// A SentencePiece vocabulary small enough to reason about. Ids: 0 <unk>, 1 <s>,
// 2 </s>, 3.. the pieces given, then byte tokens for 'x' and 0xFF.
std::unique_ptr<SentencePieceBPE> tiny_spm(const std::vector<std::pair<std::string, float>>& pieces) {
  std::vector<std::string> p = {"<unk>", "<s>", "</s>"};
  std::vector<float> s = {0, 0, 0};
  std::vector<int32_t> t = {2, 3, 3};
  for (const auto& [piece, score] : pieces) p.push_back(piece), s.push_back(score), t.push_back(1);
  for (const char* b : {"<0x78>", "<0xFF>"}) p.push_back(b), s.push_back(0), t.push_back(6);
  SentencePieceBPE::Options o;
  o.bos = 1, o.eos = 2, o.unk = 0;
  return std::make_unique<SentencePieceBPE>(p, s, t, o, "tiny.gguf");
}

}  // namespace

TEST(GgufVocab, Gpt2ReproducesLlamaCppVectors) {
  REQUIRE_VOCAB("ggml-vocab-gpt-2.gguf");
  const Tokenizer& tok = *from_file("ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(tok.kind(), "bpe");
  EXPECT_EQ(tok.vocab_size(), 50257);
  EXPECT_EQ(tok.eot_id(), 50256);
  EXPECT_FALSE(tok.adds_bos());
  expect_vectors(tok, "ggml-vocab-gpt-2.gguf");
}

TEST(GgufVocab, Gpt2EqualsEncoderJsonTokenizer) {
  REQUIRE_VOCAB("ggml-vocab-gpt-2.gguf");
  fs::path dir = shared_data() / "gpt2-tokenizer";
  if (!fs::exists(dir / "encoder.json")) GTEST_SKIP() << dir << " not found";
  const Tokenizer& gguf = *from_file("ggml-vocab-gpt-2.gguf");
  auto files = load_tokenizer(dir.string());
  ASSERT_EQ(gguf.vocab_size(), files->vocab_size());
  for (int32_t id = 0; id < gguf.vocab_size(); ++id) ASSERT_EQ(gguf.token_bytes(id), files->token_bytes(id)) << id;
  const auto& a = dynamic_cast<const ByteLevelBPE&>(gguf);
  const auto& b = dynamic_cast<const ByteLevelBPE&>(*files);
  EXPECT_EQ(a.merges(), b.merges());
  EXPECT_EQ(a.specials(), b.specials());
  std::string text = slurp(vocab_dir() / "ggml-vocab-gpt-2.gguf.inp") + "<|endoftext|> \xff\xfe\x80 done";
  EXPECT_EQ(gguf.encode(text), files->encode(text));
  EXPECT_EQ(gguf.encode(text, false), files->encode(text, false));
}

TEST(GgufVocab, LlamaReproducesLlamaCppVectors) {
  REQUIRE_VOCAB("ggml-vocab-llama-spm.gguf");
  const Tokenizer& tok = *from_file("ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(tok.kind(), "spm");
  EXPECT_EQ(tok.vocab_size(), 32000);
  expect_vectors(tok, "ggml-vocab-llama-spm.gguf");
}

// FNV-1a 64 over the ids as 4 little-endian bytes each (the golden script's hash).
std::string fnv1a64(const std::vector<int32_t>& ids) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (int32_t id : ids)
    for (int k = 0; k < 4; ++k) h = (h ^ ((static_cast<uint32_t>(id) >> (8 * k)) & 0xFF)) * 0x100000001B3ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

TEST(GgufVocab, MatchesLlamaCppOnWholeFiles) {
  REQUIRE_VOCAB("ggml-vocab-llama-spm.gguf");
  REQUIRE_VOCAB("ggml-vocab-gpt-2.gguf");
  auto golden = nlohmann::json::parse(slurp(fs::path(TESSERA_TESTS_DIR) / "text" / "llama_cpp_vocab_golden.json"));
  ASSERT_EQ(golden["cases"].size(), 4u);
  for (const auto& c : golden["cases"]) {
    fs::path file = shared_data() / c["file"].get<std::string>();
    if (!fs::exists(file)) GTEST_SKIP() << file << " not found";
    // One text: the SentencePiece merge runs over the whole file at once in llama.cpp.
    std::vector<int32_t> ids = from_file(c["vocab"].get<std::string>())->encode(slurp(file), false);
    const std::string what = c["vocab"].get<std::string>() + " on " + file.string();
    EXPECT_EQ(static_cast<int64_t>(ids.size()), c["n_ids"].get<int64_t>()) << what;
    auto head = c["head"].get<std::vector<int32_t>>();
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), head.size()))), head) << what;
    EXPECT_EQ(fnv1a64(ids), c["fnv1a64"].get<std::string>()) << what;
  }
}

TEST(GgufVocab, LlamaSpecialsBosAndDecoding) {
  REQUIRE_VOCAB("ggml-vocab-llama-spm.gguf");
  const Tokenizer& tok = *from_file("ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_TRUE(tok.adds_bos());  // tokenizer.ggml.add_bos_token = true
  EXPECT_EQ(tok.eot_id(), 2);   // generation stops at </s>
  EXPECT_EQ(tok.special_id("<s>"), 1);
  EXPECT_EQ(tok.special_id("</s>"), 2);
  EXPECT_EQ(tok.special_id("<unk>"), 0);
  EXPECT_EQ(tok.special_id("Hello"), std::nullopt);
  // Specials in text: ids with allow_special (the text after one gets the
  // space prefix again, as in llama.cpp), plain text without.
  EXPECT_EQ(tok.encode("Hello</s>Hello"), (std::vector<int32_t>{15043, 2, 15043}));
  std::vector<int32_t> plain = tok.encode("Hello</s>", false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
  EXPECT_EQ(tok.decode(plain), "Hello</s>");
  // Decoding: control tokens show nothing, the leading space after BOS goes,
  // token_bytes keeps a token's own bytes (for streaming).
  EXPECT_EQ(tok.decode({1, 15043, 3186, 2}), "Hello world");
  EXPECT_EQ(tok.decode({15043, 3186}), "Hello world");
  EXPECT_EQ(tok.token_bytes(3186), " world");
  EXPECT_EQ(tok.token_bytes(15043), " Hello");
  EXPECT_EQ(tok.token_bytes(1), "<s>");
  EXPECT_EQ(tok.token_bytes(13), "\n");  // <0x0A>
  // Only the first piece's space is the prefix: " Hello" keeps one.
  EXPECT_EQ(tok.decode(tok.encode(" Hello")), " Hello");
  // "▁" in the text is SentencePiece's space: it decodes as ' ' (the one normalization).
  EXPECT_EQ(tok.decode(tok.encode("a\xE2\x96\x81" "b")), "a b");
  expect_error<IndexError>([&] { tok.decode({32000}); }, "32000");
  expect_error<IndexError>([&] { tok.token_bytes(-1); }, "-1");
}

TEST(GgufVocab, LlamaArbitraryBytesRoundTrip) {
  REQUIRE_VOCAB("ggml-vocab-llama-spm.gguf");
  const Tokenizer& tok = *from_file("ggml-vocab-llama-spm.gguf");
  std::string odd = std::string("a\0b", 3) + "\xff\xfe\x80 \xe2\x82 \xf0\x9f\x98 end\xc3";
  std::vector<int32_t> ids = tok.encode(odd);
  EXPECT_EQ(tok.decode(ids), odd);
  // Byte fallback: 0xFF is not a piece, so it is <0xFF> (id 3 + 0xFF).
  EXPECT_EQ(tok.encode("\xff", false), (std::vector<int32_t>{29871, 3 + 0xFF}));
}

TEST(GgufVocab, TinyRandomLlamaCarriesTheSameVocabulary) {
  fs::path p = shared_data() / "models" / "llama-2-tiny-random" / "llama-2-tiny-random.gguf";
  REQUIRE_VOCAB("ggml-vocab-llama-spm.gguf");
  if (!fs::exists(p)) GTEST_SKIP() << p << " not found";
  auto tok = tokenizer_from_gguf_vocab(test_util::gguf_vocab_of(p.string()));
  EXPECT_TRUE(tok->adds_bos());  // no add_bos_token key: llama's default
  for (const Case& c : cases_of(vocab_dir() / "ggml-vocab-llama-spm.gguf"))
    EXPECT_EQ(tok->encode(c.text, false), c.ids) << c.text;
}

TEST(GgufVocab, LlamaSavesAndReloads) {
  REQUIRE_VOCAB("ggml-vocab-llama-spm.gguf");
  const Tokenizer& tok = *from_file("ggml-vocab-llama-spm.gguf");
  fs::path path = fs::temp_directory_path() / ("tessera_spm_" + std::to_string(::getpid()) + ".json");
  tok.save(path.string());
  auto back = load_tokenizer(path.string());
  fs::remove(path);
  EXPECT_EQ(back->kind(), "spm");
  EXPECT_EQ(back->vocab_size(), tok.vocab_size());
  EXPECT_EQ(back->bos_id(), 1);
  EXPECT_TRUE(back->adds_bos());
  EXPECT_EQ(back->eot_id(), 2);
  for (const Case& c : cases_of(vocab_dir() / "ggml-vocab-llama-spm.gguf")) {
    EXPECT_EQ(back->encode(c.text, false), c.ids) << c.text;
    EXPECT_EQ(back->decode(c.ids), c.text);
  }
}

TEST(SentencePieceBpe, BadSavedFilesNameTheFile) {
  auto tok = tiny_spm({{"\xE2\x96\x81", 0}, {"a", 0}});
  fs::path path = fs::temp_directory_path() / ("tessera_spm_bad_" + std::to_string(::getpid()) + ".json");
  tok->save(path.string());
  auto saved = nlohmann::json::parse(slurp(path));
  EXPECT_EQ(load_tokenizer(path.string())->encode("a a"), tok->encode("a a"));
  auto write = [&](const nlohmann::json& j) { std::ofstream(path) << j.dump(); };
  auto j = saved;
  j["model"]["tessera"]["scores"].erase(0);
  write(j);
  expect_error<Error>([&] { load_tokenizer(path.string()); }, {path.string(), "model.tessera.scores", "6 entries for 7"});
  j = saved;
  j["model"]["tessera"]["types"][4] = 42;
  write(j);
  expect_error<Error>([&] { load_tokenizer(path.string()); }, {path.string(), "token 4", "type 42"});
  j = saved;
  j["model"]["vocab"]["a"] = 99;
  write(j);
  expect_error<Error>([&] { load_tokenizer(path.string()); }, {path.string(), "model.vocab['a']", "99"});
  j = saved;
  j["model"]["tessera"]["bos"] = "one";
  write(j);
  expect_error<Error>([&] { load_tokenizer(path.string()); }, {path.string(), "model.tessera.bos"});
  fs::remove(path);
}

TEST(SentencePieceBpe, HighestScoreFirstLeftmostOnTies) {
  // "ab" -> "▁ab": pairs "▁a" and "ab" compete.
  auto ab_wins = tiny_spm({{"\xE2\x96\x81", 0}, {"a", 0}, {"b", 0}, {"\xE2\x96\x81" "a", -2}, {"ab", -1}});
  EXPECT_EQ(ab_wins->encode("ab"), (std::vector<int32_t>{3, 7}));  // ▁ + ab
  auto tie = tiny_spm({{"\xE2\x96\x81", 0}, {"a", 0}, {"b", 0}, {"\xE2\x96\x81" "a", -1}, {"ab", -1}});
  EXPECT_EQ(tie->encode("ab"), (std::vector<int32_t>{6, 5}));  // ▁a (leftmost) + b
  // Merges continue on merged symbols: "▁ab" is reached through "▁a" + "b".
  auto chain = tiny_spm({{"\xE2\x96\x81", 0}, {"a", 0}, {"b", 0}, {"\xE2\x96\x81" "a", -1}, {"\xE2\x96\x81" "ab", -3}});
  EXPECT_EQ(chain->encode("ab"), (std::vector<int32_t>{7}));
  // Byte fallback: 'x' has only <0x78>; 'y' has nothing but <unk>.
  EXPECT_EQ(chain->encode("x", false), (std::vector<int32_t>{3, 8}));
  EXPECT_EQ(chain->encode("y"), (std::vector<int32_t>{3, 0}));
  EXPECT_EQ(chain->decode({3, 8}), "x");
  EXPECT_EQ(chain->encode(""), std::vector<int32_t>{});
}

TEST(SentencePieceBpe, PiecesAcrossWordsKeepTheWholeTextOneMergeProblem) {
  // "a▁" and "a▁b" span a word start, so words cannot be merged one by one:
  // "a b" -> "▁a▁b" must become ▁ + "a▁b" (ids 3, 7), as in llama.cpp.
  auto tok = tiny_spm({{"\xE2\x96\x81", 0}, {"a", 0}, {"b", 0}, {"a\xE2\x96\x81", -1}, {"a\xE2\x96\x81" "b", -2}});
  EXPECT_EQ(tok->encode("a b"), (std::vector<int32_t>{3, 7}));
  EXPECT_EQ(tok->decode({3, 7}), "a b");
  // Without such pieces the words merge independently (and repeat from the cache).
  auto words = tiny_spm({{"\xE2\x96\x81", 0}, {"a", 0}, {"b", 0}, {"\xE2\x96\x81" "a", -1}});
  EXPECT_EQ(words->encode("a a  b a"), (std::vector<int32_t>{6, 6, 3, 3, 5, 6}));
}

TEST(SentencePieceBpe, OptionsChangePrefixAndBos) {
  std::vector<std::string> p = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a"};
  SentencePieceBPE::Options o;
  o.unk = 0, o.bos = 1, o.eos = 2, o.add_space_prefix = false, o.add_bos = false;
  SentencePieceBPE tok(p, {}, {}, o, "opts.gguf");  // no scores / types: inferred
  EXPECT_EQ(tok.encode("a a"), (std::vector<int32_t>{4, 3, 4}));
  EXPECT_EQ(tok.decode({3, 4}), " a");  // nothing to strip without the prefix
  EXPECT_FALSE(tok.adds_bos());
  EXPECT_EQ(tok.special_id("<s>"), 1);  // inferred control
}

TEST(GgufVocab, BadVocabulariesNameTheFile) {
  GgufVocab v;
  v.origin = "bad.gguf";
  v.model = "llama";
  v.tokens = {"<unk>", "<s>", "</s>", "a"};
  v.scores = {0, 0, 0};
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "tokenizer.ggml.scores", "3", "4 tokens"});
  v.scores = {0, 0, 0, 0};
  v.token_types = {2, 3};
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "tokenizer.ggml.token_type"});
  v.token_types = {2, 3, 3, 9};
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "token 3", "type 9"});
  v.token_types = {2, 3, 3, 6};
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "byte token 3", "<0xAB>"});
  v.token_types = {};
  v.bos = 7;
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "bos_token_id 7"});
  v.bos = 1;
  v.model = "bert";
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "tokenizer.ggml.model 'bert'"});
  v.model = "";
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "tokenizer.ggml.model ''"});
  v.model = "llama";
  v.tokens.clear();
  v.scores.clear();
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(v); }, {"bad.gguf", "tokenizer.ggml.tokens"});
}

TEST(GgufVocab, BadGpt2VocabulariesNameTheFile) {
  REQUIRE_VOCAB("ggml-vocab-gpt-2.gguf");
  GgufVocab v = test_util::gguf_vocab_of((vocab_dir() / "ggml-vocab-gpt-2.gguf").string());
  GgufVocab no_merges = v;
  no_merges.merges.clear();
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(no_merges); }, {v.origin, "tokenizer.ggml.merges", "missing"});
  GgufVocab bad_merge = v;
  bad_merge.merges[5] = "Ġt zzzq";
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(bad_merge); }, {v.origin, "tokenizer.ggml.merges[5]", "zzzq"});
  GgufVocab other_pre = v;
  other_pre.pre = "llama-bpe";
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(other_pre); }, {v.origin, "tokenizer.ggml.pre 'llama-bpe'"});
  GgufVocab bad_spelling = v;
  bad_spelling.tokens[10] = "two words";  // ' ' is not in the byte-level alphabet
  expect_error<Error>([&] { tokenizer_from_gguf_vocab(bad_spelling); }, {v.origin, "tokenizer.ggml.tokens[10]"});
  // The bge vocabulary is BERT's WordPiece: not a GGUF tokenizer this build reads.
  fs::path bge = vocab_dir() / "ggml-vocab-bert-bge.gguf";
  if (fs::exists(bge))
    expect_error<Error>([&] { tokenizer_from_gguf_vocab(test_util::gguf_vocab_of(bge.string())); },
                        {bge.string(), "'bert'"});
}
