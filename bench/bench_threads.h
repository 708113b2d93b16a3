// The --threads=N flag the Google Benchmark programs share: removed from argv
// before benchmark::Initialize (which rejects flags it does not know).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>

inline int take_threads_flag(int& argc, char** argv, const char* program) {
  int threads = 1, out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::atoi(argv[i] + 10);
    else argv[out++] = argv[i];
  }
  argc = out;
  if (threads < 1) {
    std::fprintf(stderr, "%s: --threads must be a positive integer\n", program);
    std::exit(2);
  }
  return threads;
}
