#include "tessera/core/autocast.h"

#include "tessera/core/error.h"

namespace tessera {
namespace {
thread_local Precision t_autocast = Precision::fp32;
}  // namespace

Precision parse_precision(std::string_view name, std::string_view what) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw Error(detail::concat(what, ": unknown precision '", name, "' (expected \"fp32\" or \"bf16\")"));
}

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

Precision autocast_precision() { return t_autocast; }

AutocastGuard::AutocastGuard(Precision p) : previous_(t_autocast) { t_autocast = p; }
AutocastGuard::~AutocastGuard() { t_autocast = previous_; }

}  // namespace tessera
