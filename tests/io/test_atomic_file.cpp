// Atomic file replacement: replace and abandon semantics, errors that name the
// file, and crash safety. A forked writer is SIGKILLed (a) deterministically,
// by a test hook between fsync and rename, and (b) at arbitrary moments while
// it rewrites a large safetensors file in a loop; the file under the real name
// must always load intact.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tessera/io/atomic_file.h"
#include "tessera/io/safetensors.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::io;
namespace fs = std::filesystem;

namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("tessera_af_") + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> temp_files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().filename());
    return out;
  }
  fs::path dir_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The version a checkpoint-like file claims, after checking every value agrees with it.
int64_t checked_version(const std::string& file) {
  SafetensorsContents c = load_safetensors(file);
  const int64_t v = std::stoll(c.metadata.at("version"));
  const Tensor& w = c.tensors.at("w");
  const float* p = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i)
    if (p[i] != static_cast<float>(v)) {
      ADD_FAILURE() << file << ": element " << i << " is " << p[i] << " but the file claims version " << v;
      break;
    }
  return v;
}

void kill_self(const std::string&) { ::raise(SIGKILL); }

}  // namespace

TEST_F(AtomicFileTest, ReplacesTheTargetAndLeavesNoTempFile) {
  write_file_atomic(path("f"), "one");
  EXPECT_EQ(read_bytes(path("f")), "one");
  {
    AtomicFile f(path("f"));
    EXPECT_EQ(f.temp_path(), path("f") + ".tmp." + std::to_string(::getpid()));
    f.write("tw");
    f.write(std::string(3 << 20, 'o'));  // larger than the internal buffer
    f.write("!");
    EXPECT_EQ(read_bytes(path("f")), "one") << "the target is untouched until commit";
    f.commit();
    EXPECT_EQ(f.bytes_written(), 3u + (3 << 20));
  }
  EXPECT_EQ(read_bytes(path("f")), "tw" + std::string(3 << 20, 'o') + "!");
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(AtomicFileTest, AbandonedWriteKeepsThePreviousFile) {
  write_file_atomic(path("f"), "previous");
  {
    AtomicFile f(path("f"));
    f.write("half of a new ");
  }  // destroyed without commit, as when an exception unwinds through a save
  EXPECT_EQ(read_bytes(path("f")), "previous");
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(AtomicFileTest, ErrorsNameTheFile) {
  const std::string target = path("missing_dir/f");
  try {
    write_file_atomic(target, "x");
    FAIL() << "no exception";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("writing '" + target + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  AtomicFile f(path("g"));
  f.commit();
  EXPECT_THROW(f.commit(), Error);
  EXPECT_THROW(f.write("late"), Error);
}

TEST_F(AtomicFileTest, KilledBetweenWriteAndRenameKeepsThePreviousFile) {
  const std::string file = path("ckpt.safetensors");
  std::vector<float> ones(1 << 20, 1.0f);
  save_safetensors(file, {{"w", from_vector<float>(ones, {1 << 20})}}, {{"version", "1"}});
  const std::string before = read_bytes(file);
  Tensor next = full({1 << 20}, 2.0);

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    tessera::io::testing::set_before_rename_hook(&kill_self);
    save_safetensors(file, {{"w", next}}, {{"version", "2"}});
    ::_exit(3);  // not reached: the hook kills us
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  EXPECT_EQ(read_bytes(file), before);
  EXPECT_EQ(checked_version(file), 1);
  // The complete but never renamed temp file is what a crash leaves behind.
  const std::string stale = file + ".tmp." + std::to_string(child);
  ASSERT_TRUE(fs::exists(stale));
  EXPECT_EQ(load_safetensors(stale).metadata.at("version"), "2");
}

TEST_F(AtomicFileTest, KilledAtRandomMomentsWhileRewritingKeepsALoadableFile) {
  const std::string file = path("ckpt.safetensors");
  constexpr int64_t kElems = 4 << 20;  // 16 MiB per write: the kill usually lands mid-write or mid-fsync
  Tensor w = zeros({kElems});
  save_safetensors(file, {{"w", w}}, {{"version", "0"}});

  int killed_mid_write = 0;
  int64_t last_version = 0;
  const int delays_ms[] = {5, 40, 90, 150, 230, 320};
  for (int delay : delays_ms) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // Rewrites the file with ever newer versions until killed. Plain loops
      // only: no thread pool may be used after fork.
      float* p = w.data<float>();
      for (int64_t v = last_version + 1; v < last_version + 10000; ++v) {
        std::fill(p, p + kElems, static_cast<float>(v));
        save_safetensors(file, {{"w", w}}, {{"version", std::to_string(v)}});
      }
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer finished before it was killed";

    const int64_t v = checked_version(file);
    EXPECT_GE(v, last_version) << "the file went back in time";
    last_version = v;
    const std::string stale = file + ".tmp." + std::to_string(child);
    if (fs::exists(stale)) {
      ++killed_mid_write;
      fs::remove(stale);
    }
  }
  // Otherwise the test proved nothing: every kill would have hit between saves.
  EXPECT_GT(killed_mid_write, 0);
  RecordProperty("killed_mid_write", killed_mid_write);
  RecordProperty("last_version", static_cast<int>(last_version));
  EXPECT_TRUE(temp_files().empty());
}
