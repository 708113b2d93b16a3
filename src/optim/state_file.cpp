// Versioned, atomically written state files (see state_file.h).
#include "optim/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tessera/core/error.h"

namespace tessera::optim::detail {
namespace {

static_assert(std::endian::native == std::endian::little, "state files store little-endian bytes");

using ::tessera::detail::concat;

// Owns the temp file until it is renamed; removes it on any failure.
struct TempFile {
  std::string path;
  int fd = -1;
  bool committed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed) ::unlink(path.c_str());
  }
  [[noreturn]] void fail(const char* what, const std::string& target, const char* step) const {
    throw Error(concat(what, " file '", target, "': ", step, " failed: ", std::strerror(errno)));
  }
  void write_all(const void* data, size_t n, const char* what, const std::string& target) const {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(what, target, "write");
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
};

}  // namespace

void write_state_file(const std::string& path, const char (&magic)[9], uint32_t version, const std::string& header,
                      const std::vector<std::pair<const void*, size_t>>& blobs, const char* what) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  TempFile tmp;
  std::string tmp_name = target.filename().string();
  tmp_name.insert(0, 1, '.');
  tmp_name.append(".tmp.").append(std::to_string(::getpid()));
  tmp.path = (dir / tmp_name).string();
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) tmp.fail(what, path, "creating a temporary file beside it");

  const uint64_t header_len = header.size();
  tmp.write_all(magic, 8, what, path);
  tmp.write_all(&version, sizeof version, what, path);
  tmp.write_all(&header_len, sizeof header_len, what, path);
  tmp.write_all(header.data(), header.size(), what, path);
  for (const auto& [p, n] : blobs) tmp.write_all(p, n, what, path);
  if (::fsync(tmp.fd) != 0) tmp.fail(what, path, "fsync");
  if (::close(tmp.fd) != 0) {
    tmp.fd = -1;
    tmp.fail(what, path, "close");
  }
  tmp.fd = -1;
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) tmp.fail(what, path, "rename");
  tmp.committed = true;
  // Make the rename itself durable; failure here leaves a complete file, so ignore it.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

StateFile read_state_file(const std::string& path, const char (&magic)[9], uint32_t max_version, const char* what) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), Error, what, " file '", path, "': cannot open: ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  constexpr uint64_t kPrefix = 8 + sizeof(uint32_t) + sizeof(uint64_t);
  char got[8] = {};
  in.read(got, std::min<uint64_t>(8, size));
  TSR_CHECK(size >= 8 && std::memcmp(got, magic, 8) == 0, Error, what, " file '", path, "': not a Tessera ", what,
            " file (expected magic \"", magic, "\")");
  TSR_CHECK(size >= kPrefix, Error, what, " file '", path, "': truncated header (", size, " bytes)");
  StateFile f;
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&f.version), sizeof f.version);
  in.read(reinterpret_cast<char*>(&header_len), sizeof header_len);
  TSR_CHECK(f.version >= 1 && f.version <= max_version, Error, what, " file '", path, "': format version ", f.version,
            " is not supported by this build (supports 1..", max_version, ")");
  TSR_CHECK(header_len <= size - kPrefix, Error, what, " file '", path, "': truncated (header of ", header_len,
            " bytes, file of ", size, ")");
  f.header.resize(header_len);
  in.read(f.header.data(), static_cast<std::streamsize>(header_len));
  f.data.resize(size - kPrefix - header_len);
  in.read(f.data.data(), static_cast<std::streamsize>(f.data.size()));
  TSR_CHECK(in.good() || in.eof(), Error, what, " file '", path, "': read failed");
  return f;
}

}  // namespace tessera::optim::detail
