// Tokenizer unit tests that need no external data: the GPT-2 pre-tokenizer on
// hand-checked strings, the byte-level spelling, CharTokenizer, BPE training,
// save/load round trips and load_tokenizer's errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include <unistd.h>

#include "tessera/text/bpe.h"
#include "tessera/text/bpe_trainer.h"
#include "tessera/text/char_tokenizer.h"
#include "test_util.h"

using namespace tessera;
using namespace tessera::text;
using tessera::test_util::expect_error;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> pieces(std::string_view s) {
  std::vector<std::string> out;
  for (auto p : gpt2_pretokenize(s)) out.emplace_back(p);
  return out;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("tessera_tok_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

std::string random_bytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  // Mix ASCII text, spaces, multi-byte lead/continuation bytes and NULs.
  const char alphabet[] = " \n\tabcXYZ019'!.";
  for (auto& c : s) {
    int r = rng() % 4;
    c = r == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % (sizeof(alphabet) - 1)];
  }
  return s;
}

const char* kCorpus =
    "The quick brown fox jumps over the lazy dog. The dog didn't care; the fox's jump was 42 feet!\n"
    "Über café naïve — 東京 and 123,456 numbers. It's what they'll say, we've seen, I'm sure, you'd know.\n\n"
    "    indented   lines\tand tabs\n";

}  // namespace

TEST(Gpt2Pretokenize, SplitsLikeThePattern) {
  EXPECT_EQ(pieces("Hello world"), (std::vector<std::string>{"Hello", " world"}));
  EXPECT_EQ(pieces("I'm don't they'll 'sup"),
            (std::vector<std::string>{"I", "'m", " don", "'t", " they", "'ll", " '", "sup"}));
  // \s+(?!\S): a run of spaces gives its last one to the next word.
  EXPECT_EQ(pieces("a   b"), (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(pieces("a\n\nb"), (std::vector<std::string>{"a", "\n", "\n", "b"}));
  EXPECT_EQ(pieces("a \n b  "), (std::vector<std::string>{"a", " \n", " b", "  "}));
  EXPECT_EQ(pieces("x 123abc!!?"), (std::vector<std::string>{"x", " 123", "abc", "!!?"}));
  EXPECT_EQ(pieces("東京 タワー"), (std::vector<std::string>{"東京", " タワー"}));
  EXPECT_EQ(pieces("x\xE2\x80\x83y"), (std::vector<std::string>{"x", "\xE2\x80\x83", "y"}));  // EM SPACE is \s
  EXPECT_EQ(pieces("½²"), (std::vector<std::string>{"½²"}));                                    // \p{No}
}

TEST(Gpt2Pretokenize, InvalidBytesActLikeReplacementSymbols) {
  // 0xFF and a lone continuation byte join a run of punctuation; letters stay apart.
  EXPECT_EQ(pieces(std::string("ab\xFF\x80!cd")), (std::vector<std::string>{"ab", "\xFF\x80!", "cd"}));
  EXPECT_EQ(pieces(std::string("a \xC3 b", 5)), (std::vector<std::string>{"a", " \xC3", " b"}));
  EXPECT_EQ(pieces(std::string("a\0b", 3)), (std::vector<std::string>{"a", std::string(1, '\0'), "b"}));
  // Pieces always cover the input exactly.
  std::mt19937 rng(7);
  for (int t = 0; t < 200; ++t) {
    std::string s = random_bytes(rng, rng() % 64);
    std::string joined;
    for (auto p : gpt2_pretokenize(s)) {
      EXPECT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, s);
  }
}

TEST(ByteLevelSpelling, RoundTripsAllBytes) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string spelled = bytes_to_unicode(all), back;
  ASSERT_TRUE(unicode_to_bytes(spelled, back));
  EXPECT_EQ(back, all);
  EXPECT_EQ(bytes_to_unicode(" "), "\xC4\xA0");  // 'Ġ'
  EXPECT_EQ(bytes_to_unicode("\n"), "\xC4\x8A");  // 'Ċ'
  EXPECT_EQ(bytes_to_unicode("A!"), "A!");
  EXPECT_FALSE(unicode_to_bytes("\xE6\x9D\xB1", back));  // 東 is not a byte-level symbol
}

TEST(CharTokenizer, BuildsSortedVocabularyAndRoundTrips) {
  std::string corpus = std::string("hello wörld\xFF<|endoftext|>abc");
  auto tok = CharTokenizer::from_corpus({corpus}, {"<|endoftext|>"});
  // Symbols: " ", a, b, c, d, e, h, l, o, r, w, ö, \xFF (sorted by bytes) + special.
  ASSERT_EQ(tok.vocab_size(), 14);
  EXPECT_EQ(tok.token_bytes(0), " ");
  EXPECT_EQ(tok.token_bytes(11), "ö");
  EXPECT_EQ(tok.token_bytes(12), "\xFF");
  EXPECT_EQ(tok.eot_id(), 13);
  EXPECT_EQ(tok.kind(), "char");
  auto ids = tok.encode(corpus);
  EXPECT_EQ(ids.size(), 11u + 1 + 1 + 3);
  EXPECT_EQ(ids[12], 13);
  EXPECT_EQ(tok.decode(ids), corpus);
  // Without allow_special the marker needs '<', which is not in the vocabulary.
  expect_error<Error>([&] { tok.encode("ab<|endoftext|>", false); }, {"'<'", "U+003C", "byte offset 2"});
  expect_error<Error>([&] { tok.encode("abz"); }, {"'z'", "byte offset 2"});
  expect_error<Error>([&] { tok.encode("ab\xFE"); }, {"0xFE", "byte offset 2"});
  expect_error<IndexError>([&] { tok.decode({99}); }, "99");
}

TEST(CharTokenizer, SavesAndLoads) {
  auto dir = temp_dir("char");
  std::string corpus = "abc\x01\xE2\x82\xAC\xC3";  // control byte, euro sign, truncated sequence
  auto tok = CharTokenizer::from_corpus({corpus}, {"<|endoftext|>", "<pad>"});
  tok.save((dir / "tokenizer.json").string());
  auto loaded = load_tokenizer(dir.string());
  EXPECT_EQ(loaded->kind(), "char");
  EXPECT_EQ(loaded->vocab_size(), tok.vocab_size());
  EXPECT_EQ(loaded->special_id("<pad>"), tok.special_id("<pad>"));
  std::string text = corpus + "<pad>" + corpus;
  EXPECT_EQ(loaded->encode(text), tok.encode(text));
  EXPECT_EQ(loaded->decode(loaded->encode(text)), text);
  fs::remove_all(dir);
}

TEST(BpeTrainer, MergesMostFrequentPairsDeterministically) {
  // "ab" occurs 3x per word-set, then "abc"; ties resolved by the smaller pair.
  std::string text = "ab ab ab abc abc xy";
  BpeTrainOptions opt;
  opt.vocab_size = 256 + 3 + 1;
  opt.specials = {"<|endoftext|>"};
  auto tok = train_bpe({text}, opt);
  ASSERT_EQ(tok->vocab_size(), 260);
  // Pre-tokens: "ab", " ab" x2, " abc" x2, " xy": (a,b) 5x wins, then (' ',ab) 4x, then (' ab',c) 2x.
  EXPECT_EQ(tok->token_bytes(256), "ab");
  EXPECT_EQ(tok->token_bytes(257), " ab");
  EXPECT_EQ(tok->token_bytes(258), " abc");
  EXPECT_EQ(tok->eot_id(), 259);
  EXPECT_EQ(tok->encode("ab abc<|endoftext|> xy"), (std::vector<int32_t>{256, 258, 259, ' ', 'x', 'y'}));
  // Equal counts: (c,d) and (e,f) both twice -> the smaller pair (c,d) is merged first.
  BpeTrainOptions o2;
  o2.vocab_size = 257;
  auto t2 = train_bpe({"ef\ncd\nef\ncd"}, o2);
  EXPECT_EQ(t2->token_bytes(256), "cd");
}

TEST(BpeTrainer, TrainedTokenizerRoundTripsThroughFile) {
  auto dir = temp_dir("bpe");
  std::string text;
  for (int i = 0; i < 50; ++i) text += kCorpus;
  BpeTrainOptions opt;
  opt.vocab_size = 600;
  opt.specials = {"<|endoftext|>"};
  BpeTrainStats stats;
  auto tok = train_bpe({text, "second document"}, opt, &stats);
  EXPECT_GT(stats.merges, 50);
  EXPECT_LE(tok->vocab_size(), 600);
  // Training merged frequent words into single tokens.
  EXPECT_EQ(tok->encode(" quick").size(), 1u);
  tok->save((dir / "tok.json").string());
  auto loaded = load_tokenizer((dir / "tok.json").string());
  EXPECT_EQ(loaded->kind(), "bpe");
  EXPECT_EQ(loaded->vocab_size(), tok->vocab_size());
  EXPECT_EQ(loaded->eot_id(), tok->eot_id());
  std::mt19937 rng(3);
  std::vector<std::string> samples = {text, "unseen words: zebra quokka", "<|endoftext|>x<|endoftext|>"};
  for (int i = 0; i < 50; ++i) samples.push_back(random_bytes(rng, rng() % 200));
  for (const auto& s : samples) {
    auto ids = tok->encode(s);
    EXPECT_EQ(loaded->encode(s), ids);
    EXPECT_EQ(loaded->decode(ids), s);
  }
  fs::remove_all(dir);
}

TEST(BpeTrainer, RejectsTooSmallVocab) {
  BpeTrainOptions opt;
  opt.vocab_size = 256;
  opt.specials = {"<|endoftext|>"};
  expect_error<Error>([&] { train_bpe({"abc"}, opt); }, {"vocab_size 256", "256 byte tokens"});
}

TEST(LoadTokenizer, ReportsBadFiles) {
  auto dir = temp_dir("errors");
  expect_error<Error>([&] { load_tokenizer((dir / "missing.json").string()); }, {"missing.json", "not found"});
  expect_error<Error>([&] { load_tokenizer(dir.string()); }, {"neither tokenizer.json"});
  write(dir / "bad.json", "{\n  \"model\": {\n    \"vocab\": [1, 2,\n}");
  expect_error<Error>([&] { load_tokenizer((dir / "bad.json").string()); }, {"bad.json", "not valid JSON", "line 4"});

  // A small valid file to corrupt in different ways.
  BpeTrainOptions opt;
  opt.vocab_size = 260;
  auto tok = train_bpe({"aaab aaab aaab"}, opt);
  tok->save((dir / "ok.json").string());
  nlohmann::json good;
  std::ifstream(dir / "ok.json") >> good;
  auto save_variant = [&](const std::string& name, const nlohmann::json& j) {
    write(dir / name, j.dump());
    return (dir / name).string();
  };
  {
    auto j = good;
    j["model"]["merges"].push_back("a zz");
    auto p = save_variant("merge.json", j);
    expect_error<Error>([&] { load_tokenizer(p); }, {"merge.json", "model.merges[", "unknown token 'zz'"});
  }
  {
    auto j = good;
    j["model"]["vocab"]["a"] = 98;  // 'b' is 98 too
    auto p = save_variant("dup.json", j);
    expect_error<Error>([&] { load_tokenizer(p); }, {"dup.json", "id 98 is used by both"});
  }
  {
    auto j = good;
    j["model"]["tessera"]["format_version"] = 7;
    auto p = save_variant("version.json", j);
    expect_error<Error>([&] { load_tokenizer(p); }, {"version.json", "format_version 7", "reads 1"});
  }
  {
    auto j = good;
    j["model"]["type"] = "Unigram";
    auto p = save_variant("type.json", j);
    expect_error<Error>([&] { load_tokenizer(p); }, {"type.json", "Unigram"});
  }
  {
    auto j = good;
    j["model"]["vocab"].erase("b");
    auto p = save_variant("gap.json", j);
    expect_error<Error>([&] { load_tokenizer(p); }, {"gap.json", "id 98 is missing"});
  }
  {
    auto j = good;
    j["normalizer"] = {{"type", "NFC"}};
    auto p = save_variant("norm.json", j);
    expect_error<Error>([&] { load_tokenizer(p); }, {"norm.json", "normalizer is not supported"});
  }
  {
    // ignore_merges: a pre-token spelled as one vocabulary entry skips merging.
    auto j = good;
    j["model"]["vocab"]["xyz"] = 260;  // no merge builds it
    auto plain = load_tokenizer(save_variant("plain.json", j));
    EXPECT_EQ(plain->encode("xyz"), (std::vector<int32_t>{'x', 'y', 'z'}));
    j["model"]["ignore_merges"] = true;
    auto p = save_variant("ignore.json", j);
    auto t = load_tokenizer(p);
    EXPECT_EQ(t->encode("xyz xyz"), (std::vector<int32_t>{260, ' ', 'x', 'y', 'z'}));
    EXPECT_EQ(t->encode("aaab"), tok->encode("aaab"));
    // The flag survives save -> load.
    t->save((dir / "ignore2.json").string());
    EXPECT_EQ(load_tokenizer((dir / "ignore2.json").string())->encode("xyz"), (std::vector<int32_t>{260}));
  }
  // GPT-2 style folder with a merge line naming an unknown token.
  fs::create_directories(dir / "gpt2");
  nlohmann::json enc;
  for (int b = 0; b < 256; ++b) enc[bytes_to_unicode(std::string(1, static_cast<char>(b)))] = b;
  enc["ab"] = 256;
  write(dir / "gpt2" / "encoder.json", enc.dump());
  write(dir / "gpt2" / "vocab.bpe", "#version: 0.2\na b\nab zz\n");
  expect_error<Error>([&] { load_tokenizer((dir / "gpt2").string()); }, {"vocab.bpe line 3", "unknown token 'zz'"});
  write(dir / "gpt2" / "vocab.bpe", "#version: 0.2\na b\nab c\n");
  expect_error<Error>([&] { load_tokenizer((dir / "gpt2").string()); }, {"vocab.bpe line 3", "'abc'", "not in the vocabulary"});
  fs::remove_all(dir);
}
