// Token shard files: writer, memory-mapped reader with field-by-field checks,
// and the window sampler (text/shards.h describes the format).
#include "tessera/text/shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tessera/io/atomic_file.h"
#include "tessera/text/tokenizer.h"

namespace fs = std::filesystem;

namespace tessera::text {

namespace {

template <class T>
void put(unsigned char* dst, T v) {  // little-endian, whatever the host
  for (size_t i = 0; i < sizeof(T); ++i) dst[i] = static_cast<unsigned char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
}
template <class T>
T get(const unsigned char* src) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(src[i]) << (8 * i);
  return static_cast<T>(v);
}

int width_for_vocab(int64_t vocab) { return vocab <= 65536 ? 2 : 4; }

}  // namespace

uint64_t fnv1a64(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string fingerprint_hex(uint64_t fp) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fp));
  return buf;
}

uint64_t tokenizer_fingerprint(const Tokenizer& tok) {
  // save() is the tokenizer's canonical form; hash exactly those bytes.
  fs::path tmp = fs::temp_directory_path() /
                 ("tessera-tokfp-" + std::to_string(::getpid()) + "-" + std::to_string(reinterpret_cast<uintptr_t>(&tok)) + ".json");
  tok.save(tmp.string());
  std::ifstream in(tmp, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::error_code ec;
  fs::remove(tmp, ec);
  std::string bytes = ss.str();
  TSR_CHECK(!bytes.empty(), Error, "tokenizer fingerprint: the tokenizer saved an empty file");
  return fnv1a64(bytes.data(), bytes.size());
}

void write_shard(const std::string& path, const std::vector<int32_t>& tokens, int64_t vocab_size,
                 uint64_t tokenizer_fingerprint) {
  TSR_CHECK(vocab_size > 0 && vocab_size <= (int64_t{1} << 32), Error, "write_shard ", path,
            ": vocab size must be in [1, 2^32], got ", vocab_size);
  int width = width_for_vocab(vocab_size);
  unsigned char header[kShardHeaderBytes] = {};
  std::memcpy(header, kShardMagic, 8);
  put<uint32_t>(header + 8, kShardFormatVersion);
  put<uint32_t>(header + 12, static_cast<uint32_t>(width));
  put<uint64_t>(header + 16, static_cast<uint64_t>(vocab_size));
  put<uint64_t>(header + 24, static_cast<uint64_t>(tokens.size()));
  put<uint64_t>(header + 32, tokenizer_fingerprint);
  io::AtomicFile f(path);
  f.write(header, sizeof header);
  std::vector<unsigned char> buf;
  const size_t chunk = 1 << 16;
  for (size_t s = 0; s < tokens.size(); s += chunk) {
    size_t e = std::min(tokens.size(), s + chunk);
    buf.assign((e - s) * width, 0);
    for (size_t i = s; i < e; ++i) {
      int32_t id = tokens[i];
      TSR_CHECK(id >= 0 && id < vocab_size, Error, "write_shard ", path, ": token ", i, " has id ", id,
                ", outside the vocabulary [0, ", vocab_size, ")");
      if (width == 2) put<uint16_t>(&buf[(i - s) * 2], static_cast<uint16_t>(id));
      else put<uint32_t>(&buf[(i - s) * 4], static_cast<uint32_t>(id));
    }
    f.write(buf.data(), buf.size());
  }
  f.commit();
}

// ---- reader ----

TokenShard::TokenShard(const std::string& path, std::optional<int64_t> expected_vocab,
                       std::optional<uint64_t> expected_fingerprint)
    : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TSR_CHECK(fd >= 0, Error, "token shard ", path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error("token shard " + path + ": cannot stat: " + std::strerror(e));
  }
  map_bytes_ = static_cast<size_t>(st.st_size);
  if (map_bytes_ > 0) {
    map_ = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map_ == MAP_FAILED) {
      map_ = nullptr;
      throw Error("token shard " + path + ": mmap failed: " + std::strerror(errno));
    }
  } else {
    ::close(fd);
  }
  try {
    const auto* p = static_cast<const unsigned char*>(map_);
    TSR_CHECK(map_bytes_ >= kShardHeaderBytes, Error, "token shard ", path, ": file is ", map_bytes_,
              " bytes, shorter than the ", kShardHeaderBytes, "-byte header (truncated or not a shard)");
    if (std::memcmp(p, kShardMagic, 8) != 0) {
      std::string found;
      for (int i = 0; i < 8; ++i) found += (p[i] >= 32 && p[i] < 127) ? static_cast<char>(p[i]) : '.';
      throw Error("token shard " + path + ": bad magic: expected \"TSRTOKS\\0\", found \"" + found +
                  "\" (not a Tessera token shard)");
    }
    uint32_t version = get<uint32_t>(p + 8);
    TSR_CHECK(version == kShardFormatVersion, Error, "token shard ", path, ": format version: expected ",
              kShardFormatVersion, ", found ", version);
    uint32_t width = get<uint32_t>(p + 12);
    TSR_CHECK(width == 2 || width == 4, Error, "token shard ", path, ": dtype width: expected 2 (uint16) or 4 (uint32), found ",
              width);
    vocab_ = static_cast<int64_t>(get<uint64_t>(p + 16));
    TSR_CHECK(vocab_ > 0 && vocab_ <= (int64_t{1} << 32), Error, "token shard ", path,
              ": vocab size: expected 1..2^32, found ", vocab_);
    int expected_width = width_for_vocab(vocab_);
    TSR_CHECK(static_cast<int>(width) == expected_width, Error, "token shard ", path, ": dtype width: expected ",
              expected_width, " for vocab size ", vocab_, ", found ", width);
    width_ = static_cast<int>(width);
    uint64_t count = get<uint64_t>(p + 24);
    fingerprint_ = get<uint64_t>(p + 32);
    uint64_t want_bytes = kShardHeaderBytes + count * width;
    TSR_CHECK(count < (uint64_t{1} << 40) && want_bytes == map_bytes_, Error, "token shard ", path,
              ": file size: expected ", want_bytes, " bytes (header ", kShardHeaderBytes, " + ", count, " tokens x ",
              width, "), found ", map_bytes_, want_bytes > map_bytes_ ? " (truncated)" : " (trailing bytes)");
    count_ = static_cast<int64_t>(count);
    if (expected_vocab) {
      TSR_CHECK(*expected_vocab == vocab_, Error, "token shard ", path, ": vocab size: expected ", *expected_vocab,
                " (the tokenizer's), found ", vocab_);
    }
    if (expected_fingerprint) {
      TSR_CHECK(*expected_fingerprint == fingerprint_, Error, "token shard ", path,
                ": tokenizer fingerprint: expected ", fingerprint_hex(*expected_fingerprint), ", found ",
                fingerprint_hex(fingerprint_), " (the shard was made with another tokenizer)");
    }
    tokens_ = p + kShardHeaderBytes;
    // Every id once, up front, so training never meets an out-of-range id.
    for (int64_t i = 0; i < count_; ++i) {
      uint32_t id = width_ == 2 ? get<uint16_t>(tokens_ + i * 2) : get<uint32_t>(tokens_ + i * 4);
      TSR_CHECK(static_cast<int64_t>(id) < vocab_, Error, "token shard ", path, ": token ", i, " (byte offset ",
                kShardHeaderBytes + i * width_, ") has id ", id, ", expected < vocab size ", vocab_);
    }
  } catch (...) {
    if (map_) ::munmap(map_, map_bytes_);
    map_ = nullptr;
    throw;
  }
}

TokenShard::~TokenShard() {
  if (map_) ::munmap(map_, map_bytes_);
}

int64_t TokenShard::at(int64_t i) const {
  TSR_CHECK(i >= 0 && i < count_, IndexError, "token shard ", path_, ": index ", i, " out of range [0, ", count_, ")");
  return width_ == 2 ? get<uint16_t>(tokens_ + i * 2) : get<uint32_t>(tokens_ + i * 4);
}

void TokenShard::read(int64_t start, int64_t n, int64_t* dst) const {
  TSR_CHECK(start >= 0 && n >= 0 && start + n <= count_, IndexError, "token shard ", path_, ": range [", start, ", ",
            start + n, ") out of [0, ", count_, ")");
  if (width_ == 2) {
    for (int64_t i = 0; i < n; ++i) dst[i] = get<uint16_t>(tokens_ + (start + i) * 2);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = get<uint32_t>(tokens_ + (start + i) * 4);
  }
}

// ---- windows ----

TokenSplit::TokenSplit(std::vector<std::shared_ptr<TokenShard>> shards) : shards_(std::move(shards)) {}

int64_t TokenSplit::num_tokens() const {
  int64_t n = 0;
  for (const auto& s : shards_) n += s->size();
  return n;
}

int64_t TokenSplit::num_windows(int64_t T) const {
  int64_t n = 0;
  for (const auto& s : shards_) n += std::max<int64_t>(s->size() - T, 0);
  return n;
}

std::vector<std::pair<int64_t, int64_t>> TokenSplit::sample_starts(int64_t B, int64_t T, Generator& gen) const {
  TSR_CHECK(B > 0 && T > 0, Error, "token batches: batch size and length must be positive, got B=", B, " T=", T);
  int64_t W = num_windows(T);
  TSR_CHECK(W > 0, Error, "token batches: the split holds ", num_tokens(), " tokens in ", shards_.size(),
            " shard(s); a window needs ", T + 1, " tokens within one shard");
  uint64_t first = gen.reserve(static_cast<uint64_t>(B));
  std::vector<std::pair<int64_t, int64_t>> out;
  out.reserve(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    auto r = philox4x32(first + static_cast<uint64_t>(b), gen.seed());
    uint64_t v = static_cast<uint64_t>(r[0]) << 32 | r[1];
    // Modulo bias is below W / 2^64: negligible for any corpus that fits on disk.
    auto k = static_cast<int64_t>(v % static_cast<uint64_t>(W));
    for (size_t s = 0; s < shards_.size(); ++s) {
      int64_t ws = std::max<int64_t>(shards_[s]->size() - T, 0);
      if (k < ws) {
        out.emplace_back(static_cast<int64_t>(s), k);
        break;
      }
      k -= ws;
    }
  }
  return out;
}

TokenBatch TokenSplit::gather(const std::vector<std::pair<int64_t, int64_t>>& starts, int64_t T) const {
  auto B = static_cast<int64_t>(starts.size());
  Tensor x = tessera::empty({B, T}, {.dtype = DType::I64});
  Tensor y = tessera::empty({B, T}, {.dtype = DType::I64});
  int64_t* px = x.data<int64_t>();
  int64_t* py = y.data<int64_t>();
  std::vector<int64_t> win(static_cast<size_t>(T + 1));
  for (int64_t b = 0; b < B; ++b) {
    shards_[static_cast<size_t>(starts[b].first)]->read(starts[b].second, T + 1, win.data());
    std::copy(win.begin(), win.begin() + T, px + b * T);
    std::copy(win.begin() + 1, win.end(), py + b * T);
  }
  return {x, y};
}

TokenBatch TokenSplit::sample(int64_t B, int64_t T, Generator& gen) const {
  return gather(sample_starts(B, T, gen), T);
}

int64_t TokenSplit::num_sequential_windows(int64_t T) const {
  int64_t n = 0;
  for (const auto& s : shards_) n += s->size() > T ? (s->size() - 1) / T : 0;
  return n;
}

TokenBatch TokenSplit::sequential(int64_t index, int64_t B, int64_t T) const {
  TSR_CHECK(B > 0 && T > 0 && index >= 0, Error, "token batches: bad sequential batch (index ", index, ", B ", B,
            ", T ", T, ")");
  int64_t W = num_sequential_windows(T);
  TSR_CHECK(W > 0, Error, "token batches: the split holds ", num_tokens(), " tokens; a window needs ", T + 1,
            " tokens within one shard");
  std::vector<std::pair<int64_t, int64_t>> starts;
  for (int64_t b = 0; b < B; ++b) {
    int64_t k = (index * B + b) % W;
    for (size_t s = 0; s < shards_.size(); ++s) {
      int64_t ws = shards_[s]->size() > T ? (shards_[s]->size() - 1) / T : 0;
      if (k < ws) {
        starts.emplace_back(static_cast<int64_t>(s), k * T);
        break;
      }
      k -= ws;
    }
  }
  return gather(starts, T);
}

}  // namespace tessera::text
