// GGUF v3 reader and writer (io/gguf.h). The reader never trusts a count or
// an offset: each is checked against the bytes left before it is used.
#include "tessera/io/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "tessera/core/error.h"
#include "tessera/io/atomic_file.h"

namespace tessera::io {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;

struct TypeSize {
  GgmlType type;
  const char* name;
  int64_t block_elems, block_bytes;
};
// ggml's type_traits: elements and bytes per block.
constexpr TypeSize kTypes[] = {
    {GgmlType::F32, "F32", 1, 4},          {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},      {GgmlType::Q4_1, "Q4_1", 32, 20},
    {GgmlType::Q5_0, "Q5_0", 32, 22},      {GgmlType::Q5_1, "Q5_1", 32, 24},
    {GgmlType::Q8_0, "Q8_0", 32, 34},      {GgmlType::Q8_1, "Q8_1", 32, 36},
    {GgmlType::Q2_K, "Q2_K", 256, 84},     {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144},    {GgmlType::Q5_K, "Q5_K", 256, 176},
    {GgmlType::Q6_K, "Q6_K", 256, 210},    {GgmlType::Q8_K, "Q8_K", 256, 292},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66}, {GgmlType::IQ2_XS, "IQ2_XS", 256, 74},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98}, {GgmlType::IQ1_S, "IQ1_S", 256, 50},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18},  {GgmlType::IQ3_S, "IQ3_S", 256, 110},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82},   {GgmlType::IQ4_XS, "IQ4_XS", 256, 136},
    {GgmlType::I8, "I8", 1, 1},            {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},          {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},          {GgmlType::IQ1_M, "IQ1_M", 256, 56},
    {GgmlType::BF16, "BF16", 1, 2},        {GgmlType::TQ1_0, "TQ1_0", 256, 54},
    {GgmlType::TQ2_0, "TQ2_0", 256, 66},
};

const TypeSize* type_size(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

// Smallest encoding of one element of an array of `t` (bounds counts).
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::Uint8: case GgufType::Int8: case GgufType::Bool: return 1;
    case GgufType::Uint16: case GgufType::Int16: return 2;
    case GgufType::Uint32: case GgufType::Int32: case GgufType::Float32: return 4;
    case GgufType::Uint64: case GgufType::Int64: case GgufType::Float64: case GgufType::String: return 8;
    case GgufType::Array: return 12;
  }
  return 1;
}

bool is_integer(GgufType t) {
  return t == GgufType::Uint8 || t == GgufType::Int8 || t == GgufType::Uint16 || t == GgufType::Int16 ||
         t == GgufType::Uint32 || t == GgufType::Int32 || t == GgufType::Uint64 || t == GgufType::Int64 ||
         t == GgufType::Bool;
}
bool is_float(GgufType t) { return t == GgufType::Float32 || t == GgufType::Float64; }

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::Uint8: return "uint8";
    case GgufType::Int8: return "int8";
    case GgufType::Uint16: return "uint16";
    case GgufType::Int16: return "int16";
    case GgufType::Uint32: return "uint32";
    case GgufType::Int32: return "int32";
    case GgufType::Float32: return "float32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::Uint64: return "uint64";
    case GgufType::Int64: return "int64";
    case GgufType::Float64: return "float64";
  }
  return "?";
}

std::string ggml_type_name(GgmlType t) {
  const TypeSize* s = type_size(static_cast<uint32_t>(t));
  return s ? s->name : "type " + std::to_string(static_cast<uint32_t>(t));
}

bool ggml_type_size(uint32_t type, int64_t& block_elems, int64_t& block_bytes) {
  const TypeSize* s = type_size(type);
  if (!s) return false;
  block_elems = s->block_elems;
  block_bytes = s->block_bytes;
  return true;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

GgufValue GgufValue::of_string(std::string s) {
  GgufValue v;
  v.type = GgufType::String;
  v.string = std::move(s);
  return v;
}
GgufValue GgufValue::of_uint32(uint32_t x) {
  GgufValue v;
  v.type = GgufType::Uint32;
  v.integer = x;
  return v;
}
GgufValue GgufValue::of_int32(int32_t x) {
  GgufValue v;
  v.type = GgufType::Int32;
  v.integer = x;
  return v;
}
GgufValue GgufValue::of_float32(float x) {
  GgufValue v;
  v.type = GgufType::Float32;
  v.number = x;
  return v;
}
GgufValue GgufValue::of_bool(bool x) {
  GgufValue v;
  v.type = GgufType::Bool;
  v.integer = x ? 1 : 0;
  return v;
}
GgufValue GgufValue::of_strings(std::vector<std::string> s) {
  GgufValue v;
  v.type = GgufType::Array;
  v.array_type = GgufType::String;
  v.strings = std::move(s);
  return v;
}
GgufValue GgufValue::of_int32s(std::vector<int64_t> x) {
  GgufValue v;
  v.type = GgufType::Array;
  v.array_type = GgufType::Int32;
  v.integers = std::move(x);
  return v;
}
GgufValue GgufValue::of_float32s(std::vector<double> x) {
  GgufValue v;
  v.type = GgufType::Array;
  v.array_type = GgufType::Float32;
  v.numbers = std::move(x);
  return v;
}

// Reads a mapped file front to back; every read checks the bytes left.
class GgufParser {
 public:
  GgufParser(GgufFile& f) : f_(f) {}

  void parse() {
    TSR_CHECK(f_.size_ >= 4, Error, f_.path_, ": not a GGUF file (", f_.size_, " bytes, too short for the magic)");
    const uint32_t magic = u32("the magic");
    TSR_CHECK(magic == kMagic, Error, f_.path_, ": not a GGUF file (bad magic: expected \"GGUF\")");
    f_.version_ = u32("the version");
    TSR_CHECK(f_.version_ == 3 || f_.version_ == 2, Error, f_.path_, ": GGUF version ", f_.version_,
              " is not supported (this build reads versions 2 and 3)");
    const uint64_t n_tensors = u64("the tensor count");
    const uint64_t n_kv = u64("the metadata count");
    // A metadata pair takes at least 8 (key length) + 4 (type) + 1 bytes; a
    // tensor info at least 8 + 4 + 8 + 4 + 8.
    TSR_CHECK(n_kv <= left() / 13, Error, f_.path_, ": metadata count ", n_kv, " is impossible for a file of ",
              f_.size_, " bytes (corrupt header)");
    TSR_CHECK(n_tensors <= left() / 32, Error, f_.path_, ": tensor count ", n_tensors,
              " is impossible for a file of ", f_.size_, " bytes (corrupt header)");
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = str("a metadata key");
      TSR_CHECK(!f_.values_.count(key), Error, f_.path_, ": metadata key '", key, "' appears twice");
      const uint32_t t = u32("the type of '" + key + "'");
      GgufValue v = value(t, key);
      f_.keys_.push_back(key);
      f_.values_.emplace(std::move(key), std::move(v));
    }
    if (const GgufValue* a = f_.find("general.alignment")) {
      TSR_CHECK(a->type == GgufType::Uint32 || a->type == GgufType::Uint64 || a->type == GgufType::Int32, Error,
                f_.path_, ": general.alignment must be an integer, got ", gguf_type_name(a->type));
      TSR_CHECK(a->integer > 0 && a->integer <= (1 << 20) && (a->integer & (a->integer - 1)) == 0, Error, f_.path_,
                ": general.alignment ", a->integer, " is not a power of two up to 1 MiB");
      f_.alignment_ = static_cast<uint64_t>(a->integer);
    }
    for (uint64_t i = 0; i < n_tensors; ++i) f_.tensors_.push_back(tensor_info());
    // The data section starts at the next multiple of the alignment.
    const uint64_t header_end = pos_;
    f_.data_start_ = (header_end + f_.alignment_ - 1) / f_.alignment_ * f_.alignment_;
    TSR_CHECK(n_tensors == 0 || f_.data_start_ <= f_.size_, Error, f_.path_,
              ": truncated: the data section starts at byte ", f_.data_start_, " but the file has ", f_.size_);
    check_data();
  }

 private:
  uint64_t left() const { return f_.size_ - pos_; }

  void need(uint64_t n, const std::string& what) {
    TSR_CHECK(n <= left(), Error, f_.path_, ": truncated at byte ", f_.size_, " while reading ", what, " (", n,
              " bytes needed at byte ", pos_, ")");
  }
  template <typename T>
  T raw(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, f_.base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint32_t u32(const std::string& what) { return raw<uint32_t>(what); }
  uint64_t u64(const std::string& what) { return raw<uint64_t>(what); }
  std::string str(const std::string& what) {
    const uint64_t n = u64(what + "'s length");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(f_.base_ + pos_), n);
    pos_ += n;
    return s;
  }

  GgufType checked_type(uint32_t t, const std::string& key) {
    TSR_CHECK(t <= static_cast<uint32_t>(GgufType::Float64), Error, f_.path_, ": metadata '", key,
              "' has unknown value type ", t);
    return static_cast<GgufType>(t);
  }

  // One scalar of type t into v (integer / number / string).
  void scalar(GgufType t, const std::string& key, int64_t& integer, double& number, std::string& s) {
    switch (t) {
      case GgufType::Uint8: integer = raw<uint8_t>(key); break;
      case GgufType::Int8: integer = raw<int8_t>(key); break;
      case GgufType::Uint16: integer = raw<uint16_t>(key); break;
      case GgufType::Int16: integer = raw<int16_t>(key); break;
      case GgufType::Uint32: integer = raw<uint32_t>(key); break;
      case GgufType::Int32: integer = raw<int32_t>(key); break;
      case GgufType::Int64: integer = raw<int64_t>(key); break;
      case GgufType::Uint64: {
        const uint64_t u = raw<uint64_t>(key);
        TSR_CHECK(u <= uint64_t(std::numeric_limits<int64_t>::max()), Error, f_.path_, ": metadata '", key,
                  "' holds ", u, ", beyond int64");
        integer = static_cast<int64_t>(u);
        break;
      }
      case GgufType::Bool: {
        const uint8_t b = raw<uint8_t>(key);
        TSR_CHECK(b <= 1, Error, f_.path_, ": metadata '", key, "' is a bool holding ", int(b));
        integer = b;
        break;
      }
      case GgufType::Float32: number = raw<float>(key); break;
      case GgufType::Float64: number = raw<double>(key); break;
      case GgufType::String: s = str("metadata '" + key + "'"); break;
      case GgufType::Array: break;  // handled by value()
    }
  }

  GgufValue value(uint32_t type_id, const std::string& key) {
    GgufValue v;
    v.type = checked_type(type_id, key);
    if (v.type != GgufType::Array) {
      scalar(v.type, key, v.integer, v.number, v.string);
      return v;
    }
    v.array_type = checked_type(u32("the element type of '" + key + "'"), key);
    TSR_CHECK(v.array_type != GgufType::Array, Error, f_.path_, ": metadata '", key,
              "' is an array of arrays (not supported)");
    const uint64_t n = u64("the length of '" + key + "'");
    TSR_CHECK(n <= left() / min_value_bytes(v.array_type), Error, f_.path_, ": metadata '", key, "' claims ", n,
              " elements of ", gguf_type_name(v.array_type), ", more than the ", left(), " bytes left hold");
    if (v.array_type == GgufType::String) v.strings.resize(n);
    else if (is_float(v.array_type)) v.numbers.resize(n);
    else v.integers.resize(n);
    int64_t integer = 0;
    double number = 0;
    std::string s;
    for (uint64_t i = 0; i < n; ++i) {
      scalar(v.array_type, key, integer, number, s);
      if (v.array_type == GgufType::String) v.strings[i] = std::move(s);
      else if (is_float(v.array_type)) v.numbers[i] = number;
      else v.integers[i] = integer;
    }
    return v;
  }

  GgufTensorInfo tensor_info() {
    GgufTensorInfo t;
    t.name = str("a tensor name");
    TSR_CHECK(!f_.tensor_index_.count(t.name), Error, f_.path_, ": tensor '", t.name, "' appears twice");
    const uint32_t n_dims = u32("the dims of tensor '" + t.name + "'");
    TSR_CHECK(n_dims >= 1 && n_dims <= kMaxDims, Error, f_.path_, ": tensor '", t.name, "' has ", n_dims,
              " dims (1 to 4 allowed)");
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = u64("a dim of tensor '" + t.name + "'");
      TSR_CHECK(dim >= 1 && dim <= (uint64_t(1) << 40) && uint64_t(numel) <= (uint64_t(1) << 46) / dim, Error,
                f_.path_, ": tensor '", t.name, "' has an impossible dim ", dim);
      numel *= static_cast<int64_t>(dim);
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    const uint32_t type = u32("the type of tensor '" + t.name + "'");
    const TypeSize* ts = type_size(type);
    TSR_CHECK(ts, Error, f_.path_, ": tensor '", t.name, "' has unknown ggml type ", type);
    t.type = ts->type;
    TSR_CHECK(t.dims[0] % ts->block_elems == 0, Error, f_.path_, ": tensor '", t.name, "' of type ", ts->name,
              " has rows of ", t.dims[0], " values, not a multiple of its block of ", ts->block_elems);
    t.nbytes = uint64_t(numel / ts->block_elems) * uint64_t(ts->block_bytes);
    t.offset = u64("the offset of tensor '" + t.name + "'");
    f_.tensor_index_[t.name] = f_.tensors_.size();
    return t;
  }

  // Offsets aligned, inside the file, not overlapping.
  void check_data() {
    const uint64_t data_bytes = f_.size_ >= f_.data_start_ ? f_.size_ - f_.data_start_ : 0;
    std::vector<const GgufTensorInfo*> by_offset;
    for (const auto& t : f_.tensors_) {
      TSR_CHECK(t.offset % f_.alignment_ == 0, Error, f_.path_, ": tensor '", t.name, "' starts at offset ",
                t.offset, ", not a multiple of the alignment ", f_.alignment_);
      TSR_CHECK(t.offset <= data_bytes && t.nbytes <= data_bytes - t.offset, Error, f_.path_,
                ": truncated or corrupt: tensor '", t.name, "' (", t.nbytes, " bytes at data offset ", t.offset,
                ") ends beyond the file's ", data_bytes, " bytes of data");
      by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensorInfo& a = *by_offset[i - 1];
      const GgufTensorInfo& b = *by_offset[i];
      TSR_CHECK(a.offset + a.nbytes <= b.offset, Error, f_.path_, ": tensors '", a.name, "' and '", b.name,
                "' overlap in the data section");
    }
  }

  GgufFile& f_;
  uint64_t pos_ = 0;
};

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  TSR_CHECK(fd >= 0, Error, "cannot open GGUF file '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("'" + path + "' is not a regular file");
  }
  f.size_ = static_cast<uint64_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    TSR_CHECK(p != MAP_FAILED, Error, "cannot map GGUF file '", path, "': ", std::strerror(errno));
    const uint64_t size = f.size_;
    f.mapping_ = std::shared_ptr<const uint8_t>(static_cast<const uint8_t*>(p),
                                                 [size](const uint8_t* q) { ::munmap(const_cast<uint8_t*>(q), size); });
    f.base_ = f.mapping_.get();
  } else {
    ::close(fd);
  }
  GgufParser(f).parse();
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  TSR_CHECK(v, Error, path_, ": metadata '", key, "' is missing");
  TSR_CHECK(v->type == GgufType::String, Error, path_, ": metadata '", key, "' must be a string, got ",
            gguf_type_name(v->type));
  return v->string;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  TSR_CHECK(v, Error, path_, ": metadata '", key, "' is missing");
  TSR_CHECK(is_integer(v->type) && v->type != GgufType::Bool, Error, path_, ": metadata '", key,
            "' must be an integer, got ", gguf_type_name(v->type));
  return v->integer;
}

int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  TSR_CHECK(v, Error, path_, ": metadata '", key, "' is missing");
  if (is_float(v->type)) return v->number;
  TSR_CHECK(is_integer(v->type) && v->type != GgufType::Bool, Error, path_, ": metadata '", key,
            "' must be a number, got ", gguf_type_name(v->type));
  return static_cast<double>(v->integer);
}

double GgufFile::get_float(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  TSR_CHECK(v->type == GgufType::Bool, Error, path_, ": metadata '", key, "' must be a bool, got ",
            gguf_type_name(v->type));
  return v->integer != 0;
}

// ---- writer ----

namespace {

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_scalar(std::string& out, GgufType t, int64_t integer, double number, const std::string& s) {
  switch (t) {
    case GgufType::Uint8: put<uint8_t>(out, uint8_t(integer)); break;
    case GgufType::Int8: put<int8_t>(out, int8_t(integer)); break;
    case GgufType::Uint16: put<uint16_t>(out, uint16_t(integer)); break;
    case GgufType::Int16: put<int16_t>(out, int16_t(integer)); break;
    case GgufType::Uint32: put<uint32_t>(out, uint32_t(integer)); break;
    case GgufType::Int32: put<int32_t>(out, int32_t(integer)); break;
    case GgufType::Uint64: put<uint64_t>(out, uint64_t(integer)); break;
    case GgufType::Int64: put<int64_t>(out, integer); break;
    case GgufType::Bool: put<uint8_t>(out, integer ? 1 : 0); break;
    case GgufType::Float32: put<float>(out, float(number)); break;
    case GgufType::Float64: put<double>(out, number); break;
    case GgufType::String: put_string(out, s); break;
    case GgufType::Array: throw Error("GGUF writer: arrays of arrays are not supported");
  }
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : values_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  values_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type, std::string bytes) {
  int64_t be = 0, bb = 0;
  TSR_CHECK(ggml_type_size(static_cast<uint32_t>(type), be, bb), Error, "GGUF writer: tensor '", name,
            "' has an unknown type");
  TSR_CHECK(!dims.empty() && dims.size() <= kMaxDims && dims[0] % be == 0, Error, "GGUF writer: tensor '", name,
            "' has bad dims for ", ggml_type_name(type));
  int64_t numel = 1;
  for (int64_t d : dims) numel *= d;
  TSR_CHECK(int64_t(bytes.size()) == numel / be * bb, Error, "GGUF writer: tensor '", name, "' has ", bytes.size(),
            " bytes, expected ", numel / be * bb);
  for (const auto& t : tensors_) TSR_CHECK(t.name != name, Error, "GGUF writer: tensor '", name, "' added twice");
  tensors_.push_back({name, std::move(dims), type, std::move(bytes)});
}

std::string GgufWriter::serialize() const {
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [k, v] : values_)
    if (k == "general.alignment") alignment = static_cast<uint64_t>(v.integer);
  std::string out;
  put<uint32_t>(out, kMagic);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, values_.size());
  for (const auto& [key, v] : values_) {
    put_string(out, key);
    put<uint32_t>(out, static_cast<uint32_t>(v.type));
    if (v.type != GgufType::Array) {
      put_scalar(out, v.type, v.integer, v.number, v.string);
      continue;
    }
    put<uint32_t>(out, static_cast<uint32_t>(v.array_type));
    const bool strings = v.array_type == GgufType::String, floats = is_float(v.array_type);
    const size_t n = strings ? v.strings.size() : floats ? v.numbers.size() : v.integers.size();
    put<uint64_t>(out, n);
    static const std::string kEmpty;
    for (size_t i = 0; i < n; ++i)
      put_scalar(out, v.array_type, floats || strings ? 0 : v.integers[i], floats ? v.numbers[i] : 0.0,
                 strings ? v.strings[i] : kEmpty);
  }
  auto pad = [alignment](uint64_t x) { return (x + alignment - 1) / alignment * alignment; };
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(out, static_cast<uint64_t>(d));
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset = pad(offset + t.bytes.size());
  }
  out.resize(pad(out.size()), '\0');
  for (const auto& t : tensors_) {
    out += t.bytes;
    out.resize(pad(out.size()), '\0');
  }
  return out;
}

void GgufWriter::write(const std::string& path) const {
  AtomicFile file(path);
  file.write(serialize());
  file.commit();
}

}  // namespace tessera::io
