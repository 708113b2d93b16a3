// The `tessera` command-line tool. Subcommands arrive with their issues;
// errors become one line on stderr and a non-zero exit, never a stack trace.
#include <cstring>
#include <iostream>
#include <string>

#include "tessera/tessera.h"

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "--help";
  try {
    if (cmd == "--version" || cmd == "version") {
      std::cout << "tessera 0.1.0\n";
      return 0;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << "usage: tessera <command> [options]\n\ncommands:\n  version   print the version\n";
      return 0;
    }
    std::cerr << "tessera: unknown command '" << cmd << "' (see tessera --help)\n";
    return 2;
  } catch (const tessera::Error& e) {
    std::cerr << "tessera " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
