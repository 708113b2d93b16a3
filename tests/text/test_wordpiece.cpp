// BERT WordPiece: hand-checked cases on a tiny vocabulary (WordPiece.*), and
// (WordPieceGolden.*) ids from transformers' BertTokenizerFast / BertTokenizer
// for the all-MiniLM-L6-v2 vocabulary, written by
// tests/text/gen_wordpiece_golden.py (path in $TESSERA_WORDPIECE_GOLDEN; ctest
// wordpiece_parity sets it; skipped when unset or when the MiniLM package is
// not installed).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <unistd.h>

#include "tessera/core/error.h"
#include "tessera/text/wordpiece.h"
#include "test_util.h"
#include "text/bert_normalizer.h"

using namespace tessera;
using namespace tessera::text;
using tessera::test_util::has;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> tiny_vocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", "world", ",", "!", ".",
          "a",     "##a",   "cafe",  "中",    "文",     "b",  "[",      "]",    "mask", "'",     "t",  "don", "##s",
          "Hello", "e",     "ı",     "i"};
}

int32_t id(const std::string& tok) {
  auto v = tiny_vocab();
  return static_cast<int32_t>(std::find(v.begin(), v.end(), tok) - v.begin());
}

std::vector<int32_t> ids(std::initializer_list<const char*> toks) {
  std::vector<int32_t> out;
  for (const char* t : toks) out.push_back(id(t));
  return out;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("tessera_wp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::string vocab_txt(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) s += t + "\n";
  return s;
}

}  // namespace

// Steps 2-6 alone (text/bert_normalizer.h): the words WordPiece is given.
std::vector<std::string> bert_words(std::string_view text, bool lowercase = true, bool strip = true, bool cjk = true) {
  std::vector<std::string> words;
  text::detail::BertNormalizer(lowercase, strip, cjk).split_words(text, [&](std::string_view w) {
    EXPECT_FALSE(w.empty());
    words.emplace_back(w);
  });
  return words;
}

TEST(BertNormalizer, SplitsIntoNormalizedWords) {
  using W = std::vector<std::string>;
  // Lowercase, accents stripped (NFD, Mn dropped), punctuation and spaces split.
  EXPECT_EQ(bert_words("H\xC3\xA9llo, WORLD!  x"), (W{"hello", ",", "world", "!", "x"}));
  EXPECT_EQ(bert_words("H\xC3\xA9llo", false, false), (W{"H\xC3\xA9llo"}));
  EXPECT_EQ(bert_words("H\xC3\xA9llo", true, false), (W{"h\xC3\xA9llo"}));
  // U+0130: accents first (I + U+0307 -> I), then lowercase.
  EXPECT_EQ(bert_words("\xC4\xB0"), (W{"i"}));
  // CJK ideographs are words of their own (BMP and the supplementary planes) unless switched off.
  EXPECT_EQ(bert_words("ab\xE4\xB8\xAD\xE6\x96\x87" "cd"), (W{"ab", "\xE4\xB8\xAD", "\xE6\x96\x87", "cd"}));
  EXPECT_EQ(bert_words("a\xF0\xA0\x80\x80" "b"), (W{"a", "\xF0\xA0\x80\x80", "b"}));
  EXPECT_EQ(bert_words("ab\xE4\xB8\xAD" "cd", true, true, false), (W{"ab\xE4\xB8\xAD" "cd"}));
  // Cleaning: NUL, controls and invalid bytes vanish; \t \n \r split words.
  EXPECT_EQ(bert_words(std::string("a\0b\x01" "c\td\xFF" "e\r\nf", 12)), (W{"abc", "de", "f"}));
  // Outside the BMP without a table entry: an emoji joins its word.
  EXPECT_EQ(bert_words("x\xF0\x9F\x98\x80y"), (W{"x\xF0\x9F\x98\x80y"}));
  EXPECT_TRUE(bert_words(" \t\n").empty());
}

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  WordPieceTokenizer tok(tiny_vocab());
  EXPECT_EQ(tok.encode("unaffable"), ids({"un", "##aff", "##able"}));
  EXPECT_EQ(tok.encode("UnAffABLE hello"), ids({"un", "##aff", "##able", "hello"}));
  EXPECT_EQ(tok.encode("aaa"), ids({"a", "##a", "##a"}));
  // One piece missing -> the whole word is [UNK], neighbours unaffected.
  EXPECT_EQ(tok.encode("hello unaffablex world"), ids({"hello", "[UNK]", "world"}));
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{});
  EXPECT_EQ(tok.encode(" \t\n "), std::vector<int32_t>{});
}

TEST(WordPiece, PunctuationWhitespaceAndCase) {
  WordPieceTokenizer tok(tiny_vocab());
  EXPECT_EQ(tok.encode("Hello, World!"), ids({"hello", ",", "world", "!"}));
  EXPECT_EQ(tok.encode("hello\tworld\r\nhello\u3000world"), ids({"hello", "world", "hello", "world"}));
  EXPECT_EQ(tok.encode("don't"), ids({"don", "'", "t"}));
  EXPECT_EQ(tok.encode("hello...world"), ids({"hello", ".", ".", ".", "world"}));
  // Accents: NFD, then nonspacing marks dropped (precomposed and combining alike).
  EXPECT_EQ(tok.encode("Café cafe\u0301 CAFÉ"), ids({"cafe", "cafe", "cafe"}));
  // U+0130 lowercases to i + U+0307 and the dot is stripped; dotless i stays.
  EXPECT_EQ(tok.encode("\u0130 \u0131"), ids({"i", "ı"}));
  // Cased: no lowercasing, and accents stay (strip_accents follows lowercase).
  WordPieceOptions cased;
  cased.lowercase = false;
  WordPieceTokenizer tc(tiny_vocab(), cased);
  EXPECT_EQ(tc.encode("Hello hello Café"), ids({"Hello", "hello", "[UNK]"}));
  cased.strip_accents = true;
  EXPECT_EQ(WordPieceTokenizer(tiny_vocab(), cased).encode("cafés"), ids({"cafe", "##s"}));
}

TEST(WordPiece, ChineseCharactersAreWords) {
  WordPieceTokenizer tok(tiny_vocab());
  EXPECT_EQ(tok.encode("a中文b"), ids({"a", "中", "文", "b"}));
  WordPieceOptions o;
  o.tokenize_chinese_chars = false;
  EXPECT_EQ(WordPieceTokenizer(tiny_vocab(), o).encode("a中文b"), ids({"[UNK]"}));
}

TEST(WordPiece, CleansControlsNulAndInvalidUtf8) {
  WordPieceTokenizer tok(tiny_vocab());
  // Controls, NUL, U+FFFD, zero-width (Cf) characters vanish without splitting the word.
  EXPECT_EQ(tok.encode(std::string("hel\x01lo wor\0ld", 13)), ids({"hello", "world"}));
  EXPECT_EQ(tok.encode("hel\u200blo wo\ufffdrld"), ids({"hello", "world"}));
  // Invalid bytes read as U+FFFD, which is dropped: stray continuation, bad lead, truncated sequence.
  EXPECT_EQ(tok.encode("hel\x80lo w\xfforld"), ids({"hello", "world"}));
  EXPECT_EQ(tok.encode("hello \xe4\xb8"), ids({"hello"}));
  EXPECT_EQ(tok.encode("\xed\xa0\x80hello"), ids({"hello"}));  // a UTF-8 encoded surrogate
}

TEST(WordPiece, LongWordsAreUnknown) {
  WordPieceTokenizer tok(tiny_vocab());
  auto a100 = tok.encode(std::string(100, 'a'));
  ASSERT_EQ(a100.size(), 100u);
  EXPECT_EQ(a100[0], id("a"));
  EXPECT_EQ(a100[99], id("##a"));
  EXPECT_EQ(tok.encode(std::string(101, 'a') + " a"), ids({"[UNK]", "a"}));
  WordPieceOptions o;
  o.max_input_chars_per_word = 3;
  EXPECT_EQ(WordPieceTokenizer(tiny_vocab(), o).encode("aaa aaaa"), ids({"a", "##a", "##a", "[UNK]"}));
  // Characters, not bytes: 3 two-byte characters fit.
  EXPECT_EQ(WordPieceTokenizer(tiny_vocab(), o).encode("ééé"), ids({"[UNK]"}));
}

TEST(WordPiece, SpecialTokens) {
  WordPieceTokenizer tok(tiny_vocab());
  EXPECT_EQ(tok.encode("hello [MASK] world"), ids({"hello", "[MASK]", "world"}));
  EXPECT_EQ(tok.encode("a[MASK]b[SEP]"), ids({"a", "[MASK]", "b", "[SEP]"}));
  EXPECT_EQ(tok.encode("[mask]"), ids({"[", "mask", "]"}));
  EXPECT_EQ(tok.encode("[MASK]", false), ids({"[", "mask", "]"}));
  EXPECT_EQ(tok.special_id("[CLS]"), id("[CLS]"));
  EXPECT_FALSE(tok.special_id("hello").has_value());
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.mask_id(), 4);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.kind(), "wordpiece");
  EXPECT_FALSE(tok.eot_id().has_value());
}

TEST(WordPiece, EncodeForModelTruncatesPieces) {
  WordPieceTokenizer tok(tiny_vocab());
  EXPECT_EQ(tok.encode_for_model("hello world", 512), ids({"[CLS]", "hello", "world", "[SEP]"}));
  EXPECT_EQ(tok.encode_for_model("unaffable world", 4), ids({"[CLS]", "un", "##aff", "[SEP]"}));
  EXPECT_EQ(tok.encode_for_model("hello", 2), ids({"[CLS]", "[SEP]"}));
  EXPECT_THROW(tok.encode_for_model("hello", 1), Error);
}

TEST(WordPiece, DecodeGluesContinuationsAndCleansSpaces) {
  WordPieceTokenizer tok(tiny_vocab());
  EXPECT_EQ(tok.decode(ids({"[CLS]", "un", "##aff", "##able", ",", "hello", "!", "[SEP]"})),
            "[CLS] unaffable, hello! [SEP]");
  EXPECT_EQ(tok.decode(ids({"don", "'", "t", "."})), "don't.");
  EXPECT_EQ(tok.decode(ids({"##a", "a"})), "##a a");
  EXPECT_EQ(tok.token_bytes(id("##aff")), "##aff");
  EXPECT_THROW(tok.decode({999}), IndexError);
}

TEST(WordPiece, BadVocabulariesNameTheProblem) {
  auto v = tiny_vocab();
  v.erase(v.begin() + 1);  // no [UNK]
  try {
    WordPieceTokenizer bad(v, {}, "my_vocab.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "my_vocab.txt")) << e.what();
    EXPECT_TRUE(has(e.what(), "[UNK]")) << e.what();
  }
  auto dup = tiny_vocab();
  dup.push_back("hello");
  EXPECT_THROW(WordPieceTokenizer{dup}, Error);
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file("/nonexistent/vocab.txt"), Error);
}

TEST(WordPiece, FilesFoldersAndSaveRoundTrip) {
  fs::path d = temp_dir("files");
  write(d / "vocab.txt", vocab_txt(tiny_vocab()));
  const std::string text = "Hello, unaffable CAFÉ [MASK] 中文!";
  auto want = WordPieceTokenizer(tiny_vocab()).encode(text);
  // A vocab.txt file, a folder, and load_tokenizer on both.
  EXPECT_EQ(WordPieceTokenizer::from_vocab_file((d / "vocab.txt").string())->encode(text), want);
  EXPECT_EQ(WordPieceTokenizer::from_folder(d.string())->encode(text), want);
  auto by_file = load_tokenizer((d / "vocab.txt").string());
  EXPECT_EQ(by_file->kind(), "wordpiece");
  EXPECT_EQ(by_file->encode(text), want);
  EXPECT_EQ(load_tokenizer(d.string())->encode(text), want);
  // \r\n line ends are line ends.
  std::string crlf;
  for (const auto& t : tiny_vocab()) crlf += t + "\r\n";
  write(d / "crlf.txt", crlf);
  EXPECT_EQ(WordPieceTokenizer::from_vocab_file((d / "crlf.txt").string())->encode(text), want);
  // Saved tokenizer.json reloads with the same ids and options.
  WordPieceTokenizer::from_folder(d.string())->save((d / "tokenizer.json").string());
  auto re = load_tokenizer((d / "tokenizer.json").string());
  EXPECT_EQ(re->kind(), "wordpiece");
  EXPECT_EQ(re->encode(text), want);
  EXPECT_EQ(re->vocab_size(), static_cast<int64_t>(tiny_vocab().size()));
  // tokenizer_config.json: cased.
  fs::path c = temp_dir("cased");
  write(c / "vocab.txt", vocab_txt(tiny_vocab()));
  write(c / "tokenizer_config.json", R"({"do_lower_case": false, "mask_token": {"content": "[MASK]"}})");
  auto cased = WordPieceTokenizer::from_folder(c.string());
  EXPECT_FALSE(cased->options().lowercase);
  EXPECT_EQ(cased->encode("Hello hello"), ids({"Hello", "hello"}));
  cased->save((c / "cased.json").string());
  auto cased2 = WordPieceTokenizer::from_tokenizer_json((c / "cased.json").string());
  EXPECT_FALSE(cased2->options().lowercase);
  EXPECT_EQ(cased2->encode("Hello hello"), ids({"Hello", "hello"}));
  // A folder with a bad config names the file.
  write(c / "tokenizer_config.json", R"({"do_lower_case": "yes"})");
  try {
    WordPieceTokenizer::from_folder(c.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "tokenizer_config.json")) << e.what();
    EXPECT_TRUE(has(e.what(), "do_lower_case")) << e.what();
  }
  fs::remove_all(d);
  fs::remove_all(c);
}

// ---- golden parity against transformers (gen_wordpiece_golden.py) ----

namespace {

const char* golden_path() { return std::getenv("TESSERA_WORDPIECE_GOLDEN"); }

const nlohmann::json& golden() {
  static nlohmann::json g = [] {
    std::ifstream in(golden_path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());
  }();
  return g;
}

#define REQUIRE_WP_GOLDEN()                                                                              \
  if (golden_path() == nullptr) GTEST_SKIP() << "TESSERA_WORDPIECE_GOLDEN not set (ctest wordpiece_parity sets it)"; \
  if (golden().contains("skip")) GTEST_SKIP() << golden()["skip"].get<std::string>()

const WordPieceTokenizer& minilm() {
  static auto tok = WordPieceTokenizer::from_folder(golden()["folder"].get<std::string>());
  return *tok;
}

}  // namespace

TEST(WordPieceGolden, MatchesBertTokenizerFastOnEveryCase) {
  REQUIRE_WP_GOLDEN();
  const auto& cases = golden()["cases"];
  ASSERT_GT(cases.size(), 2500u);
  // The vocab.txt alone (default options = BERT uncased) and the folder agree too.
  auto from_txt = load_tokenizer(golden()["vocab"].get<std::string>());
  size_t equal = 0, slow_equal = 0, slow_differs = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"];
    auto want = c["fast"].get<std::vector<int32_t>>();
    auto got = minilm().encode(text);
    EXPECT_EQ(got, want) << "text: " << text;
    EXPECT_EQ(from_txt->encode(text), want) << "vocab.txt, text: " << text;
    equal += got == want;
    auto slow = c["slow"].get<std::vector<int32_t>>();
    if (slow == want) {
      slow_equal += got == slow;
    } else {
      ++slow_differs;
      std::cout << "  (slow BertTokenizer differs from fast on: " << text.substr(0, 60) << ")\n";
    }
    EXPECT_EQ(minilm().encode_for_model(text, 16), c["model16"].get<std::vector<int32_t>>()) << text;
    std::vector<int32_t> full{minilm().cls_id()};
    full.insert(full.end(), want.begin(), want.end());
    full.push_back(minilm().sep_id());
    EXPECT_EQ(minilm().decode(full), c["decoded"].get<std::string>()) << text;
  }
  std::cout << "WordPiece parity: " << equal << "/" << cases.size() << " equal to BertTokenizerFast; "
            << slow_equal << "/" << (cases.size() - slow_differs) << " equal to slow BertTokenizer where slow == fast ("
            << slow_differs << " cases where they differ)\n";
}

TEST(WordPieceGolden, EveryCodePointMatchesFast) {
  REQUIRE_WP_GOLDEN();
  const auto& sweep = golden()["sweep"];
  ASSERT_GT(sweep.size(), 400u);
  size_t equal = 0;
  for (const auto& b : sweep) {
    const std::string text = b["text"];
    bool ok = minilm().encode(text) == b["fast"].get<std::vector<int32_t>>();
    equal += ok;
    EXPECT_TRUE(ok) << "block starting " << text.substr(0, 24);
  }
  std::cout << "code point sweep: " << equal << "/" << sweep.size() << " blocks of 256 equal\n";
}

TEST(WordPieceGolden, Sst2TrainSpeed) {
  REQUIRE_WP_GOLDEN();
  const char* shared = std::getenv("TESSERA_SHARED_DATA");
  fs::path p = fs::path(shared ? shared : "") / "sst2" / "glue" / "train.tsv";
  if (!fs::exists(p)) GTEST_SKIP() << p << " not found (set TESSERA_SHARED_DATA)";
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line.substr(0, line.find('\t')));
  auto t0 = std::chrono::steady_clock::now();
  size_t n = 0;
  for (const auto& l : lines) n += minilm().encode(l).size();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "SST-2 train: " << lines.size() << " lines, " << n << " ids in " << s << " s\n";
  EXPECT_GT(n, lines.size());
}
