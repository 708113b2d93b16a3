// Labeled text tables (data/text_table.h): each format on small temp files
// (quoting, BOM, CRLF, ids, every error with its file and line), then the real
// SST-2 files (GLUE tsv and the sentence-level label_text files) by row count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "tessera/core/error.h"
#include "tessera/data/text_table.h"
#include "test_util.h"

namespace tessera::data {
namespace {

namespace fs = std::filesystem;
using test_util::expect_error;

// A file in a per-test temp folder, written byte for byte.
std::string write(const std::string& name, const std::string& content) {
  fs::path dir = fs::temp_directory_path() / ("tessera_text_table_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << content;
  return p.string();
}

TEST(TextTable, TsvWithHeaderKeepsTextAsIs) {
  std::string p = write("a.tsv", "sentence\tlabel\nhide new secretions \t0\ngood fun \t1\n\n");
  auto rows = read_text_table(p, {});  // "text" falls back to GLUE's "sentence"
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].text, "hide new secretions ");  // GLUE's trailing space is kept
  EXPECT_EQ(rows[0].label, "0");
  EXPECT_EQ(rows[0].line, 2);
  EXPECT_EQ(rows[0].id, "2");
  EXPECT_EQ(rows[1].label, "1");
  EXPECT_EQ(rows[1].line, 3);
  // Columns by name, in any order, with an idx column as the id; BOM and CRLF.
  p = write("b.tsv", "\xEF\xBB\xBFidx\tlabel\tsentence\r\n7\tpos\tnice\r\n9\tneg\tbad\r\n");
  rows = read_text_table(p, {.text_column = "sentence"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].text, "nice");
  EXPECT_EQ(rows[0].label, "pos");
  EXPECT_EQ(rows[0].id, "7");
  EXPECT_EQ(rows[1].text, "bad");
  EXPECT_EQ(rows[1].id, "9");
  // Unlabeled (GLUE test.tsv) when labels are not required.
  p = write("c.tsv", "index\tsentence\n0\tuneasy mishmash \n");
  rows = read_text_table(p, {.require_labels = false});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].label, "");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"c.tsv:1", "no label column 'label'", "'index', 'sentence'"});
}

TEST(TextTable, CsvQuoting) {
  std::string p = write("d.csv",
                        "id,text,label\r\n"
                        "a1,\"hello, world\",1\r\n"
                        "a2,\"she said \"\"hi\"\"\",0\r\n"
                        "a3,\"two\nlines\",1\r\n"
                        "a4,plain,0\n");
  auto rows = read_text_table(p, {});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].text, "hello, world");
  EXPECT_EQ(rows[0].id, "a1");
  EXPECT_EQ(rows[1].text, "she said \"hi\"");
  EXPECT_EQ(rows[2].text, "two\nlines");
  EXPECT_EQ(rows[2].line, 4);
  EXPECT_EQ(rows[3].text, "plain");
  EXPECT_EQ(rows[3].line, 6);  // after the quoted newline
  EXPECT_EQ(rows[3].label, "0");
  p = write("e.csv", "text,label\n\"open,1\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"e.csv:2", "not closed"});
  p = write("f.csv", "text,label\n\"x\"y,1\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"f.csv:2", "closing quote"});
  p = write("g.csv", "text,label\nfine,1\ntoo,many,2\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"g.csv:3", "expected 2 fields", "got 3"});
}

TEST(TextTable, Jsonl) {
  std::string p = write("h.jsonl",
                        "{\"text\": \"great movie\", \"label\": 1, \"idx\": 40}\n"
                        "\n"
                        "{\"label\": \"neg\", \"text\": \"caf\\u00e9 dull\"}\r\n");
  auto rows = read_text_table(p, {});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "1");
  EXPECT_EQ(rows[0].id, "40");
  EXPECT_EQ(rows[1].text, "caf\xC3\xA9 dull");
  EXPECT_EQ(rows[1].label, "neg");
  EXPECT_EQ(rows[1].line, 3);
  EXPECT_EQ(rows[1].id, "3");
  p = write("i.jsonl", "{\"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 1\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"i.jsonl:2", "malformed JSON"});
  p = write("j.jsonl", "{\"sentence_x\": \"a\", \"label\": 0}\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"j.jsonl:1", "no text field 'text'", "'sentence_x'"});
  p = write("k.jsonl", "{\"text\": \"a\"}\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"k.jsonl:1", "missing label"});
  EXPECT_EQ(read_text_table(p, {.require_labels = false}).at(0).label, "");
  p = write("l.jsonl", "[1, 2]\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"l.jsonl:1", "JSON object"});
}

TEST(TextTable, LabelText) {
  std::string p = write("m.train", "1 a stirring , funny film\n0 dull .\r\n");
  auto rows = read_text_table(p, {.format = "label_text"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "1");
  EXPECT_EQ(rows[0].text, "a stirring , funny film");
  EXPECT_EQ(rows[1].text, "dull .");
  EXPECT_EQ(rows[1].id, "2");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"m.train", "extension", "label_text"});
  p = write("n.train", "1 fine\n0\n");
  expect_error<Error>([&] { read_text_table(p, {.format = "label_text"}); }, {"n.train:2", "<label> <text>"});
  p = write("o.train", "1 fine\n0    \n");
  expect_error<Error>([&] { read_text_table(p, {.format = "label_text"}); }, {"o.train:2", "empty text"});
}

TEST(TextTable, FileErrors) {
  expect_error<Error>([] { read_text_table("/nonexistent/x.tsv", {}); }, {"/nonexistent/x.tsv", "not found"});
  std::string p = write("empty.tsv", "\xEF\xBB\xBF\n\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"empty.tsv", "empty"});
  p = write("hdr.tsv", "text\tlabel\n");
  EXPECT_TRUE(read_text_table(p, {}).empty());  // a header alone is a table with no rows
  p = write("blank.tsv", "text\tlabel\n   \t1\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"blank.tsv:2", "empty text"});
  p = write("nolab.tsv", "text\tlabel\nok\t \n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"nolab.tsv:2", "missing label"});
  p = write("cols.tsv", "review\tstars\nok\t1\n");
  expect_error<Error>([&] { read_text_table(p, {}); }, {"cols.tsv:1", "no text column 'text'", "'review', 'stars'"});
  expect_error<Error>([&] { read_text_table(p, {.format = "xml"}); }, {"unknown format 'xml'"});
}

std::string shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) return env;
  return "/work/shared/data";
}

TEST(TextTable, RealSst2Files) {
  const fs::path dir = fs::path(shared_data()) / "sst2";
  if (!fs::exists(dir / "glue" / "train.tsv")) GTEST_SKIP() << dir << " not found (set TESSERA_SHARED_DATA)";
  auto count = [](const std::vector<TextExample>& rows) {
    std::map<std::string, int64_t> c;
    for (auto& r : rows) ++c[r.label];
    return c;
  };
  auto train = read_text_table((dir / "glue" / "train.tsv").string(), {});
  EXPECT_EQ(train.size(), 67349u);
  EXPECT_EQ(count(train), (std::map<std::string, int64_t>{{"0", 29780}, {"1", 37569}}));  // SOURCE.md's counts
  EXPECT_EQ(train[0].text, "hide new secretions from the parental units ");
  EXPECT_EQ(train[0].line, 2);
  auto dev = read_text_table((dir / "glue" / "dev.tsv").string(), {});
  EXPECT_EQ(dev.size(), 872u);
  EXPECT_EQ(count(dev), (std::map<std::string, int64_t>{{"0", 428}, {"1", 444}}));
  auto test = read_text_table((dir / "glue" / "test.tsv").string(), {.require_labels = false});
  EXPECT_EQ(test.size(), 1821u);
  auto stsa = read_text_table((dir / "sentence-level" / "stsa.binary.train").string(), {.format = "label_text"});
  EXPECT_EQ(stsa.size(), 6920u);
  EXPECT_EQ(stsa[0].label, "1");
  EXPECT_EQ(stsa[0].text.rfind("a stirring , funny and finally transporting", 0), 0u);
  EXPECT_EQ(count(stsa).size(), 2u);
}

}  // namespace
}  // namespace tessera::data
