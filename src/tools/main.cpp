// The `tessera` command-line tool. Each subcommand lives in its own
// cmd_*.cpp and registers a parser plus a run function (cli_common.h).
// Errors become one line on stderr and a non-zero exit, never a stack trace:
// 2 for usage errors, 1 for failures while running.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli_common.h"
#include "omp_wait_policy.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"
#include "tessera/dist/world.h"

using namespace tessera::cli;

int main(int argc, char** argv) {
  bound_openmp_spinning(argv);  // may re-execute this program once, before anything else happens
  try {
    tessera::dist::init_from_launcher(&argc, &argv);  // a rank of `mpirun -np N tessera ...`
  } catch (const std::exception& e) {
    std::cerr << "tessera: " << e.what() << "\n";
    return 1;
  }
  const tessera::dist::World& world = tessera::dist::world();
  // One voice per job: ranks > 0 print nothing on stdout (errors still reach stderr).
  if (world.rank > 0 && !std::freopen("/dev/null", "w", stdout)) std::cerr << "tessera: cannot silence rank " << world.rank << "\n";
  // Ranks on one machine share its cores: each takes its part unless told
  // (OMP_NUM_THREADS, or --threads / train.threads which set it later).
  if (world.local_size > 1 && !std::getenv("OMP_NUM_THREADS"))
    tessera::set_num_threads(std::max(1, tessera::get_num_threads() / world.local_size));
  CLI::App app{"Tessera: train, evaluate and serve neural networks", "tessera"};
  app.set_version_flag("--version", "tessera 0.1.0");
  app.require_subcommand(1);
  std::vector<Command> commands = {add_train_command(app),    add_eval_command(app),     add_tokenizer_command(app),
                                  add_data_command(app),     add_pretrain_command(app), add_generate_command(app),
                                  add_serve_command(app),    add_plans_command(app),    add_keys_command(app),
                                  add_usage_command(app),    add_cost_command(app),     add_finetune_command(app),
                                  add_info_command(app),     add_quantize_command(app), add_export_command(app),   add_privacy_command(app)};

  if (argc < 2) {
    std::cout << app.help();
    return 0;
  }
  std::string first = argv[1], names;
  bool known = false;
  for (const auto& c : commands) {
    names += (names.empty() ? "" : ", ") + c.app->get_name();
    known = known || c.app->get_name() == first;
  }
  if (!first.empty() && first[0] != '-' && !known) {
    std::cerr << "tessera: unknown command '" << first << "' (commands: " << names << "; see tessera --help)\n";
    return 2;
  }
  auto parsed = [&]() -> const Command* {
    for (const auto& c : commands)
      if (c.app->parsed()) return &c;
    return nullptr;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const Command* c = parsed();
    std::string where = c ? " " + c->app->get_name() : "";
    std::cerr << "tessera" << where << ": " << e.what() << " (see tessera" << where << " --help)\n";
    return 2;
  }
  const Command* c = parsed();
  std::string sub = c ? c->app->get_name() : "";
  int rc = 2;
  try {
    rc = c ? c->run() : 2;
  } catch (const std::exception& e) {
    std::cerr << "tessera " << sub << (world.size > 1 ? " (rank " + std::to_string(world.rank) + ")" : "") << ": "
              << e.what() << "\n";
    // The other ranks may be waiting in a collective for this one: end the job.
    if (world.size > 1) tessera::dist::abort_job(1);
    return 1;
  }
  tessera::dist::finalize();
  return rc;
}
