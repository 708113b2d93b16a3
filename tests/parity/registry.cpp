#include "registry.h"

namespace tessera::parity {

std::map<std::string, OpFn>& registry() {
  static std::map<std::string, OpFn> r;
  return r;
}

}  // namespace tessera::parity
