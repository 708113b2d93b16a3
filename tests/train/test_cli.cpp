// The `tessera` command on bad input: one clear line on stderr, non-zero exit.
// Runs the built binary (next to the tests folder of the build tree).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

#include "cli_util.h"

namespace fs = std::filesystem;

namespace {

using tessera::test_util::tessera_binary;

struct Outcome {
  int rc = -1;
  std::string output;  // stderr (stdout discarded)
};

Outcome run(const std::string& args) {
  auto [rc, text] = tessera::test_util::run_tessera(args);
  return {rc, text};
}

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST(Cli, BadInputGivesOneLineAndNonZeroExit) {
  if (!fs::exists(tessera_binary())) GTEST_SKIP() << "tessera binary not built at " << tessera_binary();
  auto missing = run("train --config /nonexistent/recipe.json --out /tmp/tessera_cli_unused");
  EXPECT_NE(missing.rc, 0);
  EXPECT_EQ(lines(missing.output), 1) << missing.output;
  EXPECT_NE(missing.output.find("cannot read config file '/nonexistent/recipe.json'"), std::string::npos)
      << missing.output;

  auto flag = run("train --config x.json --out y --no-such-flag");
  EXPECT_EQ(flag.rc, 2);
  EXPECT_EQ(lines(flag.output), 1) << flag.output;
  EXPECT_NE(flag.output.find("--no-such-flag"), std::string::npos) << flag.output;

  auto no_out = run("train --config x.json");
  EXPECT_EQ(no_out.rc, 2);
  EXPECT_NE(no_out.output.find("--out"), std::string::npos) << no_out.output;

  auto cmd = run("frobnicate");
  EXPECT_EQ(cmd.rc, 2);
  EXPECT_NE(cmd.output.find("unknown command 'frobnicate'"), std::string::npos) << cmd.output;

  auto ck = run("eval --checkpoint /nonexistent/run");
  EXPECT_NE(ck.rc, 0);
  EXPECT_EQ(lines(ck.output), 1) << ck.output;
  EXPECT_NE(ck.output.find("/nonexistent/run"), std::string::npos) << ck.output;

  for (const char* cmd : {"train --config x.json", "pretrain --config x.json", "finetune"}) {
    auto precision = run(std::string(cmd) + " --out y --precision fp16");
    EXPECT_EQ(precision.rc, 2) << cmd;
    EXPECT_NE(precision.output.find("--precision"), std::string::npos) << cmd << ": " << precision.output;
  }

  EXPECT_EQ(run("train --help").rc, 0);
  EXPECT_EQ(run("eval --help").rc, 0);
}
