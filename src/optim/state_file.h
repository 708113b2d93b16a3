// The container shared by optimizer and scheduler state files: an 8-byte
// magic, a uint32 format version, a uint64 length, a JSON header, then raw
// little-endian tensor bytes. Written atomically (temp file in the same
// directory, fsync, rename, fsync of the directory), so a crash mid-save never
// leaves a truncated file under the real name.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tessera/core/error.h"

namespace tessera::optim::detail {

struct StateFile {
  uint32_t version = 0;
  std::string header;       // JSON text
  std::vector<char> data;   // blob section
};

// `what` names the kind of file for error messages ("optimizer state").
void write_state_file(const std::string& path, const char (&magic)[9], uint32_t version, const std::string& header,
                      const std::vector<std::pair<const void*, size_t>>& blobs, const char* what);
// Throws tessera::Error naming the path when the file is missing, has the
// wrong magic, a version newer than `max_version`, or is truncated.
StateFile read_state_file(const std::string& path, const char (&magic)[9], uint32_t max_version, const char* what);

// The shared tail of Optimizer::load and StatefulScheduler::load: `decode`
// fills the state from the parsed header (a missing key or wrong type is
// "<what> file '<path>': malformed header: ..."), then `apply` loads it, and
// an Error it throws is prefixed with the same "<what> file '<path>': ".
template <class State, class Decode, class Apply>
void decode_and_apply(const std::string& path, const char* what, const StateFile& f, Decode decode, Apply apply) {
  State st;
  try {
    decode(nlohmann::json::parse(f.header), st);
  } catch (const nlohmann::json::exception& e) {
    throw Error(::tessera::detail::concat(what, " file '", path, "': malformed header: ", e.what()));
  }
  try {
    apply(st);
  } catch (const Error& e) {
    throw Error(::tessera::detail::concat(what, " file '", path, "': ", e.what()));
  }
}

}  // namespace tessera::optim::detail
