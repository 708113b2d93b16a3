// Atomic, durable file replacement. Bytes go to "<path>.tmp.<pid>" beside the
// target; commit() fsyncs that file, renames it over the target and fsyncs the
// directory. A crash (even SIGKILL or power loss after commit returned) at any
// point therefore leaves either the previous file or the complete new one under
// the real name, never a torn mix. Safetensors, checkpoints and the usage
// ledger all write through this.
//
// The temp name carries the pid, so two processes writing the same target do
// not clobber each other's temp files (the last rename wins); two threads of
// one process must not write the same target at once.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::io {

class AtomicFile {
 public:
  // Creates (truncates) the temp file; throws tessera::Error naming the target
  // and the failing step (e.g. the directory does not exist or is read-only).
  explicit AtomicFile(std::string path);
  // Without commit() the temp file is removed and the target left untouched.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Buffered; throws tessera::Error (with strerror, e.g. "No space left on
  // device") when the bytes cannot be written.
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Flush, fsync, close, rename over the target, fsync the directory.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_path_; }
  size_t bytes_written() const { return written_; }

 private:
  void flush();
  // write(2) until all n bytes are out (retrying short writes and EINTR).
  void write_all(const char* p, size_t n);
  [[noreturn]] void fail(const char* step) const;

  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
  size_t written_ = 0;
  std::string buffer_;
};

// One-shot helper: the whole contents at once.
void write_file_atomic(const std::string& path, std::string_view contents);

// The reading side: a whole file's bytes; tessera::Error "<who>: cannot open
// '<path>'" when it is missing or unreadable.
std::string read_file(const std::string& path, std::string_view who);

namespace testing {
// Called after the temp file is fsynced and closed, just before the rename,
// with the temp path. Tests install a hook that SIGKILLs the process there to
// prove the previous file survives. nullptr (the default) disables it.
using BeforeRenameHook = void (*)(const std::string& temp_path);
void set_before_rename_hook(BeforeRenameHook hook);
}  // namespace testing

}  // namespace tessera::io
