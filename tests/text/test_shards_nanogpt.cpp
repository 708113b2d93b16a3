// The contiguous split of `tessera data prepare` (PrepareOptions::split =
// "contiguous"): nanoGPT's prepare.py cut (first floor(n * 0.9) characters
// train, the rest val, no separators), checked on a small corpus against counts
// worked out by hand, and on Tiny Shakespeare with the GPT-2 tokenizer against
// nanoGPT's published token counts (301,966 / 36,059).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessera/text/char_tokenizer.h"
#include "tessera/text/shards.h"
#include "tessera/text/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::text;
using tessera::test_util::expect_error;

namespace {

fs::path shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "shared" / "data";
}

class ContiguousSplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_nanogpt_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& s) {
    std::ofstream o(dir_ / name, std::ios::binary);
    o << s;
    return dir_ / name;
  }
  std::vector<int64_t> tokens(const TokenSplit& s, int64_t n) {
    // All tokens of a one-shard split: a window of n-1 from sequential() plus its target.
    TokenBatch b = s.sequential(0, 1, n - 1);
    auto x = b.x.to_vector<int64_t>();
    x.push_back(b.y.to_vector<int64_t>().back());
    return x;
  }
  fs::path dir_;
};

TEST_F(ContiguousSplitTest, CutsAtTheCharacterPositionWithoutSeparators) {
  // 20 characters over two files, one of them 2 bytes in UTF-8 (é): floor(20 * 0.75) = 15.
  auto a = write("a.txt", "abcdefghij");
  auto b = write("b.txt", "klmn\xC3\xA9pqrst");
  CharTokenizer tok = CharTokenizer::from_corpus({"abcdefghijklmn\xC3\xA9pqrst"}, {"<|endoftext|>"});
  PrepareOptions o;
  o.inputs = {a.string(), b.string()};
  o.out_dir = (dir_ / "out").string();
  o.val_fraction = 0.25;
  o.split = "contiguous";
  o.verbose = false;
  PrepareResult r = prepare_shards(tok, o);
  EXPECT_EQ(r.train_tokens, 15);  // no <|endoftext|> appended although the tokenizer has one
  EXPECT_EQ(r.val_tokens, 5);
  TokenData td = open_token_data(o.out_dir);
  auto train = tokens(td.train, 15);
  auto val = tokens(td.val, 5);
  EXPECT_EQ(tok.decode(std::vector<int32_t>(train.begin(), train.end())), "abcdefghijklmn\xC3\xA9");
  EXPECT_EQ(tok.decode(std::vector<int32_t>(val.begin(), val.end())), "pqrst");
  EXPECT_NE(r.meta_json.find("\"contiguous\""), std::string::npos);
}

TEST_F(ContiguousSplitTest, RejectsDocumentOptions) {
  auto a = write("a.txt", "abc\n\ndef\n");
  CharTokenizer tok = CharTokenizer::from_corpus({"abc\n\ndef\n"});
  PrepareOptions o;
  o.inputs = {a.string()};
  o.out_dir = (dir_ / "out").string();
  o.split = "contiguous";
  o.verbose = false;
  o.blank_line_docs = true;
  expect_error<Error>([&] { prepare_shards(tok, o); }, "--split contiguous");
  o.blank_line_docs = false;
  o.split = "sideways";
  expect_error<Error>([&] { prepare_shards(tok, o); }, "--split must be documents or contiguous");
}

// nanoGPT's data/shakespeare/prepare.py with tiktoken's gpt2 encode_ordinary.
TEST_F(ContiguousSplitTest, TinyShakespeareGpt2MatchesNanoGPTCounts) {
  fs::path input = shared_data() / "tinyshakespeare" / "input.txt";
  fs::path gpt2 = shared_data() / "gpt2-tokenizer";
  if (!fs::exists(input) || !fs::exists(gpt2 / "encoder.json"))
    GTEST_SKIP() << input << " or " << gpt2 << " not found (set TESSERA_SHARED_DATA)";
  auto tok = load_tokenizer(gpt2.string());
  PrepareOptions o;
  o.inputs = {input.string()};
  o.out_dir = (dir_ / "out").string();
  o.val_fraction = 0.1;
  o.split = "contiguous";
  o.verbose = false;
  PrepareResult r = prepare_shards(*tok, o);
  EXPECT_EQ(r.train_tokens, 301966);
  EXPECT_EQ(r.val_tokens, 36059);
}

}  // namespace
