// `tessera info`: what this machine offers for MFU: the CPU, the threads in
// use and the measured peak FLOP/s (core/machine_peak.h) in fp32 and bf16,
// from the per-machine cache or measured now (--remeasure); --format json for
// bench logs.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli_common.h"
#include "tessera/core/machine_peak.h"
#include "tessera/core/parallel.h"

using nlohmann::json;

namespace tessera::cli {
namespace {

struct InfoArgs {
  std::optional<int> threads;
  bool remeasure = false;
  std::string format = "text";
};

int run_info(const InfoArgs& a) {
  if (a.threads && *a.threads > 0) set_num_threads(*a.threads);
  const int threads = get_num_threads();
  const MachinePeak p = machine_peak(threads, "", a.remeasure);
  if (a.format == "json") {
    std::cout << json({{"cpu", p.cpu},
                       {"isa", p.fp32_isa},
                       {"threads", p.threads},
                       {"peak_flops_fp32", p.fp32_flops},
                       {"peak_flops_bf16", p.bf16_flops},
                       {"cached", p.from_cache},
                       {"cache", machine_peak_cache_path()}})
                     .dump()
              << "\n";
    return 0;
  }
  char line[160];
  std::cout << "cpu: " << p.cpu << "\n";
  std::cout << "instruction sets: " << p.fp32_isa << "\n";
  std::cout << "threads: " << p.threads << "\n";
  std::snprintf(line, sizeof line, "peak fp32 (FMA): %.1f GFLOP/s\n", p.fp32_flops / 1e9);
  std::cout << line;
  if (p.bf16_flops > 0)
    std::snprintf(line, sizeof line, "peak bf16 (vdpbf16ps): %.1f GFLOP/s\n", p.bf16_flops / 1e9);
  else
    std::snprintf(line, sizeof line, "peak bf16: no AVX512_BF16 on this CPU (bf16 MFU uses the fp32 peak)\n");
  std::cout << line;
  std::cout << (p.from_cache ? "from the cache " : "measured now; cache ") << machine_peak_cache_path() << "\n";
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  auto* c = app.add_subcommand("info", "Show this machine's CPU and measured peak FLOP/s (the MFU denominator)");
  c->add_option("--threads", a->threads, "threads to measure with (default: all cores)");
  c->add_flag("--remeasure", a->remeasure, "measure again and replace the cached figures");
  c->add_option("--format", a->format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));
  return {c, [a] { return run_info(*a); }};
}

}  // namespace tessera::cli
