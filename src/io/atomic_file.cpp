// Atomic file replacement (see atomic_file.h). POSIX only: rename(2) within one
// directory is atomic, and fsync of the directory makes the rename durable.
#include "tessera/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tessera/core/error.h"

namespace tessera::io {
namespace {

// Large enough that multi-GB checkpoints cost few syscalls, small enough not to matter in memory.
constexpr size_t kBufferBytes = size_t(1) << 20;

std::atomic<testing::BeforeRenameHook> g_before_rename{nullptr};

std::string directory_of(const std::string& path) {
  std::filesystem::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

}  // namespace

void testing::set_before_rename_hook(BeforeRenameHook hook) { g_before_rename.store(hook); }

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  TSR_CHECK(!path_.empty(), Error, "atomic write: empty file name");
  tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("creating the temporary file beside it");
  buffer_.reserve(kBufferBytes);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFile::fail(const char* step) const {
  const int err = errno;
  throw Error(detail::concat("writing '", path_, "': ", step, " ('", tmp_path_, "') failed: ", std::strerror(err)));
}

void AtomicFile::write(const void* data, size_t n) {
  TSR_CHECK(fd_ >= 0 && !committed_, Error, "writing '", path_, "': write after commit");
  written_ += n;
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + n <= kBufferBytes) {
    buffer_.append(p, n);
    return;
  }
  flush();
  if (n < kBufferBytes) {
    buffer_.append(p, n);
    return;
  }
  // Big pieces (tensor data) bypass the buffer rather than being copied through it.
  write_all(p, n);
}

void AtomicFile::flush() {
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void AtomicFile::write_all(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  TSR_CHECK(fd_ >= 0 && !committed_, Error, "writing '", path_, "': commit called twice");
  flush();
  if (::fsync(fd_) != 0) fail("fsync");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close");
  if (auto hook = g_before_rename.load()) hook(tmp_path_);
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) fail("renaming the temporary file over it");
  committed_ = true;
  // Without this the rename may not survive a power loss. The new contents are
  // already complete under the real name, so a failure here is not an error.
  int dfd = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string read_file(const std::string& path, std::string_view who) {
  std::ifstream in(path, std::ios::binary);
  TSR_CHECK(in.good(), Error, who, ": cannot open '", path, "'");
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

}  // namespace tessera::io
