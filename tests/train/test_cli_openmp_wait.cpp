// The `tessera` tool bounds libgomp's spin-wait before libgomp reads its
// environment (src/tools/omp_wait_policy.cpp), and a user's own
// OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. Read back through libgomp itself:
// OMP_DISPLAY_ENV=verbose prints the settings it initialised with.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli_util.h"

namespace fs = std::filesystem;
using tessera::test_util::tessera_binary;

namespace {

// libgomp's settings as printed at start-up by `tessera --version` under the given environment.
std::string gomp_settings(const std::string& env) {
  const std::string cmd = "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose " + env + " " +
                          tessera_binary().string() + " --version 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string text;
  char buf[512];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, got);
  ::pclose(p);
  return text;
}

}  // namespace

TEST(CliOpenMpWait, SpinningIsBoundedUnlessTheUserChose) {
  if (!fs::exists(tessera_binary())) GTEST_SKIP() << "tessera binary not built at " << tessera_binary();
  const std::string fresh = gomp_settings("");
  if (fresh.find("GOMP_SPINCOUNT") == std::string::npos)
    GTEST_SKIP() << "this OpenMP runtime does not print GOMP_SPINCOUNT under OMP_DISPLAY_ENV=verbose";
  EXPECT_NE(fresh.find("GOMP_SPINCOUNT = '1000'"), std::string::npos) << fresh;
  EXPECT_NE(fresh.find("tessera 0.1.0"), std::string::npos) << fresh;

  const std::string own_count = gomp_settings("GOMP_SPINCOUNT=123");
  EXPECT_NE(own_count.find("GOMP_SPINCOUNT = '123'"), std::string::npos) << own_count;

  const std::string active = gomp_settings("OMP_WAIT_POLICY=active");
  EXPECT_NE(active.find("OMP_WAIT_POLICY = 'ACTIVE'"), std::string::npos) << active;
  EXPECT_EQ(active.find("GOMP_SPINCOUNT = '1000'"), std::string::npos) << active;
}
