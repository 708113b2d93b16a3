// io::JsonReader: unknown keys name their key path and the known keys, typed
// reads name the field and the type expected, sections extend the path,
// absent keys keep the default.
#include <gtest/gtest.h>

#include "io/json_reader.h"
#include "test_util.h"

using nlohmann::json;
using tessera::Error;
using tessera::io::JsonReader;
using tessera::test_util::expect_error;

TEST(JsonReader, UnknownKeysNameTheirPathAndTheKnownKeys) {
  json j = json::parse(R"({"model": {}, "train": {"stpes": 3}})");
  JsonReader top(j, "recipe");
  top.known_keys({"model", "train"});
  expect_error<Error>([&] { top.section("train").known_keys({"steps", "batch_size"}); },
                      {"recipe: unknown key 'train.stpes'", "known: batch_size, steps"});
  expect_error<Error>([&] { top.known_keys({"model"}); }, {"unknown key 'train'", "(known: model)"});
}

TEST(JsonReader, TypedReadsKeepDefaultsAndNameWrongTypes) {
  json j = json::parse(R"({"steps": 10, "big": 1e4, "lr": 3, "flag": true, "name": "x", "hidden": [8, 16.0],
                          "betas": [0.9, 1], "cols": ["a", "b"], "seed": 18446744073709551615,
                          "half": 2.5, "text": "2", "yes": true, "neg": -1, "mixed": ["a", 1]})");
  JsonReader r(j, "config", "train.");
  int64_t steps = 0, big = 0, absent = 7;
  double lr = 0;
  bool flag = false;
  std::string name;
  std::vector<int64_t> hidden;
  std::vector<double> betas;
  std::vector<std::string> cols;
  uint64_t seed = 0;
  EXPECT_TRUE(r.read("steps", steps));
  EXPECT_TRUE(r.read("big", big));
  EXPECT_FALSE(r.read("absent", absent));
  EXPECT_TRUE(r.read("lr", lr));
  r.read("flag", flag), r.read("name", name), r.read("hidden", hidden), r.read("betas", betas), r.read("cols", cols);
  r.read("seed", seed);
  EXPECT_EQ(steps, 10);
  EXPECT_EQ(big, 10000);
  EXPECT_EQ(absent, 7);
  EXPECT_EQ(lr, 3.0);
  EXPECT_TRUE(flag);
  EXPECT_EQ(name, "x");
  EXPECT_EQ(hidden, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(betas, (std::vector<double>{0.9, 1.0}));
  EXPECT_EQ(cols, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seed, 18446744073709551615ull);

  int threads = 0;
  expect_error<Error>([&] { r.read("half", steps); }, {"config: 'train.half' must be an integer", "2.5"});
  expect_error<Error>([&] { r.read("text", threads); }, {"'train.text' must be an integer", "\"2\""});
  expect_error<Error>([&] { r.read("yes", lr); }, "'train.yes' must be a number");
  expect_error<Error>([&] { r.read("steps", flag); }, "'train.steps' must be true or false");
  expect_error<Error>([&] { r.read("steps", name); }, "'train.steps' must be a string");
  expect_error<Error>([&] { r.read("neg", seed); }, "'train.neg' must be a non-negative integer");
  expect_error<Error>([&] { r.read("mixed", cols); }, "'train.mixed' must be a list of strings");
  expect_error<Error>([&] { r.read("cols", hidden); }, "'train.cols' must be a list of integers");
}

TEST(JsonReader, SectionsAndTopLevel) {
  json j = json::parse(R"({"optimizer": {"lr": 0.1}, "schedule": 3})");
  JsonReader top(j, "config");
  double lr = 0;
  JsonReader o = top.section("optimizer");
  EXPECT_EQ(o.field("lr"), "optimizer.lr");
  o.read("lr", lr);
  EXPECT_EQ(lr, 0.1);
  // An absent section is empty: every read keeps its default.
  int64_t warmup = 5;
  EXPECT_FALSE(top.section("train").read("warmup", warmup));
  EXPECT_EQ(warmup, 5);
  expect_error<Error>([&] { top.section("schedule"); }, "config: 'schedule' must be an object, got 3");
  json arr = json::parse("[1]");
  expect_error<Error>([&] { JsonReader(arr, "GPTConfig"); }, "GPTConfig: the top level must be a JSON object");
  expect_error<Error>([] { tessera::io::parse_json("{", "recipe is not valid JSON: "); }, "recipe is not valid JSON: ");
}
