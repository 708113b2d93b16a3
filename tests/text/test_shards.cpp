// Token shards: prepare -> open round trip, every corruption's error, seeded
// window sampling and its resume, and the fixed validation windows.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tessera/text/shards.h"
#include "test_util.h"
#include "text/test_shards_tokenizer.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::text;
using tessera::test_util::ByteTokenizer;
using tessera::test_util::expect_error;

namespace {

class ShardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_shards_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "corpus");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const fs::path& p, const std::string& s) {
    std::ofstream o(p, std::ios::binary);
    o << s;
  }
  std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // A small corpus: two files, one with '%' separated documents, plus a binary .dat to skip.
  void make_corpus() {
    write(dir_ / "corpus" / "a.txt", "alpha one\n%\nbeta two two\n%\ngamma three\n");
    write(dir_ / "corpus" / "b.txt", "delta four\n%\nepsilon five\n%\n\n%\nzeta six six six\n");
    write(dir_ / "corpus" / "a.dat", std::string("\0\1\2binary", 9));
  }
  PrepareOptions options(const std::string& out = "out") {
    PrepareOptions o;
    o.inputs = {(dir_ / "corpus").string()};
    o.out_dir = (dir_ / out).string();
    o.doc_separator = "%";
    o.val_docs = 2;
    o.seed = 7;
    o.verbose = false;
    return o;
  }
  std::vector<int64_t> all_tokens(const TokenSplit& s, int64_t n) {
    // Sequential windows of T = n - 1 over a one-shard split give the shard itself.
    auto b = s.sequential(0, 1, n - 1);
    auto x = b.x.to_vector<int64_t>();
    x.push_back(b.y.to_vector<int64_t>().back());
    return x;
  }
  fs::path dir_;
};

TEST_F(ShardsTest, RoundTripSplitsDocumentsAndSkipsBinaryFiles) {
  make_corpus();
  ByteTokenizer tok;
  auto res = prepare_shards(tok, options());
  EXPECT_EQ(res.documents, 6);  // the blank document between two separators is dropped
  EXPECT_EQ(res.val_documents, 2);
  EXPECT_EQ(res.train_documents, 4);
  ASSERT_EQ(res.skipped.size(), 1u);
  EXPECT_NE(res.skipped[0].find("a.dat"), std::string::npos);

  TokenData td = open_token_data(options().out_dir, tok.vocab_size(), tokenizer_fingerprint(tok));
  EXPECT_EQ(td.vocab_size, 257);
  EXPECT_EQ(td.eot_id, 256);
  EXPECT_EQ(td.train.num_tokens(), res.train_tokens);
  EXPECT_EQ(td.val.num_tokens(), res.val_tokens);
  // Decoding both splits gives back every document exactly once, each closed by <|endoftext|>.
  std::multiset<std::string> docs;
  for (const TokenSplit* s : {&td.train, &td.val}) {
    auto ids = all_tokens(*s, s->num_tokens());
    EXPECT_EQ(ids.back(), 256);
    std::string cur;
    for (int64_t id : ids) {
      if (id == 256) docs.insert(cur), cur.clear();
      else cur += static_cast<char>(id);
    }
    EXPECT_TRUE(cur.empty());
  }
  std::multiset<std::string> want = {"alpha one\n", "beta two two\n", "gamma three\n", "delta four\n",
                                     "epsilon five\n", "zeta six six six\n"};
  EXPECT_EQ(docs, want);
  // The shard header says uint16 for a 257-token vocabulary: 256 + 2 * count bytes.
  EXPECT_EQ(fs::file_size(dir_ / "out" / "train_000000.bin"), 256u + 2u * static_cast<size_t>(res.train_tokens));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "tokenizer.json"));
}

TEST_F(ShardsTest, SplitIsDeterministicPerSeedAndShardsRespectSize) {
  make_corpus();
  ByteTokenizer tok;
  auto o = options("a");
  o.shard_tokens = 16;
  auto r1 = prepare_shards(tok, o);
  EXPECT_GT(r1.shards.size(), 3u);
  auto r2 = prepare_shards(tok, options("b"));  // same seed, one shard per split
  prepare_shards(tok, options("b2"));
  EXPECT_EQ(read(dir_ / "b" / "val_000000.bin"), read(dir_ / "b2" / "val_000000.bin"));
  EXPECT_EQ(r1.val_tokens, r2.val_tokens);
  EXPECT_EQ(read(dir_ / "b" / "meta.json").size(), r2.meta_json.size());
  // Some seed picks another validation set.
  bool differs = false;
  for (uint64_t s = 100; s < 110 && !differs; ++s) {
    auto o4 = options("c");
    o4.seed = s;
    prepare_shards(tok, o4);
    differs = read(dir_ / "c" / "val_000000.bin") != read(dir_ / "b" / "val_000000.bin");
  }
  EXPECT_TRUE(differs);
  // Shard sizes: all full (16 tokens) but the last of each split.
  TokenData td = open_token_data(o.out_dir);
  EXPECT_EQ(td.train.num_tokens(), r1.train_tokens);
  for (size_t i = 0; i + 1 < r1.shards.size(); ++i) {
    if (r1.shards[i].substr(0, 5) != r1.shards[i + 1].substr(0, 5)) continue;  // last of its split
    EXPECT_EQ(TokenShard((fs::path(o.out_dir) / r1.shards[i]).string()).size(), 16) << r1.shards[i];
  }
}

TEST_F(ShardsTest, CorruptionsGiveNamedErrors) {
  ByteTokenizer tok;
  std::vector<int32_t> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(i * 2);
  fs::path good = dir_ / "good.bin";
  write_shard(good.string(), ids, tok.vocab_size(), 42);
  {
    TokenShard s(good.string(), 257, 42);
    EXPECT_EQ(s.size(), 100);
    EXPECT_EQ(s.at(99), 198);
  }
  std::string bytes = read(good);
  auto variant = [&](const std::string& name, const std::function<void(std::string&)>& edit) {
    std::string b = bytes;
    edit(b);
    write(dir_ / name, b);
    return (dir_ / name).string();
  };
  std::string bad_magic = variant("magic.bin", [](std::string& b) { b[0] = 'X'; });
  expect_error<Error>([&] { TokenShard s(bad_magic); }, {"magic.bin", "bad magic", "TSRTOKS", "XSRTOKS"});
  std::string bad_version = variant("version.bin", [](std::string& b) { b[8] = 9; });
  expect_error<Error>([&] { TokenShard s(bad_version); }, {"version.bin", "format version", "expected 1", "found 9"});
  std::string bad_width = variant("width.bin", [](std::string& b) { b[12] = 4; });
  expect_error<Error>([&] { TokenShard s(bad_width); }, {"width.bin", "dtype width", "expected 2", "found 4"});
  expect_error<Error>([&] { TokenShard s(good.string(), 50257); }, {"good.bin", "vocab size", "expected 50257", "found 257"});
  expect_error<Error>([&] { TokenShard s(good.string(), std::nullopt, 43); }, {"good.bin", "fingerprint"});
  std::string truncated = variant("trunc.bin", [](std::string& b) { b.resize(b.size() - 3); });
  expect_error<Error>([&] { TokenShard s(truncated); }, {"trunc.bin", "file size", "expected 456", "found 453", "truncated"});
  std::string tiny = variant("tiny.bin", [](std::string& b) { b.resize(10); });
  expect_error<Error>([&] { TokenShard s(tiny); }, {"tiny.bin", "shorter than"});
  // Token 5 becomes 0xFFFF: outside a 257-token vocabulary.
  std::string oob = variant("oob.bin", [](std::string& b) { b[256 + 10] = '\xff', b[256 + 11] = '\xff'; });
  expect_error<Error>([&] { TokenShard s(oob); }, {"oob.bin", "token 5", "id 65535", "< vocab size 257"});
  expect_error<Error>([&] { write_shard((dir_ / "w.bin").string(), {1, 300}, 257, 0); }, {"w.bin", "id 300"});
  expect_error<Error>([&] { TokenShard s((dir_ / "missing.bin").string()); }, {"missing.bin", "cannot open"});
}

TEST_F(ShardsTest, FolderLevelChecksAgainstMetaAndTokenizer) {
  make_corpus();
  ByteTokenizer tok;
  prepare_shards(tok, options());
  std::string out = options().out_dir;
  ByteTokenizer other(10);
  expect_error<Error>([&] { open_token_data(out, other.vocab_size()); }, {"meta.json", "vocab size", "expected 267", "found 257"});
  expect_error<Error>([&] { open_token_data(out, std::nullopt, tokenizer_fingerprint(other)); },
                      {"meta.json", "fingerprint", "another tokenizer"});
  expect_error<Error>([&] { open_token_data((dir_ / "nothing").string()); }, {"nothing", "no meta.json"});
  // A shard replaced by a shorter (valid) one: the count disagrees with meta.json.
  write_shard((fs::path(out) / "val_000000.bin").string(), {1, 2, 3}, 257, tokenizer_fingerprint(tok));
  expect_error<Error>([&] { open_token_data(out); }, {"val_000000.bin", "token count", "found 3"});
}

TEST_F(ShardsTest, WideVocabularyUsesUint32) {
  std::vector<int32_t> ids = {0, 65535, 65536, 69999, 7};
  fs::path p = dir_ / "wide.bin";
  write_shard(p.string(), ids, 70000, 1);
  EXPECT_EQ(fs::file_size(p), 256u + 4u * ids.size());
  TokenShard s(p.string(), 70000);
  EXPECT_EQ(s.width(), 4);
  std::vector<int64_t> back(ids.size());
  s.read(0, 5, back.data());
  EXPECT_EQ(back, std::vector<int64_t>(ids.begin(), ids.end()));
}

TEST_F(ShardsTest, WindowsAreSeededShiftedAndResumable) {
  std::vector<int32_t> a, b;
  for (int i = 0; i < 50; ++i) a.push_back(i);
  for (int i = 0; i < 30; ++i) b.push_back(100 + i);
  write_shard((dir_ / "s0.bin").string(), a, 257, 0);
  write_shard((dir_ / "s1.bin").string(), b, 257, 0);
  TokenSplit split({std::make_shared<TokenShard>((dir_ / "s0.bin").string()),
                    std::make_shared<TokenShard>((dir_ / "s1.bin").string())});
  const int64_t T = 8;
  EXPECT_EQ(split.num_windows(T), (50 - 8) + (30 - 8));
  Generator g1(123), g2(123), g3(124);
  auto b1 = split.sample(4, T, g1);
  auto b2 = split.sample(4, T, g2);
  auto b3 = split.sample(4, T, g3);
  EXPECT_EQ(b1.x.to_vector<int64_t>(), b2.x.to_vector<int64_t>());
  EXPECT_NE(b1.x.to_vector<int64_t>(), b3.x.to_vector<int64_t>());
  ASSERT_EQ(b1.x.shape(), (Shape{4, T}));
  // Each window is consecutive ids from one shard, and y is x shifted by one.
  auto x = b1.x.to_vector<int64_t>(), y = b1.y.to_vector<int64_t>();
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t t = 0; t < T; ++t) {
      EXPECT_EQ(y[r * T + t], x[r * T + t] + 1);
      if (t > 0) {
        EXPECT_EQ(x[r * T + t], x[r * T + t - 1] + 1);
      }
    }
  }
  // Uniform over starts: many draws reach both shards and both ends.
  Generator g(5);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (int i = 0; i < 200; ++i)
    for (auto& s : split.sample_starts(4, T, g)) seen.insert(s);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), split.num_windows(T));
  // Resume: a generator restored to the saved (seed, offset) continues the same stream.
  Generator run(99);
  split.sample(3, T, run);
  uint64_t seed = run.seed(), offset = run.offset();
  auto next1 = split.sample(3, T, run), next2 = split.sample(3, T, run);
  Generator resumed(0);
  resumed.set_state(seed, offset);
  EXPECT_EQ(split.sample(3, T, resumed).x.to_vector<int64_t>(), next1.x.to_vector<int64_t>());
  EXPECT_EQ(split.sample(3, T, resumed).y.to_vector<int64_t>(), next2.y.to_vector<int64_t>());
  // Too long a window for any shard: a clear error.
  expect_error<Error>([&] { split.sample(1, 60, g); }, "window needs 61 tokens");
}

TEST_F(ShardsTest, SequentialWindowsAreFixedAndCoverTheSplit) {
  std::vector<int32_t> a;
  for (int i = 0; i < 41; ++i) a.push_back(i);
  write_shard((dir_ / "v.bin").string(), a, 257, 0);
  TokenSplit split({std::make_shared<TokenShard>((dir_ / "v.bin").string())});
  const int64_t T = 10;
  EXPECT_EQ(split.num_sequential_windows(T), 4);
  auto b0 = split.sequential(0, 2, T), b1 = split.sequential(1, 2, T), b2 = split.sequential(2, 2, T);
  auto x0 = b0.x.to_vector<int64_t>(), x1 = b1.x.to_vector<int64_t>();
  EXPECT_EQ(x0[0], 0);
  EXPECT_EQ(x0[T], 10);
  EXPECT_EQ(x1[0], 20);
  EXPECT_EQ(x1[T], 30);
  EXPECT_EQ(b1.y.to_vector<int64_t>()[2 * T - 1], 40);
  EXPECT_EQ(b2.x.to_vector<int64_t>(), x0);  // wraps around
  EXPECT_EQ(split.sequential(0, 2, T).x.to_vector<int64_t>(), x0);
}

}  // namespace

namespace {

TEST_F(ShardsTest, TrainedTokenizerSeesEveryDocumentAndIsSaved) {
  make_corpus();
  std::vector<std::string> seen;
  auto res = prepare_shards(
      [&](const std::vector<std::string_view>& docs) -> std::unique_ptr<Tokenizer> {
        for (auto d : docs) seen.emplace_back(d);
        return std::make_unique<ByteTokenizer>(3);
      },
      options());
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen.front(), "alpha one\n");  // corpus order
  TokenData td = open_token_data(options().out_dir, 260, tokenizer_fingerprint(ByteTokenizer(3)));
  EXPECT_EQ(td.train.num_tokens() + td.val.num_tokens(), res.train_tokens + res.val_tokens);
  EXPECT_EQ(read(td.tokenizer_file), read(dir_ / "out" / "tokenizer.json"));
}

}  // namespace
