// The safetensors format (Hugging Face): an 8-byte little-endian header length
// N, N bytes of JSON header
//   {"__metadata__": {"k": "v", ...},                      (optional)
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// then the raw little-endian tensor bytes; offsets are relative to the start of
// the data section. It is the weight format of Tessera checkpoints, so models
// move to and from PyTorch / Hugging Face with their torch parameter names.
//
// The writer matches the reference implementation byte for byte: compact JSON
// with "__metadata__" first, tensors ordered by dtype (widest first) then name,
// so every tensor is aligned to its element size, and the header padded with
// spaces to a multiple of 8 bytes. Files are written through AtomicFile.
//
// The reader validates everything before trusting it (header length beyond the
// file, malformed JSON, duplicate or reserved names, unknown dtypes, bad shapes,
// offsets out of range, overlapping, leaving gaps or not matching
// shape x dtype size, trailing bytes, bool bytes other than 0/1) and throws a
// tessera::Error naming the file, the tensor and what is wrong.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::io {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// One validated header entry.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // the safetensors code: "F32", "BF16", "F16", "U8", ...
  Shape shape;
  uint64_t begin = 0;  // byte offsets within the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // ordered by begin offset
  Metadata metadata;
  uint64_t data_start = 0;  // file offset of the data section (8 + N)
  uint64_t file_size = 0;
};

struct SafetensorsContents {
  TensorMap tensors;
  Metadata metadata;
};

enum class LoadMode {
  Copy,  // read into fresh tensors; the file may change afterwards
  // Tensors view a private (copy-on-write) memory map of the file; a tensor
  // whose bytes are not aligned to its element size is copied instead. Cheap
  // for big read-mostly weights; the file must not be truncated while mapped
  // (Tessera's own writes replace files by rename, which is safe).
  Mmap,
};

// Writes `tensors` (any strides, any device: stored contiguous, detached) and
// `metadata` atomically. Throws tessera::Error on a reserved or undefined entry
// or an I/O failure.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});
// The exact bytes save_safetensors writes, in memory.
std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata = {});

SafetensorsContents load_safetensors(const std::string& path, LoadMode mode = LoadMode::Copy);
// Parses an in-memory file; `origin` names it in error messages. Copies.
SafetensorsContents parse_safetensors(const void* bytes, size_t size, const std::string& origin);
// Reads and validates only the header (no tensor data is read): for listing a
// checkpoint or checking shapes before a load.
SafetensorsHeader read_safetensors_header(const std::string& path);

// Tensors as bytes with their safetensors dtype code, for data Tessera has no
// dtype for (int8 and packed quantized weights: quant/packed_weight.h). The
// same file layout and validation as above; shape x code size must equal the
// byte count.
struct RawTensor {
  std::string dtype;  // "U8", "I8", "F32", ...
  Shape shape;
  std::string bytes;
};
using RawTensorMap = std::map<std::string, RawTensor>;
struct RawSafetensors {
  RawTensorMap tensors;
  Metadata metadata;
};
void save_safetensors_raw(const std::string& path, const RawTensorMap& tensors, const Metadata& metadata = {});
RawSafetensors load_safetensors_raw(const std::string& path);

// Mapping between Tessera dtypes and safetensors codes. Codes Tessera has no
// dtype for (F16, U8, I8, I16, U16, U32, U64, F8_*) are valid in files (a
// header listing works) but loading their data throws a DTypeError.
const char* safetensors_dtype_code(DType dtype);
// Throws DTypeError for an unknown code or one Tessera cannot hold.
DType dtype_from_safetensors_code(const std::string& code);

}  // namespace tessera::io
