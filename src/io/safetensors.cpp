// Safetensors reader and writer (see safetensors.h). The header is parsed and
// fully validated against the file size before any tensor byte is touched, so
// a corrupt or hostile file fails with a message instead of a huge allocation
// or an out-of-bounds read.
#include "tessera/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "tessera/io/atomic_file.h"

namespace tessera::io {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian bytes");

using json = nlohmann::json;
using ::tessera::detail::concat;

// The reference reader refuses larger headers; so do we (it also bounds the
// allocation a corrupt length field could cause).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

// Every safetensors dtype code. `rank` is the code's position in the reference
// implementation's enum: its writer orders tensors by rank, highest first,
// which puts wide types first and keeps each tensor aligned to its element size.
struct CodeInfo {
  const char* code;
  uint64_t size;
  int rank;
  bool held;  // Tessera has a dtype for it
  DType dtype;
};
constexpr CodeInfo kCodes[] = {
    {"BOOL", 1, 0, true, DType::Bool},     {"U8", 1, 1, false, DType::F32},   {"I8", 1, 2, false, DType::F32},
    {"F8_E5M2", 1, 3, false, DType::F32},  {"F8_E4M3", 1, 4, false, DType::F32}, {"I16", 2, 5, false, DType::F32},
    {"U16", 2, 6, false, DType::F32},      {"F16", 2, 7, false, DType::F32},  {"BF16", 2, 8, true, DType::BF16},
    {"I32", 4, 9, true, DType::I32},       {"U32", 4, 10, false, DType::F32}, {"F32", 4, 11, true, DType::F32},
    {"F64", 8, 12, true, DType::F64},      {"I64", 8, 13, true, DType::I64},  {"U64", 8, 14, false, DType::F32},
};
constexpr const char* kHeldCodes = "F32, F64, BF16, I32, I64, BOOL";

const CodeInfo* find_code(std::string_view code) {
  for (const auto& c : kCodes)
    if (code == c.code) return &c;
  return nullptr;
}
const CodeInfo& info_of(DType t) {
  for (const auto& c : kCodes)
    if (c.held && c.dtype == t) return c;
  throw DTypeError(concat("safetensors: no code for dtype ", dtype_name(t)));
}

template <typename... Args>
[[noreturn]] void fail(const std::string& origin, const Args&... parts) {
  throw Error(concat("safetensors file '", origin, "': ", parts...));
}

std::string offsets_str(const SafetensorsEntry& e) { return concat("[", e.begin, ", ", e.end, "]"); }

// Non-negative JSON integer that fits in uint64 (floats, negatives and strings are rejected).
bool as_u64(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

void check_header_length(uint64_t n, uint64_t file_size, const std::string& origin) {
  if (n > file_size - 8)
    fail(origin, "header length ", n, " runs past the end of the file (", file_size,
         " bytes): truncated, or not a safetensors file");
  if (n > kMaxHeaderBytes) fail(origin, "header length ", n, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
}

SafetensorsEntry parse_entry(const std::string& name, const json& v, const std::string& origin) {
  SafetensorsEntry e;
  e.name = name;
  if (!v.is_object()) fail(origin, "tensor '", name, "': entry must be a JSON object, got ", v.dump());
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail(origin, "tensor '", name, "': missing field \"", key, "\"");

  const json& dt = v["dtype"];
  if (!dt.is_string()) fail(origin, "tensor '", name, "': \"dtype\" must be a string, got ", dt.dump());
  e.dtype = dt.get<std::string>();
  const CodeInfo* code = find_code(e.dtype);
  if (code == nullptr)
    fail(origin, "tensor '", name, "': unknown dtype \"", e.dtype,
         "\" (safetensors codes: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)");

  const json& sh = v["shape"];
  if (!sh.is_array()) fail(origin, "tensor '", name, "': \"shape\" must be an array, got ", sh.dump());
  uint64_t numel = 1;
  bool overflow = false, has_zero = false;
  for (const json& d : sh) {
    uint64_t n = 0;
    if (!as_u64(d, n) || n > uint64_t(INT64_MAX))
      fail(origin, "tensor '", name, "': shape ", sh.dump(), " must hold non-negative integers");
    e.shape.push_back(static_cast<int64_t>(n));
    has_zero = has_zero || n == 0;
    if (n != 0 && numel > UINT64_MAX / n) overflow = true;
    numel *= n;
  }
  if (has_zero) numel = 0, overflow = false;  // a zero dim wins over huge ones
  if (overflow || numel > uint64_t(INT64_MAX) / code->size)
    fail(origin, "tensor '", name, "': shape ", sh.dump(), " is too large");

  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !as_u64(off[0], e.begin) || !as_u64(off[1], e.end))
    fail(origin, "tensor '", name, "': \"data_offsets\" must be [begin, end] with non-negative integers, got ",
         off.dump());
  if (e.end < e.begin) fail(origin, "tensor '", name, "': data_offsets ", offsets_str(e), " end before they begin");
  const uint64_t need = numel * code->size;
  if (e.end - e.begin != need)
    fail(origin, "tensor '", name, "': data_offsets ", offsets_str(e), " hold ", e.end - e.begin, " bytes but shape ",
         shape_str(e.shape), " of ", e.dtype, " needs ", need);
  return e;
}

// Parses and validates the JSON header of a file of `file_size` bytes whose
// header is `text` (so the data section starts at 8 + text.size()).
SafetensorsHeader parse_header(std::string_view text, uint64_t file_size, const std::string& origin) {
  SafetensorsHeader h;
  h.file_size = file_size;
  h.data_start = 8 + text.size();
  const uint64_t data_size = file_size - h.data_start;
  if (text.empty() || text[0] != '{')
    fail(origin, "the header does not start with '{' (not a safetensors file?)");

  // nlohmann keeps the last of duplicated keys silently; a duplicate tensor
  // name means a broken writer, so catch it while parsing.
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      auto key = parsed.get<std::string>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& ex) {
    fail(origin, "malformed JSON header: ", ex.what());
  }
  if (!duplicate.empty()) fail(origin, "tensor '", duplicate, "' appears twice in the header");
  if (!root.is_object()) fail(origin, "the header must be a JSON object");

  for (const auto& [key, v] : root.items()) {
    if (key == kMetadataKey) {
      if (!v.is_object()) fail(origin, "\"__metadata__\" must be an object of strings, got ", v.dump());
      for (const auto& [mk, mv] : v.items()) {
        if (!mv.is_string())
          fail(origin, "\"__metadata__\" value of '", mk, "' must be a string, got ", mv.dump());
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    SafetensorsEntry e = parse_entry(key, v, origin);
    if (e.end > data_size)
      fail(origin, "tensor '", key, "': data_offsets ", offsets_str(e), " run past the data section of ", data_size,
           " bytes (file truncated?)");
    h.tensors.push_back(std::move(e));
  }

  // Tensors must tile the data section exactly, as the reference reader demands.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const auto& e : h.tensors) {
    if (e.begin < pos)
      fail(origin, "tensors '", prev->name, "' ", offsets_str(*prev), " and '", e.name, "' ", offsets_str(e),
           " overlap");
    if (e.begin > pos)
      fail(origin, "tensor '", e.name, "': data_offsets ", offsets_str(e), " leave a gap of ", e.begin - pos,
           " bytes after ", prev ? concat("tensor '", prev->name, "'") : std::string("the header"));
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size)
    fail(origin, data_size - pos, " trailing bytes after the last tensor (the data section holds ", data_size,
         " bytes, the tensors end at ", pos, ")");
  return h;
}

// Tessera dtype for an entry, or a DTypeError naming the file and tensor.
DType dtype_for(const SafetensorsEntry& e, const std::string& origin) {
  const CodeInfo* c = find_code(e.dtype);
  if (c == nullptr || !c->held)
    throw DTypeError(concat("safetensors file '", origin, "': tensor '", e.name, "' has dtype ", e.dtype,
                            ", which Tessera cannot hold (supported: ", kHeldCodes, ")"));
  return c->dtype;
}

// Bool bytes other than 0 and 1 would be undefined behaviour once read as bool.
void check_bool(const Tensor& t, const SafetensorsEntry& e, const std::string& origin) {
  if (t.dtype() != DType::Bool) return;
  const auto* p = static_cast<const unsigned char*>(t.raw_data());
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] > 1)
      fail(origin, "tensor '", e.name, "' (BOOL) holds byte value ", int(p[i]), " at element ", i,
           " (expected 0 or 1)");
}

Tensor copy_out(const unsigned char* data, const SafetensorsEntry& e, DType dt, const std::string& origin) {
  Tensor t = empty(e.shape, {.dtype = dt});
  if (e.end > e.begin) std::memcpy(t.raw_data(), data + e.begin, e.end - e.begin);
  check_bool(t, e, origin);
  return t;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `path` and returns its size; fails unless it is a regular file of at least 8 bytes.
uint64_t open_file(const std::string& path, Fd& f) {
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail(path, "cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail(path, "cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) fail(path, "the file is ", size, " bytes, too short for the 8-byte header length");
  return size;
}

void pread_all(const Fd& f, void* dst, uint64_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(f.fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(path, "read failed at byte ", offset, ": ", std::strerror(errno));
    if (r == 0) fail(path, "unexpected end of file at byte ", offset, " (was it truncated while reading?)");
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

SafetensorsHeader read_header_fd(const Fd& f, uint64_t size, const std::string& path) {
  uint64_t n = 0;
  pread_all(f, &n, 8, 0, path);
  check_header_length(n, size, path);
  std::string text(n, '\0');
  pread_all(f, text.data(), n, 8, path);
  return parse_header(text, size, path);
}

// A private, writable mapping of a whole file: tensors that view it may be
// modified in place without touching the file.
struct Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) ::munmap(base, size);
  }
};

// Tensor entries in the order the reference writer uses: widest dtype first, then by name.
struct OutEntry {
  const std::string* name;
  Shape shape;
  const void* bytes;
  uint64_t nbytes;
  const CodeInfo* code;
  Tensor keep;  // owns `bytes` for Tensor entries (contiguous, CPU, detached)
};

void check_name(const std::string& name) {
  TSR_CHECK(name != kMetadataKey, Error, "safetensors: \"", kMetadataKey, "\" is reserved and cannot name a tensor");
}

void sort_entries(std::vector<OutEntry>& out) {
  std::stable_sort(out.begin(), out.end(),
                   [](const OutEntry& a, const OutEntry& b) { return a.code->rank > b.code->rank; });
}

std::vector<OutEntry> prepare(const TensorMap& tensors) {
  std::vector<OutEntry> out;
  for (const auto& [name, t] : tensors) {
    check_name(name);
    TSR_CHECK(t.defined(), Error, "safetensors: tensor '", name, "' is undefined");
    Tensor c = t.detach();
    if (c.device() != cpu_device()) c = c.to(cpu_device());
    c = c.contiguous();
    const CodeInfo* code = &info_of(t.dtype());
    out.push_back({&name, c.shape(), c.raw_data(), static_cast<uint64_t>(c.numel()) * code->size, code, c});
  }
  sort_entries(out);
  return out;
}

std::vector<OutEntry> prepare(const RawTensorMap& tensors) {
  std::vector<OutEntry> out;
  for (const auto& [name, t] : tensors) {
    check_name(name);
    const CodeInfo* code = find_code(t.dtype);
    TSR_CHECK(code != nullptr, DTypeError, "safetensors: tensor '", name, "' has unknown dtype \"", t.dtype, "\"");
    uint64_t n = code->size;
    for (int64_t d : t.shape) {
      TSR_CHECK(d >= 0, ShapeError, "safetensors: tensor '", name, "' has a negative dimension");
      n *= static_cast<uint64_t>(d);
    }
    TSR_CHECK(n == t.bytes.size(), ShapeError, "safetensors: tensor '", name, "' of shape ", shape_str(t.shape), " ",
              t.dtype, " takes ", n, " bytes, got ", t.bytes.size());
    out.push_back({&name, t.shape, t.bytes.data(), n, code, Tensor()});
  }
  sort_entries(out);
  return out;
}

std::string header_text(const std::vector<OutEntry>& entries, const Metadata& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h[kMetadataKey] = metadata;
  uint64_t pos = 0;
  for (const auto& e : entries) {
    const uint64_t n = e.nbytes;
    nlohmann::ordered_json entry;
    entry["dtype"] = e.code->code;
    entry["shape"] = e.shape;
    entry["data_offsets"] = {pos, pos + n};
    h[*e.name] = std::move(entry);
    pos += n;
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const json::exception& ex) {
    throw Error(concat("safetensors: a tensor name or metadata string is not valid UTF-8 (", ex.what(), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  return text;
}

template <typename Sink, typename Map>
void write_to(Sink& sink, const Map& tensors, const Metadata& metadata) {
  std::vector<OutEntry> entries = prepare(tensors);
  const std::string text = header_text(entries, metadata);
  const uint64_t n = text.size();
  sink.write(&n, 8);
  sink.write(text.data(), text.size());
  for (const auto& e : entries)
    if (e.nbytes > 0) sink.write(e.bytes, static_cast<size_t>(e.nbytes));
}

struct StringSink {
  std::string out;
  void write(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
};

}  // namespace

const char* safetensors_dtype_code(DType dtype) { return info_of(dtype).code; }

DType dtype_from_safetensors_code(const std::string& code) {
  const CodeInfo* c = find_code(code);
  TSR_CHECK(c != nullptr, DTypeError, "unknown safetensors dtype \"", code, "\"");
  TSR_CHECK(c->held, DTypeError, "safetensors dtype ", code, " has no Tessera dtype (supported: ", kHeldCodes, ")");
  return c->dtype;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  AtomicFile f(path);
  write_to(f, tensors, metadata);
  f.commit();
}

void save_safetensors_raw(const std::string& path, const RawTensorMap& tensors, const Metadata& metadata) {
  AtomicFile f(path);
  write_to(f, tensors, metadata);
  f.commit();
}

RawSafetensors load_safetensors_raw(const std::string& path) {
  Fd f;
  const uint64_t size = open_file(path, f);
  SafetensorsHeader h = read_header_fd(f, size, path);
  RawSafetensors out;
  for (const auto& e : h.tensors) {
    RawTensor t{e.dtype, e.shape, std::string(static_cast<size_t>(e.end - e.begin), '\0')};
    if (e.end > e.begin) pread_all(f, t.bytes.data(), e.end - e.begin, h.data_start + e.begin, path);
    out.tensors.emplace(e.name, std::move(t));
  }
  out.metadata = std::move(h.metadata);
  return out;
}

std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata) {
  StringSink s;
  write_to(s, tensors, metadata);
  return std::move(s.out);
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  Fd f;
  const uint64_t size = open_file(path, f);
  return read_header_fd(f, size, path);
}

SafetensorsContents parse_safetensors(const void* bytes, size_t size, const std::string& origin) {
  const auto* b = static_cast<const unsigned char*>(bytes);
  if (size < 8) fail(origin, "the file is ", size, " bytes, too short for the 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, b, 8);
  check_header_length(n, size, origin);
  SafetensorsHeader h = parse_header(std::string_view(reinterpret_cast<const char*>(b) + 8, n), size, origin);
  SafetensorsContents out;
  out.metadata = std::move(h.metadata);
  for (const auto& e : h.tensors) out.tensors[e.name] = copy_out(b + h.data_start, e, dtype_for(e, origin), origin);
  return out;
}

SafetensorsContents load_safetensors(const std::string& path, LoadMode mode) {
  Fd f;
  const uint64_t size = open_file(path, f);
  SafetensorsContents out;
  if (mode == LoadMode::Copy) {
    SafetensorsHeader h = read_header_fd(f, size, path);
    // Check every dtype first: fail before reading gigabytes of data.
    for (const auto& e : h.tensors) dtype_for(e, path);
    for (const auto& e : h.tensors) {
      Tensor t = empty(e.shape, {.dtype = dtype_for(e, path)});
      if (e.end > e.begin) pread_all(f, t.raw_data(), e.end - e.begin, h.data_start + e.begin, path);
      check_bool(t, e, path);
      out.tensors[e.name] = t;
    }
    out.metadata = std::move(h.metadata);
    return out;
  }

  auto map = std::make_shared<Mapping>();
  map->size = static_cast<size_t>(size);
  map->base = ::mmap(nullptr, map->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  if (map->base == MAP_FAILED) fail(path, "mmap failed: ", std::strerror(errno));
  const auto* b = static_cast<unsigned char*>(map->base);
  uint64_t n = 0;
  std::memcpy(&n, b, 8);
  check_header_length(n, size, path);
  SafetensorsHeader h = parse_header(std::string_view(reinterpret_cast<const char*>(b) + 8, n), size, path);
  for (const auto& e : h.tensors) dtype_for(e, path);
  for (const auto& e : h.tensors) {
    const DType dt = dtype_for(e, path);
    auto* p = const_cast<unsigned char*>(b + h.data_start + e.begin);
    Tensor t;
    if (e.end == e.begin || reinterpret_cast<uintptr_t>(p) % dtype_size(dt) != 0) {
      t = copy_out(b + h.data_start, e, dt, path);  // empty, or misaligned by a foreign writer
    } else {
      t = from_blob(p, e.shape, dt, [map](void*) {});  // the last view unmaps the file
      check_bool(t, e, path);
    }
    out.tensors[e.name] = t;
  }
  out.metadata = std::move(h.metadata);
  return out;
}

}  // namespace tessera::io
