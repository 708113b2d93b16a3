// Running the built `tessera` binary from the unit tests: where it is, and
// one call that runs it through the shell and reads what the pipe gets.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

namespace tessera::test_util {

// $TESSERA_CLI_BINARY, else `tessera` in the folder above the test binary's (build/tessera).
inline std::filesystem::path tessera_binary() {
  if (const char* env = std::getenv("TESSERA_CLI_BINARY")) return env;
  std::array<char, 4096> buf{};
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return {};
  return std::filesystem::path(std::string(buf.data(), static_cast<size_t>(n))).parent_path().parent_path() /
         "tessera";
}

// Runs `tessera ARGS REDIRECT`; returns (exit code, everything read from the
// pipe). The default redirect keeps stderr and drops stdout.
inline std::pair<int, std::string> run_tessera(const std::string& args,
                                               const std::string& redirect = "2>&1 >/dev/null") {
  std::string cmd = tessera_binary().string() + " " + args + " " + redirect;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 512> buf{};
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), got);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace tessera::test_util
