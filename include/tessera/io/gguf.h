// GGUF (llama.cpp's model file, version 3): a validated reader and a writer.
//
// Layout (all little-endian): "GGUF", uint32 version, uint64 tensor count,
// uint64 metadata count; the metadata (key string, uint32 value type, value);
// the tensor infos (name, uint32 n_dims, n_dims uint64 dims, uint32 ggml
// type, uint64 offset); padding to general.alignment (default 32); the data
// section, where each tensor's bytes start at its offset (a multiple of the
// alignment). Strings are a uint64 length and that many bytes (no NUL);
// arrays a uint32 element type, a uint64 count and the elements.
//
// Dims are in ggml order: dims[0] is the fastest-varying one, the length of a
// row. A torch (out, in) matrix is stored with dims {in, out}.
//
// The reader maps the file and checks everything before anything is used:
// every read against the end of the file (a corrupt count can never cause a
// huge allocation: counts are bounded by the bytes left), known value and
// tensor types, at most 4 dims each > 0, byte sizes without overflow, a block
// type's row length a multiple of its block, offsets aligned, inside the
// file and not overlapping, names unique. Every error is a tessera::Error that
// names the file and what is wrong.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tessera::io {

// Metadata value types (gguf_type).
enum class GgufType : uint32_t {
  Uint8 = 0, Int8 = 1, Uint16 = 2, Int16 = 3, Uint32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
  String = 8, Array = 9, Uint64 = 10, Int64 = 11, Float64 = 12,
};
const char* gguf_type_name(GgufType t);

// Tensor data types (ggml_type); the ids are the file's. Only some of them
// are loadable as model weights (see checkpoint/gguf_model.h); the reader
// knows every type's block size so it can validate any file.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35,
};
// "F32", "Q4_K", ...; "type 77" for an id this build does not know.
std::string ggml_type_name(GgmlType t);
// Elements per block and bytes per block; false for an unknown id.
bool ggml_type_size(uint32_t type, int64_t& block_elems, int64_t& block_bytes);

// One metadata value. Scalars: integers and bools in `integer` (a Uint64 above
// INT64_MAX is refused), floats in `number`, strings in `string`. Arrays:
// `array_type` and the elements in `integers`, `numbers` or `strings` (arrays
// of arrays are refused: no model key uses them).
struct GgufValue {
  GgufType type = GgufType::Uint32;
  GgufType array_type = GgufType::Uint8;
  int64_t integer = 0;
  double number = 0.0;
  std::string string;
  std::vector<int64_t> integers;
  std::vector<double> numbers;
  std::vector<std::string> strings;

  static GgufValue of_string(std::string s);
  static GgufValue of_uint32(uint32_t v);
  static GgufValue of_int32(int32_t v);
  static GgufValue of_float32(float v);
  static GgufValue of_bool(bool v);
  static GgufValue of_strings(std::vector<std::string> v);
  static GgufValue of_int32s(std::vector<int64_t> v);
  static GgufValue of_float32s(std::vector<double> v);
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] = row length
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;        // from the start of the data section
  uint64_t nbytes = 0;
  int64_t numel() const;
  int64_t rows() const { return numel() / dims.at(0); }  // every dim but the first
};

// A GGUF file, mapped read-only. Cheap to move; the mapping lives as long as
// the object (tensor_data pointers point into it).
class GgufFile {
 public:
  // Maps and validates `path`; throws tessera::Error "<path>: <problem>".
  static GgufFile open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Keys in file order.
  const std::vector<std::string>& keys() const { return keys_; }
  const GgufValue* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Typed access; errors name the file, the key, and the type found.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;  // any integer type
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key) const;  // float or integer types
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // The tensor's bytes (nbytes of them) inside the mapping.
  const uint8_t* data(const GgufTensorInfo& t) const { return base_ + data_start_ + t.offset; }

 private:
  std::string path_;
  std::shared_ptr<const uint8_t> mapping_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_start_ = 0;
  std::vector<std::string> keys_;
  std::map<std::string, GgufValue> values_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
  friend class GgufParser;
};

// Builds a GGUF v3 file in memory and writes it atomically (io/atomic_file.h).
// Tensors are laid out in the order added, each at the next multiple of the
// alignment (as llama.cpp expects).
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);  // replaces an earlier value of the key
  // dims in ggml order; `bytes` must hold exactly the type's size for dims.
  void add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type, std::string bytes);
  // Throws tessera::Error naming the file when it cannot be written.
  void write(const std::string& path) const;
  // The whole file's bytes (tests write corrupt variants from it).
  std::string serialize() const;

 private:
  std::vector<std::pair<std::string, GgufValue>> values_;
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::string bytes;
  };
  std::vector<Tensor> tensors_;
};

}  // namespace tessera::io
